"""Every ledger operation, on SQLite and on the real PostgreSQL server (the `ledger` fixture runs each test on both)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from contact_sync.ledger import Ledger, LedgerError, health_score


def links_frame(pairs: list[tuple[str, str]], rule: str = "email", score: float = 1.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "crm_system": "salesforce",
            "crm_id": [c for c, _ in pairs],
            "genesys_id": [g for _, g in pairs],
            "rule": rule,
            "score": score,
        }
    )


# links -----------------------------------------------------------------------------------------------------------


def test_links_round_trip_and_relinking_the_same_pair_is_a_no_op(ledger: Ledger) -> None:
    assert ledger.add_links(links_frame([("003A", "g-1"), ("003B", "g-2")]), run_id="r1") == 2
    assert ledger.add_links(links_frame([("003A", "g-1")]), run_id="r2") == 0
    links = ledger.links()
    assert links[["crm_id", "genesys_id", "rule", "run_id"]].values.tolist() == [
        ["003A", "g-1", "email", "r1"],
        ["003B", "g-2", "email", "r1"],
    ]
    assert str(links["linked_at"].dt.tz) == "UTC"
    assert ledger.links(ids=["g-2"])["crm_id"].tolist() == ["003B"]
    assert ledger.links(crm_system="dynamics").empty


def test_links_are_one_to_one(ledger: Ledger) -> None:
    ledger.add_links(links_frame([("003A", "g-1")]))
    with pytest.raises(LedgerError, match="crm_id '003A' is already linked to genesys_id 'g-1'"):
        ledger.add_links(links_frame([("003A", "g-9")]))
    with pytest.raises(LedgerError, match="genesys_id 'g-1' is already linked to crm_id '003A'"):
        ledger.add_links(links_frame([("003Z", "g-1")]))
    with pytest.raises(LedgerError, match="more than one"):
        ledger.add_links(links_frame([("003C", "g-3"), ("003C", "g-4")]))
    assert ledger.links()[["crm_id", "genesys_id"]].values.tolist() == [["003A", "g-1"]]
    # the same ids may be linked for another CRM
    other = links_frame([("003A", "g-1")]).assign(crm_system="dynamics")
    assert ledger.add_links(other) == 1


def test_unlink_keeps_history_drops_the_base_and_frees_both_ids(ledger: Ledger) -> None:
    ledger.add_links(links_frame([("003A", "g-1"), ("003B", "g-2")]))
    ledger.upsert_base(pd.DataFrame({"crm_id": ["003A"], "genesys_id": ["g-1"], "field": ["phone"], "value": ["+1"]}))
    unlinks = pd.DataFrame({"crm_system": ["salesforce", "salesforce"], "crm_id": ["003A", "003-unknown"]})
    assert ledger.unlink(unlinks.assign(reason="crm delete"), run_id="r-del") == 1
    assert ledger.links()["crm_id"].tolist() == ["003B"]
    history = ledger.links(include_unlinked=True, ids=["003A"])
    assert history[["unlink_reason", "unlink_run_id"]].values.tolist() == [["crm delete", "r-del"]]
    assert history["unlinked_at"].notna().all()
    assert ledger.base_values().empty
    assert ledger.add_links(links_frame([("003A", "g-5"), ("003Q", "g-1")])) == 2


def test_record_batch_relinks_in_one_transaction(ledger: Ledger) -> None:
    ledger.add_links(links_frame([("003A", "g-1")]))
    written = ledger.record_batch(
        "r2",
        unlinks=pd.DataFrame({"crm_system": ["salesforce"], "crm_id": ["003A"], "reason": ["merged"]}),
        links=links_frame([("003A", "g-2")], rule="external_id"),
        base=pd.DataFrame({"crm_id": ["003A"], "genesys_id": ["g-2"], "field": ["email"], "value": ["a@x.com"]}),
        audit=pd.DataFrame(
            {
                "system": ["genesys"],
                "record_id": ["g-2"],
                "crm_id": ["003A"],
                "genesys_id": ["g-2"],
                "field": ["email"],
                "old_value": [None],
                "new_value": ["a@x.com"],
                "reason": ["crm change"],
            }
        ),
    )
    assert written == {"unlinked": 1, "linked": 1, "base": 1, "audit": 1}
    assert ledger.links()[["genesys_id", "rule", "run_id"]].values.tolist() == [["g-2", "external_id", "r2"]]
    assert ledger.audit_trail("003A")["run_id"].tolist() == ["r2"]


# base values -----------------------------------------------------------------------------------------------------


def test_base_values_upsert_and_keep_their_types(ledger: Ledger) -> None:
    first = pd.DataFrame(
        {
            "crm_id": ["003A", "003A", "003A", "003B"],
            "genesys_id": ["g-1", "g-1", "g-1", "g-2"],
            "field": ["phone", "tags", "lead_score", "phone"],
            "value": ["+15551230001", ["vip", "west"], 42, None],
        }
    )
    assert ledger.upsert_base(first, run_id="r1") == 4
    second = pd.DataFrame(
        {"crm_id": ["003A", "003A"], "genesys_id": ["g-1", "g-1"], "field": ["phone", "phone"], "value": ["x", "+2"]}
    )
    assert ledger.upsert_base(second, run_id="r2") == 1  # the later row for one key wins
    base = ledger.base_values().sort_values(["crm_id", "field"]).reset_index(drop=True)
    assert base[["crm_id", "field", "value", "run_id"]].values.tolist() == [
        ["003A", "lead_score", 42, "r1"],
        ["003A", "phone", "+2", "r2"],
        ["003A", "tags", ["vip", "west"], "r1"],
        ["003B", "phone", None, "r1"],
    ]
    assert ledger.base_values(crm_ids=["003B"])["field"].tolist() == ["phone"]


# watermarks ------------------------------------------------------------------------------------------------------


def test_watermarks(ledger: Ledger) -> None:
    assert ledger.watermark("salesforce.contact") is None
    ledger.set_watermark("salesforce.contact", datetime(2026, 11, 1, 12, 0, tzinfo=UTC))
    assert ledger.watermark("salesforce.contact") == "2026-11-01T12:00:00+00:00"
    ledger.set_watermark("salesforce.contact", "2026-11-02T00:00:00.000+0000")
    assert ledger.watermark("salesforce.contact") == "2026-11-02T00:00:00.000+0000"


# cohorts ---------------------------------------------------------------------------------------------------------


def test_cohorts(ledger: Ledger) -> None:
    created = ledger.create_cohort("pilot-001", ["003C", "003A", "003B", "003A"])
    assert (created.name, created.size) == ("pilot-001", 3)
    assert ledger.cohort_members("pilot-001") == ["003A", "003B", "003C"]
    with pytest.raises(LedgerError, match="cohort 'pilot-001' already exists"):
        ledger.create_cohort("pilot-001", ["003Z"])
    assert ledger.cohort_members("pilot-001") == ["003A", "003B", "003C"]
    ledger.create_cohort("pilot-002", [])
    assert [(c.name, c.size) for c in ledger.cohorts()] == [("pilot-001", 3), ("pilot-002", 0)]
    with pytest.raises(LedgerError, match="no cohort named 'nope'"):
        ledger.cohort_members("nope")


# audit log -------------------------------------------------------------------------------------------------------


def audit_row(**values: object) -> dict[str, object]:
    row: dict[str, object] = {
        "system": "genesys",
        "record_id": "g-1",
        "crm_id": "003A",
        "genesys_id": "g-1",
        "field": "phone",
        "old_value": None,
        "new_value": None,
        "reason": "crm change",
    }
    row.update(values)
    return row


def test_audit_trail_by_every_id_and_by_email_oldest_first(ledger: Ledger) -> None:
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    ledger.add_links(links_frame([("003A", "g-1")]))
    ledger.add_audit(
        pd.DataFrame(
            [
                audit_row(field="email", new_value="Ann@Example.com", reason="created", at=t0, run_id="r1"),
                audit_row(field="phone", new_value="+15550001", reason="created", at=t0, run_id="r1"),
                audit_row(
                    system="salesforce",
                    record_id="003A",
                    field="phone",
                    old_value="+15550001",
                    new_value="+15550002",
                    reason="genesys change",
                    at=t0 + timedelta(hours=2),
                    run_id="r3",
                ),
                audit_row(old_value="+15550001", new_value="+15550009", at=t0 + timedelta(hours=1), run_id="r2"),
                audit_row(crm_id="003B", genesys_id="g-2", record_id="g-2", new_value="x", reason="created", at=t0),
            ]
        )
    )
    expected = [("r1", "email"), ("r1", "phone"), ("r2", "phone"), ("r3", "phone")]
    for query in ("003A", "g-1", "ann@example.com"):
        trail = ledger.audit_trail(query)
        assert list(zip(trail["run_id"], trail["field"], strict=True)) == expected, query
    trail = ledger.audit_trail("003A")
    assert trail.iloc[3][["system", "old_value", "new_value", "reason"]].tolist() == [
        "salesforce",
        "+15550001",
        "+15550002",
        "genesys change",
    ]
    assert ledger.audit_trail("nobody@example.com").empty
    by_ids = ledger.audit_for_ids(["g-2", "003A"])
    assert len(by_ids) == 5 and by_ids["at"].is_monotonic_increasing
    assert ledger.audit_for_ids(["nothing"]).empty
    assert ledger.audit_for_run("r2")["new_value"].tolist() == ["+15550009"]


def test_audit_refuses_bad_rows_and_unknown_runs(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match="reason must be one of"):
        ledger.add_audit(pd.DataFrame([audit_row(reason="because")]))
    with pytest.raises(LedgerError, match="system must be one of"):
        ledger.add_audit(pd.DataFrame([audit_row(system="zoho")]))
    with pytest.raises(LedgerError, match="needs a record_id, crm_id or genesys_id"):
        ledger.add_audit(pd.DataFrame([audit_row(record_id=None, crm_id=None, genesys_id=None)]))
    with pytest.raises(LedgerError, match="no run with id r-unknown"):
        ledger.audit_for_run("r-unknown")
    ledger.start_run("r-empty", "one_way")
    assert ledger.audit_for_run("r-empty").empty


# conflicts -------------------------------------------------------------------------------------------------------


def conflict_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "crm_id": ["003A", "003B"],
            "genesys_id": ["g-1", "g-2"],
            "field": ["phone", "first_name"],
            "base": ["+1", "Ann"],
            "crm_value": ["+2", "Anne"],
            "genesys_value": ["+3", "Annie"],
            "policy": ["manual", "crm_wins"],
            "winner": [None, "crm"],
        }
    )


def test_conflict_workflow(ledger: Ledger) -> None:
    held, automatic = ledger.add_conflicts(conflict_rows(), run_id="r1")
    assert automatic > held
    assert ledger.open_conflicts()["id"].tolist() == [held]
    assert ledger.conflict(automatic).status == "resolved"
    assert ledger.pending_decisions().empty

    decided = ledger.decide(held, "genesys", by="ops@example.com")
    assert (decided.status, decided.decision, decided.decision_value, decided.decided_by) == (
        "resolved",
        "genesys",
        "+3",
        "ops@example.com",
    )
    assert decided.decided_at is not None
    assert ledger.open_conflicts().empty
    decided = ledger.decide(held, "value", value="+15550100", by="ops@example.com")
    assert ledger.pending_decisions()[["id", "decision", "decision_value"]].values.tolist() == [
        [held, "value", "+15550100"]
    ]
    assert ledger.mark_applied([held], "r2") == 1
    assert ledger.pending_decisions().empty
    assert ledger.conflict(held).applied_run_id == "r2"
    with pytest.raises(LedgerError, match=f"conflict {held} was already applied by run r2"):
        ledger.decide(held, "crm")
    with pytest.raises(LedgerError, match="no conflict with id 999999"):
        ledger.decide(999999, "crm")
    with pytest.raises(LedgerError, match="needs a value"):
        ledger.decide(automatic, "value")
    with pytest.raises(LedgerError, match="must use one of"):
        ledger.decide(automatic, "both")
    assert ledger.conflicts(ids=["g-2"])[["base", "crm_value", "genesys_value"]].values.tolist() == [
        ["Ann", "Anne", "Annie"]
    ]
    assert len(ledger.conflicts(run_id="r1")) == 2
    assert ledger.conflicts(status="applied")["id"].tolist() == [held]


# runs, health, alerts --------------------------------------------------------------------------------------------


def test_runs_are_recorded_and_unknown_ids_refused(ledger: Ledger) -> None:
    start = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
    ledger.start_run("r1", "one_way", cohort="pilot-001", started_at=start)
    with pytest.raises(LedgerError, match="run r1 is already recorded"):
        ledger.start_run("r1", "one_way")
    counts = {
        "created": {"genesys": 5, "crm": 0},
        "updated": {"genesys": 2, "crm": 1},
        "skipped": 3,
        "errors": {"genesys": 1, "crm": 2},
        "conflicts": 4,
    }
    ledger.finish_run(
        "r1",
        "success",
        counts=counts,
        api_calls={"genesys": {"POST /bulk": 2}},
        finished_at=start + timedelta(seconds=12.5),
    )
    run = ledger.run("r1")
    assert (run.status, run.mode, run.cohort, run.dry_run) == ("success", "one_way", "pilot-001", False)
    assert run.counts == counts
    assert (run.errors, run.conflicts, run.duration_s) == (3, 4, 12.5)
    assert run.api_calls == {"genesys": {"POST /bulk": 2}}
    assert run.started_at == start
    with pytest.raises(LedgerError, match="no run with id r-missing"):
        ledger.finish_run("r-missing", "success")
    with pytest.raises(LedgerError, match="no run with id r-missing"):
        ledger.run("r-missing")
    ledger.start_run("r2", "bidirectional", started_at=start + timedelta(minutes=30))
    ledger.finish_run("r2", "failure", duration_s=1.0, error_summary="Genesys unreachable")
    assert [r.run_id for r in ledger.recent_runs(5)] == ["r2", "r1"]
    assert ledger.recent_runs(1)[0].error_summary == "Genesys unreachable"


def test_health_score_weighs_errors_and_run_time_over_the_last_ten_runs(ledger: Ledger) -> None:
    assert ledger.health_score() is None
    start = datetime(2026, 11, 1, tzinfo=UTC)
    # 12 runs: the two oldest (huge errors) fall outside the window of 10.
    for i in range(12):
        ledger.start_run(f"r{i:02d}", "one_way", started_at=start + timedelta(minutes=i))
        errors = 100 if i < 2 else i % 3  # errors 2..11 -> 2,0,1,2,0,1,2,0,1,2 (sum 11)
        ledger.finish_run(f"r{i:02d}", "success", counts={"errors": errors}, duration_s=float(i))
    ledger.start_run("dry", "one_way", dry_run=True, started_at=start + timedelta(hours=1))
    ledger.finish_run("dry", "success", counts={"errors": 1000}, duration_s=1000.0)
    ledger.start_run("still-running", "one_way", started_at=start + timedelta(hours=2))
    avg_errors = 11 / 10
    avg_duration = sum(range(2, 12)) / 10  # 6.5 s
    expected = 100 - avg_errors * 5 - avg_duration / 6
    assert ledger.health_score() == pytest.approx(expected)
    assert health_score([1, 3], [6.0, 12.0]) == pytest.approx(100 - 2 * 5 - 1.5)
    assert health_score([100], [10.0]) == 0.0
    # A healthy 90 s first sync of 100,000 contacts is healthy (the guide's formula said 10); 5 minutes costs half.
    assert health_score([0], [90.0]) == pytest.approx(85.0) and health_score([0], [300.0]) == pytest.approx(50.0)


def test_alerts(ledger: Ledger) -> None:
    first = ledger.add_alert("high_errors", "12 errors in run r1", run_id="r1")
    second = ledger.add_alert("slow_run", "run r2 took 301 s", run_id="r2", delivered=True)
    ledger.mark_alert_delivered(first)
    alerts = ledger.recent_alerts()
    assert [(a.id, a.kind, a.delivered) for a in alerts] == [(second, "slow_run", True), (first, "high_errors", True)]
    with pytest.raises(LedgerError, match="alert kind must be one of"):
        ledger.add_alert("bad_vibes", "x")
    with pytest.raises(LedgerError, match="no alert with id"):
        ledger.mark_alert_delivered(10**6)
