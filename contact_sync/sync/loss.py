"""Guards against data loss, as pure functions over a run's frames: fields the run blanked without a reason, CRM
contacts in scope left without a Genesys counterpart, Genesys contacts linked twice. Each returns the records at
fault (empty when all is well); the asset checks on the run report list them."""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pandas as pd

BLANK_COLUMNS = ("system", "record_id", "field", "old_value", "winner", "why")
ORPHAN_COLUMNS = ("crm_id",)
TWICE_COLUMNS = ("genesys_id", "crm_ids")
_WRITES_TO = {"genesys": ("write_genesys", "write_both"), "crm": ("write_crm", "write_both")}


BLANK_TEXT = ("", "[]", "()", "None", "nan", "<NA>")


def is_blank(values: pd.Series) -> np.ndarray:
    """Whether each value is empty: missing, blank text, or an empty list (no tags)."""
    return values.isna().to_numpy() | values.astype(str).str.strip().isin(BLANK_TEXT).to_numpy()


def unexplained_blanks(
    reconciliation: pd.DataFrame, audit: pd.DataFrame, crm_system: str, failed_ids: Collection[str]
) -> pd.DataFrame:
    """Values this run's plan replaced with nothing on a side without a reason: the winning side is not empty
    (the blank comes from nowhere), or the write went through without its audit row. A blank is explained when a
    person cleared the field on the winning side (its value is empty there) or decided it. Writes that failed
    (`failed_ids`, on the written side) changed nothing and are left out."""
    found = []
    for side, other in (("genesys", "crm"), ("crm", "genesys")):
        rows = reconciliation[reconciliation["action"].isin(_WRITES_TO[side])]
        rows = rows[~is_blank(rows[f"{side}_value"]) & is_blank(rows["new_value"])]
        rows = rows[~rows[f"{side}_id"].astype(str).isin(set(failed_ids))]
        if rows.empty:
            continue
        source_blank = is_blank(rows[f"{other}_value"])
        explained = (rows["winner"].eq(other).to_numpy() & source_blank) | rows["winner"].eq("decision").to_numpy()
        system = "genesys" if side == "genesys" else crm_system
        blanked = audit[(audit["system"] == system) & is_blank(audit["new_value"])]
        audited = pd.MultiIndex.from_arrays([blanked["record_id"].astype(str), blanked["field"].astype(str)])
        keys = pd.MultiIndex.from_arrays([rows[f"{side}_id"].astype(str), rows["field"].astype(str)])
        unaudited = ~keys.isin(audited)
        bad = ~explained | unaudited
        why = np.where(~explained, f"the {other} value is not empty: nothing asked for the blank", "no audit row")
        found.append(
            pd.DataFrame(
                {
                    "system": system,
                    "record_id": rows[f"{side}_id"].astype(str).to_numpy()[bad],
                    "field": rows["field"].to_numpy()[bad],
                    "old_value": rows[f"{side}_value"].astype(str).to_numpy()[bad],
                    "winner": rows["winner"].to_numpy()[bad],
                    "why": why[bad],
                }
            )
        )
    return pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=list(BLANK_COLUMNS))


def crm_without_counterpart(in_scope: Collection[str], accounted: Collection[str]) -> pd.DataFrame:
    """CRM records in scope that end the run with no Genesys counterpart and no reason: neither linked (found or
    created), held (match review, an unreadable Genesys contact naming it), a duplicate of another record, rejected
    at the read, nor failed and reported. `accounted` is the union of those ids."""
    missing = sorted(set(map(str, in_scope)) - set(map(str, accounted)))
    return pd.DataFrame({"crm_id": missing}, columns=list(ORPHAN_COLUMNS))


def genesys_linked_twice(links: pd.DataFrame) -> pd.DataFrame:
    """Genesys contacts that more than one active link names (two CRM records claiming one person). Within one CRM
    the ledger's unique index refuses it; two CRMs sharing a ledger and a Genesys org can still both link one contact,
    and would then overwrite each other's values in it."""
    twice = links[links["genesys_id"].duplicated(keep=False)]
    if twice.empty:
        return pd.DataFrame(columns=list(TWICE_COLUMNS))
    grouped = twice.groupby("genesys_id")["crm_id"].agg(lambda ids: ", ".join(sorted(map(str, ids))))
    return grouped.reset_index().rename(columns={"crm_id": "crm_ids"})
