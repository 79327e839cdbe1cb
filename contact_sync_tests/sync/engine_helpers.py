"""Test helpers for the sync engine: hand-written canonical frames, policies, and a pure plan applier.

``apply_plan`` plays the part of the writers and the ledger: it applies a SyncPlan to both canonical frames, the
links and the base, the way a successful run would, so tests can run the engine again on the result.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd

from contact_sync.sync.normalize import normalize_phone
from contact_sync.sync.plan import SyncPlan
from contact_sync.sync.policy import SyncPolicy, load_policy
from contact_sync.sync.schema import CANONICAL_COLUMNS, CanonicalContact

T0 = pd.Timestamp("2026-01-01T09:00:00Z")
TEXT = ("system", "record_id", "crm_id", "first_name", "last_name", "email", "phone", "phone_e164", "account_id",
        "tags", "merged_into")  # fmt: skip


def at(minutes: float) -> pd.Timestamp:
    """A timestamp ``minutes`` after T0."""
    return T0 + pd.Timedelta(minutes=minutes)


def contacts(system: str, rows: list[dict[str, Any]], region: str = "US", validate: bool = True) -> pd.DataFrame:
    """A canonical frame from a few dicts; omitted columns get neutral defaults, phone_e164 is derived.

    ``validate`` checks it against ``CanonicalContact`` (property tests build hundreds of frames and skip it)."""
    filled = []
    for row in rows:
        full = {
            "system": system,
            "crm_id": row["record_id"] if system != "genesys" else None,
            "first_name": None,
            "last_name": None,
            "email": None,
            "phone": None,
            "account_id": None,
            "lead_score": None,
            "tags": None,
            "created_at": T0,
            "modified_at": T0,
            "is_deleted": False,
            "merged_into": None,
        }
        full.update(row)
        filled.append(full)
    frame = pd.DataFrame(filled, columns=[c for c in CANONICAL_COLUMNS if c != "phone_e164"])
    for name in TEXT:
        if name in frame:
            frame[name] = frame[name].astype("string")
    frame["lead_score"] = pd.to_numeric(frame["lead_score"], errors="coerce").astype("float64")
    for name in ("created_at", "modified_at"):
        frame[name] = pd.to_datetime(frame[name], utc=True).astype("datetime64[ns, UTC]")
    frame["is_deleted"] = frame["is_deleted"].astype(bool)
    frame["phone_e164"] = normalize_phone(frame["phone"], region).astype("string")
    frame = frame[list(CANONICAL_COLUMNS)]
    return CanonicalContact.validate(frame) if validate else frame


def crm(*rows: dict[str, Any], validate: bool = True) -> pd.DataFrame:
    return contacts("salesforce", list(rows), validate=validate)


def genesys(*rows: dict[str, Any], validate: bool = True) -> pd.DataFrame:
    return contacts("genesys", list(rows), validate=validate)


def make_policy(
    mode: str = "bidirectional", fields: dict[str, dict[str, str]] | None = None, **switches: Any
) -> SyncPolicy:
    """The shipped default policy in a mode, with per-field overrides (e.g. {"email": {"conflict": "manual"}})."""
    policy = load_policy().with_mode(mode)  # type: ignore[arg-type]
    if fields:
        rules = tuple(dataclasses.replace(rule, **fields.get(rule.name, {})) for rule in policy.fields)
        policy = dataclasses.replace(policy, fields=rules)
    return dataclasses.replace(policy, **switches)


def links(*pairs: tuple[str, str]) -> pd.DataFrame:
    return pd.DataFrame(pairs, columns=["crm_id", "genesys_id"], dtype=object)


def base_of(crm_id: str, genesys_id: str, **values: Any) -> pd.DataFrame:
    """Base rows for one link."""
    return pd.DataFrame(
        [(crm_id, genesys_id, name, value) for name, value in values.items()],
        columns=["crm_id", "genesys_id", "field", "value"],
    )


def _set_values(frame: pd.DataFrame, updates: pd.DataFrame, id_column: str, now: pd.Timestamp) -> pd.DataFrame:
    frame = frame.copy()
    position = pd.Series(range(len(frame)), index=frame["record_id"].astype(object))
    for field_name, rows in updates.groupby("field"):
        at_rows = position.reindex(rows[id_column]).to_numpy()
        column = frame.columns.get_loc(field_name)
        for row, value in zip(at_rows, rows["value"], strict=True):
            frame.iloc[row, column] = value
    touched = frame["record_id"].isin(updates[id_column])
    frame.loc[touched, "modified_at"] = now
    return frame


def _with_rows(frame: pd.DataFrame, rows: list[dict[str, Any]], system: str) -> pd.DataFrame:
    if not rows:
        return frame
    return pd.concat([frame, contacts(system, rows, validate=False)], ignore_index=True)


def apply_plan(
    plan: SyncPlan,
    crm_frame: pd.DataFrame,
    genesys_frame: pd.DataFrame,
    link_frame: pd.DataFrame | None,
    base: pd.DataFrame | None,
    now: pd.Timestamp,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Apply every write of the plan, as successful writers and the ledger would. Returns crm, genesys, links, base."""
    link_frame = links() if link_frame is None else link_frame.copy()
    base = pd.DataFrame(columns=["crm_id", "genesys_id", "field", "value"]) if base is None else base.copy()

    genesys_frame = _set_values(genesys_frame, plan.genesys_updates, "genesys_id", now)
    crm_frame = _set_values(crm_frame, plan.crm_updates, "crm_id", now)
    region = "US"

    created_g: dict[str, str] = {}
    new_rows = []
    for record in plan.genesys_creates.to_dict("records"):
        new_id = f"g-new-{record['crm_id']}"
        created_g[record["crm_id"]] = new_id
        new_rows.append({**{f: record[f] for f in plan.fields}, "record_id": new_id, "crm_id": record["crm_id"],
                         "created_at": now, "modified_at": now})  # fmt: skip
    genesys_frame = _with_rows(genesys_frame, new_rows, "genesys")

    created_c: dict[str, str] = {}
    new_rows = []
    for record in plan.crm_creates.to_dict("records"):
        new_id = f"c-new-{record['genesys_id']}"
        created_c[record["genesys_id"]] = new_id
        new_rows.append({**{f: record[f] for f in plan.fields}, "record_id": new_id, "created_at": now,
                         "modified_at": now})  # fmt: skip
    crm_frame = _with_rows(crm_frame, new_rows, "salesforce")
    if created_c:
        # The CRM create writes the new CRM id into the Genesys contact's externalIds.
        mask = genesys_frame["record_id"].isin(list(created_c))
        genesys_frame.loc[mask, "crm_id"] = genesys_frame.loc[mask, "record_id"].map(created_c).astype("string")

    gone = pd.concat([plan.unlinks, plan.deletes], ignore_index=True)
    if len(gone):
        drop = set(zip(gone["crm_id"], gone["genesys_id"], strict=True))
        keep = [pair not in drop for pair in zip(link_frame["crm_id"], link_frame["genesys_id"], strict=True)]
        link_frame = link_frame[keep]
        keep = [pair not in drop for pair in zip(base["crm_id"], base["genesys_id"], strict=True)]
        base = base[keep]
    if len(plan.deletes):
        genesys_frame = genesys_frame[~genesys_frame["record_id"].isin(plan.deletes["genesys_id"])]

    # Recording a link also writes the CRM id into the Genesys contact's externalIds.
    carried = plan.new_links.set_index("genesys_id")["crm_id"]
    mask = genesys_frame["record_id"].isin(carried.index)
    genesys_frame.loc[mask, "crm_id"] = genesys_frame.loc[mask, "record_id"].map(carried).astype("string")
    added = [plan.new_links[["crm_id", "genesys_id"]], links(*created_g.items())]
    added.append(links(*((crm_id, genesys_id) for genesys_id, crm_id in created_c.items())))
    link_frame = pd.concat([link_frame, *added], ignore_index=True).drop_duplicates()

    updates = plan.base_updates.copy()
    fill_g = updates["genesys_id"].isna()
    updates.loc[fill_g, "genesys_id"] = updates.loc[fill_g, "crm_id"].map(created_g)
    fill_c = updates["crm_id"].isna()
    updates.loc[fill_c, "crm_id"] = updates.loc[fill_c, "genesys_id"].map(created_c)
    base = pd.concat([base, updates], ignore_index=True).drop_duplicates(
        subset=["crm_id", "genesys_id", "field"], keep="last"
    )

    for frame in (crm_frame, genesys_frame):
        frame["phone_e164"] = normalize_phone(frame["phone"].astype("string"), region).astype("string")
    return (
        crm_frame.reset_index(drop=True),
        genesys_frame.reset_index(drop=True),
        link_frame.reset_index(drop=True),
        base.reset_index(drop=True),
    )
