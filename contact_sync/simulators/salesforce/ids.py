"""Salesforce record ids: 15-character ids with the 3-character case-safe checksum that makes them 18 characters."""

from __future__ import annotations

import re
from functools import lru_cache

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_CHECKSUM_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID_RE = re.compile(r"^[a-zA-Z0-9]{15}(?:[A-Z0-5]{3})?$")
# The two "pod" characters and the reserved character every simulated id carries after its key prefix.
_POD = "5g0"


_UPPER_BITS = str.maketrans({c: "1" if "A" <= c <= "Z" else "0" for c in BASE62})


def checksum(id15: str) -> str:
    """The 3-character suffix of an 18-character id: one character per 5-character chunk, from its upper-case bits
    (bit i set when the chunk's i-th character is upper case)."""
    bits = id15.translate(_UPPER_BITS)
    return (
        _CHECKSUM_CHARS[int(bits[4::-1], 2)]
        + _CHECKSUM_CHARS[int(bits[9:4:-1], 2)]
        + _CHECKSUM_CHARS[int(bits[14:9:-1], 2)]
    )


def make_id(prefix: str, number: int) -> str:
    """The 18-character id of the `number`-th record of the object whose key prefix is `prefix` (e.g. 003)."""
    digits = ""
    for _ in range(9):
        number, r = divmod(number, 62)
        digits = BASE62[r] + digits
    id15 = prefix + _POD + digits
    return id15 + checksum(id15)


@lru_cache(maxsize=65536)
def _normalize(value: str) -> str | None:
    if not _ID_RE.match(value):
        return None
    if len(value) == 15:
        return value + checksum(value)
    if checksum(value[:15]) != value[15:]:
        return None
    return value


def normalize_id(value: object) -> str | None:
    """The 18-character form of a well-formed 15- or 18-character id, or None when `value` is not one."""
    if not isinstance(value, str) or len(value) not in (15, 18):
        return None
    return _normalize(value)


_TRIPLES: list[str] = []


def make_ids(prefix: str, start: int, n: int) -> list[str]:
    """`make_id(prefix, start + i)` for i in range(n), computed in bulk (large seed loads)."""
    if not _TRIPLES:
        _TRIPLES.extend(a + b + c for a in BASE62 for b in BASE62 for c in BASE62)
    triples = _TRIPLES
    size = len(triples)
    head = prefix + _POD
    out = []
    for number in range(start, start + n):
        id15 = head + triples[number // (size * size) % size] + triples[number // size % size] + triples[number % size]
        out.append(id15 + checksum(id15))
    return out
