"""The command line's side of running syncs: tables that fit the terminal or a pipe, and services whose failures are
one-line click errors. Running the jobs is `contact_sync.launcher`'s (the demo uses it too); its `LaunchError` is a
one-line error of any command (see `contact_sync.cli.main`).

Every command prints through `console()` and its tables through `print_table`, so a table never cuts a value:

- On a terminal (as Rich decides it, so `FORCE_COLOR`, `TTY_COMPATIBLE` and `COLUMNS` are honoured) a table takes
  the terminal's width; value columns fold inside their cells, ids (no_wrap columns) stay whole.
- Piped (`| less`, `| grep`, CI logs, cron mail) text lines are never wrapped and a table is printed as a table only
  when it fits `PIPED_WIDTH` columns without wrapping a cell, so each record stays on one line for `grep`.
- A table that cannot be shown that way (on a narrow terminal, the ids alone are wider than the screen; piped, its
  rows are wider than `PIPED_WIDTH`) is printed one record per block, one "column  value" line per cell. A wider
  piped table would be whole too, but lines of 250 characters wrap in mail and CI viewers and read worse than
  blocks; scripts should use `--json` anyway, which every command printing a table has.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

import click
import pandas as pd
from rich.console import Console, RenderableType
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from contact_sync.connectors.http import ConnectorError
from contact_sync.launcher import settings_from_env
from contact_sync.ledger import Ledger, LedgerError
from contact_sync.pipeline.config import PipelineSettings
from contact_sync.pipeline.services import Services, open_services
from contact_sync.pipeline.trace import contact_ids
from contact_sync.settings import SettingsError
from contact_sync.sync.policy import PolicyError

PIPED_WIDTH: Final = 160
UNBOUNDED: Final = 100_000
"""A width no table reaches: what a table measures at it is its natural (unwrapped) width."""


def console(*, stderr: bool = False) -> Console:
    """Where commands print (stdout, or stderr with `stderr=True`): on a terminal at its width; piped at
    `PIPED_WIDTH` columns, text lines never wrapped (see the module docstring)."""
    out = Console(stderr=stderr)
    if out.is_terminal:
        return out
    return Console(stderr=stderr, width=PIPED_WIDTH, soft_wrap=True)


def print_table(out: Console, table: Table) -> None:
    """Print `table` with every cell whole: as a table when it fits `out` (on a terminal, with its value columns
    folded if need be), else one record per block. Columns that are not `no_wrap` (ids should be) fold instead of
    ending in an ellipsis. A cell given as a string is shown as it is, never read as Rich markup: cells hold CRM and
    Genesys values, where "[vip]" must not vanish; a styled cell is given as a `rich.text.Text`."""
    for column in table.columns:
        if not column.no_wrap:
            column.overflow = "fold"
        # Column keeps its cells in `_cells` (Rich has no public way to rewrite a column's cells after add_row).
        column._cells = [Text(cell) if isinstance(cell, str) else cell for cell in column._cells]
    measured = Measurement.get(out, out.options.update_width(UNBOUNDED), table)
    if measured.maximum <= out.width or (out.is_terminal and measured.minimum <= out.width):
        out.print(table)
    else:
        print_blocks(out, table)


def print_blocks(out: Console, table: Table) -> None:
    """`table` one record per block: its title, then per row a blank line and one "column  value" line per cell
    (a multi-line value continues indented under the first line), then its caption. Lines are never wrapped."""
    headers = [_text(out, column.header).plain for column in table.columns]
    indent = max((len(h) for h in headers), default=0) + 2
    if table.title:
        out.print(_text(out, table.title), style="bold", soft_wrap=True)
    for row in zip(*(list(column.cells) for column in table.columns), strict=True):
        out.print()
        for header, cell in zip(headers, row, strict=True):
            for n, line in enumerate(_text(out, cell).split("\n", allow_blank=True)):
                label = (header.ljust(indent) if line.plain else header, "bold") if n == 0 else " " * indent
                out.print(Text.assemble(label, line), soft_wrap=True, highlight=False)
    if table.caption:
        out.print()
        out.print(_text(out, table.caption), style="dim", soft_wrap=True)


def _text(out: Console, renderable: RenderableType) -> Text:
    if isinstance(renderable, Text):
        return renderable
    return out.render_str(renderable, highlight=False) if isinstance(renderable, str) else Text(str(renderable))


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
