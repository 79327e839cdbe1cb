"""The run report: per-record failures carry their system, record and reason to the CLI and `--json`."""

from __future__ import annotations

from contact_sync.pipeline.runs import run_report
from contact_sync.pipeline.writes import WriteSummary
from contact_sync.sync.engine import reconcile
from contact_sync_tests.sync.engine_helpers import crm, genesys, make_policy


def test_failed_records_reach_the_report_with_their_reasons() -> None:
    plan = reconcile(crm(), genesys(), make_policy("one_way"))
    genesys_side = WriteSummary(system="genesys", errors=1, failures=[{"key": "g-7", "message": "400 bad phone"}])
    crm_side = WriteSummary(system="salesforce", errors=1, failures=[{"key": "003A", "message": "locked row"}])
    report = run_report(
        run_id="r1", status="success", mode="one_way", cohort="all", plan=plan, genesys=genesys_side, crm=crm_side,
        duration_s=1.0, api_calls={},
    )  # fmt: skip
    assert report["errors"] == 2
    assert report["failures"] == [
        {"system": "genesys", "record": "g-7", "reason": "400 bad phone"},
        {"system": "salesforce", "record": "003A", "reason": "locked row"},
    ]
    assert report["held_deletes"] == 0 and report["match_review"] == 0
