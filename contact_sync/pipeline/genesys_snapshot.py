"""The Genesys snapshot: a mirror of every external contact as canonical rows, refreshed from what changed.

Genesys has no change feed, but a contacts export can be filtered on `ModifyDate`. Each run exports the contacts
modified since the mirror's watermark minus an overlap (the export's own `dateCreated`, the server's clock, so a
local clock that differs cannot lose an edit) and upserts them into the mirror (Parquet in the data folder, beside
the CRM's). An export never tells of deletes, so a **full read** replaces the mirror on a cadence
(`CONTACT_SYNC_GENESYS_FULL_READ_H`, default daily) and whenever the mirror is missing, unreadable, built under
another policy or CRM source, or its watermark lies ahead of Genesys's clock; contacts it no longer holds are gone,
as a full scan always had them. The full read is an unfiltered export, or the cursor scan when an export fails or
times out (said in the snapshot's info and the log; nothing is lost: the scan reads everything). Contacts the sync
itself deletes leave the mirror at once (`forget_genesys_contacts`), so no run sees them before the next full read.

Organizations (which map contacts to CRM accounts) are cached beside the mirror: scanned with every full read, and
between full reads only when a contact read names an organization the cache does not know (one an agent or this
sync created since). An organization re-linked to another account without any of its contacts changing waits for the
next full read; writes never trust the cache for a missing account (`GenesysConnector.ensure_organizations` looks
again before it creates one).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import pandas as pd

from contact_sync.connectors.genesys_exports import ExportFailed
from contact_sync.connectors.stamps import format_stamp, parse_stamp
from contact_sync.pipeline.config import PipelineSettings
from contact_sync.pipeline.genesys_adapter import (
    GenesysAdapter,
    genesys_to_canonical,
    linked_organizations,
    organization_table,
)
from contact_sync.pipeline.snapshots import Mirror, Snapshot, upsert, write_parquet
from contact_sync.sync.convert import organization_ids

log = logging.getLogger(__name__)

OVERLAP: Final = timedelta(minutes=5)
"""How far before the watermark an export starts: edits the service commits late are read again, never missed."""
FUTURE_TOLERANCE: Final = timedelta(minutes=1)


def _parse(stamp: str) -> datetime:
    """A timestamp this module wrote or the connector checked; ValueError for anything else."""
    moment = parse_stamp(stamp)
    if moment is None:
        raise ValueError(f"not an ISO-8601 timestamp: {stamp!r}")
    return moment


@dataclass(frozen=True)
class MirrorState:
    """What the mirror files were built from: the watermark to export from, when the last full read was, and the
    policy and CRM source its canonical rows were converted under."""

    watermark: str | None
    full_read_at: str
    basis: str


@dataclass(frozen=True)
class StoredMirror:
    """What the mirror files hold. `organizations` is every organization known at the last scan (`organization_table`:
    organization_id, account_id, NA when linked to no account); None in a mirror written before it was cached."""

    contacts: pd.DataFrame
    stamps: pd.DataFrame
    rejected: pd.DataFrame
    organizations: pd.DataFrame | None
    state: MirrorState


class GenesysMirror:
    """`<data_dir>/mirror/genesys_*.parquet` and `genesys_state.json` (written last: a crash before it re-reads)."""

    def __init__(self, data_dir: Path) -> None:
        self.frames = Mirror(data_dir, "genesys")
        self.rejected_path = self.frames.folder / "genesys_rejected.parquet"
        self.organizations_path = self.frames.folder / "genesys_organizations.parquet"
        self.state_path = self.frames.folder / "genesys_state.json"

    def load_state(self) -> MirrorState:
        """What the mirror was built from (no frame is read); OSError, ValueError or TypeError when missing or
        unreadable."""
        state = MirrorState(**json.loads(self.state_path.read_text()))
        for stamp in (state.full_read_at, state.watermark or state.full_read_at):
            _parse(stamp)
        return state

    def load(self) -> StoredMirror | None:
        """The mirror and its state, or None when any part is missing or unreadable (a full read rebuilds it)."""
        try:
            state = self.load_state()
            frames = self.frames.load()
            rejected = pd.read_parquet(self.rejected_path)
        except (OSError, ValueError, TypeError) as exc:
            if self.state_path.exists():
                log.warning(
                    "the Genesys mirror in %s is unreadable (%s): a full read rebuilds it", self.frames.folder, exc
                )
            return None
        if frames is None:
            return None
        return StoredMirror(frames[0], frames[1], rejected, self.load_organizations(), state)

    def load_organizations(self) -> pd.DataFrame | None:
        """The organization cache, or None when it is missing or unreadable (the next refresh scans them)."""
        try:
            return pd.read_parquet(self.organizations_path)
        except (OSError, ValueError):
            return None

    def save(self, stored: StoredMirror) -> None:
        self.frames.save(stored.contacts, stored.stamps)
        write_parquet(stored.rejected, self.rejected_path)
        if stored.organizations is not None:
            write_parquet(stored.organizations, self.organizations_path)
        tmp = self.state_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(stored.state.__dict__))
        os.replace(tmp, self.state_path)


def mirror_basis(genesys: GenesysAdapter) -> str:
    """A fingerprint of what the canonical rows depend on besides the contacts: the policy and the CRM's source."""
    return hashlib.sha256(f"{genesys.crm.external_source}\n{genesys.policy!r}".encode()).hexdigest()[:16]


def full_read_reason(state: MirrorState | None, basis: str, settings: PipelineSettings, now: datetime) -> str | None:
    """Why the next refresh must read every contact (None: an export of what changed will do)."""
    if state is None:
        return "no Genesys mirror yet"
    if state.basis != basis:
        return "the policy or the CRM source changed since the mirror was built"
    if state.watermark is None:
        return "the mirror has no watermark"
    age = now - _parse(state.full_read_at)
    if age >= timedelta(hours=settings.genesys_full_read_h):
        hours = age.total_seconds() / 3600
        return f"the last full read was {hours:.1f} h ago (cadence {settings.genesys_full_read_h:g} h)"
    return None


def refresh_genesys_snapshot(
    genesys: GenesysAdapter,
    settings: PipelineSettings,
    *,
    persist: bool = True,
    full: bool = False,
    now: datetime | None = None,
) -> Snapshot:
    """The Genesys mirror brought up to date (see the module docstring); `full` forces a full read, `persist=False`
    (dry runs) leaves the files as they were."""
    connector = genesys.genesys
    now = now or datetime.now(UTC)
    before = connector.api_calls.total
    source = genesys.crm.external_source
    mirror, basis = GenesysMirror(settings.data_dir), mirror_basis(genesys)
    stored = mirror.load()
    state = stored.state if stored is not None else None
    if settings.genesys_read == "scan":
        reason: str | None = "CONTACT_SYNC_GENESYS_READ is scan"
    else:
        reason = "a full read was asked for" if full else full_read_reason(state, basis, settings, now)
    info: dict[str, Any] = {"read": "full" if reason else "incremental", "full_read_reason": reason}

    raw: list[dict[str, Any]] = []
    watermark: str | None = None
    exported = settings.genesys_read == "export"
    if reason is None:
        assert state is not None and state.watermark is not None
        since = format_stamp(_parse(state.watermark) - OVERLAP)
        try:
            read = connector.export_contacts(since, timeout_s=settings.genesys_export_timeout_s)
        except ExportFailed as exc:
            reason, exported = f"the export failed ({exc.message}): scanning instead", False
        else:
            if _parse(read.started_at) + FUTURE_TOLERANCE < _parse(state.watermark):
                reason = (
                    f"the stored watermark {state.watermark} is after Genesys's clock ({read.started_at}): "
                    "reading everything"
                )
            else:
                raw, watermark = read.contacts, read.started_at
                info["export_id"] = read.export_id
        if reason is not None:
            log.warning("Genesys: %s", reason)
            info.update(read="full", full_read_reason=reason)
    if reason is not None:
        raw, watermark, how = _full_read(genesys, settings, try_export=exported)
        info["full_read_by"] = how

    cached = stored.organizations if stored is not None and reason is None else None
    scan_reason = _organization_scan_reason(cached, raw, genesys)
    if scan_reason is None:
        assert cached is not None
        known = cached
    else:
        known = organization_table(connector.scan_organizations(), source)
    info.update(organizations_read="scan" if scan_reason else "cache", organizations_scan_reason=scan_reason)
    organizations = linked_organizations(known)
    accounts = dict(zip(organizations["organization_id"], organizations["account_id"], strict=True))

    fresh, fresh_stamps, fresh_rejected = genesys_to_canonical(raw, genesys.policy, source, accounts)
    if reason is None and stored is not None:
        contacts, stamps, rejected = _merged(stored, fresh, fresh_stamps, fresh_rejected)
        full_read_at = stored.state.full_read_at
    else:
        gone = (
            set(stored.contacts["record_id"]) - set(fresh["record_id"]) - set(fresh_rejected["record_id"])
            if stored
            else set()
        )
        info["gone_since_last_read"] = len(gone)
        contacts, stamps, rejected, full_read_at = fresh, fresh_stamps, fresh_rejected, format_stamp(now)
    if persist:
        mirror.save(StoredMirror(contacts, stamps, rejected, known, MirrorState(watermark, full_read_at, basis)))
    info.update(
        records_read=len(raw),
        organizations=len(organizations),
        api_calls=connector.api_calls.total - before,
        watermark_before=state.watermark if state else None,
        watermark_after=watermark,
        persisted=persist,
    )
    return Snapshot(
        system="genesys", contacts=contacts, stamps=stamps, rejected=rejected, organizations=organizations, info=info
    )


def _full_read(
    genesys: GenesysAdapter, settings: PipelineSettings, *, try_export: bool
) -> tuple[list[Any], str | None, str]:
    """(every contact, the watermark to continue from, how they were read): an unfiltered export, else the scan.

    After a scan the watermark is the newest `modifyDate` it saw: an edit made during the scan is newer than that
    (or was scanned), so the next export holds it, whatever the local clock says."""
    connector = genesys.genesys
    if try_export:
        try:
            read = connector.export_contacts(None, timeout_s=settings.genesys_export_timeout_s)
        except ExportFailed as exc:
            log.warning("Genesys: the full export failed (%s): scanning instead", exc.message)
        else:
            return read.contacts, read.started_at, "export"
    raw = connector.scan_contacts()
    # An odd record's modifyDate (not a time) is left out here; the converter rejects that record.
    stamps = [parse_stamp(c.get("modifyDate")) for c in raw if isinstance(c, dict)]
    newest = max((s for s in stamps if s is not None), default=None)
    return raw, format_stamp(newest) if newest else None, "scan"


def _organization_scan_reason(cached: pd.DataFrame | None, raw: list[Any], genesys: GenesysAdapter) -> str | None:
    """Why the organizations must be scanned now (None: the cache serves): a full read, no cache, or contacts that
    name organizations the cache does not know."""
    if cached is None:
        return "no cached organizations (or a full read)"
    unknown = organization_ids(raw, genesys.policy) - set(cached["organization_id"].dropna())
    if unknown:
        return f"{len(unknown)} organization(s) named by changed contacts are not in the cache"
    return None


def _merged(
    stored: StoredMirror, fresh: pd.DataFrame, fresh_stamps: pd.DataFrame, fresh_rejected: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The mirror with an export's rows upserted: a record now readable leaves the rejected list, a record now
    rejected keeps its last good row (as the CRM mirror does) and is listed rejected."""
    kept_rejected = stored.rejected[~stored.rejected["record_id"].isin(fresh["record_id"])]
    return (
        upsert(stored.contacts, fresh),
        upsert(stored.stamps, fresh_stamps),
        upsert(kept_rejected, fresh_rejected),
    )


def remember_genesys_organizations(data_dir: Path, accounts: Mapping[str, str]) -> int:
    """Add organizations this sync found or created (CRM account id -> organization id) to the mirror's cache, so
    the next run's contacts that name them cost no scan; how many were new to it. Only the cache file is read and
    written: it stands apart from the contact frames, whose state file commits them."""
    mirror = GenesysMirror(data_dir)
    cached = mirror.load_organizations() if accounts else None
    if cached is None:
        return 0
    known = set(cached["organization_id"])
    new = {org: account for account, org in accounts.items() if org not in known}
    if not new:
        return 0
    added = pd.DataFrame({"organization_id": list(new), "account_id": list(new.values())}, dtype="string")
    write_parquet(pd.concat([cached, added], ignore_index=True), mirror.organizations_path)
    return len(new)


def forget_genesys_contacts(data_dir: Path, ids: Iterable[str]) -> int:
    """Drop contacts this sync deleted in Genesys from the mirror (an export never tells of a delete); how many."""
    mirror = GenesysMirror(data_dir)
    stored = mirror.load()
    gone = {str(i) for i in ids}
    if stored is None or not gone:
        return 0
    dropped = stored.contacts["record_id"].isin(gone)
    if not dropped.any():
        return 0
    mirror.save(
        dataclasses.replace(
            stored,
            contacts=stored.contacts[~dropped].reset_index(drop=True),
            stamps=stored.stamps[~stored.stamps["record_id"].isin(gone)].reset_index(drop=True),
            rejected=stored.rejected[~stored.rejected["record_id"].isin(gone)].reset_index(drop=True),
        )
    )
    return int(dropped.sum())
