"""The match review queue and link evidence, on SQLite and on the real PostgreSQL server (the `ledger` fixture runs
each test on both): pairs queued and refreshed in bulk, decided with an audit row, handed to matching as
accept/reject/release, and marked applied."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from alembic import command
from sqlalchemy import create_engine, inspect

from contact_sync.ledger import Ledger, LedgerError
from contact_sync.ledger.engine import alembic_config
from contact_sync.ledger.values import now_utc

ANN = {"first_name": "Ann", "last_name": "Lee", "email": "ann@acme.com", "phone": "+14155550101", "lead_score": np.nan}
ANNE = {"first_name": "Anne", "last_name": "Lee", "email": None, "phone": "+14155550101", "lead_score": 12.0}


def reviews(pairs: list[tuple[str, str]], score: float = 0.8, reason: str = "below link threshold") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "crm_id": [c for c, _ in pairs],
            "genesys_id": [g for _, g in pairs],
            "rule": "phone",
            "score": score,
            "evidence": f"email missing, phone equal -> {score:.3f}",
            "reason": reason,
            "crm_record": [dict(ANN) for _ in pairs],
            "genesys_record": [dict(ANNE) for _ in pairs],
        }
    )


def test_links_store_their_evidence(ledger: Ledger) -> None:
    links = pd.DataFrame(
        {
            "crm_system": "salesforce",
            "crm_id": ["003A", "003B"],
            "genesys_id": ["g-1", "g-2"],
            "rule": ["email", "link"],
            "score": [0.97, 1.0],
            "evidence": ["email equal, phone missing, last name exact -> 0.970", None],
        }
    )
    assert ledger.add_links(links, run_id="r1") == 2
    stored = ledger.links()
    assert stored["evidence"].tolist() == ["email equal, phone missing, last name exact -> 0.970", None]
    # a frame without the column still links
    assert ledger.add_links(links.drop(columns="evidence").assign(crm_id=["003C", "003D"], genesys_id=["g-3", "g-4"]))
    assert ledger.links(ids=["003C"])["evidence"].tolist() == [None]


def test_reviews_are_queued_and_read_back_with_both_records(ledger: Ledger) -> None:
    ids = ledger.add_match_reviews(reviews([("003A", "g-1"), ("003B", "g-2")]), "salesforce", run_id="r1")
    assert len(ids) == 2 and ids == sorted(ids)
    queue = ledger.match_reviews()
    assert queue["id"].tolist() == ids
    assert queue[["crm_system", "crm_id", "genesys_id", "rule", "status", "run_id", "last_run_id"]].values.tolist() == [
        ["salesforce", "003A", "g-1", "phone", "open", "r1", "r1"],
        ["salesforce", "003B", "g-2", "phone", "open", "r1", "r1"],
    ]
    assert queue["score"].tolist() == [0.8, 0.8]
    assert queue.loc[0, "crm_record"] == {**ANN, "lead_score": None}  # NaN is stored as null
    assert queue.loc[0, "genesys_record"] == ANNE
    assert str(queue["created_at"].dt.tz) == "UTC" and queue["decided_at"].isna().all()

    record = ledger.match_review(ids[0])
    assert (record.crm_id, record.genesys_id, record.status, record.reason) == (
        "003A",
        "g-1",
        "open",
        "below link threshold",
    )
    assert record.evidence == "email missing, phone equal -> 0.800" and record.genesys_record == ANNE
    assert ledger.open_match_review_count() == 2 and ledger.open_match_review_count("dynamics") == 0
    assert ledger.match_reviews(crm_system="dynamics").empty
    assert ledger.match_reviews(ids=["g-2"])["crm_id"].tolist() == ["003B"]
    assert ledger.match_reviews(status="rejected").empty
    with pytest.raises(LedgerError, match="no match review with id 999"):
        ledger.match_review(999)
    with pytest.raises(LedgerError, match="status must be one of open, accepted, rejected, applied, withdrawn, all"):
        ledger.match_reviews(status="waiting")


def test_a_pair_proposed_again_is_refreshed_not_duplicated(ledger: Ledger) -> None:
    (first,) = ledger.add_match_reviews(reviews([("003A", "g-1")]), "salesforce", run_id="r1")
    before = ledger.match_review(first)
    again = reviews([("003A", "g-1"), ("003B", "g-2")], score=0.85, reason="tied with another candidate")
    again.at[0, "genesys_record"] = {**ANNE, "email": "anne@acme.com"}
    ids = ledger.add_match_reviews(again, "salesforce", run_id="r2")
    assert ids[0] == first and len(ids) == 2
    after = ledger.match_review(first)
    assert (after.score, after.reason, after.last_run_id, after.run_id) == (
        0.85,
        "tied with another candidate",
        "r2",
        "r1",
    )
    assert after.evidence == "email missing, phone equal -> 0.850"
    assert after.genesys_record == {**ANNE, "email": "anne@acme.com"}
    assert after.created_at == before.created_at and after.last_seen_at >= before.last_seen_at
    assert len(ledger.match_reviews(status="all")) == 2
    # the same pair twice in one frame counts once, the last row winning; the same ids for Dynamics are another pair
    twice = pd.concat([reviews([("003C", "g-3")], score=0.7), reviews([("003C", "g-3")], score=0.75)])
    (third,) = ledger.add_match_reviews(twice, "salesforce")
    assert ledger.match_review(third).score == 0.75
    (dynamics,) = ledger.add_match_reviews(reviews([("003A", "g-1")]), "dynamics")
    assert dynamics not in ids and ledger.open_match_review_count() == 4


def test_open_pairs_a_run_no_longer_proposes_are_withdrawn(ledger: Ledger) -> None:
    kept, gone = ledger.add_match_reviews(reviews([("003A", "g-1"), ("003B", "g-2")]), "salesforce", run_id="r1")
    (other_crm,) = ledger.add_match_reviews(reviews([("003B", "g-2")]), "dynamics", run_id="r1")
    ledger.decide_match(gone, "reject", by="qa")
    (fresh,) = ledger.add_match_reviews(reviews([("003C", "g-3")]), "salesforce", run_id="r1")
    assert ledger.withdraw_match_reviews("salesforce", [kept], run_id="r2") == 1
    statuses = ledger.match_reviews(status="all").set_index("id")["status"].to_dict()
    assert statuses == {kept: "open", gone: "rejected", other_crm: "open", fresh: "withdrawn"}
    assert ledger.match_review(fresh).last_run_id == "r2"


def test_decisions_are_audited_and_decided_pairs_are_left_alone(ledger: Ledger) -> None:
    accept, reject, stay = ledger.add_match_reviews(
        reviews([("003A", "g-1"), ("003B", "g-2"), ("003C", "g-3")]), "salesforce", run_id="r1"
    )
    accepted = ledger.decide_match(accept, "accept", by="ops")
    assert (accepted.status, accepted.decided_by) == ("accepted", "ops") and accepted.decided_at is not None
    rejected = ledger.decide_match(reject, "reject")
    assert (rejected.status, rejected.decided_by) == ("rejected", None)

    trail = ledger.audit_trail("g-1")
    assert trail[["system", "record_id", "crm_id", "genesys_id", "field", "reason", "run_id"]].values.tolist() == [
        ["genesys", "g-1", "003A", "g-1", "link", "match accepted", None]
    ]
    assert trail.loc[0, "old_value"] is None
    assert trail.loc[0, "new_value"] == {
        "decision": "accept",
        "review_id": accept,
        "crm_system": "salesforce",
        "rule": "phone",
        "score": 0.8,
        "evidence": "email missing, phone equal -> 0.800",
        "was": "open",
        "by": "ops",
    }
    assert ledger.audit_trail("003B")["reason"].tolist() == ["match rejected"]

    # a later run proposing all three again refreshes only the open one
    ids = ledger.add_match_reviews(
        reviews([("003A", "g-1"), ("003B", "g-2"), ("003C", "g-3")], score=0.9), "salesforce", run_id="r2"
    )
    assert ids == [stay]
    assert ledger.match_review(accept).score == 0.8 and ledger.match_review(accept).status == "accepted"
    assert ledger.match_review(reject).last_run_id == "r1"
    assert ledger.match_review(stay).score == 0.9
    assert len(ledger.match_reviews(status="all")) == 3


def test_bad_decisions_are_refused_in_one_line(ledger: Ledger) -> None:
    first, second, third = ledger.add_match_reviews(
        reviews([("003A", "g-1"), ("003A", "g-2"), ("003Z", "g-9")]), "salesforce"
    )
    ledger.add_links(
        pd.DataFrame(
            {"crm_system": ["salesforce"], "crm_id": ["003Q"], "genesys_id": ["g-9"], "rule": ["email"], "score": [1.0]}
        )
    )
    refusals = [
        ((999, "accept"), "no match review with id 999"),
        ((first, "maybe"), "a match decision is one of accept, reject, got 'maybe'"),
        ((third, "accept"), "CRM 003Q is already linked to Genesys g-9"),
    ]
    for (review_id, decision), message in refusals:
        with pytest.raises(LedgerError, match=message):
            ledger.decide_match(review_id, decision)
    ledger.decide_match(first, "accept")
    with pytest.raises(LedgerError, match=f"match review {first} is already accepted"):
        ledger.decide_match(first, "accept")
    with pytest.raises(LedgerError, match=f"already accepted as a pair \\(match review {first}\\); reject that one"):
        ledger.decide_match(second, "accept")
    # an accepted pair no run applied yet may still be rejected; a rejected one stays rejected
    assert ledger.decide_match(first, "reject", by="lead").status == "rejected"
    with pytest.raises(LedgerError, match=f"match review {first} was already rejected by lead"):
        ledger.decide_match(first, "accept")
    assert ledger.decide_match(second, "accept").status == "accepted"
    assert ledger.mark_matches_applied([second], "r5") == 1
    with pytest.raises(LedgerError, match=f"match review {second} was already applied by run r5"):
        ledger.decide_match(second, "reject")
    assert ledger.audit_trail("003A")["reason"].tolist() == ["match accepted", "match rejected", "match accepted"]


def test_pair_decisions_hand_the_answers_to_matching(ledger: Ledger) -> None:
    accept, reject, waiting = ledger.add_match_reviews(
        reviews([("003A", "g-1"), ("003B", "g-2"), ("003C", "g-3")]), "salesforce"
    )
    (other_crm,) = ledger.add_match_reviews(reviews([("003A", "g-1")]), "dynamics")
    ledger.decide_match(accept, "accept")
    ledger.decide_match(reject, "reject")
    ledger.decide_match(other_crm, "reject")

    answers = ledger.pair_decisions("salesforce", hold_days=None)
    assert list(answers.columns) == ["crm_id", "genesys_id", "decision", "review_id"]
    assert answers.values.tolist() == [["003A", "g-1", "accept", accept], ["003B", "g-2", "reject", reject]]
    # an open pair is released once it has waited longer than the hold
    assert ledger.pair_decisions("salesforce", hold_days=7)["decision"].tolist() == ["accept", "reject"]
    later = now_utc() + timedelta(days=7, hours=1)
    released = ledger.pair_decisions("salesforce", hold_days=7, now=later)
    assert released.values.tolist()[-1] == ["003C", "g-3", "release", waiting]
    assert ledger.pair_decisions("salesforce", hold_days=0.5, now=now_utc() + timedelta(hours=13))[
        "decision"
    ].tolist() == [
        "accept",
        "reject",
        "release",
    ]
    assert ledger.pair_decisions("dynamics", hold_days=None)["decision"].tolist() == ["reject"]
    with pytest.raises(LedgerError, match="hold is a number of days >= 0"):
        ledger.pair_decisions("salesforce", hold_days=-1)
    with pytest.raises(LedgerError, match="crm_system must be one of salesforce, dynamics"):
        ledger.pair_decisions("zoho", hold_days=None)
    # releasing is only for this run: the review stays open
    assert ledger.match_review(waiting).status == "open"

    # applied pairs are no longer handed over; only accepted ones are marked
    assert ledger.mark_matches_applied([accept, reject, waiting], "r9") == 1
    assert ledger.match_review(accept).applied_run_id == "r9" and ledger.match_review(accept).status == "applied"
    assert ledger.match_review(reject).status == "rejected" and ledger.match_review(waiting).status == "open"
    assert ledger.pair_decisions("salesforce", hold_days=None)["decision"].tolist() == ["reject"]
    assert ledger.mark_matches_applied([accept], "r10") == 0
    # a pair linked through the queue and unlinked since may be proposed again
    (again,) = ledger.add_match_reviews(reviews([("003A", "g-1")]), "salesforce")
    assert again != accept and ledger.match_review(again).status == "open"
    assert ledger.pair_decisions("salesforce", hold_days=None)["decision"].tolist() == ["reject"]


def test_bad_review_frames_are_refused(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match="lacks column\\(s\\) crm_record, genesys_record"):
        ledger.add_match_reviews(
            reviews([("003A", "g-1")]).drop(columns=["crm_record", "genesys_record"]), "salesforce"
        )
    with pytest.raises(LedgerError, match="crm_system must be one of salesforce, dynamics"):
        ledger.add_match_reviews(reviews([("003A", "g-1")]), "zoho")
    with pytest.raises(LedgerError, match="genesys_id is empty in 1 row"):
        ledger.add_match_reviews(reviews([("003A", None)]), "salesforce")  # type: ignore[list-item]
    with pytest.raises(LedgerError, match="crm_record must be a dict of field values or empty, not str"):
        ledger.add_match_reviews(reviews([("003A", "g-1")]).assign(crm_record="Ann Lee"), "salesforce")
    assert ledger.add_match_reviews(reviews([]), "salesforce") == []
    assert ledger.match_reviews(status="all").empty
    # empty records and evidence are fine
    none = reviews([("003A", "g-1")]).assign(crm_record=None, genesys_record=np.nan, evidence=None, reason=None)
    (review_id,) = ledger.add_match_reviews(none, "salesforce")
    record = ledger.match_review(review_id)
    assert (record.crm_record, record.genesys_record, record.evidence, record.reason) == (None, None, None, None)


def test_thousands_of_reviews_are_written_and_refreshed_in_bulk(ledger: Ledger) -> None:
    count = 6000  # more than one IN (...) chunk
    pairs = [(f"003{i:06d}", f"g-{i:06d}") for i in range(count)]
    ids = ledger.add_match_reviews(reviews(pairs), "salesforce", run_id="r1")
    assert len(ids) == count and len(set(ids)) == count
    ledger.decide_match(ids[10], "reject")
    again = ledger.add_match_reviews(reviews(pairs, score=0.9), "salesforce", run_id="r2")
    assert len(again) == count - 1 and ids[10] not in again
    queue = ledger.match_reviews()
    assert len(queue) == count - 1 and set(queue["score"]) == {0.9} and set(queue["last_run_id"]) == {"r2"}
    assert ledger.open_match_review_count() == count - 1
    assert ledger.pair_decisions("salesforce", hold_days=None)["review_id"].tolist() == [ids[10]]


def test_a_0001_ledger_upgrades_keeping_its_links(ledger_url: str) -> None:
    url = ledger_url
    store = Ledger(url)  # makes the SQLite file's folder
    engine = create_engine(url)
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0001")
        connection.exec_driver_sql(
            "INSERT INTO sync_links (crm_system, crm_id, genesys_id, rule, score, linked_at) "
            "VALUES ('salesforce', '003A', 'g-1', 'email', 1.0, '2026-11-30 10:00:00')"
        )
    engine.dispose()
    assert store.schema_revision() == "0001"
    store.migrate()
    assert store.schema_revision() == Ledger.head_revision()
    assert store.links()[["crm_id", "genesys_id", "evidence"]].values.tolist() == [["003A", "g-1", None]]
    assert store.add_match_reviews(reviews([("003B", "g-2")]), "salesforce")
    engine = create_engine(url)
    try:
        assert "sync_match_reviews" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
    store.dispose()
