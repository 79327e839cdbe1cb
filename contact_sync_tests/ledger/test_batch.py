"""Batches: one transaction per written batch, 100,000-row round trips, and writers from several processes."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from contact_sync.ledger import Ledger, LedgerError
from contact_sync.ledger.bulk import insert_rows

ROWS = 100_000


def test_an_error_mid_batch_leaves_nothing(ledger: Ledger) -> None:
    ledger.add_links(
        pd.DataFrame(
            {
                "crm_system": ["salesforce"],
                "crm_id": ["003Z"],
                "genesys_id": ["g-taken"],
                "rule": ["email"],
                "score": [1],
            }
        )
    )
    links = pd.DataFrame(
        {"crm_system": "salesforce", "crm_id": ["003A"], "genesys_id": ["g-1"], "rule": "email", "score": 1.0}
    )
    base = pd.DataFrame({"crm_id": ["003A"], "genesys_id": ["g-1"], "field": ["phone"], "value": ["+1"]})
    with pytest.raises(LedgerError, match="reason must be one of"):
        ledger.record_batch(
            "r1",
            links=links,
            base=base,
            audit=pd.DataFrame(
                {"system": ["genesys"], "record_id": ["g-1"], "field": ["phone"], "new_value": ["+1"], "reason": ["?"]}
            ),
        )
    with pytest.raises(RuntimeError, match="connector failed"), ledger.batch() as tx:
        tx.add_links(links, "r1")
        tx.upsert_base(base, "r1")
        tx.set_watermark("salesforce.contact", "2026-11-29T00:00:00Z")
        tx.create_cohort("pilot-001", ["003A"])
        raise RuntimeError("connector failed")
    # a refusal by the database itself (the one-to-one index, reached past the friendly pre-check) after earlier
    # writes in the same batch
    with pytest.raises(LedgerError, match="writing failed"), ledger.batch() as tx:
        tx.upsert_base(base, "r1")
        tx.add_conflicts(
            pd.DataFrame(
                {
                    "crm_id": ["003A"],
                    "genesys_id": ["g-1"],
                    "field": ["phone"],
                    "base": ["+1"],
                    "crm_value": ["+2"],
                    "genesys_value": ["+3"],
                    "policy": ["manual"],
                }
            )
        )
        insert_rows(
            tx._conn,
            "sync_links",
            ["crm_system", "crm_id", "genesys_id", "rule", "score", "linked_at"],
            [("salesforce", "003Q", "g-taken", "x", 1.0, tx.now.isoformat())],
        )
    assert ledger.links()["crm_id"].tolist() == ["003Z"]
    assert ledger.base_values().empty
    assert ledger.audit_trail("g-1").empty
    assert ledger.watermark("salesforce.contact") is None
    assert ledger.cohorts() == []
    assert ledger.conflicts().empty


def test_a_100k_row_batch_round_trips(ledger: Ledger) -> None:
    crm_ids = [f"003{i:012d}" for i in range(ROWS)]
    genesys_ids = [f"gen-{i:08d}" for i in range(ROWS)]
    links = pd.DataFrame(
        {"crm_system": "salesforce", "crm_id": crm_ids, "genesys_id": genesys_ids, "rule": "email", "score": 1.0}
    )
    base = pd.DataFrame(
        {
            "crm_id": crm_ids,
            "genesys_id": genesys_ids,
            "field": "phone",
            "value": [f"+1555{i:07d}" for i in range(ROWS)],
        }
    )
    written = ledger.record_batch("r-big", links=links, base=base)
    assert written == {"unlinked": 0, "linked": ROWS, "base": ROWS, "audit": 0}

    stored_links = ledger.links()
    stored_base = ledger.base_values()
    assert len(stored_links) == ROWS and len(stored_base) == ROWS
    assert stored_links["crm_id"].is_unique and stored_links["genesys_id"].is_unique
    joined = stored_base.merge(base, on=["crm_id", "genesys_id", "field"], suffixes=("", "_sent"))
    assert len(joined) == ROWS
    assert (joined["value"] == joined["value_sent"]).all()

    # the same links again are no-ops; base values for a slice are updated in place
    subset = slice(0, 7000)
    again = ledger.record_batch("r-big-2", links=links.iloc[subset], base=base.iloc[subset].assign(value="same"))
    assert again == {"unlinked": 0, "linked": 0, "base": 7000, "audit": 0}
    stored_base = ledger.base_values(crm_ids=crm_ids[subset])
    assert len(stored_base) == 7000 and set(stored_base["value"]) == {"same"}
    assert set(stored_base["run_id"]) == {"r-big-2"}


def _write_runs(url: str, prefix: str, count: int) -> None:
    store = Ledger(url)
    store.migrate()  # concurrent migrations queue; all but the first find the schema current
    for i in range(count):
        with store.batch() as tx:
            tx.start_run(f"{prefix}-{i}", "one_way")
            tx.add_audit(
                pd.DataFrame(
                    {"system": ["genesys"], "record_id": [f"{prefix}-{i}"], "field": ["phone"], "reason": ["created"]}
                ),
                f"{prefix}-{i}",
            )
    store.dispose()


def test_sqlite_ledger_takes_writers_from_several_processes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_write_runs, args=(url, f"p{n}", 25)) for n in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert [w.exitcode for w in workers] == [0, 0, 0]
    store = Ledger(url)
    assert len(store.recent_runs(1000)) == 75
    assert np.array_equal(
        np.sort(store.audit_for_run("p2-24")["record_id"].to_numpy()), np.array(["p2-24"], dtype=object)
    )
