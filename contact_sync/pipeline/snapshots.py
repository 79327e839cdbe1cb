"""Snapshots as canonical frames, and the CRM mirror refreshed incrementally.

The CRM mirror is the canonical frame of every CRM record seen so far (deleted and merged ones kept as rows with
`is_deleted` / `merged_into`), persisted as Parquet in the data folder. Each refresh reads only what changed since the
ledger's watermark (the connector subtracts an overlap window) and upserts it by record id. The watermark is stored
only after the mirror file is written: a crash in between re-reads the overlap next time, which the upsert absorbs.
The Genesys mirror, refreshed from contacts exports, is `contact_sync.pipeline.genesys_snapshot`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from contact_sync.crms.port import CrmAdapter
from contact_sync.ledger import Ledger
from contact_sync.pipeline.genesys_adapter import ORGANIZATION_COLUMNS
from contact_sync.sync.columns import STAMP_COLUMNS
from contact_sync.sync.schema import empty_canonical, empty_rejected


def _empty(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series([], dtype="string") for name in columns})


@dataclass
class Snapshot:
    """One side's contacts at read time. `stamps` holds the service's own modify stamp per record (handed back to
    the connectors, which skip a record changed since); `organizations` is Genesys only."""

    system: str
    contacts: pd.DataFrame = field(default_factory=empty_canonical)
    stamps: pd.DataFrame = field(default_factory=lambda: _empty(STAMP_COLUMNS))
    rejected: pd.DataFrame = field(default_factory=empty_rejected)
    organizations: pd.DataFrame = field(default_factory=lambda: _empty(ORGANIZATION_COLUMNS))
    info: dict[str, Any] = field(default_factory=dict)
    """How the snapshot was taken: records read, API calls, watermark before/after, whether it was persisted."""

    def read_summary(self) -> dict[str, Any]:
        """What a run report says of this read: how many records came from the service, and incremental or full
        (with why, when the Genesys read was full)."""
        summary = {"records": int(self.info.get("records_read", 0)), "how": self.info.get("read", "full")}
        if self.info.get("full_read_reason"):
            summary["why"] = self.info["full_read_reason"]
        return summary

    def stamp_map(self) -> dict[str, str]:
        return dict(zip(self.stamps["record_id"].astype(str), self.stamps["stamp"].astype(str), strict=True))


class Mirror:
    """The persisted mirror of one system (a CRM kind, or `genesys`): `<data_dir>/mirror/<kind>_contacts.parquet`
    (+ stamps)."""

    def __init__(self, data_dir: Path, kind: str) -> None:
        self.folder = Path(data_dir) / "mirror"
        self.contacts_path = self.folder / f"{kind}_contacts.parquet"
        self.stamps_path = self.folder / f"{kind}_stamps.parquet"

    def exists(self) -> bool:
        return self.contacts_path.is_file() and self.stamps_path.is_file()

    def load(self) -> tuple[pd.DataFrame, pd.DataFrame] | None:
        if not self.exists():
            return None
        return pd.read_parquet(self.contacts_path), pd.read_parquet(self.stamps_path)

    def save(self, contacts: pd.DataFrame, stamps: pd.DataFrame) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        write_parquet(contacts, self.contacts_path)
        write_parquet(stamps, self.stamps_path)


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write through a temporary name and rename, so a reader never sees half a file."""
    tmp = path.with_suffix(".parquet.tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def upsert(old: pd.DataFrame, new: pd.DataFrame, key: str = "record_id") -> pd.DataFrame:
    """`old` with the rows of `new` replacing those with the same key (and new keys appended)."""
    if old.empty:
        return new.reset_index(drop=True)
    if new.empty:
        return old.reset_index(drop=True)
    kept = old[~old[key].isin(new[key])]
    return pd.concat([kept, new.astype(old.dtypes.to_dict())], ignore_index=True)


def mark_missing_deleted(contacts: pd.DataFrame, seen: pd.Series) -> pd.DataFrame:
    """After a full re-read (e.g. an expired change-tracking token), a mirrored record the read no longer returned was
    deleted in the meantime: no delete row will ever tell of it, so it is marked deleted here."""
    missing = ~contacts["record_id"].isin(seen)
    if not missing.any():
        return contacts
    contacts = contacts.copy()
    contacts.loc[missing, "is_deleted"] = True
    return contacts


def watermark_name(kind: str) -> str:
    return f"{kind}_contacts"


def refresh_crm_snapshot(crm: CrmAdapter, ledger: Ledger, data_dir: Path, *, persist: bool = True) -> Snapshot:
    """Read the CRM's changes since the stored watermark into the mirror and return the whole mirror.

    With `persist=False` (dry runs) the refreshed mirror is returned but neither the file nor the watermark moves.
    Without a mirror file the read starts from scratch (whatever watermark the ledger holds)."""
    mirror = Mirror(data_dir, crm.kind)
    stored = mirror.load()
    before = ledger.watermark(watermark_name(crm.kind)) if stored is not None else None
    read = crm.read_changes(before)
    fresh, fresh_stamps, rejected = crm.to_canonical(read.records)
    contacts = upsert(stored[0], fresh) if stored is not None else fresh
    if stored is not None and crm.last_read_full:
        contacts = mark_missing_deleted(contacts, seen=pd.concat([fresh["record_id"], rejected["record_id"]]))
    stamps = upsert(stored[1], fresh_stamps) if stored is not None else fresh_stamps
    if persist:
        mirror.save(contacts, stamps)
        if read.watermark is not None:
            ledger.set_watermark(watermark_name(crm.kind), read.watermark)
    info = {
        "records_read": len(read.records),
        "deleted_read": len(read.deleted_ids),
        "api_calls": read.api_calls,
        "watermark_before": before,
        "watermark_after": read.watermark,
        "read": "incremental" if before is not None and not crm.last_read_full else "full",
        "persisted": persist,
    }
    return Snapshot(system=crm.kind, contacts=contacts, stamps=stamps, rejected=rejected, info=info)
