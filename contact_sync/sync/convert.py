"""Converters between each API's raw contact shape and the canonical contact frame, and back to write payloads.

Reading (``*_to_canonical``) works column-wise on whole snapshots and never raises on bad records: a record that
cannot be read safely goes to ``ConversionResult.rejected`` with the reason (and is left untouched by the sync); a
record that is kept but has a problem worth knowing (an unparseable phone, an unmapped organization) is listed in
``ConversionResult.warnings``. Duplicate ids in one snapshot keep the copy with the latest modify stamp (the last one
on a tie) and report the others. Writing (``canonical_to_*``) builds one payload for one changed record.

Decisions worth knowing:
- Salesforce ``modified_at`` is ``LastModifiedDate`` (user edits; what last-write-wins should compare) and falls back
  to ``SystemModstamp`` when the former is not selected or empty.
- Dynamics rows with ``statecode`` 1 (inactive) count as deleted, like ``$deletedEntity`` rows of a delta feed; those
  carry no timestamp, so they are stamped with ``observed_at`` (default: now).
- A CRM record with an invalid email or a non-numeric lead score is rejected (writing it to Genesys would fail or
  clear a value); a Genesys record with a non-numeric lead score is kept with no score and a warning (that field only
  flows CRM -> Genesys by default, so the CRM value repairs it).
- Emails are not validated on deleted records: a delete must always get through.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import numpy as np
import pandas as pd

from contact_sync.sync.normalize import normalize_email, normalize_phone, normalize_tags, tags_text
from contact_sync.sync.policy import CANONICAL_FIELDS, FieldRule, SyncPolicy, load_policy
from contact_sync.sync.record_ids import DYNAMICS_ID, SALESFORCE_ID
from contact_sync.sync.schema import CANONICAL_COLUMNS, REJECTED_COLUMNS, CanonicalContact, empty_rejected

TEXT_FIELDS: Final = ("first_name", "last_name", "email", "phone", "account_id")
IDENTITY_COLUMNS: Final = ("first_name", "last_name", "email", "phone_e164", "account_id")
"""What a rejected Genesys record says of who it is, when that could be read (see ``RejectedRecord``)."""
GENESYS_PHONE_FIELDS: Final = frozenset({"workPhone", "cellPhone", "homePhone", "otherPhone"})
_REASON_VALUE_CHARS: Final = 60
_DELETED_ENTITY: Final = "$deletedEntity"


class ConversionError(ValueError):
    """The input as a whole cannot be converted (e.g. a column the policy maps was not selected at all)."""


@dataclass(frozen=True)
class ConversionResult:
    """A canonical frame, the records left out of it, and problems with records kept in it."""

    frame: pd.DataFrame
    """``CanonicalContact`` rows."""
    rejected: pd.DataFrame = field(default_factory=empty_rejected)
    """``RejectedRecord`` rows: records not in ``frame``; nothing is written for them."""
    warnings: pd.DataFrame = field(default_factory=empty_rejected)
    """``RejectedRecord`` rows: records in ``frame`` with a problem worth reporting."""


_DEFAULT_POLICY: SyncPolicy | None = None


def _policy(policy: SyncPolicy | None) -> SyncPolicy:
    global _DEFAULT_POLICY
    if policy is not None:
        return policy
    if _DEFAULT_POLICY is None:
        _DEFAULT_POLICY = load_policy()
    return _DEFAULT_POLICY


# --- shared column helpers ------------------------------------------------------------------------------------------


def _shorten(value: Any) -> str:
    text = str(value)
    return text if len(text) <= _REASON_VALUE_CHARS else text[: _REASON_VALUE_CHARS - 1] + "…"


class _Problems:
    """Collects (row position, reason) pairs for rejections and warnings."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.reject_reasons: list[tuple[np.ndarray, list[str]]] = []
        self.warn_reasons: list[tuple[np.ndarray, list[str]]] = []

    def reject(self, mask: np.ndarray, reasons: Sequence[str] | str) -> None:
        self._add(self.reject_reasons, mask, reasons)

    def warn(self, mask: np.ndarray, reasons: Sequence[str] | str) -> None:
        self._add(self.warn_reasons, mask, reasons)

    @staticmethod
    def _add(into: list[tuple[np.ndarray, list[str]]], mask: np.ndarray, reasons: Sequence[str] | str) -> None:
        rows = np.flatnonzero(mask)
        if len(rows):
            texts = [reasons] * len(rows) if isinstance(reasons, str) else list(reasons)
            if len(texts) != len(rows):
                raise AssertionError(f"{len(texts)} reasons for {len(rows)} rows")
            into.append((rows, texts))

    def rejected_mask(self) -> np.ndarray:
        mask = np.zeros(self.n, dtype=bool)
        for rows, _ in self.reject_reasons:
            mask[rows] = True
        return mask

    @staticmethod
    def frame(
        system: str,
        entries: list[tuple[np.ndarray, list[str]]],
        record_ids: np.ndarray,
        crm_ids: np.ndarray,
        keep: np.ndarray | None = None,
    ) -> pd.DataFrame:
        """One row per record: its reasons joined with "; "."""
        by_row: dict[int, list[str]] = {}
        for rows, texts in entries:
            for row, text in zip(rows.tolist(), texts, strict=True):
                if keep is None or keep[row]:
                    by_row.setdefault(row, []).append(text)
        if not by_row:
            return empty_rejected()
        rows = np.array(sorted(by_row), dtype=np.int64)
        return _rejected_frame(
            system,
            record_ids[rows],
            ["; ".join(by_row[r]) for r in rows.tolist()],
            crm_ids[rows],
        )


def _rejected_frame(
    system: str, record_ids: Iterable[Any], reasons: Iterable[str], crm_ids: Iterable[Any]
) -> pd.DataFrame:
    record_ids, reasons, crm_ids = list(record_ids), list(reasons), list(crm_ids)
    return pd.DataFrame(
        {
            "system": pd.array([system] * len(reasons), dtype="string"),
            "record_id": pd.array([_none(v) for v in record_ids], dtype="string"),
            "reason": pd.array(reasons, dtype="string"),
            "crm_id": pd.array([_none(v) for v in crm_ids], dtype="string"),
        },
        columns=list(REJECTED_COLUMNS),
    )


def _none(value: Any) -> Any:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _text(values: pd.Series, label: str, problems: _Problems, numbers: bool = True) -> pd.Series:
    """A string column: missing and "" -> NA, numbers -> their text (unless `numbers` is False, as for ids: a number
    there is some other record's id or none), anything else (dicts, lists) rejected."""
    series = values.reset_index(drop=True)
    kind = pd.api.types.infer_dtype(series, skipna=True)
    if kind not in ("string", "empty"):
        objects = series.astype(object)
        is_text = objects.map(lambda v: isinstance(v, str) or _none(v) is None).to_numpy(dtype=bool)
        is_number = objects.map(
            lambda v: isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
        )
        is_number = is_number.to_numpy(dtype=bool) & ~is_text & numbers
        as_text = objects.where(~is_number, objects[is_number].map(_number_text) if is_number.any() else objects)
        bad = ~is_text & ~is_number
        problems.reject(bad, [f"{label} is not text: {_shorten(v)}" for v in objects[bad].tolist()])
        series = as_text.where(~bad, None)
    out = series.astype("string")
    return out.mask(out == "", pd.NA)


def _tag_problem(value: Any) -> str | None:
    """Why one tags value cannot be read (None when it can: missing, text, or a list of text)."""
    if isinstance(value, str) or _none(value) is None:
        return None
    if isinstance(value, list | tuple | np.ndarray):
        items = list(value)
        if not all(isinstance(item, str) for item in items):
            return "is not a list of text"
        if any(";" in item for item in items):
            return "has a tag containing ';', the separator of the CRM's tag field (it would become two tags)"
        return None
    return "is not text or a list of text"


def _tags(values: pd.Series, label: str, problems: _Problems) -> pd.Series:
    """Canonical tags; a value that is neither text nor a list of text (a number, a flag, an object) rejects its
    record, and so does a listed tag holding ';', which would be split silently when written to the CRM."""
    series = values.reset_index(drop=True).astype(object)
    found = series.map(_tag_problem)
    bad = found.notna().to_numpy(dtype=bool)
    if bad.any():
        problems.reject(bad, [f"{label} {why}: {_shorten(v)}" for why, v in zip(found[bad], series[bad], strict=True)])
    return normalize_tags(series.where(~bad, None))


def _number_text(value: Any) -> str:
    number = float(value)
    return str(int(number)) if number.is_integer() else str(value)


def _timestamp(values: pd.Series, label: str, problems: _Problems | None, required: bool) -> pd.Series:
    """UTC timestamps from ISO-8601 text (Salesforce's ``+0000`` included); unparseable -> NaT and reported."""
    series = values.reset_index(drop=True)
    objects = series.astype(object)
    readable = objects.map(lambda v: isinstance(v, str | datetime)).to_numpy(dtype=bool)
    parsed = pd.to_datetime(objects.where(readable, None), utc=True, errors="coerce", format="ISO8601")
    parsed = parsed.astype("datetime64[ns, UTC]")
    if problems is not None:
        missing = series.isna().to_numpy(dtype=bool) | (series.astype(object) == "").to_numpy(dtype=bool)
        unreadable = parsed.isna().to_numpy(dtype=bool) & ~missing
        problems.reject(unreadable, [f"{label} is not a timestamp: {_shorten(v)}" for v in series[unreadable]])
        if required:
            problems.reject(missing, f"{label} is missing")
    return parsed


def _number(values: pd.Series, label: str, problems: _Problems, reject: bool) -> pd.Series:
    """Floats; text that is not a finite number -> NaN and rejected (or warned)."""
    series = values.reset_index(drop=True).astype(object)
    if pd.api.types.infer_dtype(series, skipna=True) not in ("integer", "floating", "mixed-integer-float", "empty"):
        series = series.where(~series.map(lambda v: isinstance(v, bool)), "not-a-number")
    parsed = pd.to_numeric(series.where(series != "", None), errors="coerce").astype("float64")
    parsed = parsed.where(np.isfinite(parsed))
    present = series.notna().to_numpy(dtype=bool) & (series != "").to_numpy(dtype=bool)
    bad = present & parsed.isna().to_numpy(dtype=bool)
    reasons = [f"{label} is not a number: {_shorten(v)}" for v in series[bad].tolist()]
    (problems.reject if reject else problems.warn)(bad, reasons)
    return parsed


def _flag(values: pd.Series, label: str, problems: _Problems) -> pd.Series:
    """Booleans from bools or "true"/"false" text (Bulk API CSV); missing -> False."""
    series = values.reset_index(drop=True)
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype(bool)
    series = series.astype(object)
    if pd.api.types.infer_dtype(series, skipna=True) == "boolean":
        return series.map(lambda v: v is True or v is np.True_).astype(bool)
    result = series.map(_flag_value)
    bad = result.isna().to_numpy(dtype=bool)
    problems.reject(bad, [f"{label} is not true/false: {_shorten(v)}" for v in series[bad].tolist()])
    return result.map(lambda v: v is True).astype(bool)


_FLAGS: Final = {"true": True, "false": False, "": False}


def _flag_value(value: Any) -> bool | None:
    if _none(value) is None:
        return False
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, str):
        return _FLAGS.get(value.strip().lower())
    return None


def _column(frame: pd.DataFrame, name: str, required_by: str | None = None) -> pd.Series:
    """A raw column; absent -> all missing, or a ConversionError when the policy maps it."""
    if name in frame.columns:
        return frame[name].reset_index(drop=True)
    if required_by is not None:
        raise ConversionError(
            f"the input has no {name!r} column, which the policy maps to {required_by}: select it in the query "
            "or remove the mapping from the policy"
        )
    return pd.Series([None] * len(frame), dtype=object)


def _dedupe(
    record_ids: pd.Series, modified: pd.Series, usable: np.ndarray, problems: _Problems, label: str
) -> np.ndarray:
    """Reject all but the latest copy (by modify stamp, then position) of each id among usable rows."""
    candidates = pd.DataFrame(
        {"id": record_ids.to_numpy(dtype=object), "at": modified, "pos": np.arange(len(modified))}
    )
    candidates = candidates[usable]
    repeated = candidates["id"].duplicated(keep=False)
    if not repeated.any():
        return usable
    dupes = candidates[repeated].sort_values(["id", "at", "pos"], na_position="first")
    winners = dupes.drop_duplicates("id", keep="last").set_index("id")
    losers = dupes[~dupes["pos"].isin(winners["pos"])].sort_values("pos")  # reasons must follow row order
    reasons = [
        f"duplicate {label} in one snapshot: kept the copy modified at {winners.at[i, 'at']}"
        for i in losers["id"].tolist()
    ]
    mask = np.zeros(len(modified), dtype=bool)
    mask[losers["pos"].to_numpy()] = True
    problems.reject(mask, reasons)
    return usable & ~mask


def _finish(
    system: str,
    columns: dict[str, Any],
    problems: _Problems,
    crm_ids_for_report: np.ndarray | None = None,
    validate: bool = True,
) -> ConversionResult:
    """Assemble the canonical frame from the kept rows, and the rejected/warning frames."""
    n = problems.n
    frame = pd.DataFrame({name: columns[name] for name in CANONICAL_COLUMNS})
    record_ids = frame["record_id"].to_numpy(dtype=object, na_value=None)
    crm_ids = (
        crm_ids_for_report if crm_ids_for_report is not None else frame["crm_id"].to_numpy(dtype=object, na_value=None)
    )
    rejected_mask = problems.rejected_mask()
    rejected = _Problems.frame(system, problems.reject_reasons, record_ids, crm_ids)
    warnings = _Problems.frame(system, problems.warn_reasons, record_ids, crm_ids, keep=~rejected_mask)
    kept = frame[~rejected_mask].reset_index(drop=True) if n else frame
    if validate:
        kept = CanonicalContact.validate(kept)
    return ConversionResult(frame=kept, rejected=rejected, warnings=warnings)


_NOT_A_MAPPING: Final = "__not_a_mapping__"


def _as_frame(rows: Iterable[Mapping[str, Any]] | pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows as a frame, and which of them were no JSON object (kept as empty rows, to be rejected)."""
    if isinstance(rows, pd.DataFrame):
        return rows.reset_index(drop=True), np.zeros(len(rows), dtype=bool)
    records = list(rows)
    not_mapping = np.array([not isinstance(r, Mapping) for r in records], dtype=bool)
    if not records:
        return pd.DataFrame(), not_mapping
    frame = pd.DataFrame.from_records([r if isinstance(r, Mapping) else {_NOT_A_MAPPING: True} for r in records])
    return frame, not_mapping


def _check_ids(values: pd.Series, label: str, pattern: str, problems: _Problems) -> None:
    """Reject records whose id or reference in `values` is present but not of the CRM's id form: every later call
    that names it would fail for the whole batch."""
    present = values.notna().to_numpy(dtype=bool)
    bad = present & ~values.str.fullmatch(pattern).fillna(False).to_numpy(dtype=bool)
    problems.reject(bad, [f"{label} is not a record id: {_shorten(v)}" for v in values[bad].tolist()])


def _validate_email(email: pd.Series, deleted: np.ndarray, label: str, problems: _Problems) -> None:
    invalid = email.notna().to_numpy(dtype=bool) & normalize_email(email).isna().to_numpy(dtype=bool) & ~deleted
    problems.reject(invalid, [f"{label} is not a valid email address: {_shorten(v)}" for v in email[invalid].tolist()])


def _phone_warnings(phone: pd.Series, e164: pd.Series, label: str, problems: _Problems) -> None:
    unparsed = phone.notna().to_numpy(dtype=bool) & e164.isna().to_numpy(dtype=bool)
    problems.warn(
        unparsed,
        [
            f"{label} is not a valid phone number (kept as stored, not used to match): {_shorten(v)}"
            for v in phone[unparsed]
        ],
    )


# --- CRM readers ----------------------------------------------------------------------------------------------------


def salesforce_to_canonical(
    rows: Iterable[Mapping[str, Any]] | pd.DataFrame, policy: SyncPolicy | None = None, validate: bool = True
) -> ConversionResult:
    """Salesforce Contact rows (REST query records or Bulk API CSV rows) -> canonical frame.

    Reads the policy's Salesforce fields, plus ``CreatedDate``, ``LastModifiedDate`` / ``SystemModstamp``,
    ``IsDeleted`` and ``MasterRecordId`` when present.
    """
    policy = _policy(policy)
    raw, not_mapping = _as_frame(rows)
    n = len(raw)
    strict = bool(n) and not not_mapping.all()  # columns the policy maps must be there (unless no row is readable)
    problems = _Problems(n)
    problems.reject(not_mapping, "not a JSON object")
    link = policy.link_field.get("salesforce", "Id")
    fields = {rule.name: rule.crm_fields["salesforce"] for rule in policy.fields_for("salesforce")}

    record_id = _text(_column(raw, link, "the CRM id" if strict else None), link, problems, numbers=False)
    missing_id = record_id.isna().to_numpy(dtype=bool) & ~not_mapping
    problems.reject(missing_id, f"{link} is missing")
    if link == "Id":
        _check_ids(record_id, link, SALESFORCE_ID, problems)
    if strict and "LastModifiedDate" not in raw.columns and "SystemModstamp" not in raw.columns:
        raise ConversionError("the input has neither LastModifiedDate nor SystemModstamp: select one of them")
    last_modified = _timestamp(_column(raw, "LastModifiedDate"), "LastModifiedDate", problems, required=False)
    modstamp = _timestamp(_column(raw, "SystemModstamp"), "SystemModstamp", problems, required=False)
    modified_at = last_modified.fillna(modstamp)
    no_stamp = modified_at.isna().to_numpy(dtype=bool)
    problems.reject(no_stamp & ~not_mapping, "LastModifiedDate and SystemModstamp are both missing")
    is_deleted = _flag(_column(raw, "IsDeleted"), "IsDeleted", problems)
    merged_into = _text(_column(raw, "MasterRecordId"), "MasterRecordId", problems, numbers=False)
    _check_ids(merged_into, "MasterRecordId", SALESFORCE_ID, problems)
    columns = _crm_columns(raw, fields, problems, is_deleted.to_numpy(dtype=bool), policy, strict)
    if "account_id" in fields:
        _check_ids(columns["account_id"], fields["account_id"], SALESFORCE_ID, problems)
    _dedupe(record_id, modified_at, ~missing_id & ~no_stamp, problems, link)
    columns.update(
        system=pd.array(["salesforce"] * n, dtype="string"),
        record_id=record_id,
        crm_id=record_id,
        created_at=_timestamp(_column(raw, "CreatedDate"), "CreatedDate", None, required=False),
        modified_at=modified_at,
        is_deleted=is_deleted,
        merged_into=merged_into,
    )
    return _finish("salesforce", columns, problems, validate=validate)


def dynamics_to_canonical(
    rows: Iterable[Mapping[str, Any]] | pd.DataFrame,
    policy: SyncPolicy | None = None,
    observed_at: datetime | None = None,
    validate: bool = True,
) -> ConversionResult:
    """Dynamics 365 contact rows (Web API ``value`` items, delta ``$deletedEntity`` items included) -> canonical frame.

    Lookup fields are read as ``_<field>_value`` (``parentcustomerid`` -> ``_parentcustomerid_value``).
    """
    policy = _policy(policy)
    raw, not_mapping = _as_frame(rows)
    n = len(raw)
    strict = bool(n) and not not_mapping.all()
    problems = _Problems(n)
    problems.reject(not_mapping, "not a JSON object")
    link = policy.link_field.get("dynamics", "contactid")
    fields = {rule.name: rule.crm_fields["dynamics"] for rule in policy.fields_for("dynamics")}
    if "account_id" in fields:
        fields["account_id"] = f"_{fields['account_id']}_value"

    context = _column(raw, "@odata.context").astype(object)
    deleted_entity = context.map(lambda v: isinstance(v, str) and v.endswith(_DELETED_ENTITY)).to_numpy(dtype=bool)
    ids = _column(raw, link).astype(object)
    if deleted_entity.any():
        ids = ids.where(~deleted_entity, _column(raw, "id").astype(object))
    record_id = _text(ids, link, problems, numbers=False)
    missing_id = record_id.isna().to_numpy(dtype=bool) & ~not_mapping
    problems.reject(missing_id, f"{link} is missing")
    if link == "contactid":
        _check_ids(record_id, link, DYNAMICS_ID, problems)

    stamp = pd.Timestamp(observed_at or datetime.now(UTC))
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    modified_raw = _column(raw, "modifiedon").astype(object).where(~deleted_entity, None)
    modified_at = _timestamp(modified_raw, "modifiedon", problems, required=False)
    modified_at = modified_at.where(~deleted_entity, stamp)
    no_stamp = modified_at.isna().to_numpy(dtype=bool)
    problems.reject(no_stamp & ~not_mapping, "modifiedon is missing")

    state = _column(raw, "statecode").astype(object)
    state_number = pd.to_numeric(state.where(~state.map(lambda v: isinstance(v, bool | str)), None), errors="coerce")
    bad_state = state.notna().to_numpy(dtype=bool) & ~state_number.isin([0, 1]).to_numpy(dtype=bool) & ~deleted_entity
    problems.reject(bad_state, [f"statecode is not 0 or 1: {_shorten(v)}" for v in state[bad_state].tolist()])
    is_deleted = pd.Series(deleted_entity | (state_number == 1).to_numpy(dtype=bool))

    if deleted_entity.all():  # a delta page of deletes only carries no content columns
        fields = {}
    columns = _crm_columns(raw, fields, problems, is_deleted.to_numpy(dtype=bool), policy, strict)
    if "account_id" in fields:
        _check_ids(columns["account_id"], fields["account_id"], DYNAMICS_ID, problems)
    _dedupe(record_id, modified_at, ~missing_id & ~no_stamp, problems, link)
    columns.update(
        system=pd.array(["dynamics"] * n, dtype="string"),
        record_id=record_id,
        crm_id=record_id,
        created_at=_timestamp(_column(raw, "createdon"), "createdon", None, required=False),
        modified_at=modified_at,
        is_deleted=is_deleted,
        merged_into=pd.array([pd.NA] * n, dtype="string"),
    )
    return _finish("dynamics", columns, problems, validate=validate)


def _crm_columns(
    raw: pd.DataFrame,
    fields: Mapping[str, str],
    problems: _Problems,
    deleted: np.ndarray,
    policy: SyncPolicy,
    strict: bool,
) -> dict[str, Any]:
    """The mapped value columns of a CRM snapshot, checked (`strict`: a mapped column absent from the input is a
    ConversionError)."""
    n = len(raw)
    columns: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        if name in fields:
            columns[name] = _text(_column(raw, fields[name], name if strict else None), fields[name], problems)
        else:
            columns[name] = pd.array([pd.NA] * n, dtype="string")
    if "email" in fields:
        _validate_email(columns["email"], deleted, fields["email"], problems)
    columns["phone_e164"] = normalize_phone(columns["phone"], policy.default_region)
    if "phone" in fields:
        _phone_warnings(columns["phone"], columns["phone_e164"], fields["phone"], problems)
    if "lead_score" in fields:
        label = fields["lead_score"]
        columns["lead_score"] = _number(
            _column(raw, label, "lead_score" if strict else None), label, problems, reject=True
        )
    else:
        columns["lead_score"] = np.full(n, np.nan)
    if "tags" in fields:
        columns["tags"] = _tags(_column(raw, fields["tags"], "tags" if strict else None), fields["tags"], problems)
    else:
        columns["tags"] = pd.array([pd.NA] * n, dtype="string")
    return columns


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
    policy = _policy(policy)
    if isinstance(contacts, pd.DataFrame):
        records: list[Mapping[str, Any]] = contacts.to_dict("records")
    else:
        records = list(contacts)
    records = [r if isinstance(r, Mapping) else {"__not_a_mapping__": r} for r in records]
    n = len(records)
    problems = _Problems(n)
    not_mapping = np.array(["__not_a_mapping__" in r for r in records], dtype=bool)
    problems.reject(not_mapping, "not a JSON object")

    record_id = _text(pd.Series(_path_values(records, "id"), dtype=object), "id", problems, numbers=False)
    missing_id = record_id.isna().to_numpy(dtype=bool) & ~not_mapping
    problems.reject(missing_id, "id is missing")
    modified_at = _timestamp(pd.Series(_path_values(records, "modifyDate"), dtype=object), "modifyDate", problems, True)

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
        columns["lead_score"] = _number(values, path, problems, reject=False)
    else:
        columns["lead_score"] = np.full(n, np.nan)
    if "tags" in rules:
        path = rules["tags"].genesys_path
        columns["tags"] = _tags(pd.Series(_path_values(records, path), dtype=object), path, problems)
    else:
        columns["tags"] = pd.array([pd.NA] * n, dtype="string")
    _validate_email(
        columns["email"],
        np.zeros(n, dtype=bool),
        rules["email"].genesys_path if "email" in rules else "email",
        problems,
    )
    _dedupe(record_id, modified_at, ~problems.rejected_mask(), problems, "id")
    columns.update(
        system=pd.array(["genesys"] * n, dtype="string"),
        record_id=record_id,
        crm_id=pd.array(first_link.tolist(), dtype="string"),
        created_at=_timestamp(pd.Series(_path_values(records, "createDate"), dtype=object), "createDate", None, False),
        modified_at=modified_at,
        is_deleted=np.zeros(n, dtype=bool),
        merged_into=pd.array([pd.NA] * n, dtype="string"),
    )
    result = _finish("genesys", columns, problems, crm_ids_for_report=first_link, validate=validate)
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
        more = _rejected_frame(
            "genesys", [r for r, _ in extra], [reasons.get(r, "") for r, _ in extra], [c for _, c in extra]
        )
        result = ConversionResult(result.frame, pd.concat([result.rejected, more], ignore_index=True), result.warnings)
    return result


def _genesys_text(records: Sequence[Mapping[str, Any]], rule: FieldRule | None, problems: _Problems) -> pd.Series:
    if rule is None:
        return pd.Series(pd.array([pd.NA] * len(records), dtype="string"))
    return _text(pd.Series(_path_values(records, rule.genesys_path), dtype=object), rule.genesys_path, problems)


def _genesys_phone(
    records: Sequence[Mapping[str, Any]], rule: FieldRule | None, policy: SyncPolicy, problems: _Problems
) -> tuple[pd.Series, pd.Series]:
    """(display, E.164): the service's own e164 when it set one, else the display parsed."""
    n = len(records)
    if rule is None:
        empty = pd.Series(pd.array([pd.NA] * n, dtype="string"))
        return empty, empty.copy()
    path = rule.genesys_path
    numbers = _path_values(records, path)
    if path not in GENESYS_PHONE_FIELDS:  # mapped to a plain (custom) field: the value is the number
        display = _text(pd.Series(numbers, dtype=object), path, problems)
        e164 = normalize_phone(display, policy.default_region)
        _phone_warnings(display, e164, path, problems)
        return display, e164
    display = _text(
        pd.Series([p.get("display") if isinstance(p, Mapping) else None for p in numbers], dtype=object),
        f"{path}.display",
        problems,
    )
    given = pd.Series([p.get("e164") if isinstance(p, Mapping) else None for p in numbers], dtype=object)
    given = given.where(given.map(lambda v: isinstance(v, str) and v.startswith("+") and v[1:].isdigit()), None)
    e164 = given.astype("string").fillna(normalize_phone(display, policy.default_region))
    _phone_warnings(display, e164, f"{path}.display", problems)
    return display, e164


def _genesys_account(
    records: Sequence[Mapping[str, Any]], rule: FieldRule | None, org_to_account: Mapping[str, str], problems: _Problems
) -> pd.Series:
    """The CRM account id of each contact's external organization (via org_to_account)."""
    n = len(records)
    if rule is None:
        return pd.Series(pd.array([pd.NA] * n, dtype="string"))
    values = _path_values(records, rule.genesys_path)
    org_ids = pd.Series([v.get("id") if isinstance(v, Mapping) else v for v in values], dtype=object)
    org_ids = org_ids.where(org_ids.map(lambda v: isinstance(v, str) and v != ""), None)
    account = org_ids.map(org_to_account, na_action="ignore")
    unmapped = org_ids.notna().to_numpy(dtype=bool) & account.isna().to_numpy(dtype=bool)
    problems.warn(
        unmapped,
        [f"external organization {_shorten(v)} has no CRM account mapping" for v in org_ids[unmapped].tolist()],
    )
    return account.astype("string")


# --- writers --------------------------------------------------------------------------------------------------------


def _write_value(name: str, value: Any) -> Any:
    """A canonical value as JSON for the APIs: missing -> None, scores as numbers, tags as canonical text."""
    value = _none(value)
    if value is None:
        return None
    if name == "lead_score":
        number = float(value)
        return None if math.isnan(number) else number
    if name == "tags":
        return tags_text(value)
    return str(value)


def _check_names(values: Mapping[str, Any]) -> None:
    unknown = sorted(set(values) - set(CANONICAL_FIELDS))
    if unknown:
        raise ValueError(f"not canonical fields: {', '.join(unknown)} (known: {', '.join(CANONICAL_FIELDS)})")


def canonical_to_salesforce(values: Mapping[str, Any], policy: SyncPolicy | None = None) -> dict[str, Any]:
    """Canonical field values -> Salesforce Contact fields (only the given fields that the policy maps)."""
    policy = _policy(policy)
    _check_names(values)
    payload: dict[str, Any] = {}
    for rule in policy.fields_for("salesforce"):
        if rule.name in values:
            payload[rule.crm_fields["salesforce"]] = _write_value(rule.name, values[rule.name])
    return payload


def canonical_to_dynamics(values: Mapping[str, Any], policy: SyncPolicy | None = None) -> dict[str, Any]:
    """Canonical field values -> Dynamics contact columns. The account is a lookup: it is written as
    ``<field>_account@odata.bind: /accounts(<id>)`` (None clears it)."""
    policy = _policy(policy)
    _check_names(values)
    payload: dict[str, Any] = {}
    for rule in policy.fields_for("dynamics"):
        if rule.name not in values:
            continue
        column = rule.crm_fields["dynamics"]
        value = _write_value(rule.name, values[rule.name])
        if rule.name == "account_id":
            payload[f"{column}_account@odata.bind"] = None if value is None else f"/accounts({value})"
        else:
            payload[column] = value
    return payload


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
    policy = _policy(policy)
    _check_names(values)
    payload: dict[str, Any] = {}
    for rule in policy.fields:
        if rule.name not in values or rule.genesys_path == "externalOrganization":
            continue
        value = _write_value(rule.name, values[rule.name])
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
