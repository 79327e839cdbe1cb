"""OData query options as the Dataverse Web API takes them, turned into SQL over the simulator's tables.

`$select`, `$filter` (eq/ne/gt/ge/lt/le, `and`/`or`/`not`, parentheses, `contains`/`startswith`/`endswith`, `null`,
string/number/guid/datetime literals), `$orderby`, `$top`, `$count`, `$skiptoken` and `$deltatoken`; `$skip` is refused
as the real service refuses it. String comparisons are case-insensitive (the real service's SQL collation). Also the
`Prefer` header and the datetime text the API reads and writes (`2026-01-01T00:00:00Z`).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import orjson

from contact_sync.simulators.dynamics.errors import ApiError, bad_query, unknown_property
from contact_sync.simulators.dynamics.schema import Column, Entity

GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DATETIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?$", re.IGNORECASE
)
SUPPORTED_OPTIONS = ("$select", "$filter", "$orderby", "$top", "$count", "$skiptoken", "$deltatoken")
NOT_SIMULATED_OPTIONS = ("fetchXml", "savedQuery", "userQuery", "$expand", "$apply")
EDM = {"guid": "Edm.Guid", "string": "Edm.String", "datetime": "Edm.DateTimeOffset", "int": "Edm.Int32"}


def is_number(text: str) -> bool:
    """Plain ASCII digits only (`str.isdigit` also accepts `²`, which `int` refuses)."""
    return text.isascii() and text.isdigit()


# --- datetimes ------------------------------------------------------------------------------------------------------


def stored_datetime(dt: datetime) -> str:
    """The sortable text a datetime is stored as: UTC, microseconds (`2026-01-01T00:00:00.000000Z`)."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def shown_datetime(stored: str | None) -> str | None:
    """What the API returns for a stored datetime: whole seconds, `Z` (`2026-01-01T00:00:00Z`)."""
    return None if stored is None else stored[:19] + "Z"


def parse_datetime(text: str) -> datetime | None:
    """An ISO-8601 datetime or date (UTC unless an offset is given); None when invalid."""
    m = _DATETIME_RE.match(text.strip())
    if not m:
        return None
    year, month, day, hour, minute, second, frac, zone = m.groups()
    try:
        micro = int((frac or "0")[:6].ljust(6, "0"))
        dt = datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), micro, tzinfo=UTC
        )
    except ValueError:
        return None
    if zone and zone.upper() != "Z":
        sign = 1 if zone[0] == "+" else -1
        dt -= sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    return dt


# --- the Prefer header ----------------------------------------------------------------------------------------------


@dataclass
class Preferences:
    max_page_size: int | None = None
    track_changes: bool = False
    return_representation: bool = False
    annotations: str | None = None
    continue_on_error: bool = False


def parse_prefer(headers: list[str]) -> Preferences:
    """Every `Prefer` header of a request; unknown or malformed preferences are ignored, as OData allows."""
    prefs = Preferences()
    for header in headers:
        for item in re.findall(r'(?:[^,"]|"[^"]*")+', header):
            name, _, value = item.strip().partition("=")
            name, value = name.strip().lower(), value.strip().strip('"')
            if name == "odata.maxpagesize" and is_number(value) and int(value) > 0:
                prefs.max_page_size = int(value)
            elif name == "odata.track-changes":
                prefs.track_changes = True
            elif name == "return" and value.lower() == "representation":
                prefs.return_representation = True
            elif name == "odata.continue-on-error":
                prefs.continue_on_error = True
            elif name == "odata.include-annotations":
                prefs.annotations = value
    return prefs


# --- $filter --------------------------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(
    r"""\s*(?:
      (?P<str>'(?:[^']|'')*')
     |(?P<dt>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)
     |(?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})
     |(?P<date>\d{4}-\d{2}-\d{2})
     |(?P<num>-?\d+(?:\.\d+)?)
     |(?P<name>[A-Za-z_][A-Za-z0-9_]*)
     |(?P<punct>[(),])
    )""",
    re.VERBOSE,
)
_OPS = {"eq": "=", "ne": "!=", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}
_OP_KIND = {
    "eq": "Equal",
    "ne": "NotEqual",
    "gt": "GreaterThan",
    "ge": "GreaterThanOrEqual",
    "lt": "LessThan",
    "le": "LessThanOrEqual",
}
_FUNCTIONS = {"contains": ("%", "%"), "startswith": ("", "%"), "endswith": ("%", "")}


@dataclass
class _Tok:
    kind: str
    text: str
    pos: int


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN_RE.match(text, pos)
        if not m or m.end() == pos:
            raise bad_query(f"Syntax error at position {pos} in '{text}'.")
        kind = m.lastgroup or ""
        tokens.append(_Tok(kind, m.group(kind), m.start(kind)))
        pos = m.end()
    return tokens


class _FilterParser:
    """Recursive descent over the tokens of one `$filter`, producing a SQL condition and its parameters."""

    def __init__(self, entity: Entity, text: str) -> None:
        self.entity = entity
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.params: list[Any] = []

    def parse(self) -> str:
        if not self.tokens:
            raise bad_query("The $filter query option is empty.")
        sql = self._or()
        if self.i < len(self.tokens):
            tok = self.tokens[self.i]
            raise bad_query(f"Syntax error at position {tok.pos} in '{self.text}'.")
        return sql

    def _peek(self) -> _Tok | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _take(self) -> _Tok:
        tok = self._peek()
        if tok is None:
            raise bad_query(f"Syntax error: unexpected end of '{self.text}'.")
        self.i += 1
        return tok

    def _keyword(self, word: str) -> bool:
        tok = self._peek()
        if tok is not None and tok.kind == "name" and tok.text == word:
            self.i += 1
            return True
        return False

    def _expect(self, text: str) -> None:
        tok = self._take()
        if tok.text != text:
            raise bad_query(f"Syntax error at position {tok.pos} in '{self.text}': expected '{text}'.")

    def _or(self) -> str:
        parts = [self._and()]
        while self._keyword("or"):
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"

    def _and(self) -> str:
        parts = [self._unary()]
        while self._keyword("and"):
            parts.append(self._unary())
        return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"

    def _unary(self) -> str:
        if self._keyword("not"):
            return f"NOT ({self._unary()})"
        tok = self._take()
        if tok.text == "(":
            inner = self._or()
            self._expect(")")
            return f"({inner})"
        if tok.kind != "name":
            raise bad_query(f"Syntax error at position {tok.pos} in '{self.text}'.")
        nxt = self._peek()
        if tok.text in _FUNCTIONS and nxt is not None and nxt.text == "(":
            return self._function(tok.text)
        column = self._column(tok.text)
        op_tok = self._take()
        if op_tok.kind != "name" or op_tok.text not in _OPS:
            raise bad_query(f"Syntax error at position {op_tok.pos} in '{self.text}': expected a comparison operator.")
        return self._comparison(column, op_tok.text, self._take())

    def _column(self, name: str) -> Column:
        column = self.entity.by_name.get(name)
        if column is None:
            raise unknown_property(self.entity.type_name, name)
        return column

    def _function(self, name: str) -> str:
        self._expect("(")
        column = self._column(self._take().text)
        self._expect(",")
        literal = self._take()
        self._expect(")")
        if column.type != "string" or literal.kind != "str":
            raise bad_query(f"The function '{name}' needs a string property and a string literal.")
        before, after = _FUNCTIONS[name]
        value = literal.text[1:-1].replace("''", "'")
        escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        self.params.append(f"{before}{escaped}{after}")
        return f"\"{column.name}\" LIKE ? ESCAPE '\\'"

    def _comparison(self, column: Column, op: str, literal: _Tok) -> str:
        col = f'"{column.name}"'
        if literal.kind == "name" and literal.text == "null":
            if op not in ("eq", "ne"):
                return "0"  # any ordering against null is false
            return f"{col} IS NULL" if op == "eq" else f"{col} IS NOT NULL"
        value = self._literal_value(column, op, literal)
        self.params.append(value)
        if op == "ne":
            return f"({col} IS NULL OR {col} != ?)"
        return f"{col} {_OPS[op]} ?"

    def _literal_value(self, column: Column, op: str, literal: _Tok) -> Any:
        kind = literal.kind
        if column.type == "string" and kind == "str":
            return literal.text[1:-1].replace("''", "'")
        if column.type == "datetime" and kind in ("dt", "date"):
            parsed = parse_datetime(literal.text)
            if parsed is None:
                raise bad_query(f"The datetime literal '{literal.text}' is not valid.")
            return stored_datetime(parsed)
        if column.type == "guid" and (kind == "guid" or (kind == "str" and GUID_RE.match(literal.text[1:-1]))):
            return literal.text.strip("'").lower()
        if column.type == "int" and kind == "num" and "." not in literal.text:
            return int(literal.text)
        found = {
            "str": "Edm.String",
            "dt": "Edm.DateTimeOffset",
            "date": "Edm.Date",
            "guid": "Edm.Guid",
            "num": "Edm.Int32",
        }.get(kind, "Edm.Untyped")
        raise bad_query(
            "A binary operator with incompatible types was detected. Found operand types "
            f"'{EDM[column.type]}' and '{found}' for operator kind '{_OP_KIND[op]}'."
        )


def filter_sql(entity: Entity, text: str) -> tuple[str, list[Any]]:
    """A `$filter` as a SQL condition over the entity's table, and its parameters."""
    parser = _FilterParser(entity, text)
    return parser.parse(), parser.params


# --- the whole query ------------------------------------------------------------------------------------------------


@dataclass
class Query:
    """The parsed query options of one request."""

    select: list[str] | None = None
    where: str = "1"
    params: list[Any] = field(default_factory=list)
    orderby: list[tuple[str, bool]] = field(default_factory=list)  # (column, descending)
    top: int | None = None
    count: bool = False
    skiptoken: str | None = None
    deltatoken: str | None = None
    raw: dict[str, str] = field(default_factory=dict)  # the options as sent, to rebuild next/delta links


def query_options(query_string: str, allowed: tuple[str, ...], not_simulated: tuple[str, ...] = ()) -> dict[str, str]:
    """The options of a query string by name, each at most once and each one of `allowed`; anything else is refused
    with the service's error (`not_simulated`: options the service runs and the simulator does not)."""
    found: dict[str, str] = {}
    for name, value in parse_qsl(query_string, keep_blank_values=True):
        if name in not_simulated:
            raise bad_query(f"The query parameter {name} is not supported by this simulator (the service runs it)")
        if name not in allowed:
            raise bad_query(f"The query parameter {name} is not supported")
        if name in found:
            raise bad_query(
                f"Query option '{name}' was specified more than once, but it must be specified at most once."
            )
        found[name] = value
    return found


def parse_query(entity: Entity, query_string: str) -> Query:
    """The system query options of a request; every other parameter (`?sql=`, `?foo=`), `$skip`, an unknown `$`
    option and a repeated one are refused, as the service refuses them: answering the whole table for a query the
    simulator did not understand would hide a client's bug. `fetchXml`, `savedQuery` and `userQuery`, which the
    service runs, are refused as not simulated."""
    raw = query_options(query_string, SUPPORTED_OPTIONS, NOT_SIMULATED_OPTIONS)
    query = Query(raw=raw, skiptoken=raw.get("$skiptoken"), deltatoken=raw.get("$deltatoken"))
    if "$select" in raw:
        query.select = parse_select(entity, raw["$select"])
    if "$filter" in raw:
        query.where, query.params = filter_sql(entity, raw["$filter"])
    if "$orderby" in raw:
        query.orderby = parse_orderby(entity, raw["$orderby"])
    if "$top" in raw:
        if not is_number(raw["$top"]) or int(raw["$top"]) > 2**31 - 1:
            raise bad_query(f"Invalid value '{raw['$top']}' for $top query option found.")
        query.top = int(raw["$top"])
    if "$count" in raw:
        if raw["$count"] not in ("true", "false"):
            raise bad_query(f"'{raw['$count']}' is not a valid count option.")
        query.count = raw["$count"] == "true"
    return query


def parse_select(entity: Entity, text: str) -> list[str]:
    names = [n.strip() for n in text.split(",")]
    if not all(names):
        raise bad_query(f"Syntax error in $select '{text}'.")
    for name in names:
        if name not in entity.by_name:
            raise unknown_property(entity.type_name, name)
    return list(dict.fromkeys(names))


def parse_orderby(entity: Entity, text: str) -> list[tuple[str, bool]]:
    order: list[tuple[str, bool]] = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1] not in ("asc", "desc")):
            raise bad_query(f"Syntax error in $orderby '{text}'.")
        if words[0] not in entity.by_name:
            raise unknown_property(entity.type_name, words[0])
        order.append((words[0], len(words) == 2 and words[1] == "desc"))
    return order


# --- paging cookies ($skiptoken) ------------------------------------------------------------------------------------


def encode_skiptoken(page: int, state: dict[str, Any]) -> str:
    """A `$skiptoken` shaped like the real paging cookie, carrying the simulator's keyset position."""
    cookie = base64.urlsafe_b64encode(orjson.dumps(state)).decode().rstrip("=")
    return f'<cookie pagenumber="{page}" pagingcookie="{cookie}" istracking="False" />'


_COOKIE_RE = re.compile(r'^<cookie pagenumber="(\d+)" pagingcookie="([A-Za-z0-9_-]*)" istracking="(?:True|False)" />$')


def decode_skiptoken(token: str) -> tuple[int, dict[str, Any]]:
    m = _COOKIE_RE.match(token.strip())
    if not m:
        raise bad_query("The $skiptoken query option is not valid.")
    try:
        padded = m.group(2) + "=" * (-len(m.group(2)) % 4)
        state = orjson.loads(base64.urlsafe_b64decode(padded))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise bad_query("The $skiptoken query option is not valid.") from None
    if not isinstance(state, dict):
        raise bad_query("The $skiptoken query option is not valid.")
    return int(m.group(1)), state


# --- change-tracking tokens ($deltatoken) ---------------------------------------------------------------------------


def encode_deltatoken(version: int, issued: datetime) -> str:
    """`<row version>!<MM/DD/YYYY HH:MM:SS>` (UTC), the shape the real service uses."""
    return f"{version}!{issued.astimezone(UTC).strftime('%m/%d/%Y %H:%M:%S')}"


def decode_deltatoken(token: str) -> tuple[int, datetime]:
    version, sep, stamp = token.partition("!")
    try:
        if not sep or not is_number(version):
            raise ValueError(token)
        issued = datetime.strptime(stamp, "%m/%d/%Y %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        raise ApiError(400, "0x80060888", f"The delta token '{token}' is not valid.") from None
    return int(version), issued
