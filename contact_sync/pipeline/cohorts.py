"""Rollout cohorts: named, stored sets of CRM ids picked deterministically; "all" means every contact."""

from __future__ import annotations

import hashlib
from typing import Final

import pandas as pd

from contact_sync.ledger import CohortRecord, Ledger, LedgerError
from contact_sync.pipeline.config import ALL_COHORT
from contact_sync.pipeline.services import Services
from contact_sync.pipeline.snapshots import Mirror


def pick_members(crm_ids: pd.Series, size: int) -> list[str]:
    """`size` ids ordered by a stable hash of each id (the same ids always give the same pick, spread over the
    whole id range rather than the oldest records)."""
    if size < 1:
        raise ValueError(f"a cohort needs a size of at least 1, got {size}")
    ids = sorted(set(crm_ids.dropna().astype(str)))
    ranked = sorted(ids, key=lambda i: hashlib.sha256(i.encode()).hexdigest())
    return ranked[:size]


def live_crm_ids(services: Services) -> pd.Series:
    """Live CRM ids from the mirror, or read from the CRM when no mirror exists yet (before any sync)."""
    mirror = Mirror(services.settings.data_dir, services.crm.kind).load()
    if mirror is not None:
        contacts = mirror[0]
    else:
        contacts = services.crm.to_canonical(services.crm.read_changes(None).records)[0]
    return contacts.loc[~contacts["is_deleted"], "record_id"]


def create_cohort(services: Services, name: str, size: int) -> CohortRecord:
    """Pick `size` live CRM contacts and store them as cohort `name` (refused if the name is taken or is "all")."""
    if name == ALL_COHORT:
        raise LedgerError(f"cohort {ALL_COHORT!r} always exists and means every contact")
    check_cohort_name(name)
    return services.ledger.create_cohort(name, pick_members(live_crm_ids(services), size))


COHORT_NAME_MAX: Final = 64


def check_cohort_name(name: str) -> None:
    """A cohort name is 1 to 64 printable characters, without "/", "\\" or "...", not "." or "..", nor starting or
    ending with a space; `LedgerError` otherwise. (File paths never use it raw either: the IO manager encodes it.)"""
    problem = None
    if not name or len(name) > COHORT_NAME_MAX:
        problem = f"must be 1 to {COHORT_NAME_MAX} characters"
    elif name != name.strip():
        problem = "must not start or end with a space"
    elif any(ch in name for ch in "/\\") or name in (".", ".."):
        problem = 'must not contain "/" or "\\" nor be "." or ".."'
    elif "..." in name:
        problem = 'is not usable: "..." separates the ends of a partition range in Dagster'
    elif not name.isprintable():
        problem = "must be printable (no control characters)"
    if problem:
        raise LedgerError(f"cohort name {name!r} {problem}")


def cohort_members(ledger: Ledger, name: str) -> list[str] | None:
    """The cohort's CRM ids; None for "all" (no restriction). An unknown cohort raises `LedgerError`."""
    if name == ALL_COHORT:
        return None
    return ledger.cohort_members(name)


def cohort_names(ledger: Ledger) -> list[str]:
    """Every cohort name, "all" first."""
    return [ALL_COHORT, *(c.name for c in ledger.cohorts())]
