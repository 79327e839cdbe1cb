"""The progress hook: reports reach the callback installed around them (the innermost one), and nothing else."""

from __future__ import annotations

import pytest

from contact_sync.pipeline.progress import ProgressEvent, installed, progress_to, report_progress


def test_reports_reach_the_installed_callback_and_only_inside_its_block() -> None:
    seen: list[ProgressEvent] = []
    report_progress("read", "crm", 0, 1, "before")  # no callback: goes nowhere, and is no error
    with progress_to(seen.append):
        report_progress("read", "crm", 0, 1)
        report_progress("read", "crm", 1, 1, "Salesforce: read 30 records")
        report_progress("decide", None, 1, 2, "matched")
        report_progress("roll back", None, 0, None, "run r-1")
    report_progress("write", "genesys", 1, 1, "after")

    assert seen == [
        ProgressEvent("read", "crm", 0, 1, ""),
        ProgressEvent("read", "crm", 1, 1, "Salesforce: read 30 records"),
        ProgressEvent("decide", None, 1, 2, "matched"),
        ProgressEvent("roll back", None, 0, None, "run r-1"),
    ]
    assert [e.label for e in seen] == ["read CRM", "read CRM", "decide", "roll back"]
    assert [e.finished for e in seen] == [False, True, False, False]  # an unknown total is never finished
    assert ProgressEvent("write", "genesys", 3, 3).label == "write Genesys"


def test_the_innermost_callback_receives_until_its_block_ends_and_installed_names_it() -> None:
    outer: list[str] = []
    inner: list[str] = []

    def to_outer(event: ProgressEvent) -> None:
        outer.append(event.message)

    assert installed() is None
    with progress_to(to_outer):
        report_progress("read", "crm", 0, 1, "one")
        taken = installed()
        with pytest.raises(RuntimeError), progress_to(lambda e: inner.append(e.message)):
            report_progress("read", "crm", 0, 1, "two")
            assert taken is not None
            taken(ProgressEvent("read", "crm", 0, 1, "straight to the outer one"))
            raise RuntimeError("the command failed")
        report_progress("read", "crm", 1, 1, "three")
    report_progress("read", "crm", 1, 1, "four")

    assert taken is to_outer and installed() is None
    assert (outer, inner) == (["one", "straight to the outer one", "three"], ["two"])
