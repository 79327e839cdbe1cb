"""Field values keep their type and every awkward character through the ledger, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from contact_sync.ledger import Ledger, LedgerError
from contact_sync.ledger.values import decode_value, encode_value

AWKWARD = [
    "plain",
    "",
    "tab\there",
    "line\nbreak\r\nwindows",
    "back\\slash \\N not null",
    'quote " and , comma',
    "Zoë Ångström 山田",
    ["vip", "west"],
    {"street": "1 Main St", "zip": "02139"},
    42,
    3.5,
    True,
    None,
]


def test_encode_decode_round_trip() -> None:
    for value in AWKWARD:
        assert decode_value(encode_value(value)) == value
    assert encode_value(float("nan")) is None
    assert encode_value(pd.NA) is None
    assert encode_value(pd.NaT) is None
    assert decode_value(encode_value(np.int64(7))) == 7
    assert decode_value(encode_value(np.array(["a", "b"]))) == ["a", "b"]
    assert decode_value(encode_value(datetime(2026, 1, 2, tzinfo=UTC))) == "2026-01-02T00:00:00+00:00"
    with pytest.raises(LedgerError, match="cannot store a value of type object"):
        encode_value(object())


def test_awkward_values_and_ids_survive_bulk_writes(ledger: Ledger) -> None:
    n = len(AWKWARD)
    ids = [f"003\t{i}\\x\n" for i in range(n)]
    base = pd.DataFrame({"crm_id": ids, "genesys_id": "g", "field": "notes", "value": AWKWARD})
    ledger.upsert_base(base, run_id="r1")
    stored = ledger.base_values().set_index("crm_id").loc[ids]
    assert stored["value"].tolist() == AWKWARD
    audit = pd.DataFrame(
        {
            "system": "genesys",
            "record_id": ids,
            "field": "notes",
            "old_value": list(reversed(AWKWARD)),
            "new_value": AWKWARD,
            "reason": "crm change",
        }
    )
    ledger.add_audit(audit, run_id="r1")
    ledger.start_run("r1", "one_way")
    trail = ledger.audit_for_run("r1").set_index("record_id").loc[ids]
    assert trail["new_value"].tolist() == AWKWARD
    assert trail["old_value"].tolist() == list(reversed(AWKWARD))
    ledger.upsert_base(pd.DataFrame({"crm_id": ["n"], "genesys_id": ["g"], "field": ["x"], "value": [float("nan")]}))
    assert ledger.base_values(crm_ids=["n"])["value"].tolist() == [None]
