"""Genesys ExternalContacts <-> the canonical contact frame: the reader of whole snapshots and the write body of
one changed record. Each CRM's converters live in its plug-in (`contact_sync.crms.<kind>.convert`); both build on
the shared column readers in `sync.columns`.

Reading never raises on bad records: a record that cannot be read safely goes to ``ConversionResult.rejected`` with
the reason (and is left untouched by the sync); a record that is kept but has a problem worth knowing (an unparseable
phone, an unmapped organization) is listed in ``ConversionResult.warnings``. Duplicate ids in one snapshot keep the
copy with the latest modify stamp (the last one on a tie) and report the others.

Decisions worth knowing: a Genesys record with a non-numeric lead score is kept with no score and a warning (that
field only flows CRM -> Genesys by default, so the CRM value repairs it); emails are not validated on deleted records.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import numpy as np
import pandas as pd

from contact_sync.sync.columns import (
    ConversionResult,
    Problems,
    check_names,
    drop_duplicate_ids,
    finish,
    number_column,
    phone_warnings,
    rejected_frame,
    resolve_policy,
    shorten,
    tags_column,
    text_column,
    timestamp_column,
    validate_email,
    write_value,
)
from contact_sync.sync.normalize import normalize_phone
from contact_sync.sync.policy import FieldRule, SyncPolicy

IDENTITY_COLUMNS: Final = ("first_name", "last_name", "email", "phone_e164", "account_id")
"""What a rejected Genesys record says of who it is, when that could be read (see ``RejectedRecord``)."""
GENESYS_PHONE_FIELDS: Final = frozenset({"workPhone", "cellPhone", "homePhone", "otherPhone"})


# --- Genesys reader -------------------------------------------------------------------------------------------------


def _path_values(contacts: Sequence[Mapping[str, Any]], path: str) -> list[Any]:
    """Values at a dotted path ("firstName", "customFields.tags") of each contact; None when absent."""
    head, _, rest = path.partition(".")
    if not rest:
        return [c.get(head) for c in contacts]
    out = []
    for contact in contacts:
        parent = contact.get(head)
        out.append(parent.get(rest) if isinstance(parent, Mapping) else None)
    return out


def _linked_ids(external_ids: Any, source_name: str, source_id: str | None) -> list[str]:
    """Distinct CRM ids a contact's externalIds hold for the CRM's external source."""
    found: list[str] = []
    if not isinstance(external_ids, list):
        return found
    for entry in external_ids:
        source = entry.get("externalSource") if isinstance(entry, dict) else None
        if not isinstance(source, dict):
            continue
        if source.get("name") == source_name or (source_id is not None and source.get("id") == source_id):
            value = entry.get("value")
            if isinstance(value, str) and value.strip() and value not in found:
                found.append(value)
    return found


def genesys_to_canonical(
    contacts: Iterable[Mapping[str, Any]] | pd.DataFrame,
    crm_source_name: str,
    org_to_account: Mapping[str, str],
    policy: SyncPolicy | None = None,
    crm_source_id: str | None = None,
    validate: bool = True,
) -> ConversionResult:
    """Genesys ExternalContact objects -> canonical frame.

    crm_source_name (or crm_source_id): the external source whose ``externalIds`` entry holds the CRM id.
    org_to_account: Genesys external organization id -> CRM account id. Field paths come from the policy.
    """
    policy = resolve_policy(policy)
    if isinstance(contacts, pd.DataFrame):
        records: list[Mapping[str, Any]] = contacts.to_dict("records")
    else:
        records = list(contacts)
    records = [r if isinstance(r, Mapping) else {"__not_a_mapping__": r} for r in records]
    n = len(records)
    problems = Problems(n)
    not_mapping = np.array(["__not_a_mapping__" in r for r in records], dtype=bool)
    problems.reject(not_mapping, "not a JSON object")

    record_id = text_column(pd.Series(_path_values(records, "id"), dtype=object), "id", problems, numbers=False)
    missing_id = record_id.isna().to_numpy(dtype=bool) & ~not_mapping
    problems.reject(missing_id, "id is missing")
    modified_at = timestamp_column(
        pd.Series(_path_values(records, "modifyDate"), dtype=object), "modifyDate", problems, True
    )

    links = [_linked_ids(r.get("externalIds"), crm_source_name, crm_source_id) for r in records]
    first_link = np.array([ids[0] if ids else None for ids in links], dtype=object)
    several = np.array([len(ids) > 1 for ids in links], dtype=bool)
    problems.reject(
        several,
        [f"externalIds hold several {crm_source_name} ids: {', '.join(ids)}" for ids in links if len(ids) > 1],
    )

    rules = {rule.name: rule for rule in policy.fields}
    columns: dict[str, Any] = {}
    for name in ("first_name", "last_name", "email"):
        columns[name] = _genesys_text(records, rules.get(name), problems)
    columns["phone"], columns["phone_e164"] = _genesys_phone(records, rules.get("phone"), policy, problems)
    columns["account_id"] = _genesys_account(records, rules.get("account_id"), org_to_account, problems)
    if "lead_score" in rules:
        path = rules["lead_score"].genesys_path
        values = pd.Series(_path_values(records, path), dtype=object)
        columns["lead_score"] = number_column(values, path, problems, reject=False)
    else:
        columns["lead_score"] = np.full(n, np.nan)
    if "tags" in rules:
        path = rules["tags"].genesys_path
        columns["tags"] = tags_column(pd.Series(_path_values(records, path), dtype=object), path, problems)
    else:
        columns["tags"] = pd.array([pd.NA] * n, dtype="string")
    validate_email(
        columns["email"],
        np.zeros(n, dtype=bool),
        rules["email"].genesys_path if "email" in rules else "email",
        problems,
    )
    drop_duplicate_ids(record_id, modified_at, ~problems.rejected_mask(), problems, "id")
    columns.update(
        system=pd.array(["genesys"] * n, dtype="string"),
        record_id=record_id,
        crm_id=pd.array(first_link.tolist(), dtype="string"),
        created_at=timestamp_column(
            pd.Series(_path_values(records, "createDate"), dtype=object), "createDate", None, False
        ),
        modified_at=modified_at,
        is_deleted=np.zeros(n, dtype=bool),
        merged_into=pd.array([pd.NA] * n, dtype="string"),
    )
    result = finish("genesys", columns, problems, crm_ids_for_report=first_link, validate=validate)
    if len(result.rejected):
        who = pd.DataFrame({"record_id": record_id, **{k: columns[k] for k in IDENTITY_COLUMNS}})
        who = who.dropna(subset=["record_id"]).drop_duplicates("record_id")
        rejected = result.rejected.merge(who.astype("string"), on="record_id", how="left")
        result = ConversionResult(frame=result.frame, rejected=rejected, warnings=result.warnings)
    if several.any():
        # One rejected row per claimed CRM id, so the engine holds every CRM record the contact points at.
        extra = [
            (rid, ids[k])
            for rid, ids, multi in zip(record_id.tolist(), links, several, strict=True)
            if multi
            for k in range(1, len(ids))
        ]
        reasons = result.rejected.set_index("record_id")["reason"]
        more = rejected_frame(
            "genesys", [r for r, _ in extra], [reasons.get(r, "") for r, _ in extra], [c for _, c in extra]
        )
        result = ConversionResult(result.frame, pd.concat([result.rejected, more], ignore_index=True), result.warnings)
    return result


def _genesys_text(records: Sequence[Mapping[str, Any]], rule: FieldRule | None, problems: Problems) -> pd.Series:
    if rule is None:
        return pd.Series(pd.array([pd.NA] * len(records), dtype="string"))
    return text_column(pd.Series(_path_values(records, rule.genesys_path), dtype=object), rule.genesys_path, problems)


def _genesys_phone(
    records: Sequence[Mapping[str, Any]], rule: FieldRule | None, policy: SyncPolicy, problems: Problems
) -> tuple[pd.Series, pd.Series]:
    """(display, E.164): the service's own e164 when it set one, else the display parsed."""
    n = len(records)
    if rule is None:
        empty = pd.Series(pd.array([pd.NA] * n, dtype="string"))
        return empty, empty.copy()
    path = rule.genesys_path
    numbers = _path_values(records, path)
    if path not in GENESYS_PHONE_FIELDS:  # mapped to a plain (custom) field: the value is the number
        display = text_column(pd.Series(numbers, dtype=object), path, problems)
        e164 = normalize_phone(display, policy.default_region)
        phone_warnings(display, e164, path, problems)
        return display, e164
    display = text_column(
        pd.Series([p.get("display") if isinstance(p, Mapping) else None for p in numbers], dtype=object),
        f"{path}.display",
        problems,
    )
    given = pd.Series([p.get("e164") if isinstance(p, Mapping) else None for p in numbers], dtype=object)
    given = given.where(given.map(lambda v: isinstance(v, str) and v.startswith("+") and v[1:].isdigit()), None)
    e164 = given.astype("string").fillna(normalize_phone(display, policy.default_region))
    phone_warnings(display, e164, f"{path}.display", problems)
    return display, e164


def _organization_ids(records: Sequence[Mapping[str, Any]], rule: FieldRule) -> pd.Series:
    """Each contact's external organization id (None when it names none or something that is not an id)."""
    values = _path_values(records, rule.genesys_path)
    org_ids = pd.Series([v.get("id") if isinstance(v, Mapping) else v for v in values], dtype=object)
    return org_ids.where(org_ids.map(lambda v: isinstance(v, str) and v != ""), None)


def organization_ids(contacts: Sequence[Any], policy: SyncPolicy | None = None) -> set[str]:
    """The external organization ids these Genesys contacts name where the policy maps `account_id` (odd records,
    which the converter rejects, name none)."""
    rule = {r.name: r for r in resolve_policy(policy).fields}.get("account_id")
    records = [r for r in contacts if isinstance(r, Mapping)]
    if rule is None or not records:
        return set()
    return {str(v) for v in _organization_ids(records, rule).dropna()}


def _genesys_account(
    records: Sequence[Mapping[str, Any]], rule: FieldRule | None, org_to_account: Mapping[str, str], problems: Problems
) -> pd.Series:
    """The CRM account id of each contact's external organization (via org_to_account)."""
    n = len(records)
    if rule is None:
        return pd.Series(pd.array([pd.NA] * n, dtype="string"))
    org_ids = _organization_ids(records, rule)
    account = org_ids.map(org_to_account, na_action="ignore")
    unmapped = org_ids.notna().to_numpy(dtype=bool) & account.isna().to_numpy(dtype=bool)
    problems.warn(
        unmapped,
        [f"external organization {shorten(v)} has no CRM account mapping" for v in org_ids[unmapped].tolist()],
    )
    return account.astype("string")


# --- writers --------------------------------------------------------------------------------------------------------


def canonical_to_genesys(
    values: Mapping[str, Any],
    policy: SyncPolicy | None = None,
    crm_source: Mapping[str, str] | None = None,
    crm_id: str | None = None,
) -> dict[str, Any]:
    """Canonical field values -> an ExternalContact write body (only the given fields).

    Phones become ``{display}`` (the service parses them and sets e164); custom fields go under ``customFields``
    (tags as a list); the CRM link goes in ``externalIds`` when crm_source and crm_id are given. The external
    organization (from account_id) is left to the caller, which knows the organization ids.
    """
    policy = resolve_policy(policy)
    check_names(values)
    payload: dict[str, Any] = {}
    for rule in policy.fields:
        if rule.name not in values or rule.genesys_path == "externalOrganization":
            continue
        value = write_value(rule.name, values[rule.name])
        head, _, custom = rule.genesys_path.partition(".")
        if rule.name == "tags" and value is not None:
            value = value.split(";")
        if custom:
            payload.setdefault(head, {})[custom] = value
        elif head in GENESYS_PHONE_FIELDS:
            payload[head] = None if value is None else {"display": value}
        else:
            payload[head] = value
    if crm_id is not None:
        if crm_source is None or not crm_source.get("id"):
            raise ValueError("a CRM link needs crm_source with the external source's id")
        payload["externalIds"] = [{"externalSource": {"id": crm_source["id"]}, "value": crm_id}]
    return payload
