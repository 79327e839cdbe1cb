"""What every system's converter shares: the result type, column-wise readers that collect per-record problems
instead of raising, duplicate-id handling, the mapped CRM value columns, and write values.

Reading works on whole snapshots: a record that cannot be read safely is rejected with the reason (and left untouched
by the sync); a record kept with a problem worth knowing gets a warning. See `sync.convert` (Genesys) and each CRM
plug-in's `convert` module (`contact_sync.crms.<kind>.convert`) for the readers built on these.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import numpy as np
import pandas as pd

from contact_sync.sync.normalize import normalize_email, normalize_phone, normalize_tags, tags_text
from contact_sync.sync.policy import CANONICAL_FIELDS, SyncPolicy, load_policy
from contact_sync.sync.schema import CANONICAL_COLUMNS, REJECTED_COLUMNS, CanonicalContact, empty_rejected

TEXT_FIELDS: Final = ("first_name", "last_name", "email", "phone", "account_id")
_REASON_VALUE_CHARS: Final = 60


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


def resolve_policy(policy: SyncPolicy | None) -> SyncPolicy:
    global _DEFAULT_POLICY
    if policy is not None:
        return policy
    if _DEFAULT_POLICY is None:
        _DEFAULT_POLICY = load_policy()
    return _DEFAULT_POLICY


# --- shared column helpers ------------------------------------------------------------------------------------------


def shorten(value: Any) -> str:
    text = str(value)
    return text if len(text) <= _REASON_VALUE_CHARS else text[: _REASON_VALUE_CHARS - 1] + "…"


class Problems:
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
        return rejected_frame(
            system,
            record_ids[rows],
            ["; ".join(by_row[r]) for r in rows.tolist()],
            crm_ids[rows],
        )


def rejected_frame(
    system: str, record_ids: Iterable[Any], reasons: Iterable[str], crm_ids: Iterable[Any]
) -> pd.DataFrame:
    record_ids, reasons, crm_ids = list(record_ids), list(reasons), list(crm_ids)
    return pd.DataFrame(
        {
            "system": pd.array([system] * len(reasons), dtype="string"),
            "record_id": pd.array([none_if_missing(v) for v in record_ids], dtype="string"),
            "reason": pd.array(reasons, dtype="string"),
            "crm_id": pd.array([none_if_missing(v) for v in crm_ids], dtype="string"),
        },
        columns=list(REJECTED_COLUMNS),
    )


def none_if_missing(value: Any) -> Any:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def text_column(values: pd.Series, label: str, problems: Problems, numbers: bool = True) -> pd.Series:
    """A string column: missing and "" -> NA, numbers -> their text (unless `numbers` is False, as for ids: a number
    there is some other record's id or none), anything else (dicts, lists) rejected."""
    series = values.reset_index(drop=True)
    kind = pd.api.types.infer_dtype(series, skipna=True)
    if kind not in ("string", "empty"):
        objects = series.astype(object)
        is_text = objects.map(lambda v: isinstance(v, str) or none_if_missing(v) is None).to_numpy(dtype=bool)
        is_number = objects.map(
            lambda v: isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
        )
        is_number = is_number.to_numpy(dtype=bool) & ~is_text & numbers
        as_text = objects.where(~is_number, objects[is_number].map(_number_text) if is_number.any() else objects)
        bad = ~is_text & ~is_number
        problems.reject(bad, [f"{label} is not text: {shorten(v)}" for v in objects[bad].tolist()])
        series = as_text.where(~bad, None)
    out = series.astype("string")
    return out.mask(out == "", pd.NA)


def _tag_problem(value: Any) -> str | None:
    """Why one tags value cannot be read (None when it can: missing, text, or a list of text)."""
    if isinstance(value, str) or none_if_missing(value) is None:
        return None
    if isinstance(value, list | tuple | np.ndarray):
        items = list(value)
        if not all(isinstance(item, str) for item in items):
            return "is not a list of text"
        if any(";" in item for item in items):
            return "has a tag containing ';', the separator of the CRM's tag field (it would become two tags)"
        return None
    return "is not text or a list of text"


def tags_column(values: pd.Series, label: str, problems: Problems) -> pd.Series:
    """Canonical tags; a value that is neither text nor a list of text (a number, a flag, an object) rejects its
    record, and so does a listed tag holding ';', which would be split silently when written to the CRM."""
    series = values.reset_index(drop=True).astype(object)
    found = series.map(_tag_problem)
    bad = found.notna().to_numpy(dtype=bool)
    if bad.any():
        problems.reject(bad, [f"{label} {why}: {shorten(v)}" for why, v in zip(found[bad], series[bad], strict=True)])
    return normalize_tags(series.where(~bad, None))


def _number_text(value: Any) -> str:
    number = float(value)
    return str(int(number)) if number.is_integer() else str(value)


def timestamp_column(values: pd.Series, label: str, problems: Problems | None, required: bool) -> pd.Series:
    """UTC timestamps from ISO-8601 text (Salesforce's ``+0000`` included); unparseable -> NaT and reported."""
    series = values.reset_index(drop=True)
    objects = series.astype(object)
    readable = objects.map(lambda v: isinstance(v, str | datetime)).to_numpy(dtype=bool)
    parsed = pd.to_datetime(objects.where(readable, None), utc=True, errors="coerce", format="ISO8601")
    parsed = parsed.astype("datetime64[ns, UTC]")
    if problems is not None:
        missing = series.isna().to_numpy(dtype=bool) | (series.astype(object) == "").to_numpy(dtype=bool)
        unreadable = parsed.isna().to_numpy(dtype=bool) & ~missing
        problems.reject(unreadable, [f"{label} is not a timestamp: {shorten(v)}" for v in series[unreadable]])
        if required:
            problems.reject(missing, f"{label} is missing")
    return parsed


def number_column(values: pd.Series, label: str, problems: Problems, reject: bool) -> pd.Series:
    """Floats; text that is not a finite number -> NaN and rejected (or warned)."""
    series = values.reset_index(drop=True).astype(object)
    if pd.api.types.infer_dtype(series, skipna=True) not in ("integer", "floating", "mixed-integer-float", "empty"):
        series = series.where(~series.map(lambda v: isinstance(v, bool)), "not-a-number")
    parsed = pd.to_numeric(series.where(series != "", None), errors="coerce").astype("float64")
    parsed = parsed.where(np.isfinite(parsed))
    present = series.notna().to_numpy(dtype=bool) & (series != "").to_numpy(dtype=bool)
    bad = present & parsed.isna().to_numpy(dtype=bool)
    reasons = [f"{label} is not a number: {shorten(v)}" for v in series[bad].tolist()]
    (problems.reject if reject else problems.warn)(bad, reasons)
    return parsed


def flag_column(values: pd.Series, label: str, problems: Problems) -> pd.Series:
    """Booleans from bools or "true"/"false" text (Bulk API CSV); missing -> False."""
    series = values.reset_index(drop=True)
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype(bool)
    series = series.astype(object)
    if pd.api.types.infer_dtype(series, skipna=True) == "boolean":
        return series.map(lambda v: v is True or v is np.True_).astype(bool)
    result = series.map(_flag_value)
    bad = result.isna().to_numpy(dtype=bool)
    problems.reject(bad, [f"{label} is not true/false: {shorten(v)}" for v in series[bad].tolist()])
    return result.map(lambda v: v is True).astype(bool)


_FLAGS: Final = {"true": True, "false": False, "": False}


def _flag_value(value: Any) -> bool | None:
    if none_if_missing(value) is None:
        return False
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, str):
        return _FLAGS.get(value.strip().lower())
    return None


def input_column(frame: pd.DataFrame, name: str, required_by: str | None = None) -> pd.Series:
    """A raw column; absent -> all missing, or a ConversionError when the policy maps it."""
    if name in frame.columns:
        return frame[name].reset_index(drop=True)
    if required_by is not None:
        raise ConversionError(
            f"the input has no {name!r} column, which the policy maps to {required_by}: select it in the query "
            "or remove the mapping from the policy"
        )
    return pd.Series([None] * len(frame), dtype=object)


def drop_duplicate_ids(
    record_ids: pd.Series, modified: pd.Series, usable: np.ndarray, problems: Problems, label: str
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


def finish(
    system: str,
    columns: dict[str, Any],
    problems: Problems,
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
    rejected = Problems.frame(system, problems.reject_reasons, record_ids, crm_ids)
    warnings = Problems.frame(system, problems.warn_reasons, record_ids, crm_ids, keep=~rejected_mask)
    kept = frame[~rejected_mask].reset_index(drop=True) if n else frame
    if validate:
        kept = CanonicalContact.validate(kept)
    return ConversionResult(frame=kept, rejected=rejected, warnings=warnings)


_NOT_A_MAPPING: Final = "__not_a_mapping__"


def as_frame(rows: Iterable[Mapping[str, Any]] | pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows as a frame, and which of them were no JSON object (kept as empty rows, to be rejected)."""
    if isinstance(rows, pd.DataFrame):
        return rows.reset_index(drop=True), np.zeros(len(rows), dtype=bool)
    records = list(rows)
    not_mapping = np.array([not isinstance(r, Mapping) for r in records], dtype=bool)
    if not records:
        return pd.DataFrame(), not_mapping
    frame = pd.DataFrame.from_records([r if isinstance(r, Mapping) else {_NOT_A_MAPPING: True} for r in records])
    return frame, not_mapping


def check_ids(values: pd.Series, label: str, pattern: str, problems: Problems) -> None:
    """Reject records whose id or reference in `values` is present but not of the CRM's id form: every later call
    that names it would fail for the whole batch."""
    present = values.notna().to_numpy(dtype=bool)
    bad = present & ~values.str.fullmatch(pattern).fillna(False).to_numpy(dtype=bool)
    problems.reject(bad, [f"{label} is not a record id: {shorten(v)}" for v in values[bad].tolist()])


def validate_email(email: pd.Series, deleted: np.ndarray, label: str, problems: Problems) -> None:
    invalid = email.notna().to_numpy(dtype=bool) & normalize_email(email).isna().to_numpy(dtype=bool) & ~deleted
    problems.reject(invalid, [f"{label} is not a valid email address: {shorten(v)}" for v in email[invalid].tolist()])


def phone_warnings(phone: pd.Series, e164: pd.Series, label: str, problems: Problems) -> None:
    unparsed = phone.notna().to_numpy(dtype=bool) & e164.isna().to_numpy(dtype=bool)
    problems.warn(
        unparsed,
        [
            f"{label} is not a valid phone number (kept as stored, not used to match): {shorten(v)}"
            for v in phone[unparsed]
        ],
    )


def crm_columns(
    raw: pd.DataFrame,
    fields: Mapping[str, str],
    problems: Problems,
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
            columns[name] = text_column(
                input_column(raw, fields[name], name if strict else None), fields[name], problems
            )
        else:
            columns[name] = pd.array([pd.NA] * n, dtype="string")
    if "email" in fields:
        validate_email(columns["email"], deleted, fields["email"], problems)
    columns["phone_e164"] = normalize_phone(columns["phone"], policy.default_region)
    if "phone" in fields:
        phone_warnings(columns["phone"], columns["phone_e164"], fields["phone"], problems)
    if "lead_score" in fields:
        label = fields["lead_score"]
        columns["lead_score"] = number_column(
            input_column(raw, label, "lead_score" if strict else None), label, problems, reject=True
        )
    else:
        columns["lead_score"] = np.full(n, np.nan)
    if "tags" in fields:
        columns["tags"] = tags_column(
            input_column(raw, fields["tags"], "tags" if strict else None), fields["tags"], problems
        )
    else:
        columns["tags"] = pd.array([pd.NA] * n, dtype="string")
    return columns


def write_value(name: str, value: Any) -> Any:
    """A canonical value as JSON for the APIs: missing -> None, scores as numbers, tags as canonical text."""
    value = none_if_missing(value)
    if value is None:
        return None
    if name == "lead_score":
        number = float(value)
        return None if math.isnan(number) else number
    if name == "tags":
        return tags_text(value)
    return str(value)


def check_names(values: Mapping[str, Any]) -> None:
    unknown = sorted(set(values) - set(CANONICAL_FIELDS))
    if unknown:
        raise ValueError(f"not canonical fields: {', '.join(unknown)} (known: {', '.join(CANONICAL_FIELDS)})")


STAMP_COLUMNS: Final = ("record_id", "stamp")
"""A snapshot's modify stamps as the service spells them (Salesforce SystemModstamp, Genesys modifyDate), handed
back to the connectors, which compare them with the live record before writing."""


def stamp_frame(records: Sequence[Mapping[str, Any]], id_key: str, stamp_key: str) -> pd.DataFrame:
    """record_id, stamp of each record that has both as text (the last copy of an id wins); a record whose id or
    stamp is anything else is one the converters reject, so it has no stamp to hand back."""
    pairs = [(r.get(id_key), r.get(stamp_key)) for r in records if isinstance(r, Mapping)]
    frame = pd.DataFrame(
        [(i, s) for i, s in pairs if isinstance(i, str) and isinstance(s, str) and i and s],
        columns=list(STAMP_COLUMNS),
        dtype="string",
    )
    return frame.drop_duplicates("record_id", keep="last").reset_index(drop=True)


@dataclass
class CrmRows:
    """A CRM converter's input as every CRM reads it: the rows as a frame, which were no JSON object, whether the
    policy's columns must be there (unless no row is readable), the problems so far, the link column and the mapped
    fields (canonical name -> CRM column)."""

    kind: str
    raw: pd.DataFrame
    not_mapping: np.ndarray
    strict: bool
    problems: Problems
    link: str
    fields: dict[str, str]

    @property
    def n(self) -> int:
        return len(self.raw)

    def record_ids(self, ids: pd.Series | None = None, pattern: str | None = None) -> tuple[pd.Series, np.ndarray]:
        """(record_id, missing): the link column (or `ids` read in its place) as text, rows without one rejected,
        and ids not of `pattern` rejected when one is given."""
        if ids is None:
            ids = input_column(self.raw, self.link, "the CRM id" if self.strict else None)
        record_id = text_column(ids, self.link, self.problems, numbers=False)
        missing = record_id.isna().to_numpy(dtype=bool) & ~self.not_mapping
        self.problems.reject(missing, f"{self.link} is missing")
        if pattern is not None:
            check_ids(record_id, self.link, pattern, self.problems)
        return record_id, missing


def read_crm_rows(
    rows: Iterable[Mapping[str, Any]] | pd.DataFrame, policy: SyncPolicy, kind: str, default_link: str
) -> CrmRows:
    """The shared start of a CRM's records -> canonical conversion (see `CrmRows`)."""
    raw, not_mapping = as_frame(rows)
    problems = Problems(len(raw))
    problems.reject(not_mapping, "not a JSON object")
    return CrmRows(
        kind=kind,
        raw=raw,
        not_mapping=not_mapping,
        strict=bool(len(raw)) and not not_mapping.all(),
        problems=problems,
        link=policy.link_field.get(kind, default_link),
        fields={rule.name: rule.crm_fields[kind] for rule in policy.fields_for(kind)},
    )


def finish_crm_rows(
    rows: CrmRows,
    columns: dict[str, Any],
    *,
    record_id: pd.Series,
    usable: np.ndarray,
    modified_at: pd.Series,
    created_at: pd.Series,
    is_deleted: pd.Series,
    merged_into: Any,
    account_pattern: str,
    validate: bool,
) -> ConversionResult:
    """The shared end of a CRM's conversion: account references of the CRM's id form, one copy of each id (the
    latest among `usable` rows), the identity columns, and the result."""
    if "account_id" in columns and "account_id" in rows.fields:
        check_ids(columns["account_id"], rows.fields["account_id"], account_pattern, rows.problems)
    drop_duplicate_ids(record_id, modified_at, usable, rows.problems, rows.link)
    columns.update(
        system=pd.array([rows.kind] * rows.n, dtype="string"),
        record_id=record_id,
        crm_id=record_id,
        created_at=created_at,
        modified_at=modified_at,
        is_deleted=is_deleted,
        merged_into=merged_into,
    )
    return finish(rows.kind, columns, rows.problems, validate=validate)
