"""What the HubSpot simulator does, apart from HTTP: CRM objects (contacts, companies) with their rules, batch and
search semantics, merges and associations.

The HTTP routes (`app.py`) and the test helpers (`HubSpotSimulator`) both call this; every API failure is an
`ApiError` in HubSpot's shape. Choices where HubSpot's behaviour is not documented are named where they are made and
listed in the package docstring.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from contact_sync.simulators.hubspot.errors import (
    ApiError,
    batch_error,
    conflict,
    not_found,
    validation_error,
)
from contact_sync.simulators.hubspot.schema import (
    COLUMN_PROPERTIES,
    NAME_RE,
    OBJECTS,
    PROPERTY_TYPES,
    ObjectType,
    Property,
    clean_properties,
    iso_ms,
    parse_timestamp,
)
from contact_sync.simulators.hubspot.search import plan_search
from contact_sync.simulators.hubspot.store import ARCHIVED, LIVE, MERGED, Record, Store

V4_BATCH_MAX = 2000
Result = tuple[int, Any]


def parse_id(raw: Any) -> int | None:
    """A record id as HubSpot writes them (a string of digits; numbers are accepted too)."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw if raw > 0 else None
    if isinstance(raw, str) and raw.strip().isdigit():
        value = int(raw.strip())
        return value if 0 < value < 2**63 else None
    return None


class Service:
    """Business rules of the CRM objects API over a `Store`."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], datetime],
        search_result_cap: int,
        search_lag_s: float,
        batch_max: int,
        page_max: int,
        merge_new_id: bool,
        lowercase_emails: bool,
        custom_properties: dict[str, list[str | dict[str, Any]]] | None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.search_result_cap = search_result_cap
        self.search_lag_s = search_lag_s
        self.batch_max = batch_max
        self.page_max = page_max
        self.merge_new_id = merge_new_id
        self.lowercase_emails = lowercase_emails
        self.custom_properties = custom_properties or {}
        self.registry: dict[str, dict[str, Property]] = {}
        self.seed_properties()

    # --- property registry ---------------------------------------------------------------------------------------

    def seed_properties(self) -> None:
        """Define the default properties and the constructor's custom ones (kept ones are left as they are)."""
        for obj in OBJECTS.values():
            self.store.put_properties(obj, obj.defaults)
        for obj_name, specs in self.custom_properties.items():
            obj = OBJECTS.get(obj_name)
            if obj is None:
                raise ValueError(f"custom_properties: unknown object type {obj_name!r}")
            self.store.put_properties(obj, [_property_spec(spec) for spec in specs])
        self.registry = self.store.properties()

    def add_property(self, obj_name: str, name: str, type: str = "string", unique: bool = False) -> Property:
        """Define a custom property (as the properties API would); redefining one replaces its definition."""
        obj = _object(obj_name)
        prop = _property_spec({"name": name, "type": type, "unique": unique})
        if name in self.registry[obj.name] and not self.registry[obj.name][name].custom:
            raise ValueError(f"{name} is a HubSpot-defined {obj.singular} property")
        self.store.put_properties(obj, [prop], replace=True)
        self.registry = self.store.properties()
        return prop

    def clean(self, obj: ObjectType, properties: Any) -> dict[str, str | None]:
        return clean_properties(obj, self.registry[obj.name], properties, lowercase_emails=self.lowercase_emails)

    # --- rendering -----------------------------------------------------------------------------------------------

    def values(self, obj: ObjectType, rec: Record) -> dict[str, str]:
        """Every property value of a record, the computed ones included."""
        values = dict(rec.props)
        values["hs_object_id"] = str(rec.id)
        values["createdate"] = rec.created
        for name in obj.modified_props:
            values[name] = rec.updated
        return values

    def render(
        self,
        obj: ObjectType,
        rec: Record,
        properties: list[str] | None = None,
        *,
        full: bool = False,
        associated: dict[int, list[int]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A record as the API returns it (SimplePublicObject): only the requested properties (those that exist, a
        requested one without a value as null) plus the ones HubSpot always adds, or its default set when none are
        requested; every property with a value when `full`."""
        values = self.values(obj, rec)
        if full:
            props: dict[str, Any] = dict(sorted(values.items()))
        else:
            names = obj.default_read if properties is None else [*properties, *obj.always_read]
            registry = self.registry[obj.name]
            props = {name: values.get(name) for name in sorted(set(names)) if name in registry}
        out: dict[str, Any] = {
            "id": str(rec.id),
            "properties": props,
            "createdAt": rec.created,
            "updatedAt": rec.updated,
            "archived": rec.state == ARCHIVED,
        }
        if rec.state == ARCHIVED:
            out["archivedAt"] = rec.archived_at
        if associated is not None and associated.get(rec.id):
            out["associations"] = {
                obj.other: {"results": [{"id": str(oid), "type": obj.assoc_type} for oid in associated[rec.id]]}
            }
        if extra:
            out.update(extra)
        return out

    # --- lookups -------------------------------------------------------------------------------------------------

    def _id_property(self, obj: ObjectType, id_property: str | None) -> str | None:
        """None for lookups by record id; else the unique property named, or a 400."""
        if id_property in (None, "", "hs_object_id"):
            return None
        prop = self.registry[obj.name].get(id_property)
        if prop is None or not prop.unique:
            raise validation_error(
                f"{id_property} is not a unique property of {obj.name}: only unique properties can be an idProperty"
            )
        return id_property

    def _lookup(
        self, db: Any, obj: ObjectType, keys: Iterable[Any], id_property: str | None, archived: bool = False
    ) -> dict[Any, Record]:
        """Key -> the record it names (merged ids resolve to the merged record); live ones, or archived ones."""
        keys = list(keys)
        want = ARCHIVED if archived else LIVE
        prop = self._id_property(obj, id_property)
        found: dict[Any, Record] = {}
        if prop is None:
            ids = {key: parse_id(key) for key in keys}
            records = self.store.resolve(db, obj, [i for i in ids.values() if i is not None])
            for key, rid in ids.items():
                rec = records.get(rid) if rid is not None else None
                if rec is not None and rec.state == want:
                    found[key] = rec
            return found
        if archived:
            return found  # archived records are looked up by id only
        texts = {key: str(key) for key in keys}
        if prop == "email":
            by = self.store.by_email(db, [t.lower() for t in texts.values()])
            ids = {key: by.get(text.lower()) for key, text in texts.items()}
        else:
            by = self.store.by_unique(db, obj, prop, texts.values())
            ids = {key: by.get(text) for key, text in texts.items()}
        records = self.store.get(db, obj, [i for i in ids.values() if i is not None])
        for key, rid in ids.items():
            rec = records.get(rid) if rid is not None else None
            if rec is not None and rec.state == LIVE:
                found[key] = rec
        return found

    def _check_unique(self, db: Any, obj: ObjectType, writes: list[tuple[int | None, dict[str, str | None]]]) -> None:
        """409 when a write gives a unique property (email, unique custom ones) a value that another live record, or
        another write of the same call, has (`None` as a write's record id: a record to create)."""
        for prop in self.registry[obj.name].values():
            if not prop.unique or prop.read_only:
                continue
            wanted = [(rid, changes[prop.name]) for rid, changes in writes if changes.get(prop.name)]
            if not wanted:
                continue
            fold = str.lower if prop.name == "email" else str
            if prop.name == "email":
                existing = self.store.by_email(db, [fold(v) for _, v in wanted if v])
            else:
                existing = self.store.by_unique(db, obj, prop.name, [v for _, v in wanted if v])
            seen: dict[str, Any] = {}
            for n, (rid, value) in enumerate(wanted):
                assert value is not None
                key = fold(value)
                owner = existing.get(key)
                if owner is not None and owner != rid:
                    raise conflict(self._conflict_message(obj, prop.name, value, owner))
                writer = rid if rid is not None else ("new", n)
                if key in seen and seen[key] != writer:
                    raise conflict(f"Duplicate {prop.name} values found in batch input: [{value}]")
                seen[key] = writer

    @staticmethod
    def _conflict_message(obj: ObjectType, name: str, value: str, owner: int) -> str:
        if name == "email":
            return f"Contact already exists. Existing ID: {owner}"
        return f"A {obj.singular} with {name} {value} already exists. Existing ID: {owner}"

    def _associations_input(self, db: Any, obj: ObjectType, raw: Any) -> list[int]:
        """The ids of the other-type records a create's `associations` names (validated)."""
        if raw in (None, []):
            return []
        if not isinstance(raw, list):
            raise validation_error("associations must be a list")
        other = OBJECTS[obj.other]
        wanted: list[int] = []
        for item in raw:
            to = item.get("to") if isinstance(item, dict) else None
            rid = parse_id(to.get("id")) if isinstance(to, dict) else None
            types = item.get("types") if isinstance(item, dict) else None
            if rid is None or not isinstance(types, list) or not types:
                raise validation_error("every association needs to.id and a non-empty types list")
            for spec in types:
                type_id = spec.get("associationTypeId") if isinstance(spec, dict) else None
                category = spec.get("associationCategory") if isinstance(spec, dict) else None
                if category != "HUBSPOT_DEFINED" or type_id not in obj.assoc_type_ids:
                    raise validation_error(
                        f"Invalid association type {category}/{type_id} from {obj.singular} to {other.singular}: "
                        f"expected HUBSPOT_DEFINED with one of {sorted(obj.assoc_type_ids)}"
                    )
            wanted.append(rid)
        live = self.store.resolve(db, other, wanted)
        missing = [str(r) for r in wanted if r not in live or live[r].state != LIVE]
        if missing:
            raise validation_error(f"Cannot associate with {other.singular} ids that do not exist: {missing}")
        return [live[r].id for r in wanted]

    def _pairs(self, obj: ObjectType, rid: int, others: Iterable[int]) -> list[tuple[int, int]]:
        """(contact id, company id) pairs of a record of `obj` with other-type records."""
        return [(rid, o) if obj.name == "contacts" else (o, rid) for o in others]

    def _now(self) -> str:
        return iso_ms(self.clock())

    # --- single-record API -----------------------------------------------------------------------------------------

    def create(self, obj_name: str, body: Any) -> Result:
        obj = _object(obj_name)
        props = _body_properties(body, "SimplePublicObjectInputForCreate")
        changes = self.clean(obj, props)
        with self.store.transaction() as db:
            others = self._associations_input(db, obj, body.get("associations"))
            self._check_unique(db, obj, [(None, changes)])
            stamp = self.store.stamp(db, self.clock())
            rid = self.store.next_ids(db, obj, 1)[0]
            rec = Record(rid, _applied({}, changes), stamp, stamp)
            self.store.insert(db, obj, [rec])
            if others:
                self.store.associate(db, self._pairs(obj, rid, others))
                self.store.touch(db, OBJECTS[obj.other], others, stamp)
        return 201, self.render(obj, rec, full=True)

    def get(
        self,
        obj_name: str,
        raw_id: str,
        *,
        properties: list[str] | None,
        associations: list[str],
        archived: bool,
        id_property: str | None,
    ) -> Result:
        obj = _object(obj_name)
        with self.store.snapshot() as db:
            rec = self._lookup(db, obj, [raw_id], id_property, archived).get(raw_id)
            if rec is None:
                raise not_found()
            associated = self.store.associated(db, obj, [rec.id]) if obj.other in associations else None
        return 200, self.render(obj, rec, properties, associated=associated)

    def update(self, obj_name: str, raw_id: str, body: Any, id_property: str | None) -> Result:
        obj = _object(obj_name)
        changes = self.clean(obj, _body_properties(body, "SimplePublicObjectInput"))
        with self.store.transaction() as db:
            rec = self._lookup(db, obj, [raw_id], id_property).get(raw_id)
            if rec is None:
                raise not_found()
            self._check_unique(db, obj, [(rec.id, changes)])
            rec.props = _applied(rec.props, changes)
            rec.updated = self.store.stamp(db, self.clock())
            self.store.update(db, obj, [rec])
        return 200, self.render(obj, rec, full=True)

    def archive(self, obj_name: str, raw_ids: Iterable[Any]) -> None:
        """Archive (delete) these records; ids that do not exist (or are archived already) are ignored, as HubSpot
        answers 204 for them too."""
        obj = _object(obj_name)
        with self.store.transaction() as db:
            records = list({r.id: r for r in self._lookup(db, obj, raw_ids, None).values()}.values())
            if not records:
                return
            stamp = self.store.stamp(db, self.clock())
            for rec in records:
                rec.state, rec.archived_at, rec.updated = ARCHIVED, stamp, stamp
            self.store.update(db, obj, records)

    def list_page(
        self,
        obj_name: str,
        *,
        limit: int,
        after: str | None,
        properties: list[str] | None,
        associations: list[str],
        archived: bool,
        link: Callable[[str], str],
    ) -> Result:
        obj = _object(obj_name)
        if not 1 <= limit <= self.page_max:
            raise validation_error(f"limit must be between 1 and {self.page_max}, not {limit}")
        start = 0
        if after not in (None, ""):
            parsed = parse_id(after)
            if parsed is None:
                raise validation_error(f"Invalid after cursor: {after}")
            start = parsed
        records = self.store.page(obj, ARCHIVED if archived else LIVE, start, limit + 1)
        page = records[:limit]
        associated = None
        if obj.other in associations and page:
            with self.store.snapshot() as db:
                associated = self.store.associated(db, obj, [r.id for r in page])
        out: dict[str, Any] = {"results": [self.render(obj, r, properties, associated=associated) for r in page]}
        if len(records) > limit:
            cursor = str(records[limit].id)
            out["paging"] = {"next": {"after": cursor, "link": link(cursor)}}
        return 200, out

    # --- batch API -------------------------------------------------------------------------------------------------

    def _inputs(self, body: Any, model: str, limit: int | None = None) -> list[dict[str, Any]]:
        if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
            raise validation_error(
                f"Invalid input JSON: Cannot build {model}, some of required attributes are not set [inputs]"
            )
        inputs = body["inputs"]
        limit = limit or self.batch_max
        if len(inputs) > limit:
            raise validation_error(f"Batch input size of {len(inputs)} exceeds the maximum of {limit} inputs")
        if not all(isinstance(i, dict) for i in inputs):
            raise validation_error(f"Invalid input JSON: every input of {model} must be an object")
        return inputs

    def _batch(self, started: str, results: list[Any], errors: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if errors:
            out["numErrors"] = len(errors)
            out["errors"] = errors
        out["startedAt"] = started
        out["completedAt"] = self._now()
        return out

    def batch_read(self, obj_name: str, body: Any, archived: bool) -> Result:
        obj = _object(obj_name)
        started = self._now()
        inputs = self._inputs(body, "BatchReadInputSimplePublicObjectId")
        keys = [str(i.get("id", "")) for i in inputs]
        properties = body.get("properties")
        properties = [p for p in properties if isinstance(p, str)] if isinstance(properties, list) else None
        with self.store.snapshot() as db:
            found = self._lookup(db, obj, keys, body.get("idProperty"), archived)
        results, seen, missing = [], set(), []
        for key in keys:
            rec = found.get(key)
            if rec is None:
                missing.append(key)
            elif rec.id not in seen:
                seen.add(rec.id)
                results.append(self.render(obj, rec, properties or None))
        errors = []
        if missing:
            errors.append(
                batch_error(
                    "OBJECT_NOT_FOUND",
                    f"Could not get some {obj.label} objects, they may be deleted or not exist. "
                    "Check that ids are valid.",
                    {"ids": list(dict.fromkeys(missing))},
                )
            )
        return (207 if errors else 200), self._batch(started, results, errors)

    def batch_create(self, obj_name: str, body: Any) -> Result:
        """All or nothing, unless every input carries an `objectWriteTraceId`: then HubSpot's multi-status mode, where
        each failed input is reported (207) with its trace id and the others are created."""
        obj = _object(obj_name)
        started = self._now()
        inputs = self._inputs(body, "BatchInputSimplePublicObjectBatchInputForCreate")
        traced = bool(inputs) and all(isinstance(i.get("objectWriteTraceId"), str) for i in inputs)
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        with self.store.transaction() as db:
            accepted: list[tuple[dict[str, Any], dict[str, str | None], list[int]]] = []
            if not traced:  # one failure fails the batch: check the inputs' unique values together (one query each)
                writes = [
                    (None, self.clean(obj, _body_properties(i, "SimplePublicObjectInputForCreate"))) for i in inputs
                ]
                self._check_unique(db, obj, writes)
            for item in inputs:
                try:
                    changes = self.clean(obj, _body_properties(item, "SimplePublicObjectInputForCreate"))
                    others = self._associations_input(db, obj, item.get("associations"))
                    if traced:
                        self._check_unique(db, obj, [*((None, c) for _, c, _ in accepted), (None, changes)])
                except ApiError as err:
                    if not traced:
                        raise
                    errors.append(_traced_error(err, item["objectWriteTraceId"]))
                    continue
                accepted.append((item, changes, others))
            if not accepted:
                return (207 if errors else 201), self._batch(started, results, errors)
            stamp = self.store.stamp(db, self.clock())
            ids = self.store.next_ids(db, obj, len(accepted))
            records = [
                Record(rid, _applied({}, changes), stamp, stamp)
                for rid, (_, changes, _) in zip(ids, accepted, strict=True)
            ]
            self.store.insert(db, obj, records)
            pairs = [
                p for rid, (_, _, others) in zip(ids, accepted, strict=True) for p in self._pairs(obj, rid, others)
            ]
            if pairs:
                self.store.associate(db, pairs)
                touched = {p[1] if obj.name == "contacts" else p[0] for p in pairs}
                self.store.touch(db, OBJECTS[obj.other], touched, stamp)
        for rec, (item, _, _) in zip(records, accepted, strict=True):
            trace = item.get("objectWriteTraceId") if traced else None
            results.append(self.render(obj, rec, full=True, extra={"objectWriteTraceId": trace} if trace else None))
        return (207 if errors else 201), self._batch(started, results, errors)

    def batch_update(self, obj_name: str, body: Any) -> Result:
        """Inputs whose record does not exist are reported (207); invalid values or a taken unique value fail the
        whole batch (400 / 409)."""
        obj = _object(obj_name)
        started = self._now()
        inputs = self._inputs(body, "BatchInputSimplePublicObjectBatchInput")
        keys = [str(i.get("id", "")) for i in inputs]
        _no_duplicates(keys)
        changes = [self.clean(obj, _body_properties(i, "SimplePublicObjectBatchInput")) for i in inputs]
        with self.store.transaction() as db:
            found: dict[str, Record] = {}
            for prop in {i.get("idProperty") for i in inputs}:
                subset = [k for k, i in zip(keys, inputs, strict=True) if i.get("idProperty") == prop]
                found.update(self._lookup(db, obj, subset, prop))
            writes = [(found[k].id, c) for k, c in zip(keys, changes, strict=True) if k in found]
            self._check_unique(db, obj, writes)
            missing = [k for k in keys if k not in found]
            records: dict[int, Record] = {}
            if writes:
                stamp = self.store.stamp(db, self.clock())
                for key, change in zip(keys, changes, strict=True):
                    rec = found.get(key)
                    if rec is None:
                        continue
                    rec = records.setdefault(rec.id, rec)
                    rec.props = _applied(rec.props, change)
                    rec.updated = stamp
                self.store.update(db, obj, records.values())
        results = [self.render(obj, rec, full=True) for rec in records.values()]
        errors = []
        if missing:
            errors.append(
                batch_error(
                    "OBJECT_NOT_FOUND",
                    f"Could not get some {obj.label} objects, they may be deleted or not exist. "
                    "Check that ids are valid.",
                    {"ids": missing},
                )
            )
        return (207 if errors else 200), self._batch(started, results, errors)

    def batch_upsert(self, obj_name: str, body: Any) -> Result:
        """By a unique property (`idProperty`, e.g. email or genesys_id): update the record that has the value, or
        create one with it. Any invalid input fails the whole batch."""
        obj = _object(obj_name)
        started = self._now()
        inputs = self._inputs(body, "BatchInputSimplePublicObjectBatchInputUpsert")
        plans: list[tuple[str, str, dict[str, str | None]]] = []
        for item in inputs:
            prop = item.get("idProperty")
            if not prop or prop == "hs_object_id":
                raise validation_error("Upsert needs an idProperty: a unique property such as email")
            self._id_property(obj, prop)
            key = item.get("id")
            if not isinstance(key, str | int) or str(key) == "":
                raise validation_error("Every upsert input needs the id value of its idProperty")
            changes = self.clean(obj, _body_properties(item, "SimplePublicObjectBatchInputUpsert"))
            id_value = self.clean(obj, {prop: str(key)})[prop]
            assert id_value is not None
            plans.append((prop, id_value, changes))
        _no_duplicates([f"{p}\x1f{v.lower() if p == 'email' else v}" for p, v, _ in plans])
        with self.store.transaction() as db:
            found: dict[tuple[str, str], Record] = {}
            for prop in {p for p, _, _ in plans}:
                values = [v for p, v, _ in plans if p == prop]
                for value, rec in self._lookup(db, obj, values, prop).items():
                    found[(prop, value)] = rec
            writes = []
            for prop, value, changes in plans:
                rec = found.get((prop, value))
                writes.append((rec.id if rec else None, changes if rec else {prop: value, **changes}))
            self._check_unique(db, obj, writes)
            stamp = self.store.stamp(db, self.clock())
            new_ids = iter(self.store.next_ids(db, obj, sum(1 for rid, _ in writes if rid is None)))
            created: list[Record] = []
            updated: dict[int, Record] = {}
            order: list[tuple[Record, bool]] = []
            for (prop, value, _), (rid, changes) in zip(plans, writes, strict=True):
                if rid is None:
                    rec = Record(next(new_ids), _applied({}, changes), stamp, stamp)
                    created.append(rec)
                    order.append((rec, True))
                else:
                    rec = updated.setdefault(rid, found[(prop, value)])
                    rec.props = _applied(rec.props, changes)
                    rec.updated = stamp
                    order.append((rec, False))
            self.store.insert(db, obj, created)
            self.store.update(db, obj, updated.values())
        results = [self.render(obj, rec, full=True, extra={"new": new}) for rec, new in order]
        return 200, self._batch(started, results, [])

    def batch_archive(self, obj_name: str, body: Any) -> None:
        inputs = self._inputs(body, "BatchInputSimplePublicObjectId")
        self.archive(obj_name, [str(i.get("id", "")) for i in inputs])

    # --- search ----------------------------------------------------------------------------------------------------

    def search(self, obj_name: str, body: Any) -> Result:
        obj = _object(obj_name)
        plan = plan_search(
            obj,
            self.registry[obj.name],
            body,
            now=self.clock(),
            lag_s=self.search_lag_s,
            cap=self.search_result_cap,
            page_max=self.page_max,
        )
        total, records = self.store.search(obj, plan.where, plan.params, plan.order, plan.limit, plan.offset)
        out: dict[str, Any] = {"total": total, "results": [self.render(obj, r, plan.properties) for r in records]}
        following = plan.offset + len(records)
        if records and following < total:
            out["paging"] = {"next": {"after": str(following)}}
        return 200, out

    # --- merge -----------------------------------------------------------------------------------------------------

    def merge(self, obj_name: str, body: Any) -> Result:
        """Merge `objectIdToMerge` into `primaryObjectId`. As HubSpot does since its merge change for contacts and
        companies, the result is a new record with a new id (unless `merge_new_id` is off: then the primary keeps
        its id); the primary's values win, the other's fill the gaps, associations are combined, and both old ids
        (and the other's email) resolve to the result afterwards. `hs_merged_object_ids` lists the merged ids."""
        obj = _object(obj_name)
        if not isinstance(body, dict) or "primaryObjectId" not in body or "objectIdToMerge" not in body:
            raise validation_error(
                "Invalid input JSON: Cannot build PublicMergeInput, some of required attributes are not set "
                "[objectIdToMerge, primaryObjectId]"
            )
        primary_key, other_key = str(body["primaryObjectId"]), str(body["objectIdToMerge"])
        with self.store.transaction() as db:
            found = self._lookup(db, obj, [primary_key, other_key], None)
            for key in (primary_key, other_key):
                if key not in found:
                    raise not_found(f"{obj.singular} {key} does not exist")
            primary, other = found[primary_key], found[other_key]
            if primary.id == other.id:
                raise validation_error(f"Cannot merge a {obj.singular} with itself ({primary.id})")
            values = {**other.props, **primary.props}
            merged_ids = set()
            for rec in (primary, other):
                merged_ids.add(rec.id)
                merged_ids.update(int(i) for i in rec.props.get("hs_merged_object_ids", "").split(";") if i)
            if obj.name == "contacts":
                emails = [e for r in (primary, other) for e in r.props.get("hs_additional_emails", "").split(";") if e]
                if other.props.get("email"):
                    emails.append(other.props["email"])
                main = (values.get("email") or "").lower()
                extra = [e for e in dict.fromkeys(emails) if e.lower() != main]
                values.pop("hs_additional_emails", None)
                if extra:
                    values["hs_additional_emails"] = ";".join(extra)
            stamp = self.store.stamp(db, self.clock())
            if self.merge_new_id:
                result = Record(self.store.next_ids(db, obj, 1)[0], {}, primary.created, stamp)
                gone = [primary, other]
            else:
                result, gone = primary, [other]
                merged_ids.discard(primary.id)
            result.props = {**values, "hs_merged_object_ids": ";".join(str(i) for i in sorted(merged_ids))}
            result.updated = stamp
            for rec in gone:
                rec.state, rec.merged_into, rec.updated = MERGED, result.id, stamp
            if self.merge_new_id:
                self.store.insert(db, obj, [result])
                self.store.update(db, obj, gone)
            else:
                self.store.update(db, obj, [result, *gone])
            self.store.repoint_merged(db, obj, [r.id for r in gone], result.id)
            self.store.move_associations(db, obj, [primary.id, other.id], result.id)
        return 200, self.render(obj, result, full=True)

    # --- associations (v4) -------------------------------------------------------------------------------------------

    def _pair_objects(self, from_name: str, to_name: str) -> tuple[ObjectType, ObjectType]:
        obj, other = OBJECTS.get(from_name), OBJECTS.get(to_name)
        if obj is None or other is None or obj.other != other.name:
            raise validation_error(f"Associations from {from_name} to {to_name} are not supported by the simulator")
        return obj, other

    def _default_result(self, obj: ObjectType, rid: int, oid: int) -> list[dict[str, Any]]:
        spec = {"associationCategory": "HUBSPOT_DEFINED"}
        return [
            {
                "from": {"id": str(rid)},
                "to": {"id": str(oid)},
                "associationSpec": {**spec, "associationTypeId": obj.default_type_id},
            },
            {
                "from": {"id": str(oid)},
                "to": {"id": str(rid)},
                "associationSpec": {**spec, "associationTypeId": obj.reverse_type_id},
            },
        ]

    def associate_default(self, from_name: str, from_id: str, to_name: str, to_id: str) -> Result:
        obj, other = self._pair_objects(from_name, to_name)
        started = self._now()
        with self.store.transaction() as db:
            rec = self._lookup(db, obj, [from_id], None).get(from_id)
            target = self._lookup(db, other, [to_id], None).get(to_id)
            if rec is None or target is None:
                missing = from_id if rec is None else to_id
                raise not_found(f"No {(obj if rec is None else other).singular} with id {missing} exists")
            self._link(db, obj, [(rec.id, target.id)])
        return 200, self._batch(started, self._default_result(obj, rec.id, target.id), [])

    def batch_associate_default(self, from_name: str, to_name: str, body: Any) -> Result:
        """Associate pairs; pairs naming a record that does not exist are reported in `errors` of the 200 answer (the
        client's model of this endpoint has no 207)."""
        obj, other = self._pair_objects(from_name, to_name)
        started = self._now()
        inputs = self._inputs(body, "BatchInputPublicDefaultAssociationMultiPost", V4_BATCH_MAX)
        froms = [str((i.get("from") or {}).get("id", "")) for i in inputs]
        tos = [str((i.get("to") or {}).get("id", "")) for i in inputs]
        with self.store.transaction() as db:
            found_from = self._lookup(db, obj, froms, None)
            found_to = self._lookup(db, other, tos, None)
            pairs, missing = [], []
            for f, t in zip(froms, tos, strict=True):
                if f in found_from and t in found_to:
                    pairs.append((found_from[f].id, found_to[t].id))
                else:
                    missing.extend(k for k, ok in ((f, f in found_from), (t, t in found_to)) if not ok)
            self._link(db, obj, pairs)
        results = [r for rid, oid in dict.fromkeys(pairs) for r in self._default_result(obj, rid, oid)]
        errors = []
        if missing:
            errors.append(
                batch_error(
                    "OBJECT_NOT_FOUND",
                    "Could not associate some objects, they may be deleted or not exist. Check that ids are valid.",
                    {"ids": list(dict.fromkeys(missing))},
                )
            )
        return 200, self._batch(started, results, errors)

    def _link(self, db: Any, obj: ObjectType, pairs: list[tuple[int, int]], remove: bool = False) -> None:
        """Add (or remove) associations between records of `obj` and of its other type; both sides' last-modified
        dates move (HubSpot updates the association count properties)."""
        if not pairs:
            return
        rows = [(a, b) if obj.name == "contacts" else (b, a) for a, b in pairs]
        (self.store.dissociate if remove else self.store.associate)(db, rows)
        stamp = self.store.stamp(db, self.clock())
        self.store.touch(db, OBJECTS["contacts"], {c for c, _ in rows}, stamp)
        self.store.touch(db, OBJECTS["companies"], {c for _, c in rows}, stamp)

    def list_associations(self, from_name: str, from_id: str, to_name: str) -> Result:
        obj, _ = self._pair_objects(from_name, to_name)
        with self.store.snapshot() as db:
            rec = self._lookup(db, obj, [from_id], None).get(from_id)
            if rec is None:
                raise not_found()
            others = self.store.associated(db, obj, [rec.id]).get(rec.id, [])
        results = [
            {
                "toObjectId": oid,
                "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": obj.default_type_id, "label": None}],
            }
            for oid in others
        ]
        return 200, {"results": results}

    def remove_association(self, from_name: str, from_id: str, to_name: str, to_id: str) -> None:
        obj, other = self._pair_objects(from_name, to_name)
        with self.store.transaction() as db:
            rec = self._lookup(db, obj, [from_id], None).get(from_id)
            target = self._lookup(db, other, [to_id], None).get(to_id)
            if rec is not None and target is not None:
                self._link(db, obj, [(rec.id, target.id)], remove=True)

    # --- direct helpers (no HTTP, no limits) -------------------------------------------------------------------------

    def load(self, obj_name: str, rows: list[dict[str, Any]]) -> list[str]:
        """Insert records from property maps in one transaction, skipping the API's rules (uniqueness, value checks):
        only unknown property names are refused (ValueError). `createdate` and `lastmodifieddate` (or
        `hs_lastmodifieddate`) in a row set those dates; otherwise both are now."""
        obj = _object(obj_name)
        registry = self.registry[obj.name]
        with self.store.transaction() as db:
            stamp = self.store.stamp(db, self.clock())
            ids = self.store.next_ids(db, obj, len(rows))
            records = []
            latest = stamp
            for i, (rid, row) in enumerate(zip(ids, rows, strict=True)):
                props: dict[str, str] = {}
                created = updated = stamp
                for name, raw in row.items():
                    if name not in registry:
                        raise ValueError(f"{obj.singular} row {i}: unknown property {name!r}")
                    if raw is None or raw == "":
                        continue
                    if name == "hs_object_id":
                        continue
                    if name in COLUMN_PROPERTIES:
                        moment = parse_timestamp(raw)
                        if moment is None:
                            raise ValueError(f"{obj.singular} row {i}: {name} {raw!r} is not a timestamp")
                        if name == "createdate":
                            created = iso_ms(moment)
                        else:
                            updated = iso_ms(moment)
                        continue
                    text = raw if isinstance(raw, str) else _text(raw)
                    if name == "email" and self.lowercase_emails:
                        text = text.strip().lower()
                    props[name] = text
                latest = max(latest, updated)
                records.append(Record(rid, props, created, updated))
            self.store.insert(db, obj, records)
            self.store.note_stamp(db, latest)
        return [str(i) for i in ids]

    def records(self, obj_name: str, archived: bool = False) -> list[dict[str, Any]]:
        obj = _object(obj_name)
        return [self.render(obj, r, full=True) for r in self.store.all(obj, ARCHIVED if archived else LIVE)]

    def record(self, obj_name: str, raw_id: Any) -> dict[str, Any] | None:
        """The record an id names, live or archived (a merged id gives the merged record)."""
        obj = _object(obj_name)
        rid = parse_id(raw_id)
        if rid is None:
            return None
        with self.store.snapshot() as db:
            rec = self.store.resolve(db, obj, [rid]).get(rid)
        return self.render(obj, rec, full=True) if rec is not None else None

    def edit(self, obj_name: str, raw_id: Any, properties: dict[str, Any]) -> None:
        """A user's edit in the HubSpot UI: validated like an API write (ValueError), moves lastmodifieddate."""
        obj = _object(obj_name)
        try:
            self.update(obj.name, str(raw_id), {"properties": properties}, None)
        except ApiError as err:
            raise ValueError(f"{obj.singular} {raw_id}: {err.message}") from None

    def link(self, contact_id: Any, company_id: Any) -> None:
        with self.store.transaction() as db:
            contact = self._lookup(db, OBJECTS["contacts"], [str(contact_id)], None).get(str(contact_id))
            company = self._lookup(db, OBJECTS["companies"], [str(company_id)], None).get(str(company_id))
            if contact is None or company is None:
                raise ValueError(f"no live contact {contact_id} or company {company_id}")
            self._link(db, OBJECTS["contacts"], [(contact.id, company.id)])


def _object(name: str) -> ObjectType:
    obj = OBJECTS.get(name)
    if obj is None:
        raise not_found(f"Unable to infer object type from: {name}")
    return obj


def _property_spec(spec: str | dict[str, Any]) -> Property:
    if isinstance(spec, str):
        spec = {"name": spec}
    name = spec.get("name", "")
    ptype = spec.get("type", "string")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ValueError(f"invalid property name {name!r}: lower case letters, digits and _")
    if ptype not in PROPERTY_TYPES:
        raise ValueError(f"invalid property type {ptype!r}; expected one of {', '.join(PROPERTY_TYPES)}")
    unknown = set(spec) - {"name", "type", "unique"}
    if unknown:
        raise ValueError(f"unknown property option(s): {', '.join(sorted(unknown))}")
    return Property(name, ptype, unique=bool(spec.get("unique", False)), custom=True)


def _body_properties(body: Any, model: str) -> Any:
    if not isinstance(body, dict) or "properties" not in body:
        raise validation_error(
            f"Invalid input JSON: Cannot build {model}, some of required attributes are not set [properties]"
        )
    return body["properties"]


def _applied(props: dict[str, str], changes: dict[str, str | None]) -> dict[str, str]:
    out = dict(props)
    for name, value in changes.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out


def _text(raw: Any) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return str(raw)


def _no_duplicates(keys: list[str]) -> None:
    seen: set[str] = set()
    dupes = []
    for key in keys:
        if key in seen:
            dupes.append(key)
        seen.add(key)
    if dupes:
        shown = ", ".join(dict.fromkeys(k.split("\x1f")[-1] for k in dupes))
        raise validation_error(f"Duplicate IDs found in batch input: [{shown}]. IDs must be unique")


def _traced_error(err: ApiError, trace: str) -> dict[str, Any]:
    """A failed input of a multi-status batch create, as one `errors` entry naming its objectWriteTraceId."""
    details = err.extra.get("errors") or []
    return batch_error(err.category or "VALIDATION_ERROR", err.message, {"objectWriteTraceId": [trace]}, details)
