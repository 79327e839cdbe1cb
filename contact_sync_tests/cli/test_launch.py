"""`cli.launch.print_table`: cells are shown as they are (never read as Rich markup), as a table or as blocks."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.table import Table
from rich.text import Text

from contact_sync.cli.launch import print_table

VALUES = ("[vip] Ann", "Lee [bold]x[/bold]", "a[/]b")


def printed(width: int, terminal: bool) -> str:
    table = Table(title="Conflicts")
    table.add_column("Record", no_wrap=True)
    table.add_column("Value")
    table.add_column("Status")
    for n, value in enumerate(VALUES):
        table.add_row(f"003{n:015d}", value, Text("failed", style="red"))
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=terminal, color_system=None, legacy_windows=False)
    print_table(console, table)
    return out.getvalue()


@pytest.mark.parametrize(("width", "terminal"), [(200, True), (160, False), (30, False)])
def test_cells_with_brackets_are_printed_as_they_are(width: int, terminal: bool) -> None:
    text = printed(width, terminal)
    # "a[/]b" alone would raise a MarkupError if read as markup; "[vip]" and "[bold]" would vanish.
    for value in VALUES:
        assert value in text
    assert text.count("failed") == 3
