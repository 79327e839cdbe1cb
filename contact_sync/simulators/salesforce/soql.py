"""A real subset of SOQL: parsed into a small syntax tree and translated to a parameterized SQLite query.

Supported: `SELECT f1, Parent.f2 | COUNT() FROM Contact|Account [WHERE cond] [ORDER BY f [ASC|DESC] [NULLS
FIRST|LAST], ...] [LIMIT n] [OFFSET n]`, where `cond` combines `=, !=, <>, <, <=, >, >=, LIKE, IN (...), NOT IN
(...)` comparisons with AND, OR, NOT and parentheses (mixing AND and OR without parentheses is an error, as in
SOQL). Literals: 'strings' (backslash escapes), numbers, true/false, null, and unquoted datetimes
(`2026-01-01T00:00:00Z`, `...+01:00`). A field may be one parent relationship away (`Account.Name` through
`AccountId`, `MasterRecord.LastName`) in SELECT, WHERE and ORDER BY; a record shows it nested under the relationship
(`"Account": {"attributes": ..., "Name": ...}`, or `null` without a parent), a Bulk CSV as the `Account.Name`
column. String comparisons are case-insensitive (the columns use NOCASE), `!=` also matches nulls, like SOQL. Errors
carry the real codes (MALFORMED_QUERY, INVALID_FIELD, INVALID_TYPE, INVALID_QUERY_FILTER_OPERATOR) and the real
message layout with the row and column of the offending token.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from contact_sync.simulators.salesforce.describe import relationship_name
from contact_sync.simulators.salesforce.errors import ApiError
from contact_sync.simulators.salesforce.ids import normalize_id
from contact_sync.simulators.salesforce.schema import Field, SObject, sobject
from contact_sync.simulators.salesforce.timefmt import format_sf, parse_sf

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2}(?![\dT]))
  | (?P<number>[+-]?\d+(?:\.\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),])
  """,
    re.VERBOSE,
)
_KEYWORDS = {
    "select", "from", "where", "and", "or", "not", "in", "like", "order", "by", "asc", "desc", "nulls", "first",
    "last", "limit", "offset", "null", "true", "false", "count",
}  # fmt: skip
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
_SOQL_TYPE = {"double": "double", "boolean": "boolean", "datetime": "dateTime", "id": "id", "reference": "id"}


@dataclass
class Token:
    kind: str  # string, datetime, date, number, ident, op, punct, eof
    text: str
    pos: int

    @property
    def word(self) -> str:
        return self.text.lower() if self.kind == "ident" else ""


@dataclass(frozen=True)
class Selected:
    """One selected field: its name as records show it (`Email`, `Account.Name`), the field, the SQL that reads it,
    and for a parent field the relationship and the parent object."""

    name: str
    field: Field
    sql: str
    relationship: str | None = None
    parent: SObject | None = None


@dataclass
class Compiled:
    """A query ready to run: the object, the selected fields, and SQL (without the query/queryAll deleted filter).

    The store's rows are (Id, the selected fields..., the parent Id of each relationship selected)."""

    obj: SObject
    selected: list[Selected]
    count_only: bool
    where_sql: str
    params: list[Any]
    order_sql: str
    limit: int | None
    offset: int | None
    soql: str = ""

    @property
    def fields(self) -> list[str]:
        return [s.name for s in self.selected]

    @functools.cached_property
    def relationships(self) -> dict[str, tuple[SObject, str]]:
        """Relationship -> (parent object, the SQL of the parent's Id), in the order first selected."""
        found: dict[str, tuple[SObject, str]] = {}
        for s in self.selected:
            if s.relationship and s.parent and s.relationship not in found:
                found[s.relationship] = (s.parent, _parent_sql(self.obj, s.relationship, s.parent, "Id"))
        return found

    @property
    def columns(self) -> list[str]:
        """The SQL of every column after Id: the selected fields, then each relationship's parent Id."""
        return [s.sql for s in self.selected] + [sql for _, sql in self.relationships.values()]

    def values(self, row: tuple[Any, ...]) -> list[Any]:
        """The selected fields' values of a row, as the API shows them (booleans as booleans)."""
        values = list(row[1 : 1 + len(self.selected)])
        return [
            bool(v) if s.field.type == "boolean" and v is not None else v
            for s, v in zip(self.selected, values, strict=True)
        ]

    def record(self, row: tuple[Any, ...], version: str) -> dict[str, Any]:
        """A row as a REST query record: attributes, fields, parent fields nested under their relationship."""
        prefix = f"/services/data/v{version}/sobjects/"
        record: dict[str, Any] = {"attributes": {"type": self.obj.name, "url": f"{prefix}{self.obj.name}/{row[0]}"}}
        parents = dict(zip(self.relationships, row[1 + len(self.selected) :], strict=True))
        for s, value in zip(self.selected, self.values(row), strict=True):
            if s.relationship is None or s.parent is None:
                record[s.name] = value
                continue
            parent_id = parents[s.relationship]
            if parent_id is None:
                record[s.relationship] = None
                continue
            nested = record.setdefault(
                s.relationship, {"attributes": {"type": s.parent.name, "url": f"{prefix}{s.parent.name}/{parent_id}"}}
            )
            nested[s.field.name] = value
        return record


def _parent_sql(obj: SObject, relationship: str, parent: SObject, field: str) -> str:
    reference = next(f for f in obj.fields if relationship_name(f) == relationship)
    return (
        f'(SELECT p."{field}" FROM {parent.table} p WHERE p."Id" = {obj.table}."{reference.name}" '
        'AND p."IsDeleted" = 0)'
    )


class _Parser:
    def __init__(self, soql: str) -> None:
        self.soql = soql
        self.tokens = self._tokenize(soql)
        self.i = 0
        self.obj: SObject | None = None
        self.params: list[Any] = []

    # -- errors -------------------------------------------------------------------------------------------------
    def error(self, code: str, message: str, tok: Token | None = None) -> ApiError:
        tok = tok or self.peek()
        before = self.soql[: tok.pos]
        row = before.count("\n") + 1
        col = tok.pos - (before.rfind("\n") + 1) + 1
        line = self.soql.splitlines()[row - 1] if self.soql.strip() else ""
        text = f"\n{line}\n{' ' * (col - 1)}^\nERROR at Row:{row}:Column:{col}\n{message}"
        return ApiError(400, code, text)

    def unexpected(self, tok: Token | None = None) -> ApiError:
        tok = tok or self.peek()
        shown = "<EOF>" if tok.kind == "eof" else tok.text
        return self.error("MALFORMED_QUERY", f"unexpected token: '{shown}'", tok)

    # -- tokens -------------------------------------------------------------------------------------------------
    def _tokenize(self, soql: str) -> list[Token]:
        tokens: list[Token] = []
        pos = 0
        while pos < len(soql):
            m = _TOKEN_RE.match(soql, pos)
            if not m:
                tok = Token("bad", soql[pos], pos)
                self.tokens = [*tokens, tok]
                raise ApiError(
                    400,
                    "MALFORMED_QUERY",
                    f"\n{soql.splitlines()[0] if soql else ''}\nERROR at Row:1:Column:{pos + 1}\n"
                    f"unexpected token: '{soql[pos]}'",
                )
            kind = m.lastgroup or "ws"
            if kind != "ws":
                tokens.append(Token(kind, m.group(), pos))
            pos = m.end()
        tokens.append(Token("eof", "", len(soql)))
        return tokens

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def next(self) -> Token:
        tok = self.peek()
        self.i += 1
        return tok

    def accept(self, word: str) -> bool:
        if self.peek().word == word:
            self.i += 1
            return True
        return False

    def expect(self, word: str) -> Token:
        tok = self.peek()
        if tok.word != word and tok.text != word:
            raise self.unexpected(tok)
        self.i += 1
        return tok

    # -- grammar ------------------------------------------------------------------------------------------------
    def parse(self) -> Compiled:
        self.expect("select")
        count_only = False
        field_toks: list[Token] = []
        if self.peek().word == "count" and self.peek(1).text == "(":
            self.i += 2
            self.expect(")")
            count_only = True
        else:
            while True:
                tok = self.next()
                if tok.kind != "ident" or tok.word in _KEYWORDS - {"first", "last", "count"}:
                    raise self.unexpected(tok)
                field_toks.append(tok)
                if self.peek().text != ",":
                    break
                self.i += 1
        self.expect("from")
        obj_tok = self.next()
        if obj_tok.kind != "ident":
            raise self.unexpected(obj_tok)
        obj = sobject(obj_tok.text)
        if obj is None:
            raise self.error(
                "INVALID_TYPE",
                f"sObject type '{obj_tok.text}' is not supported. If you are attempting to use a custom object, be "
                "sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for "
                "the appropriate names.",
                obj_tok,
            )
        self.obj = obj
        fields: list[Selected] = []
        for tok in field_toks:
            selected = self.resolve_selected(tok)
            if any(s.name.lower() == selected.name.lower() for s in fields):
                raise self.error("MALFORMED_QUERY", f"duplicate field selected: {selected.name}", tok)
            fields.append(selected)
        where_sql = ""
        if self.accept("where"):
            where_sql = self.condition()
        order_sql = ""
        if self.peek().word == "order":
            self.i += 1
            self.expect("by")
            order_sql = self.order_list()
        limit = offset = None
        if self.accept("limit"):
            limit = self.integer()
        if self.accept("offset"):
            offset = self.integer()
            if offset > 2000:
                raise self.error("NUMBER_OUTSIDE_VALID_RANGE", "Maximum SOQL offset allowed is 2000")
        if self.peek().kind != "eof":
            raise self.unexpected()
        return Compiled(obj, fields, count_only, where_sql, self.params, order_sql, limit, offset, self.soql)

    def integer(self) -> int:
        tok = self.next()
        if tok.kind != "number" or not tok.text.isdigit():
            raise self.unexpected(tok)
        if int(tok.text) > 2**31 - 1:
            raise self.error("NUMBER_OUTSIDE_VALID_RANGE", f"Invalid integer: {tok.text}", tok)
        return int(tok.text)

    def resolve(self, tok: Token) -> Field:
        return self.resolve_selected(tok).field

    def resolve_selected(self, tok: Token) -> Selected:
        """The field a token names, on the object or one parent relationship away, with the SQL that reads it."""
        assert self.obj is not None
        if "." in tok.text:
            return self.resolve_parent(tok)
        f = self.obj.field(tok.text)
        if f is None:
            message = (
                f"No such column '{tok.text}' on entity '{self.obj.name}'. If you are attempting to use a custom "
                "field, be sure to append the '__c' after the custom field name. Please reference your WSDL or "
                "the describe call for the appropriate names."
            )
            raise self.error("INVALID_FIELD", message, tok)
        return Selected(f.name, f, f'"{f.name}"')

    def resolve_parent(self, tok: Token) -> Selected:
        assert self.obj is not None
        relationship, _, rest = tok.text.partition(".")
        reference = next(
            (f for f in self.obj.fields if (relationship_name(f) or "").lower() == relationship.lower()), None
        )
        parent = sobject(reference.reference_to) if reference is not None else None
        if reference is None or parent is None or "." in rest:
            raise self.error("INVALID_FIELD", f"Didn't understand relationship '{relationship}' in field path.", tok)
        f = parent.field(rest)
        if f is None:
            raise self.error(
                "INVALID_FIELD",
                f"No such column '{rest}' on entity '{parent.name}'. If you are attempting to use a custom field, be "
                "sure to append the '__c' after the custom field name. Please reference your WSDL or the describe "
                "call for the appropriate names.",
                tok,
            )
        name = relationship_name(reference) or relationship
        sql = _parent_sql(self.obj, name, parent, f.name)
        if f.type in ("string", "email", "phone"):  # a subquery's value loses its column's NOCASE collation
            sql = f"({sql} COLLATE NOCASE)"
        return Selected(f"{name}.{f.name}", f, sql, name, parent)

    def condition(self) -> str:
        parts = [self.negation()]
        joiner = ""
        while self.peek().word in ("and", "or"):
            tok = self.next()
            if joiner and tok.word != joiner:
                raise self.unexpected(tok)
            joiner = tok.word
            parts.append(self.negation())
        if len(parts) == 1:
            return parts[0]
        return "(" + f" {joiner.upper()} ".join(parts) + ")"

    def negation(self) -> str:
        if self.accept("not"):
            # SOQL compares nulls as false, so a negated comparison on a null field is true: make it two-valued.
            return f"(NOT coalesce({self.negation()}, 0))"
        if self.peek().text == "(":
            self.i += 1
            inner = self.condition()
            self.expect(")")
            return inner
        return self.comparison()

    def comparison(self) -> str:
        tok = self.next()
        if tok.kind != "ident" or tok.word in _KEYWORDS:
            raise self.unexpected(tok)
        selected = self.resolve_selected(tok)
        f, col = selected.field, selected.sql
        nxt = self.peek()
        if nxt.word == "like":
            self.i += 1
            if f.type not in ("string", "email", "phone"):
                raise self.error("INVALID_QUERY_FILTER_OPERATOR", f"invalid operator on {_SOQL_TYPE[f.type]} field")
            lit = self.next()
            if lit.kind != "string":
                raise self.error("MALFORMED_QUERY", "LIKE operator only valid on string field", lit)
            self.params.append(_decode(lit.text[1:-1], like=True))
            return f"({col} LIKE ? ESCAPE '\\')"
        negate_in = False
        if nxt.word == "not" and self.peek(1).word == "in":
            self.i += 1
            negate_in = True
        if self.peek().word == "in":
            self.i += 1
            self.expect("(")
            values = [self.value(f)]
            while self.peek().text == ",":
                self.i += 1
                values.append(self.value(f))
            self.expect(")")
            present = [v for v in values if v is not None]
            marks = ", ".join("?" for _ in present)
            self.params.extend(present)
            has_null = len(present) != len(values)
            if negate_in:
                core = f"{col} NOT IN ({marks})" if present else "1"
                return (
                    f"(({col} IS NULL OR {core}) AND {col} IS NOT NULL)" if has_null else f"({col} IS NULL OR {core})"
                )
            core = f"{col} IN ({marks})" if present else "0"
            return f"({core} OR {col} IS NULL)" if has_null else f"({core})"
        op_tok = self.next()
        if op_tok.kind != "op":
            raise self.unexpected(op_tok)
        op = "!=" if op_tok.text == "<>" else op_tok.text
        value = self.value(f)
        if value is None:
            if op == "=":
                return f"({col} IS NULL)"
            if op == "!=":
                return f"({col} IS NOT NULL)"
            return "(0)"
        if f.type == "boolean" and op not in ("=", "!="):
            raise self.error("INVALID_QUERY_FILTER_OPERATOR", "invalid operator on boolean field", op_tok)
        self.params.append(value)
        if op == "!=":
            return f"({col} IS NULL OR {col} != ?)"
        return f"({col} {op} ?)"

    def value(self, f: Field) -> Any:
        tok = self.next()
        if tok.word == "null":
            return None
        kind = f.type
        if kind == "datetime":
            if tok.kind != "datetime":
                raise self.type_error(f, tok, quoted=False)
            parsed = parse_sf(tok.text)
            if parsed is None:
                raise self.error("MALFORMED_QUERY", f"invalid dateTime: {tok.text}", tok)
            return format_sf(parsed)
        if kind == "boolean":
            if tok.word not in ("true", "false"):
                raise self.type_error(f, tok, quoted=False)
            return 1 if tok.word == "true" else 0
        if kind == "double":
            if tok.kind != "number":
                raise self.type_error(f, tok, quoted=False)
            return float(tok.text)
        if tok.kind != "string":
            raise self.type_error(f, tok, quoted=True)
        text = _decode(tok.text[1:-1], like=False)
        if kind in ("id", "reference"):
            ref = normalize_id(text)
            if ref is None:
                raise self.error("INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {text}", tok)
            return ref
        return text

    def type_error(self, f: Field, tok: Token, *, quoted: bool) -> ApiError:
        if tok.kind in ("eof", "punct", "op"):
            return self.unexpected(tok)
        soql_type = _SOQL_TYPE.get(f.type, "string")
        how = "should be enclosed in quotes" if quoted else "should not be enclosed in quotes"
        return self.error(
            "INVALID_QUERY_FILTER_OPERATOR" if f.type in ("id", "reference") else "MALFORMED_QUERY",
            f"value of filter criterion for field '{f.name}' must be of type {soql_type} and {how}",
            tok,
        )

    def order_list(self) -> str:
        items = []
        while True:
            tok = self.next()
            if tok.kind != "ident" or tok.word in _KEYWORDS:
                raise self.unexpected(tok)
            selected = self.resolve_selected(tok)
            direction = "ASC"
            if self.accept("desc"):
                direction = "DESC"
            else:
                self.accept("asc")
            nulls = "FIRST" if direction == "ASC" else "LAST"
            if self.accept("nulls"):
                if self.accept("first"):
                    nulls = "FIRST"
                else:
                    self.expect("last")
                    nulls = "LAST"
            items.append(f"{selected.sql} {direction} NULLS {nulls}")
            if self.peek().text != ",":
                break
            self.i += 1
        return ", ".join(items)


def _decode(body: str, *, like: bool) -> str:
    """Undo SOQL backslash escapes; in LIKE patterns `\\%` and `\\_` stay escaped (SQLite uses ESCAPE '\\')."""
    out = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in "%_":
                out.append("\\" + nxt if like else nxt)
            elif nxt == "\\" and like:
                out.append("\\\\")
            else:
                out.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def compile_soql(soql: str) -> Compiled:
    """Parse and translate one SOQL statement; raises `ApiError` (400) with the real code and message."""
    if not soql or not soql.strip():
        raise ApiError(400, "MALFORMED_QUERY", "unexpected token: <EOF>")
    return _Parser(soql).parse()
