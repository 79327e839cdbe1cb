"""Benchmark: the ledger's bulk paths with 100,000-row batches, on a SQLite file and on PostgreSQL.

For each database: one batch of N links + N base values (one transaction), reading both back, a second batch that
re-asserts every link and updates every base value in place, and N audit rows written and read back for one run.

    .venv/bin/python benchmarks/ledger_bench.py [--rows 100000] [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

PostgreSQL is skipped (said so) when the server cannot be reached; a scratch database is created and dropped.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from contact_sync.ledger import Ledger


def timed(label: str, action: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    result = action()
    print(f"  {label:<44} {time.perf_counter() - started:6.2f} s")
    return result


def run(url: str, rows: int) -> None:
    ledger = Ledger(url)
    ledger.migrate()
    crm_ids = [f"003{i:012d}" for i in range(rows)]
    genesys_ids = [f"gen-{i:08d}" for i in range(rows)]
    links = pd.DataFrame(
        {"crm_system": "salesforce", "crm_id": crm_ids, "genesys_id": genesys_ids, "rule": "email", "score": 1.0}
    )
    base = pd.DataFrame(
        {
            "crm_id": crm_ids,
            "genesys_id": genesys_ids,
            "field": "phone",
            "value": [f"+1555{i:07d}" for i in range(rows)],
        }
    )
    audit = pd.DataFrame(
        {
            "system": "genesys",
            "record_id": genesys_ids,
            "crm_id": crm_ids,
            "genesys_id": genesys_ids,
            "field": "phone",
            "old_value": None,
            "new_value": base["value"],
            "reason": "created",
        }
    )
    timed(f"write {rows:,} links + {rows:,} base values", lambda: ledger.record_batch("r1", links=links, base=base))
    assert len(timed("read links", ledger.links)) == rows
    assert len(timed("read base values", ledger.base_values)) == rows
    timed("re-assert links, update every base value", lambda: ledger.record_batch("r2", links=links, base=base))
    ledger.start_run("r3", "one_way")
    timed(f"write {rows:,} audit rows", lambda: ledger.add_audit(audit, "r3"))
    assert len(timed("read one run's audit rows", lambda: ledger.audit_for_run("r3"))) == rows
    ledger.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        print(f"SQLite ({args.rows:,} rows)")
        run(f"sqlite:///{Path(folder) / 'ledger.sqlite'}", args.rows)

    import psycopg2

    try:
        admin = psycopg2.connect(args.postgres, connect_timeout=3)
    except psycopg2.OperationalError as error:
        print(f"PostgreSQL skipped: {str(error).strip().splitlines()[0]}")
        return
    admin.autocommit = True
    name = f"ledger_bench_{uuid.uuid4().hex[:8]}"
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        print(f"PostgreSQL ({args.rows:,} rows)")
        base_url = args.postgres.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg2://", 1)
        run(f"{base_url}/{name}", args.rows)
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


if __name__ == "__main__":
    main()
