"""What long commands (`sync`, `demo`, `rollback`, `cohort create`) show while they work: the steps reported to
`contact_sync.pipeline.progress` (a sync's read, decide and write per side, as `contact_sync.launcher` reports them
from the run's Dagster events; a command's own step).

On a terminal that is a transient Rich progress display on stderr (gone when the command prints its result); when
stderr is not a terminal (CI logs, cron mail, `2> file`) it is one plain line per finished step on stderr, with what
the step did and how long it took, so the log keeps a record and stdout keeps only the report or the JSON.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Column

from contact_sync.cli.launch import console
from contact_sync.pipeline.progress import ProgressEvent, progress_to


@contextmanager
def command_progress(out: Console | None = None) -> Iterator[Progress | None]:
    """Show the progress reported in the block: on `out` (default: stderr) as a Rich display when it is a terminal
    (yielded, so a command can add its own task or print above it through its console), else as lines on stderr
    (yields None)."""
    out = out or console(stderr=True)
    if not out.is_terminal:
        with progress_to(LineReporter()):
            yield None
        return
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}", table_column=Column(no_wrap=True)),
        BarColumn(bar_width=20),
        TimeElapsedColumn(),
        # Last, and the one column that gives way: a step's line is longer than most terminals are wide.
        TextColumn("{task.fields[message]}", table_column=Column(ratio=1, no_wrap=True, overflow="ellipsis")),
    )
    with Progress(*columns, console=out, transient=True, expand=True) as bar, progress_to(RichReporter(bar)):
        yield bar


class RichReporter:
    """One task of a Rich `Progress` per step ("read CRM", "decide"...), its bar at the step's done/total and its
    latest message beside it; a step that starts again (the next run of a demo) starts its clock again."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, event: ProgressEvent) -> None:
        shown = {t.id: t for t in self.bar.tasks}
        task = self.tasks.get(event.label)
        if task is None or task not in shown:  # new, or removed by the command
            task = self.tasks[event.label] = self.bar.add_task(event.label, total=event.total, message="")
        elif shown[task].finished and not event.finished:
            self.bar.reset(task, total=event.total)
        self.bar.update(task, completed=event.done, total=event.total, message=event.message)


class LineReporter:
    """One line on stderr per finished step: "read CRM: Salesforce: read 30 records (full) in 3 API calls (0.4 s)"."""

    def __init__(self) -> None:
        self.started: dict[str, float] = {}

    def __call__(self, event: ProgressEvent) -> None:
        started = self.started.setdefault(event.label, time.monotonic())
        if not event.finished:
            return
        del self.started[event.label]  # the same step of a later run is timed from its own start
        click.echo(f"{event.label}: {event.message or 'done'} ({time.monotonic() - started:.1f} s)", err=True)
