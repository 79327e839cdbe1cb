"""Apply a plan to Genesys and to the CRM, batch by batch, recording each written batch in the ledger in one
transaction (links, base values, audit rows with old and new values and the reason).

Idempotent by construction, so a retried step or a re-run after a crash writes nothing twice: creates carry the CRM
id in `externalIds` (a contact created but not yet recorded is matched by it next time), updates only send fields
that still differ, and every update is guarded by the snapshot's modify stamp (a record edited since the snapshot is
skipped and becomes the next run's change). A base value is stored only once both sides hold it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd

from contact_sync.connectors.results import WriteReport
from contact_sync.crms.port import CrmAdapter
from contact_sync.ledger import Ledger
from contact_sync.pipeline.genesys_adapter import GenesysAdapter
from contact_sync.pipeline.progress import report_progress
from contact_sync.pipeline.snapshots import Snapshot
from contact_sync.sync.plan import SyncPlan

CHUNK: Final = 2000
"""Records per written batch (one ledger transaction each); the connectors split it into API-sized calls."""
MAX_FAILURES_KEPT: Final = 50


@dataclass
class WriteSummary:
    """What one side's writes did (or, in a dry run, would do)."""

    system: str
    dry_run: bool = False
    created: int = 0
    updated: int = 0
    deleted: int = 0
    unlinked: int = 0
    changed_since_read: int = 0
    unconfirmed: int = 0
    """Creates whose answer was lost and that the next run settles (links them, or creates them)."""
    errors: int = 0
    api_calls: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)
    """Up to 50 failed records: {"key", "message"}."""
    failed_ids: list[str] = field(default_factory=list)
    """Ids (on the written side) whose write failed or was skipped: their base values were not stored."""
    deleted_ids: list[str] = field(default_factory=list)
    """Ids this run deleted (or found already gone) on the written side."""
    organizations: dict[str, str] = field(default_factory=dict)
    """Genesys only: CRM account id -> organization id of the accounts this run wrote (found or created)."""

    def absorb(self, report: WriteReport) -> None:
        counts = report.counts()
        self.created += counts.get("created", 0)
        self.updated += counts.get("updated", 0)
        self.deleted += counts.get("deleted", 0)
        self.changed_since_read += counts.get("changed_since_read", 0)
        self.unconfirmed += counts.get("unconfirmed", 0)
        self.errors += counts.get("failed", 0)
        self.api_calls += report.api_calls
        for outcome in report.outcomes:
            if outcome.status in ("failed", "changed_since_read"):
                self.failed_ids.append(outcome.key)
            if outcome.status == "failed" and len(self.failures) < MAX_FAILURES_KEPT:
                self.failures.append({"key": outcome.key, "message": outcome.message or ""})

    def as_dict(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "dry_run": self.dry_run,
            "created": self.created,
            "updated": self.updated,
            "deleted": self.deleted,
            "unlinked": self.unlinked,
            "changed_since_read": self.changed_since_read,
            "unconfirmed": self.unconfirmed,
            "errors": self.errors,
            "api_calls": self.api_calls,
            "failures": self.failures,
        }


def _reason(rows: pd.DataFrame, side: str) -> np.ndarray:
    """The audit reason of each written reconciliation row."""
    return np.select(
        [
            rows["winner"].eq("decision"),
            rows["conflict"].astype(bool),
            rows["changed_on"].eq("baseline"),
            rows["changed_on"].eq(side),
        ],
        ["decision", "conflict winner", "baseline difference", f"{side} change"],
        default="crm change" if side == "crm" else "genesys change",
    )


def _chunks(ids: list[str], size: int = CHUNK) -> Iterable[list[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _batches(ids: list[str], side: str, what: str, size: int | None = None) -> Iterable[list[str]]:
    """`_chunks` (of `size`, or the pipeline's), telling the progress hook after each batch is done ("genesys
    updates: 400 of 1,200")."""
    done = 0
    for chunk in _chunks(ids, max(size or CHUNK, CHUNK)):
        yield chunk
        done += len(chunk)
        report_progress("write", side, done, len(ids), f"{what}: {done:,} of {len(ids):,} sent")


def _base(rows: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {"crm_id": rows["crm_id"], "genesys_id": rows["genesys_id"], "field": rows["field"], "value": rows["new_value"]}
    )


def _links(rows: pd.DataFrame, crm_system: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "crm_system": crm_system,
            "crm_id": rows["crm_id"],
            "genesys_id": rows["genesys_id"],
            "rule": rows["rule"],
            "score": rows["score"].astype(float),
            "evidence": rows["evidence"],
        }
    )


def _found_in_sync(agreed: pd.DataFrame) -> pd.DataFrame:
    """Audit rows for values both sides now hold that differ from the last synced base although no run recorded
    writing them: a run that died after the service applied its write (before its audit row), or the same edit
    made on both sides. `trace` then still shows where each value went."""
    moved = agreed[agreed["base"].notna() & (agreed["base"].astype(str) != agreed["new_value"].astype(str))]
    return audit_rows(
        system="genesys", record_id=moved["genesys_id"], crm_id=moved["crm_id"], genesys_id=moved["genesys_id"],
        field=moved["field"], old_value=moved["base"], new_value=moved["new_value"], reason="found in sync",
    )  # fmt: skip


def audit_rows(
    *,
    system: str | pd.Series,
    record_id: pd.Series,
    crm_id: pd.Series,
    genesys_id: pd.Series,
    field: str | pd.Series,
    old_value: Any,
    new_value: Any,
    reason: str | pd.Series,
) -> pd.DataFrame:
    """Audit rows in the ledger's shape, one per written value: which record of which system, which field, from what
    to what, and why."""
    return pd.DataFrame(
        {
            "system": system,
            "record_id": record_id,
            "crm_id": crm_id,
            "genesys_id": genesys_id,
            "field": field,
            "old_value": old_value,
            "new_value": new_value,
            "reason": reason,
        }
    )


def _record_created(
    ledger: Ledger,
    crm_system: str,
    run_id: str,
    crm_ids: list[str],
    genesys_ids: list[str],
    rows: pd.DataFrame,
    system: str,
    audited: bool = False,
) -> None:
    """Record contacts just created on `system`: their links, and base values and audit rows for the fields written
    (`rows`: the reconciliation rows of the creates, with both ids). `audited`: the audit rows were written before
    the create (Genesys) and only get the new ids now."""
    if audited:
        with ledger.batch() as tx:
            tx.add_links(_created_links(crm_system, crm_ids, genesys_ids, system), run_id)
            tx.upsert_base(_base(rows), run_id)
            tx.confirm_created(pd.DataFrame({"crm_id": crm_ids, "genesys_id": genesys_ids}), run_id)
        return
    kept = rows[rows["new_value"].notna()]
    ledger.record_batch(
        run_id,
        links=_created_links(crm_system, crm_ids, genesys_ids, system),
        base=_base(rows),
        audit=audit_rows(
            system=system,
            record_id=kept["genesys_id" if system == "genesys" else "crm_id"],
            crm_id=kept["crm_id"],
            genesys_id=kept["genesys_id"],
            field=kept["field"],
            old_value=None,
            new_value=kept["new_value"],
            reason="created",
        ),
    )


def _created_links(crm_system: str, crm_ids: list[str], genesys_ids: list[str], system: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "crm_system": crm_system,
            "crm_id": crm_ids,
            "genesys_id": genesys_ids,
            "rule": "created",
            "score": 1.0,
            "evidence": f"created in {'Genesys' if system == 'genesys' else 'the CRM'} by this run",
        }
    )


def planned_genesys(plan: SyncPlan) -> WriteSummary:
    """The counts a dry run reports for Genesys."""
    return WriteSummary(
        system="genesys",
        dry_run=True,
        created=len(plan.genesys_creates),
        updated=int(plan.genesys_updates["genesys_id"].nunique()),
        deleted=len(plan.deletes),
        unlinked=len(plan.unlinks),
    )


def planned_crm(plan: SyncPlan, kind: str) -> WriteSummary:
    return WriteSummary(
        system=kind, dry_run=True, created=len(plan.crm_creates), updated=int(plan.crm_updates["crm_id"].nunique())
    )


def _links_to_restore(plan: SyncPlan, genesys: Snapshot) -> pd.DataFrame:
    """crm_id, genesys_id of stored links whose Genesys contact no longer carries its CRM id in `externalIds` (someone
    removed or changed it in Genesys): the id is put back, so matching by external id and anyone reading the contact
    see it again. The plan's pairs are its cohort's links; those that are not new links are the stored ones."""
    pairs = plan.reconciliation[["crm_id", "genesys_id"]].dropna().drop_duplicates().astype(str)
    new = plan.new_links[["crm_id", "genesys_id"]].astype(str)
    stored = pairs.merge(new, how="left", indicator=True).query("_merge == 'left_only'").drop(columns="_merge")
    seen = genesys.contacts[["record_id", "crm_id"]].astype(object)
    seen = seen.rename(columns={"record_id": "genesys_id", "crm_id": "carried"}).astype({"genesys_id": str})
    found = stored.merge(seen, on="genesys_id")  # contacts the snapshot read (an unreadable one is held, not fixed)
    lost = found["carried"].fillna("") != found["crm_id"]
    dropped = found["genesys_id"].isin(plan.unlinks["genesys_id"].astype(str))
    return found.loc[lost & ~dropped, ["crm_id", "genesys_id"]].reset_index(drop=True)


def apply_to_genesys(
    genesys: GenesysAdapter, ledger: Ledger, plan: SyncPlan, snapshot: Snapshot, run_id: str
) -> WriteSummary:
    """Write the plan's Genesys side: record-only changes, link and field updates, creates, unlinks and deletes."""
    kind = genesys.crm.kind
    summary = WriteSummary(system="genesys")
    recon = plan.reconciliation
    carried_ids = snapshot.contacts[["record_id", "crm_id"]].dropna().astype(str)
    carried = (
        plan.new_links[["crm_id", "genesys_id"]]
        .astype(str)
        .merge(carried_ids.rename(columns={"record_id": "genesys_id"}), how="left", indicator=True)
    )
    new_links = plan.new_links.assign(carried=(carried["_merge"] == "both").to_numpy())
    written = recon[recon["action"].isin(["write_genesys", "write_both"])]
    restored = _links_to_restore(plan, snapshot)
    to_link = pd.concat(
        [new_links[~new_links["carried"]].assign(restored=False), restored.assign(restored=True)], ignore_index=True
    )

    # 1. Ledger only: links already carried in externalIds, and base values both sides already agree on. A carried
    # link can be a contact a run created and died before confirming: its `created` audit rows get their Genesys id.
    agreed = recon[(recon["action"] == "none") & recon["base_update"]]
    carried_links = new_links[new_links["carried"]]
    ledger.record_batch(run_id, links=_links(carried_links, kind), base=_base(agreed), audit=_found_in_sync(agreed))
    ledger.confirm_created(carried_links[["crm_id", "genesys_id"]])

    # 2. Unlinks (CRM record deleted or merged away), with their audit rows.
    if len(plan.unlinks):
        unlinks = plan.unlinks.assign(crm_system=kind, reason=plan.unlinks["reason"].fillna("deleted in CRM"))
        audit = audit_rows(
            system="genesys",
            record_id=plan.unlinks["genesys_id"],
            crm_id=plan.unlinks["crm_id"],
            genesys_id=plan.unlinks["genesys_id"],
            field="link",
            old_value=plan.unlinks["crm_id"],
            new_value=None,
            reason="unlink",
        )
        summary.unlinked += ledger.record_batch(run_id, unlinks=unlinks, audit=audit)["unlinked"]

    organizations = genesys.organizations(_accounts_written(plan), snapshot.organizations)
    summary.organizations = dict(organizations)

    # 3. Updates: changed fields plus the externalIds link of contacts matched without it.
    changes: dict[str, dict[str, Any]] = {}
    for gid, fld, value in zip(written["genesys_id"], written["field"], written["new_value"], strict=True):
        changes.setdefault(str(gid), {}).update(genesys.update_paths({fld: value}, organizations))
    for crm_id, gid in zip(to_link["crm_id"], to_link["genesys_id"], strict=True):
        changes.setdefault(str(gid), {}).update(genesys.link_paths(crm_id))
    stamps = snapshot.stamp_map()
    base_rows = recon[recon["base_update"] & recon["action"].isin(["write_genesys"])]
    for ids in _batches(sorted(changes), "genesys", "updates"):
        report = genesys.genesys.update_contacts({i: changes[i] for i in ids}, {i: stamps.get(i, "") for i in ids})
        summary.absorb(report)
        done = {o.key for o in report.outcomes if o.status == "updated"}
        rows = written[written["genesys_id"].isin(done)]
        audit = audit_rows(
            system="genesys",
            record_id=rows["genesys_id"],
            crm_id=rows["crm_id"],
            genesys_id=rows["genesys_id"],
            field=rows["field"],
            old_value=rows["genesys_value"],
            new_value=rows["new_value"],
            reason=_reason(rows, "crm"),
        )
        linked = to_link[to_link["genesys_id"].isin(done)]
        link_audit = audit_rows(
            system="genesys",
            record_id=linked["genesys_id"],
            crm_id=linked["crm_id"],
            genesys_id=linked["genesys_id"],
            field="externalIds",
            old_value=None,
            new_value=linked["crm_id"],
            reason=np.where(linked["restored"].to_numpy(dtype=bool), "link restored", "crm change"),
        )
        ledger.record_batch(
            run_id,
            links=_links(linked[~linked["restored"].astype(bool)], kind),  # a restored link is in the ledger already
            base=_base(base_rows[base_rows["genesys_id"].isin(done)]),
            audit=pd.concat([audit, link_audit], ignore_index=True),
        )

    # 4. Creates, each carrying its CRM id in externalIds.
    if len(plan.genesys_creates):
        creates = plan.genesys_creates.set_index("crm_id")
        values = creates.to_dict("index")
        create_rows = recon[recon["action"] == "create_genesys"]
        for ids in _batches(
            _not_linked_yet(ledger, kind, [str(i) for i in creates.index], "crm_id"), "genesys", "creates"
        ):
            items = [(crm_id, genesys.create_body(values[crm_id], organizations, crm_id)) for crm_id in ids]
            # The audit first: if the process dies once the service applied the create, the creation is recorded.
            intent = create_rows[create_rows["crm_id"].isin(ids) & create_rows["new_value"].notna()]
            ledger.record_create_intent(
                run_id,
                audit_rows(system="genesys", record_id=None, crm_id=intent["crm_id"], genesys_id=None,
                           field=intent["field"], old_value=None, new_value=intent["new_value"], reason="created"),
                ids,
            )  # fmt: skip
            report = genesys.genesys.create_contacts(items)
            summary.absorb(report)
            made = {o.key: o.record_id for o in report.outcomes if o.status == "created" and o.record_id}
            rows = create_rows[create_rows["crm_id"].isin(made)]
            rows = rows.assign(genesys_id=rows["crm_id"].map(made))
            _record_created(ledger, kind, run_id, list(made), list(made.values()), rows, "genesys", audited=True)
            # An unconfirmed create keeps its audit intent: the next run confirms it or drops it.
            unmade = [o.key for o in report.outcomes if o.status == "failed"]
            if unmade:
                with ledger.batch() as tx:
                    tx.drop_unconfirmed_creates(unmade, run_id)

    # 5. Deletes (policy on_crm_delete: delete): remove the contact, then end the link.
    if len(plan.deletes):
        report = genesys.genesys.delete_contacts(plan.deletes["genesys_id"].astype(str).tolist())
        summary.absorb(report)
        gone = {o.key for o in report.outcomes if o.status in ("deleted", "skipped")}
        summary.deleted_ids = sorted(gone)
        rows = plan.deletes[plan.deletes["genesys_id"].isin(gone)]
        ledger.record_batch(
            run_id,
            unlinks=rows.assign(crm_system=kind, reason=rows["reason"].fillna("deleted in CRM")),
            audit=audit_rows(
                system="genesys",
                record_id=rows["genesys_id"],
                crm_id=rows["crm_id"],
                genesys_id=rows["genesys_id"],
                field="contact",
                old_value=rows["genesys_id"],
                new_value=None,
                reason="delete",
            ),
        )
    return summary


def _not_linked_yet(ledger: Ledger, crm_system: str, ids: list[str], column: str) -> list[str]:
    """The ids that no active link holds yet: a retried step (same plan) skips the creates an earlier attempt
    already made and recorded, instead of creating them twice."""
    if not ids:
        return ids
    linked = set(ledger.links(crm_system, ids=ids)[column].astype(str))
    return [i for i in ids if i not in linked]


def _accounts_written(plan: SyncPlan) -> list[str]:
    """The CRM account ids the plan writes to Genesys contacts."""
    recon = plan.reconciliation
    writes = recon[
        recon["action"].isin(["write_genesys", "write_both", "create_genesys"]) & (recon["field"] == "account_id")
    ]
    return [str(v) for v in writes["new_value"].dropna().unique()]


def apply_to_crm(
    crm: CrmAdapter,
    ledger: Ledger,
    plan: SyncPlan,
    snapshot: Snapshot,
    run_id: str,
    genesys_failed: Iterable[str] = (),
) -> WriteSummary:
    """Write the plan's CRM side (bidirectional mode): field updates guarded by the snapshot's stamps, and creates
    for Genesys-only contacts when the policy asks for them."""
    kind = crm.kind
    summary = WriteSummary(system=kind)
    recon = plan.reconciliation
    written = recon[recon["action"].isin(["write_crm", "write_both"])]
    failed_on_genesys = set(genesys_failed)
    changes: dict[str, dict[str, Any]] = {}
    for crm_id, fld, value in zip(written["crm_id"], written["field"], written["new_value"], strict=True):
        changes.setdefault(str(crm_id), {})[fld] = value
    stamps = snapshot.stamp_map()
    for ids in _batches(sorted(changes), "crm", "updates", crm.write_batch_size):
        report = crm.update({i: changes[i] for i in ids}, {i: stamps.get(i, "") for i in ids})
        summary.absorb(report)
        done = {o.key for o in report.outcomes if o.status == "updated"}
        rows = written[written["crm_id"].isin(done)]
        both_ok = (rows["action"] == "write_crm") | ~rows["genesys_id"].isin(failed_on_genesys)
        ledger.record_batch(
            run_id,
            base=_base(rows[rows["base_update"] & both_ok]),
            audit=audit_rows(
                system=kind,
                record_id=rows["crm_id"],
                crm_id=rows["crm_id"],
                genesys_id=rows["genesys_id"],
                field=rows["field"],
                old_value=rows["crm_value"],
                new_value=rows["new_value"],
                reason=_reason(rows, "genesys"),
            ),
        )
    if len(plan.crm_creates):
        creates = plan.crm_creates.set_index("genesys_id")
        values = creates.to_dict("index")
        create_rows = recon[recon["action"] == "create_crm"]
        for ids in _batches(
            _not_linked_yet(ledger, kind, [str(i) for i in creates.index], "genesys_id"),
            "crm",
            "creates",
            crm.write_batch_size,
        ):
            report = crm.create([(gid, {k: v for k, v in values[gid].items() if k != "account_id"}) for gid in ids])
            summary.absorb(report)
            made = {o.key: o.record_id for o in report.outcomes if o.status == "created" and o.record_id}
            rows = create_rows[create_rows["genesys_id"].isin(made)]
            rows = rows.assign(crm_id=rows["genesys_id"].map(made))
            _record_created(ledger, kind, run_id, list(made.values()), list(made), rows, kind)
    return summary
