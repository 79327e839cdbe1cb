"""The command line's side of running syncs: tables that fit the terminal or a pipe, and services whose failures are
one-line click errors. Running the jobs is `contact_sync.launcher`'s (the demo uses it too); its `LaunchError` is a
one-line error of any command (see `contact_sync.cli.main`)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

import click
import pandas as pd
from rich.console import Console

from contact_sync.connectors.http import ConnectorError
from contact_sync.launcher import settings_from_env
from contact_sync.ledger import Ledger, LedgerError
from contact_sync.pipeline.config import PipelineSettings
from contact_sync.pipeline.services import Services, open_services
from contact_sync.pipeline.trace import contact_ids
from contact_sync.settings import SettingsError
from contact_sync.sync.policy import PolicyError

PIPED_WIDTH: Final = 160


def console() -> Console:
    """Where commands print tables: the terminal's width, or wide tables when piped (values are not cut to fit 80
    columns)."""
    return Console(width=None if sys.stdout.isatty() else PIPED_WIDTH)


def review_rows(ledger: Ledger, rows: pd.DataFrame, contact: str | None) -> pd.DataFrame:
    """A review queue's rows (crm_id, genesys_id columns), only those of one contact when `contact` (a CRM id, a
    Genesys id or an email address) is given."""
    if contact is None:
        return rows
    ids = contact_ids(ledger, contact)
    return rows[rows["crm_id"].astype(str).isin(ids) | rows["genesys_id"].astype(str).isin(ids)]


@contextmanager
def cli_services(settings: PipelineSettings | None = None) -> Iterator[Services]:
    """The services (CRM, Genesys, ledger, policy) for a command that talks to them directly; a bad setting, bad
    policy file, unreachable service or ledger error inside the block becomes a one-line `click.ClickException`."""
    settings = settings or settings_from_env()
    try:
        with open_services(settings) as services:
            yield services
    except (SettingsError, PolicyError, LedgerError) as exc:
        raise click.ClickException(str(exc)) from None
    except ConnectorError as exc:
        raise click.ClickException(f"a service is not reachable or refused the call: {exc}") from None
