"""Normalized forms of emails, phones, names and tags, used to match and compare contacts (never written back).

Every function takes a whole column and returns a pandas ``string`` Series on the same index. Each distinct value is
normalized once (``pyarrow`` dictionary encoding) and spread back, and the common cases run as Arrow kernels; rare
cases (non-ASCII text, phones that are not plainly digits) fall back to Python for exactness. Phones use the
``phonenumbers`` library: numbers that do not parse to a valid number become null, never a guess.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

import numpy as np
import pandas as pd
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumberFormat

# One "@", a non-empty local part and domain, and no whitespace: deliberately nothing cleverer (RFC 5322 allows far
# more than any CRM or Genesys accepts, and guessing is worse than reporting).
_EMAIL_RE: Final = re.compile(r"[^@\s]+@[^@\s]+")
# Python's whitespace within ASCII (str.isspace), spelled out because RE2's \s omits \x0b and \x1c-\x1f.
_ASCII_SPACE: Final = r"\t\n\x0b\x0c\r\x1c-\x1f "
_ASCII_EMAIL_RE: Final = rf"^[^@{_ASCII_SPACE}]+@[^@{_ASCII_SPACE}]+$"
_ASCII_TRIM_RE: Final = rf"^[{_ASCII_SPACE}]+|[{_ASCII_SPACE}]+$"
# Accents: the combining diacritical mark blocks used by Latin, Greek and Cyrillic. Marks of other scripts (e.g. the
# Japanese voicing marks) change the letter, not its accent, and are kept.
_ACCENTS_RE: Final = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_SPACES_RE: Final = re.compile(r"\s+")
# Formatting the phone fast path removes; anything else (letters, "x" extensions, other punctuation) goes through
# phonenumbers itself.
_PUNCTUATION_RE: Final = r"[ ().\-]"
_NANP_DIGITS: Final = 10
_PARSE_MAX_LENGTH: Final = 250  # phonenumbers refuses longer input outright
_MIN_NSN: Final = 2  # phonenumbers' bounds on a national significant number
_MAX_NSN: Final = 17
_NULL: Final = pa.scalar(None, pa.string())

Column = pd.Series | Iterable[Any]


def _to_arrow(values: Column) -> tuple[pa.Array, pd.Index]:
    """The column as an Arrow string array (missing -> null; integers and integral floats -> their digits)."""
    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    try:
        return pa.array(series, type=pa.string(), from_pandas=True), series.index
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        objects = series.to_numpy(dtype=object, na_value=None)
        return pa.array([_as_text(v) for v in objects], type=pa.string(), from_pandas=True), series.index


def _as_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, float | np.floating):
        return None if np.isnan(value) else (str(int(value)) if float(value).is_integer() else str(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    return None


def _per_distinct(values: Column, fn: Callable[[pa.Array], pa.Array]) -> pd.Series:
    """Apply ``fn`` (distinct non-null strings -> results, same length) once per distinct value, spread back."""
    array, index = _to_arrow(values)
    encoded = pc.dictionary_encode(array)
    distinct = encoded.dictionary
    result = fn(distinct) if len(distinct) else pa.array([], type=pa.string())
    spread = result.take(encoded.indices)
    out = spread.to_pandas(types_mapper={pa.string(): pd.StringDtype()}.get)
    return pd.Series(out.array if isinstance(out, pd.Series) else out, index=index, dtype="string")


def _python_rows(array: pa.Array, mask: np.ndarray, fn: Callable[[str], str | None]) -> pa.Array:
    """``fn`` of each value where mask is set (the slow, exact path), in row order."""
    rows = np.flatnonzero(mask)
    values = array.take(pa.array(rows)).to_pylist() if len(rows) else []
    return pa.array([fn(v) for v in values], type=pa.string())


def _is_ascii(array: pa.Array) -> np.ndarray:
    return np.asarray(pc.string_is_ascii(array).fill_null(True), dtype=bool)


def _with_slow_rows(
    fast: pa.Array, slow_mask: np.ndarray, fn: Callable[[str], str | None], source: pa.Array
) -> pa.Array:
    """``fast``, except rows in slow_mask, which get ``fn`` of the source value."""
    if not slow_mask.any():
        return fast
    return pc.replace_with_mask(fast, pa.array(slow_mask), _python_rows(source, slow_mask, fn))


def normalize_email(values: Column) -> pd.Series:
    """Trimmed, case-folded emails; null when blank or not ``local@domain`` (exactly one @, no whitespace)."""

    def fold(distinct: pa.Array) -> pa.Array:
        ascii_rows = _is_ascii(distinct)
        trimmed = pc.ascii_lower(pc.replace_substring_regex(distinct, pattern=_ASCII_TRIM_RE, replacement=""))
        fast = pc.if_else(pc.match_substring_regex(trimmed, pattern=_ASCII_EMAIL_RE), trimmed, _NULL)
        return _with_slow_rows(fast, ~ascii_rows, _email_text, distinct)

    return _per_distinct(values, fold)


def _email_text(value: str) -> str | None:
    folded = value.strip().casefold()
    return folded if _EMAIL_RE.fullmatch(folded) else None


def normalize_name(values: Column) -> pd.Series:
    """Names for matching only: case-folded, accents folded (NFKD), whitespace collapsed; null when blank.

    "  Zoë  ÅNGSTRÖM " -> "zoe angstrom"; non-Latin names keep their letters ("李 小龍" -> "李 小龍").
    """

    def fold(distinct: pa.Array) -> pa.Array:
        ascii_rows = _is_ascii(distinct)
        collapsed = pc.replace_substring_regex(pc.ascii_lower(distinct), pattern=f"[{_ASCII_SPACE}]+", replacement=" ")
        trimmed = pc.utf8_trim(collapsed, characters=" ")
        fast = pc.if_else(pc.greater(pc.utf8_length(trimmed), 0), trimmed, _NULL)
        return _with_slow_rows(fast, ~ascii_rows, _name_text, distinct)

    return _per_distinct(values, fold)


def _name_text(value: str) -> str | None:
    decomposed = unicodedata.normalize("NFKD", value.casefold())
    folded = unicodedata.normalize("NFC", _ACCENTS_RE.sub("", decomposed))
    folded = _SPACES_RE.sub(" ", folded).strip()
    return folded or None


def normalize_phone(values: Column, default_region: str = "US") -> pd.Series:
    """E.164 phone numbers (``+13175557000``); null when blank, unparseable or not a valid number.

    Numbers without a country code are read in ``default_region``. Values that are plainly "+" and digits (spaces,
    brackets, dots and hyphens allowed), and for region US 10-digit numbers with an optional leading 1, are validated
    column-wise by replicating ``phonenumbers.is_valid_number`` with the library's own metadata (the tests hold the
    two to agreement on random samples); everything else is parsed by ``phonenumbers`` once per distinct value.
    """
    region = default_region.upper()

    def convert(distinct: pa.Array) -> pa.Array:
        digits, surely_invalid = _plus_digits(distinct, region)
        decided, e164 = _fast_e164(digits)
        decided |= surely_invalid
        return _with_slow_rows(e164, ~decided, lambda value: _parse_e164(value.strip(), region), distinct)

    return _per_distinct(values, convert)


def _parse_e164(value: str, region: str) -> str | None:
    """The slow, general path: phonenumbers.parse, is_valid_number, E.164 format."""
    try:
        number = phonenumbers.parse(value, region)
    except NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def _re2(array: pa.Array, pattern: str) -> np.ndarray:
    """Rows of a pyarrow string array that ``pattern`` matches (anchors included in the pattern)."""
    if len(array) == 0:
        return np.zeros(0, dtype=bool)
    return pc.match_substring_regex(array, pattern=pattern).to_numpy(zero_copy_only=False).astype(bool)


def _plus_digits(distinct: pa.Array, region: str) -> tuple[pa.Array, np.ndarray]:
    """(digits, surely_invalid). digits: each value as "+<digits>" when it is only that plus formatting (or, region
    US, a 10-digit national number with an optional leading 1, which phonenumbers reads as +1 and those digits), else
    null. surely_invalid: region US values of plain digits whose length no reading of phonenumbers can make a valid
    North American number (e.g. a digit short). Trimming is ASCII only (a subset of ``str.strip``), so anything
    unusual is left to the parser."""
    array = pc.ascii_trim_whitespace(distinct)
    short = pc.less_equal(pc.utf8_length(array), _PARSE_MAX_LENGTH)
    array = pc.if_else(short, array, _NULL)
    digits = pc.replace_substring_regex(array, pattern=_PUNCTUATION_RE, replacement="")
    out = pc.if_else(pa.array(_re2(digits, r"^\+[1-9][0-9]{3,18}$")), digits, _NULL)
    surely_invalid = np.zeros(len(distinct), dtype=bool)
    if region == "US":
        national = _re2(digits, r"^1?[2-9][0-9]{9}$")
        tail = pc.binary_join_element_wise("+1", pc.utf8_slice_codeunits(digits, -_NANP_DIGITS), "")
        out = pc.if_else(pa.array(national), tail, out)
        surely_invalid = _nanp_impossible(digits) & ~national
    return out, surely_invalid


def _nanp_impossible(digits: pa.Array) -> np.ndarray:
    """Plain digit strings (no "+", not the "011" international prefix) that phonenumbers, reading them in region US,
    can only turn into +1 numbers whose national number has a length no NANP region accepts. phonenumbers may strip
    a leading country code "1" and national prefix "1", so each leading 1 (up to three) also allows one digit less."""
    plain = _re2(digits, r"^[0-9]+$") & ~_re2(digits, r"^011")
    lengths = np.asarray(pc.utf8_length(digits).fill_null(0), dtype=np.int64)
    ones = np.zeros(len(lengths), dtype=np.int64)
    for count in (1, 2, 3):
        ones = np.where(_re2(digits, f"^1{{{count}}}"), count, ones)
    possible = np.zeros(len(lengths), dtype=bool)
    for length in _nanp_valid_lengths():
        for strip in range(4):
            possible |= (lengths - strip == length) & (ones >= strip)
    return plain & ~possible


@cache
def _nanp_valid_lengths() -> tuple[int, ...]:
    """National number lengths some NANP region can deem valid."""
    lengths: set[int] = set()
    for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[1]:
        for length in range(_MIN_NSN, _MAX_NSN + 1):
            if _type_rule(1, region, length) is not None:
                lengths.add(length)
    return tuple(sorted(lengths))


def _fast_e164(digits: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """(decided, e164) for "+<digits>" values: decided rows have their exact phonenumbers outcome in e164 (null when
    invalid); undecided rows (unknown country code, a national prefix phonenumbers might strip by rules this does not
    replicate, anything not "+<digits>") must go through the parser."""
    decided = np.zeros(len(digits), dtype=bool)
    valid = np.zeros(len(digits), dtype=bool)
    rewritten: list[tuple[np.ndarray, pa.Array]] = []  # rows whose national prefix phonenumbers strips
    present = np.flatnonzero(np.asarray(pc.is_valid(digits), dtype=bool))
    if len(present):
        body = pc.utf8_slice_codeunits(digits.take(pa.array(present)), 1)
        codes = _country_codes(body)
        for cc in np.unique(codes[codes > 0]).tolist():
            rows = np.flatnonzero(codes == cc)
            national = pc.utf8_slice_codeunits(body.take(pa.array(rows)), len(str(cc)))
            rule = _prefix_rule(cc)
            stripped = np.zeros(len(rows), dtype=bool)
            if isinstance(rule, str):
                keep = np.flatnonzero(~_re2(national, rule))
                rows, national = rows[keep], national.take(pa.array(keep))
                stripped = stripped[keep]
            elif rule is not None:
                national, stripped = _strip_national_prefix(national, rule)
            lengths = np.asarray(pc.utf8_length(national), dtype=np.int64)
            in_range = (lengths >= _MIN_NSN) & (lengths <= _MAX_NSN)  # else phonenumbers refuses it: invalid
            targets = present[rows]
            decided[targets] = True
            ok = np.zeros(len(rows), dtype=bool)
            sub = np.flatnonzero(in_range)
            ok[sub] = _valid_for_country(cc, national.take(pa.array(sub)), lengths[sub])
            valid[targets] = ok
            changed = np.flatnonzero(ok & stripped)
            if len(changed):
                e164 = pc.binary_join_element_wise(f"+{cc}", national.take(pa.array(changed)), "")
                rewritten.append((targets[changed], e164))
    # E.164 is "+", the country code and the national significant number: the cleaned digits unless a national
    # prefix was stripped.
    result = pc.if_else(pa.array(valid), digits, _NULL)
    if rewritten:
        where = np.zeros(len(digits), dtype=bool)
        order = np.concatenate([rows for rows, _ in rewritten])
        values = pa.concat_arrays([chunk for _, chunk in rewritten])
        where[order] = True
        values = values.take(pa.array(np.argsort(order, kind="stable")))
        result = pc.replace_with_mask(result, pa.array(where), values)
    return decided, result


def _country_codes(body: pa.Array) -> np.ndarray:
    """Country calling code of each digit string (the 1-3 digit prefix phonenumbers would take), 0 when none."""
    known = np.array(sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE), dtype=np.int64)
    codes = np.zeros(len(body), dtype=np.int64)
    for width in (3, 2, 1):  # codes are prefix-free, so whichever width is known is the one
        prefix = np.asarray(pc.cast(pc.utf8_slice_codeunits(body, 0, width), pa.int64()), dtype=np.int64)
        codes = np.where(np.isin(prefix, known), prefix, codes)
    return codes


@dataclass(frozen=True)
class _LiteralPrefix:
    """A national prefix made of digit literals (``0``, ``0|180020``), with what stripping it depends on."""

    alternatives: tuple[str, ...]
    general: str  # anchored general-description pattern
    possible_lengths: tuple[int, ...]
    local_lengths: tuple[int, ...]


@cache
def _prefix_rule(cc: int) -> _LiteralPrefix | str | None:
    """How phonenumbers treats a national prefix after this country code: None (no prefix), a literal prefix this
    module replicates, or an anchored RE2 pattern marking numbers to leave to the parser."""
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(cc, phonenumbers.region_code_for_country_code(cc))
    if metadata is None or not metadata.national_prefix_for_parsing:
        return None
    pattern = metadata.national_prefix_for_parsing
    general = metadata.general_desc
    if (
        re.fullmatch(r"[0-9]+(?:\|[0-9]+)*", pattern)
        and not metadata.national_prefix_transform_rule
        and general is not None
        and general.national_number_pattern
        and general.possible_length
    ):
        return _LiteralPrefix(
            alternatives=tuple(pattern.split("|")),
            general=f"^(?:{general.national_number_pattern})$",
            possible_lengths=tuple(general.possible_length),
            local_lengths=tuple(general.possible_length_local_only or ()),
        )
    return f"^(?:{pattern})"


def _strip_national_prefix(national: pa.Array, rule: _LiteralPrefix) -> tuple[pa.Array, np.ndarray]:
    """phonenumbers.parse's national prefix handling for a literal prefix (``_maybe_strip_national_prefix_carrier_code``
    then the possible-length test), column-wise: (the national significant numbers, which rows changed)."""
    chosen = np.full(len(national), -1, dtype=np.int64)
    for position, prefix in enumerate(rule.alternatives):  # re.match takes the first alternative that matches
        starts = np.asarray(pc.starts_with(national, pattern=prefix), dtype=bool)
        chosen = np.where((chosen < 0) & starts, position, chosen)
    cut = np.array([len(a) for a in rule.alternatives] + [0], dtype=np.int64)[chosen]  # index -1 -> 0
    rows = np.flatnonzero(chosen >= 0)
    if not len(rows):
        return national, np.zeros(len(national), dtype=bool)
    original = national.take(pa.array(rows))
    remainder = _slice_each(original, cut[rows])
    keep_original = _re2(original, rule.general) & ~_re2(remainder, rule.general)
    actual = np.asarray(pc.utf8_length(remainder), dtype=np.int64)
    possible, local = np.array(rule.possible_lengths), np.array(rule.local_lengths, dtype=np.int64)
    first, last = possible[0], possible[-1]
    length_ok = ~np.isin(actual, local) & (
        (actual == first) | ((first < actual) & ((last < actual) | np.isin(actual, possible[1:])))
    )
    strip = ~keep_original & length_ok
    changed = np.zeros(len(national), dtype=bool)
    changed[rows[strip]] = True
    if not strip.any():
        return national, changed
    replacement = remainder.filter(pa.array(strip))
    return pc.replace_with_mask(national, pa.array(changed), replacement), changed


def _slice_each(array: pa.Array, starts: np.ndarray) -> pa.Array:
    """Each string from its own start offset (offsets take only a few distinct values)."""
    pieces: list[tuple[np.ndarray, pa.Array]] = []
    for start in np.unique(starts).tolist():
        rows = np.flatnonzero(starts == start)
        pieces.append((rows, pc.utf8_slice_codeunits(array.take(pa.array(rows)), start)))
    order = np.concatenate([rows for rows, _ in pieces])
    values = pa.concat_arrays([chunk for _, chunk in pieces])
    return values.take(pa.array(np.argsort(order, kind="stable")))


_TYPE_DESCS: Final = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
    "mobile",
)


def _desc_pattern(desc: Any, length: int) -> str | None:
    """The pattern a national number of this length must fully match for ``_is_number_matching_desc``; None: never."""
    if desc is None or not desc.national_number_pattern:
        return None
    if desc.possible_length and length not in desc.possible_length:
        return None
    return desc.national_number_pattern


@cache
def _type_rule(cc: int, region: str, length: int) -> tuple[str, str] | None:
    """Anchored (general, any-type) patterns: a number of this length is valid in the region iff it matches both
    (``_number_type_helper(...) != UNKNOWN``); None when no number of this length can be valid there."""
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(cc, region)
    if metadata is None:
        return None
    general = _desc_pattern(metadata.general_desc, length)
    types = [p for p in (_desc_pattern(getattr(metadata, name), length) for name in _TYPE_DESCS) if p]
    if general is None or not types:
        return None
    return f"^(?:{general})$", "^(?:" + "|".join(f"(?:{p})" for p in types) + ")$"


@cache
def _leading_rule(cc: int, region: str) -> str | None:
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(cc, region)
    if metadata is None or metadata.leading_digits is None:
        return None
    return f"^(?:{metadata.leading_digits})"


def _type_ok(cc: int, region: str, national: pa.Array, lengths: np.ndarray) -> np.ndarray:
    ok = np.zeros(len(national), dtype=bool)
    for length in np.unique(lengths):
        rule = _type_rule(cc, region, int(length))
        if rule is None:
            continue
        rows = np.flatnonzero(lengths == length)
        subset = national.take(pa.array(rows))
        ok[rows] = _re2(subset, rule[0]) & _re2(subset, rule[1])
    return ok


def _valid_for_country(cc: int, national: pa.Array, lengths: np.ndarray) -> np.ndarray:
    """``phonenumbers.is_valid_number`` for numbers of one country code, given their national significant numbers:
    pick the region as ``region_code_for_number`` does, then test the number's type there."""
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[cc]
    if len(regions) == 1:
        return _type_ok(cc, regions[0], national, lengths)
    valid = np.zeros(len(national), dtype=bool)
    open_rows = np.arange(len(national))
    for region in regions:
        if not len(open_rows):
            break
        if PhoneMetadata.metadata_for_region(region, None) is None:
            continue
        subset, sub_lengths = national.take(pa.array(open_rows)), lengths[open_rows]
        leading = _leading_rule(cc, region)
        if leading is not None:
            chosen = _re2(subset, leading)
            valid[open_rows[chosen]] = _type_ok(cc, region, subset.filter(pa.array(chosen)), sub_lengths[chosen])
        else:
            chosen = _type_ok(cc, region, subset, sub_lengths)
            valid[open_rows[chosen]] = True
        open_rows = open_rows[~chosen]
    return valid


def tags_text(value: Any) -> str | None:
    """One value in canonical tag form: unique, trimmed, sorted, ";"-joined; None when there are no tags.

    Accepts a ";"-separated string or a list/tuple/array of strings (whose items may themselves hold ";").
    """
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    parts = (
        value.split(";")
        if isinstance(value, str)
        else [p for item in value if isinstance(item, str) for p in item.split(";")]
    )
    tags = sorted({part.strip() for part in parts} - {""})
    return ";".join(tags) if tags else None


def normalize_tags(values: pd.Series | Iterable[Any]) -> pd.Series:
    """Canonical tags for a column whose cells are ";"-separated strings, lists of strings, or missing."""
    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    if series.empty:
        return pd.Series([], index=series.index, dtype="string")
    objects = series.to_numpy(dtype=object)
    is_text = np.fromiter((isinstance(v, str) for v in objects), dtype=bool, count=len(objects))
    result = np.full(len(objects), None, dtype=object)
    if is_text.any():
        texts = _per_distinct(
            pd.Series(objects[is_text], dtype=object),
            lambda d: pa.array([tags_text(v) for v in d.to_pylist()], type=pa.string()),
        )
        result[is_text] = texts.to_numpy(dtype=object, na_value=None)
    rest = np.flatnonzero(~is_text)
    if len(rest):
        seen: dict[tuple[Any, ...], str | None] = {}  # lists repeat a lot ("vip", "gold"): fold each kind once
        folded: list[str | None] = []
        for value in objects[rest]:
            if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
                key = tuple(value)
                if key not in seen:
                    seen[key] = tags_text(key)
                folded.append(seen[key])
            else:
                folded.append(tags_text(value))
        result[rest] = folded
    return pd.Series(pd.array(result, dtype="string"), index=series.index)
