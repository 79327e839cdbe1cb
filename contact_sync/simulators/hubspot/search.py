"""The CRM search request (`POST /crm/v3/objects/{type}/search`) turned into SQL over the store's tables.

`filterGroups` are ORed, the filters of a group ANDed (at most 5 groups, 6 filters in a group, 18 in all). Operators:
EQ, NEQ, LT, LTE, GT, GTE, BETWEEN (`value`..`highValue`, inclusive), IN and NOT_IN (`values`), HAS_PROPERTY,
NOT_HAS_PROPERTY, CONTAINS_TOKEN and NOT_CONTAINS_TOKEN (`*` is a wildcard; without one, the value is matched
anywhere in the text: the simulator does not tokenize). Text comparisons ignore case; NEQ and NOT_IN also match
records without a value. Datetime values may be epoch milliseconds or ISO-8601. `hs_object_id`, `createdate`,
`lastmodifieddate`/`hs_lastmodifieddate` and `email` are indexed columns; other properties are read from the JSON.

One sort at most (`{propertyName, direction}` or the string form `"name"` / `"-name"`); ties, and searches without a
sort, are in id order. `query` looks for the text in the object's default searchable properties.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from contact_sync.simulators.hubspot.errors import ApiError, property_errors, unknown_property, validation_error
from contact_sync.simulators.hubspot.schema import ObjectType, Property, iso_ms, parse_timestamp

OPERATORS = (
    "EQ",
    "NEQ",
    "LT",
    "LTE",
    "GT",
    "GTE",
    "BETWEEN",
    "IN",
    "NOT_IN",
    "HAS_PROPERTY",
    "NOT_HAS_PROPERTY",
    "CONTAINS_TOKEN",
    "NOT_CONTAINS_TOKEN",
)
MAX_GROUPS, MAX_FILTERS_PER_GROUP, MAX_FILTERS = 5, 6, 18
_COMPARE = {"LT": "<", "LTE": "<=", "GT": ">", "GTE": ">="}


@dataclass(frozen=True)
class SearchPlan:
    where: str
    params: list[Any]
    order: str
    limit: int
    offset: int
    properties: list[str] | None  # None: the object's default read set


@dataclass(frozen=True)
class _Column:
    sql: str
    kind: str  # number | datetime | text | email


def _column(obj: ObjectType, registry: dict[str, Property], name: Any) -> _Column:
    if not isinstance(name, str) or not name:
        raise validation_error("propertyName is required in every filter and sort")
    if name == "hs_object_id":
        return _Column("id", "number")
    if name == "createdate":
        return _Column("created", "datetime")
    if name in obj.modified_props:
        return _Column("updated", "datetime")
    prop = registry.get(name)
    if prop is None:
        raise property_errors([unknown_property(name)])
    if name == "email":
        return _Column("email_key", "email")
    raw = f"json_extract(props, '$.{name}')"
    if prop.type == "number":
        return _Column(f"CAST({raw} AS REAL)", "number")
    if prop.type == "datetime":
        return _Column(raw, "datetime")
    return _Column(f"lower({raw})", "text")


def _value(column: _Column, raw: Any, name: str) -> Any:
    if raw is None or isinstance(raw, dict | list):
        raise validation_error(f"a value is required for the filter on {name}")
    if column.kind == "number":
        try:
            number = float(raw)
        except (TypeError, ValueError):
            raise validation_error(f"{raw!r} is not a valid number for {name}") from None
        return int(number) if column.sql == "id" and number.is_integer() else number
    if column.kind == "datetime":
        moment = parse_timestamp(raw)
        if moment is None:
            raise validation_error(f"{raw!r} is not a valid timestamp for {name} (epoch milliseconds or ISO-8601)")
        return iso_ms(moment)
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return str(raw).lower()


def _like(raw: Any) -> str:
    text = str(raw).lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return text.replace("*", "%") if "*" in text else f"%{text}%"


def _filter_sql(obj: ObjectType, registry: dict[str, Property], spec: Any) -> tuple[str, list[Any]]:
    if not isinstance(spec, dict):
        raise validation_error("every filter must be an object with propertyName and operator")
    name = spec.get("propertyName")
    operator = spec.get("operator", "EQ")
    if operator not in OPERATORS:
        raise validation_error(f"Unknown filter operator {operator!r}; expected one of {', '.join(OPERATORS)}")
    column = _column(obj, registry, name)
    col = column.sql
    if operator == "HAS_PROPERTY":
        return f"{col} IS NOT NULL", []
    if operator == "NOT_HAS_PROPERTY":
        return f"{col} IS NULL", []
    if operator in ("IN", "NOT_IN"):
        values = spec.get("values")
        if not isinstance(values, list) or not values:
            raise validation_error(f"{operator} on {name} needs a non-empty values list")
        converted = [_value(column, v, name) for v in values]
        marks = ",".join("?" * len(converted))
        if operator == "IN":
            return f"{col} IN ({marks})", converted
        return f"({col} IS NULL OR {col} NOT IN ({marks}))", converted
    if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        pattern = _like(spec.get("value", ""))
        text = f"lower({col})" if column.kind != "text" else col
        if operator == "CONTAINS_TOKEN":
            return f"{text} LIKE ? ESCAPE '\\'", [pattern]
        return f"({col} IS NULL OR {text} NOT LIKE ? ESCAPE '\\')", [pattern]
    value = _value(column, spec.get("value"), name)
    if operator == "EQ":
        return f"{col} = ?", [value]
    if operator == "NEQ":
        return f"({col} IS NULL OR {col} != ?)", [value]
    if operator == "BETWEEN":
        high = _value(column, spec.get("highValue"), name)
        return f"{col} BETWEEN ? AND ?", [value, high]
    return f"{col} {_COMPARE[operator]} ?", [value]


def _sort_sql(obj: ObjectType, registry: dict[str, Property], sorts: Any) -> str:
    if not sorts:
        return "id ASC"
    if not isinstance(sorts, list):
        raise validation_error("sorts must be a list")
    if len(sorts) > 1:
        raise validation_error("Only one sort is supported per search request")
    spec = sorts[0]
    if isinstance(spec, str):
        name, direction = (spec[1:], "DESCENDING") if spec.startswith("-") else (spec, "ASCENDING")
    elif isinstance(spec, dict):
        name, direction = spec.get("propertyName"), spec.get("direction", "ASCENDING")
    else:
        raise validation_error("a sort is {propertyName, direction} or a property name")
    if direction not in ("ASCENDING", "DESCENDING"):
        raise validation_error(f"sort direction must be ASCENDING or DESCENDING, not {direction!r}")
    sql = "ASC" if direction == "ASCENDING" else "DESC"
    column = _column(obj, registry, name)
    return f"{column.sql} {sql}, id ASC" if column.sql != "id" else f"id {sql}"


def plan_search(
    obj: ObjectType,
    registry: dict[str, Property],
    body: Any,
    *,
    now: datetime,
    lag_s: float,
    cap: int,
    page_max: int,
) -> SearchPlan:
    """Validate a search request and compile it; a 400 `ApiError` for anything HubSpot would refuse."""
    if not isinstance(body, dict):
        raise validation_error("Invalid input JSON: the search request must be an object")
    groups = body.get("filterGroups") or []
    if not isinstance(groups, list):
        raise validation_error("filterGroups must be a list")
    if len(groups) > MAX_GROUPS:
        raise validation_error(f"Too many filter groups: {len(groups)} (at most {MAX_GROUPS})")
    total_filters = 0
    ors: list[str] = []
    params: list[Any] = []
    for group in groups:
        filters = group.get("filters") if isinstance(group, dict) else None
        if not isinstance(filters, list):
            raise validation_error("every filter group needs a filters list")
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise validation_error(f"Too many filters in a group: {len(filters)} (at most {MAX_FILTERS_PER_GROUP})")
        total_filters += len(filters)
        ands = []
        for spec in filters:
            sql, values = _filter_sql(obj, registry, spec)
            ands.append(sql)
            params.extend(values)
        if ands:
            ors.append("(" + " AND ".join(ands) + ")")
    if total_filters > MAX_FILTERS:
        raise validation_error(f"Too many filters: {total_filters} (at most {MAX_FILTERS} in all)")
    clauses = ["(" + " OR ".join(ors) + ")"] if ors else []
    query = body.get("query")
    if isinstance(query, str) and query.strip():
        pattern = _like(query.strip())
        terms = []
        for name in obj.searchable:
            if name in registry:
                col = "email_key" if name == "email" else f"lower(json_extract(props, '$.{name}'))"
                terms.append(f"{col} LIKE ? ESCAPE '\\'")
                params.append(pattern)
        clauses.append("(" + " OR ".join(terms) + ")")
    if lag_s > 0:
        clauses.append("updated <= ?")
        params.append(iso_ms(now - timedelta(seconds=lag_s)))
    limit = _int(body.get("limit", 10), "limit")
    if not 1 <= limit <= page_max:
        raise validation_error(f"limit must be between 1 and {page_max}, not {limit}")
    after = body.get("after")
    offset = 0 if after in (None, "") else _int(after, "after")
    if offset < 0:
        raise validation_error("after must not be negative")
    if offset >= cap:
        raise ApiError(
            400,
            "VALIDATION_ERROR",
            f"Searching past the first {cap} results is not supported (after={offset}): narrow the search with "
            "filters instead of paging further.",
        )
    properties = body.get("properties")
    names = [p for p in properties if isinstance(p, str)] if isinstance(properties, list) and properties else None
    return SearchPlan(
        where=" AND ".join(clauses) or "1",
        params=params,
        order=_sort_sql(obj, registry, body.get("sorts")),
        limit=min(limit, cap - offset),
        offset=offset,
        properties=names,
    )


def _int(raw: Any, name: str) -> int:
    if isinstance(raw, bool):
        raise validation_error(f"{name} must be a number")
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise validation_error(f"{name} must be a number, not {raw!r}") from None
