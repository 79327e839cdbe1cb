"""A real subset of SOSL for `GET /search?q=`: `FIND {terms} [IN ALL|NAME|EMAIL|PHONE FIELDS] [RETURNING
Object[(fields [WHERE cond] [ORDER BY ...] [LIMIT n])], ...] [LIMIT n]`.

Every word of the terms must appear in one of the searched fields (case-insensitive; `*` stands for any characters
and `?` for one, at the end or inside a word; a "quoted phrase" is one term). Without RETURNING, Contact and Account
are searched and each match shows its Id, as the platform answers. The part inside `Object(...)` is SOQL, compiled by
the SOQL module, so its fields and conditions behave exactly as in a query. Errors are MALFORMED_SEARCH (and the SOQL
codes inside RETURNING), never a silent empty answer.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Final

from contact_sync.simulators.salesforce.errors import ApiError
from contact_sync.simulators.salesforce.schema import OBJECTS, SObject, sobject
from contact_sync.simulators.salesforce.soql import Compiled, compile_soql

MAX_RESULTS: Final = 2000
_SCOPES: Final = {"ALL": ("string", "email", "phone"), "EMAIL": ("email",), "PHONE": ("phone",)}  # field types
_NAME_FIELDS: Final = {"Contact": ("FirstName", "LastName", "Name"), "Account": ("Name",)}
_FIND = re.compile(r"^\s*FIND\s*\{((?:[^\\}]|\\.)*)\}\s*(.*)$", re.IGNORECASE | re.DOTALL)
_IN = re.compile(r"^IN\s+(ALL|NAME|EMAIL|PHONE)\s+FIELDS\b\s*(.*)$", re.IGNORECASE | re.DOTALL)
_RETURNING = re.compile(r"^RETURNING\s+(.*)$", re.IGNORECASE | re.DOTALL)
_LIMIT = re.compile(r"^(.*?)\s*\bLIMIT\s+(\d+)\s*$", re.IGNORECASE | re.DOTALL)


def malformed(message: str) -> ApiError:
    return ApiError(400, "MALFORMED_SEARCH", message)


@dataclasses.dataclass(frozen=True)
class Search:
    """A parsed search: the terms (SQL LIKE patterns), the field scope, one compiled query per object returned, and
    the overall limit."""

    patterns: list[str]
    scope: str
    returning: list[Compiled]
    limit: int


def _patterns(text: str) -> list[str]:
    text = re.sub(r"\\(.)", r"\1", text)
    terms = re.findall(r'"([^"]+)"|(\S+)', text)
    words = [phrase or word for phrase, word in terms if (phrase or word).upper() not in ("AND", "OR")]
    if not words:
        raise malformed("search term must be longer than one character")
    patterns = []
    for word in words:
        if len(word.replace("*", "").replace("?", "")) < 2:
            raise malformed(f"search term must be longer than one character: {word}")
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        patterns.append("%" + escaped.replace("*", "%").replace("?", "_") + "%")
    return patterns


def _split_objects(text: str) -> list[str]:
    parts, depth, current = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise malformed("unexpected token: ')'")
        if ch == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    if depth:
        raise malformed("unexpected token: <EOF>, expected ')'")
    parts.append("".join(current).strip())
    if any(not p for p in parts):
        raise malformed("unexpected token: ','")
    return parts


def _returning(spec: str) -> Compiled:
    m = re.fullmatch(r"(\w+)\s*(?:\((.*)\))?", spec, re.DOTALL)
    if m is None:
        raise malformed(f"unexpected token in RETURNING: {spec}")
    obj = sobject(m.group(1))
    if obj is None:
        raise ApiError(400, "INVALID_TYPE", f"sObject type '{m.group(1)}' is not supported.")
    inner = (m.group(2) or "").strip()
    clause = re.search(r"(?i)\b(WHERE|ORDER\s+BY|LIMIT)\b", inner)
    fields, rest = (inner[: clause.start()], inner[clause.start() :]) if clause else (inner, "")
    select = fields.strip() or "Id"
    return compile_soql(f"SELECT {select} FROM {obj.name} {rest}")


def parse_sosl(text: str | None) -> Search:
    if not text or not text.strip():
        raise malformed("A search string has to be specified")
    m = _FIND.match(text)
    if m is None:
        raise malformed("unexpected token: the search must start with FIND {...}")
    patterns = _patterns(m.group(1))
    rest = m.group(2).strip()
    limit = MAX_RESULTS
    tail = _LIMIT.match(rest)
    if tail and not re.search(r"\([^)]*$", tail.group(1)):  # a LIMIT after the last RETURNING object
        rest, limit = tail.group(1).strip(), min(int(tail.group(2)), MAX_RESULTS)
    scope = "ALL"
    if (in_clause := _IN.match(rest)) is not None:
        scope, rest = in_clause.group(1).upper(), in_clause.group(2).strip()
    returning: list[Compiled]
    if not rest:
        returning = [compile_soql(f"SELECT Id FROM {o.name}") for o in OBJECTS.values()]
    elif (ret := _RETURNING.match(rest)) is not None:
        returning = [_returning(spec) for spec in _split_objects(ret.group(1))]
    else:
        raise malformed(f"unexpected token: {rest.split()[0]}")
    return Search(patterns, scope, returning, limit)


def search_sql(obj: SObject, search: Search) -> tuple[str, list[str]]:
    """The WHERE SQL (and its parameters) that keeps the records of `obj` matching every term in the scope."""
    if search.scope == "NAME":
        columns = list(_NAME_FIELDS.get(obj.name, ("Name",)))
    else:
        kinds = _SCOPES[search.scope]
        columns = [f.name for f in obj.fields if f.type in kinds]
    if not columns:
        return "(0)", []
    clauses, params = [], []
    for pattern in search.patterns:
        clauses.append("(" + " OR ".join(f"\"{c}\" LIKE ? ESCAPE '\\'" for c in columns) + ")")
        params += [pattern] * len(columns)
    return "(" + " AND ".join(clauses) + ")", params


def with_search(compiled: Compiled, search: Search) -> Compiled:
    """The object's query restricted to the records matching the search."""
    where, params = search_sql(compiled.obj, search)
    if compiled.where_sql:
        where = f"({compiled.where_sql}) AND {where}"
    return dataclasses.replace(compiled, where_sql=where, params=[*compiled.params, *params])
