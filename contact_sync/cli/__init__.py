"""The `contact-sync` command: one click group; each concern adds its subcommands from its own module here."""

from __future__ import annotations

import click

from contact_sync.cli.environment import load_folder_env
from contact_sync.launcher import LaunchError


class _Main(click.Group):
    """The root group: a sync that cannot start, or an instance or ledger that cannot open, is one line and exit
    status 1 in every subcommand (`contact_sync.launcher` raises `LaunchError`, not click's errors)."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except LaunchError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="contact-sync")
def main() -> None:
    """Keep a CRM and Genesys Cloud external contacts in sync.

    Like `dagster dev`, every command first loads the working folder's `.env` (its values take precedence)."""
    load_folder_env()


def _register() -> None:
    from contact_sync.cli.cohort import cohort
    from contact_sync.cli.conflicts import conflicts
    from contact_sync.cli.deletes import deletes
    from contact_sync.cli.demo import demo
    from contact_sync.cli.matches import matches
    from contact_sync.cli.rollback import rollback
    from contact_sync.cli.simulators import simulators
    from contact_sync.cli.status import status
    from contact_sync.cli.sync import sync
    from contact_sync.cli.trace import trace

    main.add_command(cohort)
    main.add_command(conflicts)
    main.add_command(matches)
    main.add_command(deletes)
    main.add_command(simulators)
    main.add_command(sync)
    main.add_command(trace)
    main.add_command(rollback)
    main.add_command(status)
    main.add_command(demo)


_register()
