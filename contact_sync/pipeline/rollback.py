"""Roll back one sync run: put back the values it wrote, as a new run recorded in the ledger (reason "rollback").

`plan_rollback` reads the run's audit rows and the live records and sorts every field the run wrote into:

- `restore`: still holding what the run wrote, so the value from before the run goes back;
- `refuse`: changed again since (a later audit row touched the field, or the live value is no longer what the run
  wrote, or the record is gone) -- left alone and listed with the reason;
- `keep`: what cannot be undone by writing a field: unlinks and deletes the run made (the CRM record is gone), and the
  `externalIds` link it wrote into an existing Genesys contact (the next run would find the same match again).

Contacts the run created are unlinked in the ledger and reported; they are deleted (in the system the run created them
in) only when asked (`delete_created`), since they may hold data people added since. Without deletion the next sync
finds them again by the CRM id they carry and links them back, without creating duplicates.

`apply_rollback` writes the plan through the connectors with the same protection as the pipeline's writes: every update
carries the modify stamp read just before (the connectors re-read it and skip a record edited in between, reported as
refused). Base values are left as the rolled-back run stored them, so the next sync sees a restored value as an edit on
the side it was restored on. In bidirectional mode that edit is copied to the other side (the whole change is undone on
both). In one-way mode the CRM is the master of every field it sends, so the next run writes the CRM's value into
Genesys again: correct the CRM records too (`contact-sync trace` shows which), or stop the schedule first.

A rollback run cannot itself be rolled back: what it restored is a value that was there before, and rolling back the
rollback would need the same checks against later edits; run a sync again (or edit the values) instead.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd

from contact_sync.ledger import LedgerError
from contact_sync.pipeline.genesys_adapter import genesys_to_canonical, organization_accounts
from contact_sync.pipeline.genesys_snapshot import forget_genesys_contacts
from contact_sync.pipeline.planning import forget_decisions
from contact_sync.pipeline.services import Services
from contact_sync.pipeline.snapshots import refresh_crm_snapshot
from contact_sync.pipeline.writes import CHUNK, audit_rows
from contact_sync.sync.merge import compare_keys

ROLLBACK_MODE: Final = "rollback"
"""The `mode` of a rollback's entry in the ledger's run history."""
CHANGE_COLUMNS: Final = (
    "system",
    "record_id",
    "crm_id",
    "genesys_id",
    "field",
    "before",
    "written",
    "live",
    "action",
    "why",
)
CREATED_COLUMNS: Final = ("system", "record_id", "crm_id", "genesys_id", "linked", "action", "why")
NOT_FIELDS: Final = ("link", "contact", "externalIds")
"""Audit fields that are not a contact field the policy maps."""


class RollbackError(Exception):
    """A rollback that cannot start (unknown run, a run that wrote nothing, a rollback run...): nothing was written."""


@dataclass
class Rollback:
    """A rollback plan and, once applied, its outcome.

    `changes`: one row per field the run wrote (columns `CHANGE_COLUMNS`): `before` is the value before the run,
    `written` what the run wrote, `live` the value read just now; `action` is restore / refuse / keep while planned,
    and restored / refused / failed / kept after `apply_rollback`. `created`: one row per contact the run created
    (columns `CREATED_COLUMNS`), action unlink / delete / none planned, then unlinked / deleted / failed.
    """

    run_id: str
    """The run rolled back."""
    changes: pd.DataFrame
    created: pd.DataFrame
    delete_created: bool = False
    dry_run: bool = True
    rollback_run_id: str | None = None
    """The new run's id in the ledger (None for a dry run or before `apply_rollback`)."""
    api_calls: dict[str, int] = field(default_factory=dict)
    duration_s: float = 0.0
    stamps: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)
    """Per system, the modify stamp of each record read while planning (handed to the connectors' guarded writes)."""

    def counts(self) -> dict[str, int]:
        actions = self.changes["action"].value_counts().to_dict()
        created = self.created["action"].value_counts().to_dict()
        return {
            "restore": int(actions.get("restore", 0)),
            "restored": int(actions.get("restored", 0)),
            "refused": int(actions.get("refuse", 0) + actions.get("refused", 0)),
            "kept": int(actions.get("keep", 0) + actions.get("kept", 0)),
            "failed": int(actions.get("failed", 0) + created.get("failed", 0)),
            "created_contacts": len(self.created),
            "unlink": int(created.get("unlink", 0) + created.get("delete", 0)),
            "unlinked": int(created.get("unlinked", 0) + created.get("deleted", 0)),
            "deleted": int(created.get("deleted", 0)),
        }

    @property
    def has_work(self) -> bool:
        return bool(
            (self.changes["action"] == "restore").any() or self.created["action"].isin(["unlink", "delete"]).any()
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (what `contact-sync rollback --json` prints)."""
        return {
            "run_id": self.run_id,
            "rollback_run_id": self.rollback_run_id,
            "dry_run": self.dry_run,
            "delete_created": self.delete_created,
            "counts": self.counts(),
            "changes": _records(self.changes),
            "created": _records(self.created),
            "duration_s": round(self.duration_s, 3),
            "api_calls": self.api_calls,
        }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    plain = frame.astype(object).where(frame.notna(), None)
    return [
        {k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()} for row in plain.to_dict("records")
    ]


def _frame(columns: tuple[str, ...], rows: pd.DataFrame | None = None) -> pd.DataFrame:
    if rows is None:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    return rows[list(columns)].astype(object).reset_index(drop=True)


def _check_run(services: Services, run_id: str) -> None:
    ledger = services.ledger
    try:
        run = ledger.run(run_id)
    except LedgerError:
        raise RollbackError(f"no run with id {run_id!r} in the ledger") from None
    if run.mode == ROLLBACK_MODE:
        target = run.counts.get("rolled_back_run", "?")
        raise RollbackError(
            f"run {run_id} is itself a rollback (of run {target}) and cannot be rolled back; "
            "run a sync again or edit the values instead"
        )
    if run.dry_run:
        raise RollbackError(f"run {run_id} was a dry run and wrote nothing")
    if run.status == "running":
        raise RollbackError(
            f"run {run_id} is still recorded as running; wait for it to end (a failed run is closed by the "
            "run-failure sensor) and roll it back then"
        )


def plan_rollback(services: Services, run_id: str, *, delete_created: bool = False) -> Rollback:
    """What rolling back `run_id` would do, from its audit rows, later audit rows and the live records (read now).
    Writes nothing. Raises `RollbackError` for an unknown run, a rollback run, a dry run, a running run, or a run
    whose writes were all rolled back already."""
    _check_run(services, run_id)
    audit = services.ledger.audit_for_run(run_id)
    if audit.empty:
        raise RollbackError(f"run {run_id} wrote nothing; there is nothing to roll back")
    crm_kind = services.crm.kind

    created_rows = audit[audit["reason"] == "created"]
    kept = audit[audit["reason"].isin(["unlink", "delete"]) | (audit["field"] == "externalIds")]
    updates = audit[~audit.index.isin(created_rows.index) & ~audit.index.isin(kept.index)]
    key = ["system", "record_id", "field"]
    # One row per written field: the value before the first write, the value of the last one.
    ordered = updates.sort_values("id")
    last = ordered.drop_duplicates(key, keep="last")[[*key, "new_value", "id"]]
    first = ordered.drop_duplicates(key, keep="first")[[*key, "crm_id", "genesys_id", "old_value"]]
    updates = first.merge(last, on=key).rename(columns={"old_value": "before", "new_value": "written", "id": "last_id"})
    changes = updates.reset_index(drop=True).assign(live=None, action="restore", why="")
    changes = changes.astype({"live": object, "before": object, "written": object})

    # 1. Fields a later run wrote again.
    later_runs: set[str] = set()
    if len(changes):
        later = services.ledger.audit_for_ids(changes["record_id"].astype(str).unique().tolist())
        later = later[later["run_id"] != run_id]
        joined = changes[[*key, "last_id"]].reset_index().merge(later, on=key, suffixes=("", "_later"))
        joined = joined[joined["id"] > joined["last_id"]].sort_values("id").drop_duplicates("index", keep="last")
        for index, later_run, reason in zip(joined["index"], joined["run_id"], joined["reason"], strict=True):
            changes.at[index, "action"] = "refuse"
            if reason == "rollback":
                later_runs.add(str(later_run))
                changes.at[index, "why"] = f"already rolled back by run {later_run}"
            else:
                changes.at[index, "why"] = f"written again by run {later_run} ({reason})"

    # A run made against another CRM than the one configured now cannot be checked or written here.
    other = (changes["action"] == "restore") & ~changes["system"].isin(["genesys", crm_kind])
    changes.loc[other, "action"] = "refuse"
    changes.loc[other, "why"] = f"written to another CRM than the one configured now ({crm_kind})"

    # 2. Fields whose live value is no longer what the run wrote (edited since, outside the sync).
    stamps: dict[str, dict[str, str]] = {"genesys": {}, crm_kind: {}}
    for system in ("genesys", crm_kind):
        rows = changes.index[(changes["system"] == system) & (changes["action"] == "restore")]
        if not len(rows):
            continue
        ids = changes.loc[rows, "record_id"].astype(str).unique().tolist()
        live, stamps[system] = _live_genesys(services, ids) if system == "genesys" else _live_crm(services, ids)
        _compare_live(services, changes, rows, live)

    kept_frame = kept.rename(columns={"old_value": "before", "new_value": "written"}).assign(
        live=None, action="keep", why=kept["reason"].map(_kept_why)
    )
    changes = pd.concat([_frame(CHANGE_COLUMNS, changes), _frame(CHANGE_COLUMNS, kept_frame)], ignore_index=True)
    created = _created(services, created_rows, delete_created)
    plan = Rollback(run_id=run_id, changes=changes, created=created, delete_created=delete_created, stamps=stamps)
    if not plan.has_work and later_runs:
        raise RollbackError(f"run {run_id} was already rolled back by run {', '.join(sorted(later_runs))}")
    return plan


def _kept_why(reason: str) -> str:
    if reason == "unlink":
        return "an unlink (the CRM record was deleted or merged) is not undone"
    if reason == "delete":
        return "a deleted contact cannot be brought back"
    return "the externalIds link to an existing contact is kept (the next run would match it again)"


def _live_genesys(services: Services, ids: list[str]) -> tuple[pd.DataFrame, dict[str, str]]:
    """Canonical values and modifyDate stamps of these Genesys contacts, read now (missing ones left out)."""
    raw = services.genesys.get_contacts(ids)
    source = services.crm.external_source
    accounts: dict[str, str] = {}
    if any(c.get("externalOrganization") for c in raw):
        orgs = organization_accounts(services.genesys.scan_organizations(), source)
        accounts = dict(zip(orgs["organization_id"], orgs["account_id"], strict=True))
    contacts, stamps, _ = genesys_to_canonical(raw, services.policy, source, accounts)
    return contacts, dict(zip(stamps["record_id"].astype(str), stamps["stamp"].astype(str), strict=True))


def _live_crm(services: Services, ids: list[str]) -> tuple[pd.DataFrame, dict[str, str]]:
    """Canonical values and stamps of these CRM records: the mirror refreshed with what changed since the last read
    (neither the mirror file nor the watermark moves)."""
    snapshot = refresh_crm_snapshot(services.crm, services.ledger, services.settings.data_dir, persist=False)
    contacts = snapshot.contacts
    contacts = contacts[contacts["record_id"].isin(ids) & ~contacts["is_deleted"].astype(bool)]
    return contacts, snapshot.stamp_map()


def _compare_live(services: Services, changes: pd.DataFrame, rows: pd.Index, live: pd.DataFrame) -> None:
    """Fill `live` for `rows` and refuse those whose record is gone or whose value differs from what was written."""
    indexed = live.set_index(live["record_id"].astype(str))
    region = services.policy.default_region
    part = changes.loc[rows]
    present = part["record_id"].astype(str).isin(indexed.index).to_numpy()
    gone = rows[~present]
    changes.loc[gone, "action"] = "refuse"
    changes.loc[gone, "why"] = "the record no longer exists"
    for name, group in part[present].groupby("field", sort=False):
        try:
            rule = services.policy.field(str(name))
        except KeyError:
            changes.loc[group.index, ["action", "why"]] = ["refuse", f"field {name} is not in the policy any more"]
            continue
        values = indexed.loc[group["record_id"].astype(str), str(name)].astype(object).to_numpy()
        values = np.where(pd.isna(values), None, values)
        changes.loc[group.index, "live"] = pd.Series(list(values), index=group.index, dtype=object)
        live_keys = compare_keys(values, rule.compare, region)
        written_keys = compare_keys(group["written"].to_numpy(dtype=object), rule.compare, region)
        differs = ~((pd.isna(live_keys) & pd.isna(written_keys)) | (live_keys == written_keys))
        edited = group.index[differs]
        changes.loc[edited, "action"] = "refuse"
        changes.loc[edited, "why"] = "changed since the run (the live value differs from what it wrote)"


def _created(services: Services, rows: pd.DataFrame, delete_created: bool) -> pd.DataFrame:
    """One row per contact the run created, with what the rollback does about it."""
    if rows.empty:
        return _frame(CREATED_COLUMNS)
    contacts = rows.drop_duplicates(["system", "record_id"])[["system", "record_id", "crm_id", "genesys_id"]]
    links = services.ledger.links(services.crm.kind, ids=contacts["crm_id"].astype(str).tolist())
    linked = set(zip(links["crm_id"].astype(str), links["genesys_id"].astype(str), strict=True))
    is_linked = [(str(c), str(g)) in linked for c, g in zip(contacts["crm_id"], contacts["genesys_id"], strict=True)]
    if delete_created:
        action = np.full(len(contacts), "delete", dtype=object)
        why = np.full(len(contacts), "created by the run: unlinked and deleted (--delete-created)", dtype=object)
    else:
        action = np.where(is_linked, "unlink", "none")
        why = np.where(
            is_linked, "created by the run: unlinked, kept (delete it with --delete-created)", "already unlinked"
        )
    return _frame(CREATED_COLUMNS, contacts.assign(linked=is_linked, action=action, why=why))


def rollback_run(services: Services, run_id: str, *, delete_created: bool = False, dry_run: bool = False) -> Rollback:
    """Plan the rollback of `run_id` and, unless `dry_run`, apply it as a new run in the ledger."""
    started = time.monotonic()
    calls_before = services.api_calls()
    plan = plan_rollback(services, run_id, delete_created=delete_created)
    if not dry_run:
        apply_rollback(services, plan)
    plan.duration_s = time.monotonic() - started
    plan.api_calls = {
        k: v - calls_before.get(k, 0) for k, v in services.api_calls().items() if v - calls_before.get(k, 0)
    }
    return plan


def apply_rollback(services: Services, plan: Rollback) -> Rollback:
    """Write a planned rollback as a new run: restores through the connectors (stamp-guarded), unlinks (and deletes
    when asked) the contacts the run created, every write audited with reason "rollback". A plan with nothing to
    write records no run."""
    plan.dry_run = False
    if not plan.has_work:
        plan.changes.loc[plan.changes["action"] == "refuse", "action"] = "refused"
        plan.changes.loc[plan.changes["action"] == "keep", "action"] = "kept"
        return plan
    ledger, kind = services.ledger, services.crm.kind
    # The values and links a rollback puts back are no run's decision: the next run of each cohort decides all.
    forget_decisions(services)
    rollback_id = str(uuid.uuid4())
    plan.rollback_run_id = rollback_id
    started = time.monotonic()
    calls_before = services.api_calls()
    ledger.start_run(rollback_id, ROLLBACK_MODE, cohort=None)
    stamps = plan.stamps
    try:
        _restore(services, plan, "genesys", stamps.get("genesys", {}), rollback_id)
        _restore(services, plan, kind, stamps.get(kind, {}), rollback_id)
        _undo_creates(services, plan, rollback_id)
    except BaseException as exc:
        _finish(services, plan, rollback_id, started, calls_before, "failure", f"{type(exc).__name__}: {exc}")
        raise
    plan.changes.loc[plan.changes["action"] == "refuse", "action"] = "refused"
    plan.changes.loc[plan.changes["action"] == "keep", "action"] = "kept"
    _finish(services, plan, rollback_id, started, calls_before, "success", None)
    return plan


def _finish(
    services: Services,
    plan: Rollback,
    rollback_id: str,
    started: float,
    calls_before: dict[str, int],
    status: str,
    error: str | None,
) -> None:
    counts = plan.counts()
    changes = plan.changes
    restored = changes[changes["action"] == "restored"]
    api_calls = {k: v - calls_before.get(k, 0) for k, v in services.api_calls().items() if v - calls_before.get(k, 0)}
    services.ledger.finish_run(
        rollback_id,
        status,
        counts={
            "rolled_back_run": plan.run_id,
            "updated": {
                "genesys": int(restored.loc[restored["system"] == "genesys", "record_id"].nunique()),
                "crm": int(restored.loc[restored["system"] != "genesys", "record_id"].nunique()),
            },
            "restored": counts["restored"],
            "refused": counts["refused"],
            "unlinked": counts["unlinked"],
            "deleted": _deleted_by_system(plan),
            "skipped": counts["refused"],
            "errors": counts["failed"],
            "conflicts": 0,
        },
        duration_s=time.monotonic() - started,
        api_calls=api_calls,
        error_summary=error[:2000] if error else None,
    )


def _deleted_by_system(plan: Rollback) -> dict[str, int]:
    deleted = plan.created[plan.created["action"] == "deleted"]
    return {
        "genesys": int((deleted["system"] == "genesys").sum()),
        "crm": int((deleted["system"] != "genesys").sum()),
    }


def _audit(rows: pd.DataFrame, old: pd.Series | Any, new: pd.Series | Any, fld: pd.Series | str) -> pd.DataFrame:
    return audit_rows(
        system=rows["system"],
        record_id=rows["record_id"],
        crm_id=rows["crm_id"],
        genesys_id=rows["genesys_id"],
        field=fld,
        old_value=old,
        new_value=new,
        reason="rollback",
    )


def _restore(services: Services, plan: Rollback, system: str, stamps: dict[str, str], rollback_id: str) -> None:
    """Write back the `before` values of one system's restorable fields, batch by batch, each batch's restored fields
    audited in one ledger transaction right after it is written."""
    changes = plan.changes
    rows = changes[(changes["system"] == system) & (changes["action"] == "restore")]
    if rows.empty:
        return
    values: dict[str, dict[str, Any]] = {}
    for record_id, name, before in zip(rows["record_id"], rows["field"], rows["before"], strict=True):
        values.setdefault(str(record_id), {})[str(name)] = before
    accounts = rows.loc[rows["field"] == "account_id", "before"]
    organizations = services.genesys_adapter.organizations(accounts) if system == "genesys" else {}
    ids = sorted(values)
    for start in range(0, len(ids), CHUNK):
        part = {i: values[i] for i in ids[start : start + CHUNK]}
        if system == "genesys":
            api = {i: services.genesys_adapter.update_paths(v, organizations) for i, v in part.items()}
            report = services.genesys.update_contacts(api, {i: stamps.get(i, "") for i in api})
        else:
            report = services.crm.update(part, {i: stamps.get(i, "") for i in part})
        batch = rows[rows["record_id"].astype(str).isin(part)]
        keys = batch["record_id"].astype(str)
        done = keys.map({o.key: o.status for o in report.outcomes}).fillna("failed")
        message = keys.map({o.key: o.message or "" for o in report.outcomes}).fillna("")
        restored = batch[done == "updated"]
        services.ledger.add_audit(
            _audit(restored, restored["written"], restored["before"], restored["field"]), rollback_id
        )
        changes.loc[restored.index, ["action", "why"]] = ["restored", "value from before the run written back"]
        moved = batch.index[(done == "changed_since_read").to_numpy()]
        changes.loc[moved, ["action", "why"]] = ["refused", "changed while the rollback ran (modify stamp moved)"]
        failed = batch.index[(~done.isin(["updated", "changed_since_read"])).to_numpy()]
        changes.loc[failed, "action"] = "failed"
        changes.loc[failed, "why"] = message.loc[failed].map(lambda m: f"write failed: {m}" if m else "write failed")


def _undo_creates(services: Services, plan: Rollback, rollback_id: str) -> None:
    """Unlink the contacts the run created (one ledger transaction), then delete them when asked."""
    created, kind = plan.created, services.crm.kind
    todo = created[created["action"].isin(["unlink", "delete"])]
    if todo.empty:
        return
    linked = todo[todo["linked"].astype(bool)]
    services.ledger.record_batch(
        rollback_id,
        unlinks=pd.DataFrame(
            {"crm_system": kind, "crm_id": linked["crm_id"], "reason": f"rollback of run {plan.run_id}"}
        ),
        audit=_audit(linked, linked["crm_id"], None, "link"),
    )
    created.loc[todo.index, "action"] = "unlinked"
    if not plan.delete_created:
        return
    for system in ("genesys", kind):
        part = todo[todo["system"] == system]
        if part.empty:
            continue
        ids = part["record_id"].astype(str).tolist()
        report = services.genesys.delete_contacts(ids) if system == "genesys" else services.crm.delete(ids)
        status = {o.key: o for o in report.outcomes}
        removed = {key for key, o in status.items() if o.status in ("deleted", "skipped")}
        ok = part["record_id"].astype(str).isin(removed)
        gone = part[ok.to_numpy()]
        if system == "genesys":
            forget_genesys_contacts(services.settings.data_dir, gone["record_id"].astype(str))
        services.ledger.add_audit(_audit(gone, gone["record_id"], None, "contact"), rollback_id)
        created.loc[gone.index, "action"] = "deleted"
        bad = part.index[~ok.to_numpy()]
        created.loc[bad, "action"] = "failed"
        created.loc[bad, "why"] = [
            f"unlinked, but the delete failed: {getattr(status.get(str(i)), 'message', None) or 'no result'}"
            for i in part.loc[bad, "record_id"]
        ]
