"""Cohorts: deterministic picks, usable before any sync has run."""

import pandas as pd
import pytest

from contact_sync.ledger import LedgerError
from contact_sync.pipeline.cohorts import cohort_members, cohort_names, create_cohort, pick_members
from contact_sync.pipeline.services import Services
from contact_sync.simulators import RunningSimulators


def test_pick_is_deterministic_and_independent_of_order() -> None:
    ids = pd.Series([f"003{i:015d}" for i in range(500)])
    first = pick_members(ids, 100)
    assert len(first) == 100 == len(set(first))
    assert pick_members(ids.sample(frac=1, random_state=1), 100) == first
    assert first != sorted(ids)[:100]  # spread over the ids, not the oldest records
    with pytest.raises(ValueError):
        pick_members(ids, 0)


def test_create_cohort_before_any_sync_reads_the_crm(sims: RunningSimulators, services: Services) -> None:
    ids = sims.salesforce.load_contacts([{"LastName": f"P{i}"} for i in range(12)])
    sims.salesforce.delete_contact(ids[0])
    record = create_cohort(services, "pilot-001", 5)
    members = cohort_members(services.ledger, "pilot-001")
    assert record.size == 5 and members is not None and set(members) <= set(ids[1:])
    assert cohort_names(services.ledger) == ["all", "pilot-001"]
    assert cohort_members(services.ledger, "all") is None
    with pytest.raises(LedgerError):
        create_cohort(services, "all", 5)
    with pytest.raises(LedgerError):
        create_cohort(services, "pilot-001", 5)
