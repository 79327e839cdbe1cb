"""Progress of a long piece of work (a sync run's steps, a rollback), told by whatever does the work and shown by
whoever asked for it: a process-wide hook with nothing else in it (no Dagster, no Rich).

`report_progress(step, side, done, total, message)` says how far one step is; `with progress_to(callback):` makes
`callback` receive a `ProgressEvent` for each report made in the block. With no callback installed a report does
nothing, so a run started from the Dagster UI or a schedule shows nothing and pays nothing. Callbacks nest: the
innermost receives the reports until its block ends. Code that reports later on a callback's behalf, from inside
blocks that install others (the launcher, from a run's events), takes it with `installed()` and calls it directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

SIDE_LABELS: Final = {"crm": "CRM", "genesys": "Genesys"}


@dataclass(frozen=True)
class ProgressEvent:
    """How far one step is: `done` of `total` units (None when not known), with a line saying what it does or did."""

    step: str
    """What is done: "read", "decide", "write", "report", or a command's own step ("rollback")."""
    side: str | None
    """The side the step works on ("crm" or "genesys"), or None."""
    done: int
    total: int | None
    message: str = ""

    @property
    def label(self) -> str:
        """The step as a person reads it: "read CRM", "write Genesys", "decide"."""
        return f"{self.step} {SIDE_LABELS.get(self.side, self.side)}" if self.side else self.step

    @property
    def finished(self) -> bool:
        return self.total is not None and self.done >= self.total


ProgressCallback = Callable[[ProgressEvent], None]

_callbacks: list[ProgressCallback] = []


def report_progress(step: str, side: str | None, done: int, total: int | None, message: str = "") -> None:
    """Tell the installed callback (if any) how far `step` (on `side`) is."""
    if _callbacks:
        _callbacks[-1](ProgressEvent(step, side, done, total, message))


def installed() -> ProgressCallback | None:
    """The callback reports go to now (the innermost installed), or None."""
    return _callbacks[-1] if _callbacks else None


@contextmanager
def progress_to(callback: ProgressCallback) -> Iterator[None]:
    """Send every progress report made in the block to `callback`."""
    _callbacks.append(callback)
    try:
        yield
    finally:
        _callbacks.remove(callback)
