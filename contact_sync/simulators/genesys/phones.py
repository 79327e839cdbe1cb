"""Phone parsing as Genesys Cloud does it: set `e164`, rewrite `display` to international format, keep `userInput`.

The `phonenumbers` library decides what parses. North American numbers (the common case in seed data) take a fast
path that applies the library's own NANP metadata patterns directly (about ten times faster than `parse` +
`is_valid_number`, and checked against them in the tests); everything else goes through the library, cached by input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumberFormat

_NANP_REGIONS: tuple[str, ...] = tuple(phonenumbers.COUNTRY_CODE_TO_REGION_CODE[1])
_NANP_SHAPE = re.compile(r"\s*(?:\+?1[\s.\-]*)?\(?([2-9]\d{2})\)?[\s.\-]*(\d{3})[\s.\-]*(\d{4})\s*")
_TYPE_DESCS = (
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


@dataclass(frozen=True)
class ParsedPhone:
    """What the service stores for a phone string that parsed."""

    e164: str
    display: str
    region: str | None
    extension: str | None


def _typed_pattern(region: str) -> re.Pattern[str]:
    """Matches the national numbers of a valid type in one NANP region (general pattern and a type pattern)."""
    md = PhoneMetadata.metadata_for_region(region)
    general = md.general_desc.national_number_pattern
    types = [
        getattr(md, name).national_number_pattern
        for name in _TYPE_DESCS
        if getattr(md, name) is not None and getattr(md, name).national_number_pattern
    ]
    return re.compile(f"(?=(?:{general})$)(?:{'|'.join(f'(?:{t})' for t in types)})")


def _nanp_steps() -> list[tuple[str | None, re.Pattern[str]]]:
    """The library's region walk for +1 numbers, in its order: (region, typed pattern) for a region without leading
    digits, (None, one pattern with a named group per region) for a run of regions chosen by leading digits."""
    steps: list[tuple[str | None, re.Pattern[str]]] = []
    run: list[str] = []
    for region in _NANP_REGIONS:
        leading = PhoneMetadata.metadata_for_region(region).leading_digits
        if leading:
            run.append(f"(?P<{region}>{leading})")
            continue
        if run:
            steps.append((None, re.compile("|".join(run))))
            run = []
        steps.append((region, _typed_pattern(region)))
    if run:
        steps.append((None, re.compile("|".join(run))))
    return steps


_NANP_STEPS = _nanp_steps()
_NANP_TYPED = {region: _typed_pattern(region) for region in _NANP_REGIONS}


def nanp_region(national: str) -> str | None:
    """The region of a valid 10-digit NANP number, None when invalid (mirrors `phonenumbers.is_valid_number`)."""
    for region, pattern in _NANP_STEPS:
        if region is not None:
            if pattern.fullmatch(national):
                return region
            continue
        match = pattern.match(national)
        if match is not None:
            chosen = match.lastgroup
            return chosen if chosen and _NANP_TYPED[chosen].fullmatch(national) else None
    return None


_NANP_COUNTRIES = frozenset(_NANP_REGIONS)


def parse_phone(raw: str, default_country: str = "US") -> ParsedPhone | None:
    """Parse a phone string the way the service does; None when it does not parse to a valid number."""
    if default_country.upper() in _NANP_COUNTRIES or raw.lstrip().startswith("+1"):
        m = _NANP_SHAPE.fullmatch(raw)
        if m is not None:
            national = "".join(m.groups())
            region = nanp_region(national)
            if region is None:
                return None
            return ParsedPhone(f"+1{national}", f"+1 {national[:3]}-{national[3:6]}-{national[6:]}", region, None)
    return _parse_slow(raw, default_country.upper())


@lru_cache(maxsize=65536)
def _parse_slow(raw: str, default_country: str) -> ParsedPhone | None:
    try:
        number = phonenumbers.parse(raw, default_country)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return ParsedPhone(
        e164=phonenumbers.format_number(number, PhoneNumberFormat.E164),
        display=phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL),
        region=phonenumbers.region_code_for_number(number),
        extension=number.extension or None,
    )


def parse_phone_reference(raw: str, default_country: str = "US") -> ParsedPhone | None:
    """The same answer from the library alone (no fast path): what the tests compare `parse_phone` with."""
    return _parse_slow.__wrapped__(raw, default_country.upper())
