"""`contact-sync demo`: the whole product on the built-in simulators, from nothing, in a fresh folder: seed a CRM and a
Genesys org, walk the guide's migration path through Dagster with a summary table after each step, and say how to
open the same runs in `dagster dev`."""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import Final

import click
from rich import box
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from contact_sync.cli.launch import console as stdout_console
from contact_sync.cli.launch import print_table
from contact_sync.cli.progress import command_progress
from contact_sync.crms import crm_plugin
from contact_sync.demo.walkthrough import DEMO_CRMS, DemoError, DemoFolder, Section, Walkthrough

DEFAULT_DIR: Final = Path("contact-sync-demo")
DEFAULT_CONTACTS: Final = 2000


def render(section: Section, console: Console) -> None:
    table = Table(title=section.title, title_justify="left", box=box.SIMPLE_HEAD, title_style="bold cyan")
    for i, column in enumerate(section.columns):
        table.add_column(column, justify="right" if section.columns == ["", "Count"] and i else "left")
    for row in section.rows:
        table.add_row(*row)
    print_table(console, table)
    for note in section.notes:
        console.print(f"  {note}", style="dim", highlight=False)
    console.print()


@click.command()
@click.option("--crm", type=click.Choice(DEMO_CRMS), default="salesforce", show_default=True, help="The CRM to play.")
@click.option(
    "--dir",
    "folder",
    type=click.Path(path_type=Path),
    default=DEFAULT_DIR,
    show_default=True,
    help="A new (or empty) folder for the demo's simulators, ledger and Dagster runs.",
)
@click.option("--contacts", type=int, default=DEFAULT_CONTACTS, show_default=True, help="CRM contacts to seed.")
def demo(crm: str, folder: Path, contacts: int) -> None:
    """Run the guide's migration path on the built-in simulators, every run through Dagster."""
    console = stdout_console()
    if contacts < 200:
        raise click.ClickException(f"--contacts must be at least 200 (the pilot cohort alone is 100), got {contacts}")
    try:
        place = DemoFolder.create(folder, crm)
    except DemoError as exc:
        raise click.ClickException(str(exc)) from None
    # The services' loud "running on simulators" warning is said once here instead of after every step.
    quiet = logging.getLogger("contact_sync")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Discarding nonzero nanoseconds")
            _walk(place, contacts, crm, console)
    finally:
        quiet.setLevel(level)


def _walk(place: DemoFolder, contacts: int, crm: str, console: Console) -> None:
    console.print(
        f"[bold]contact-sync demo[/] in {place.root}: built-in {crm_plugin(crm).label} and Genesys simulators "
        f"(no real service is called), {contacts} CRM contacts, Dagster home {place.dagster_home}\n"
    )
    started = time.perf_counter()
    with command_progress(console) as bar:
        shown = _Shown(bar)
        try:
            with Walkthrough(place, contacts, crm, progress=shown.report) as walk:
                steps = [
                    walk.seed,
                    walk.phase1_pilot,
                    walk.phase2_all,
                    walk.make_conflicting_edits,
                    walk.phase3_bidirectional,
                    walk.review_queue,
                    walk.apply_decision,
                    walk.trace,
                    walk.end_state,
                ]
                for step in steps:
                    shown.begin(step.__doc__.split(":")[0] if step.__doc__ else "")
                    section = step()
                    shown.pause()
                    render(section, console)
                    shown.resume()
        except DemoError as exc:
            raise click.ClickException(f"{exc} (demo folder: {place.root})") from None
    console.print(f"Demo finished in {time.perf_counter() - started:.0f} s. Open the same runs in the Dagster UI:\n")
    console.print(f"  {place.dagster_dev_command()}", highlight=False, soft_wrap=True)
    console.print(
        "\n  then http://127.0.0.1:3000: the asset graph, `sync_health` (every run's figures and the health score), "
        "`sync_report` and its loss checks, `reconciliation`'s field_lineage (where each field goes), the "
        f"rollout_cohort partitions ({', '.join(['all', 'pilot-001'])}), every run's logs, and the `trace_contact` "
        "job for one contact's history.",
        highlight=False,
    )


class _Shown:
    """The demo's own step in the live display, above each run's steps (read, decide, write) that the launcher
    reports; nothing when there is no display (piped: the runs' steps are lines on stderr)."""

    def __init__(self, bar: Progress | None) -> None:
        self.bar = bar
        self.task = bar.add_task("Starting", total=1, message="") if bar is not None else None

    def report(self, what: str, done: int, total: int) -> None:
        if self.bar is not None and self.task is not None:
            self.bar.update(self.task, description=what, completed=done, total=total)

    def begin(self, title: str) -> None:
        if self.bar is not None and self.task is not None:
            for task in self.bar.task_ids:
                if task != self.task:
                    self.bar.remove_task(task)  # the previous run's steps
            self.bar.reset(self.task, description=title, total=1)

    def pause(self) -> None:
        if self.bar is not None and self.task is not None:
            self.bar.stop_task(self.task)

    def resume(self) -> None:
        if self.bar is not None and self.task is not None:
            self.bar.start_task(self.task)
