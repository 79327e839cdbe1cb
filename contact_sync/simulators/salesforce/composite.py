"""The Composite resources: `composite` (up to 25 subrequests, later ones referring to earlier results with
`@{referenceId.path}`, `allOrNone` in one transaction), `composite/batch` (up to 25 independent subrequests,
`haltOnError`) and `composite/tree/{sObject}` (a record tree of up to 200 records created all or nothing, children
under their parent's child relationship).

Subrequests are dispatched through the simulator's own routes with the outer request's session, so each behaves
exactly as it would on its own; the whole composite counts as one API call, as on the platform.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, Final

import orjson
from starlette.requests import Request
from starlette.responses import Response

from contact_sync.simulators.salesforce.describe import child_relationships
from contact_sync.simulators.salesforce.errors import ApiError
from contact_sync.simulators.salesforce.schema import SObject, sobject
from contact_sync.simulators.salesforce.store import Store

MAX_SUBREQUESTS: Final = 25
MAX_TREE_RECORDS: Final = 200
MAX_TREE_DEPTH: Final = 5
_REFERENCE = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])*)\}")
_METHODS: Final = ("GET", "POST", "PATCH", "PUT", "DELETE")
HALTED: Final = "PROCESSING_HALTED"
ROLLED_BACK: Final = "The transaction was rolled back since another operation in the same transaction failed."

Dispatch = Callable[[Request], Awaitable[Response]]


class _RollBack(Exception):
    pass


def subrequest(outer: Request, method: str, url: str, body: Any) -> Request:
    """A request for one subrequest: the outer request's host and session, a JSON body."""
    path, _, query = url.partition("?")
    headers = [(b"host", outer.headers.get("host", "localhost").encode())]
    if outer.headers.get("authorization"):
        headers.append((b"authorization", outer.headers["authorization"].encode()))
    raw = b"" if body is None else orjson.dumps(body)
    if body is not None:
        headers.append((b"content-type", b"application/json"))
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": headers,
        "scheme": outer.url.scheme,
        "server": (outer.url.hostname, outer.url.port),
        "root_path": "",
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": raw, "more_body": False}

    return Request(scope, receive)


def _answer(response: Response) -> tuple[int, Any, dict[str, str]]:
    raw = bytes(response.body)
    body = orjson.loads(raw) if raw.strip() else None
    headers = {k: v for k, v in response.headers.items() if k.lower() in ("location", "etag", "last-modified")}
    return response.status_code, body, headers


def _halted(message: str) -> list[dict[str, str]]:
    return [{"errorCode": HALTED, "message": message}]


def _lookup(value: Any, path: str) -> Any:
    for step in re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", path):
        name, index = step
        if name:
            if not isinstance(value, dict) or name not in value:
                raise KeyError(name)
            value = value[name]
        else:
            if not isinstance(value, list) or int(index) >= len(value):
                raise KeyError(index)
            value = value[int(index)]
    return value


def resolve(text: str, results: dict[str, Any], *, json_string: bool) -> str:
    """`text` with every `@{ref.path}` replaced by that value of an earlier subrequest's result; a `KeyError`
    naming the reference when there is none."""

    def replace(m: re.Match[str]) -> str:
        ref, path = m.group(1), m.group(2)
        if ref not in results:
            raise KeyError(m.group(0)[2:-1])
        try:
            value = _lookup(results[ref], path)
        except KeyError:
            raise KeyError(m.group(0)[2:-1]) from None
        text_value = value if isinstance(value, str) else orjson.dumps(value).decode()
        return orjson.dumps(text_value).decode()[1:-1] if json_string else text_value

    return _REFERENCE.sub(replace, text)


def _subrequests(body: Any, key: str) -> list[dict[str, Any]]:
    items = body.get(key) if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise ApiError(400, "INVALID_INPUT", f"{key} is required and must be a non-empty array")
    if len(items) > MAX_SUBREQUESTS:
        raise ApiError(400, "LIMIT_EXCEEDED", f"Exceeded max limit of subrequests allowed: {MAX_SUBREQUESTS}")
    for n, item in enumerate(items):
        if not isinstance(item, dict) or item.get("method") not in _METHODS or not isinstance(item.get("url"), str):
            raise ApiError(400, "INVALID_INPUT", f"{key}[{n}] needs a method ({', '.join(_METHODS)}) and a url")
    return items


class Composite:
    """The three composite resources over the app's dispatch (see the module docstring)."""

    def __init__(self, store: Store, dispatch: Dispatch) -> None:
        self.store = store
        self.dispatch = dispatch  # the app's routing, for a subrequest (not counted as an API call of its own)

    async def composite(self, request: Request, body: Any) -> dict[str, Any]:
        items = _subrequests(body, "compositeRequest")
        all_or_none = bool(body.get("allOrNone", False))
        refs = [item.get("referenceId") for item in items]
        if not all(isinstance(r, str) and re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", r) for r in refs):
            raise ApiError(400, "INVALID_INPUT", "Every subrequest needs a referenceId of letters, digits and _")
        if len(set(refs)) != len(refs):
            raise ApiError(400, "INVALID_INPUT", "Duplicate referenceId provided in the request")
        answers: list[dict[str, Any]] = []
        results: dict[str, Any] = {}
        try:
            with self.store.transaction():
                failed = await self._run(request, items, results, answers, all_or_none)
                if failed and all_or_none:
                    raise _RollBack
        except _RollBack:
            for answer in answers:
                if answer["httpStatusCode"] < 400:
                    answer.update(body=_halted(ROLLED_BACK), httpHeaders={}, httpStatusCode=400)
            for item in items[len(answers) :]:
                answers.append(
                    {"body": _halted(ROLLED_BACK), "httpHeaders": {}, "httpStatusCode": 400,
                     "referenceId": item["referenceId"]}
                )  # fmt: skip
        return {"compositeResponse": answers}

    async def _run(
        self,
        request: Request,
        items: list[dict[str, Any]],
        results: dict[str, Any],
        answers: list[dict[str, Any]],
        all_or_none: bool,
    ) -> bool:
        """Run the subrequests in order; whether one failed (with allOrNone the rest are not run)."""
        failed = False
        for item in items:
            ref = item["referenceId"]
            try:
                url = resolve(item["url"], results, json_string=False)
                sub_body = item.get("body")
                if sub_body is not None:
                    sub_body = orjson.loads(resolve(orjson.dumps(sub_body).decode(), results, json_string=True))
            except KeyError as missing:
                answers.append(
                    {"body": _halted(f"Invalid reference specified. No value for {missing.args[0]} found."),
                     "httpHeaders": {}, "httpStatusCode": 400, "referenceId": ref}
                )  # fmt: skip
                failed = True
                if all_or_none:
                    return True
                continue
            if not url.startswith("/services/data/v"):
                status, answer_body, headers = 400, _halted(f"The url must start with /services/data: {url}"), {}
            else:
                response = await self.dispatch(subrequest(request, item["method"], url, sub_body))
                status, answer_body, headers = _answer(response)
            answers.append({"body": answer_body, "httpHeaders": headers, "httpStatusCode": status, "referenceId": ref})
            if status < 400:
                results[ref] = answer_body
            else:
                failed = True
                if all_or_none:
                    return True
        return failed

    async def batch(self, request: Request, body: Any) -> dict[str, Any]:
        items = _subrequests(body, "batchRequests")
        halt = bool(body.get("haltOnError", False))
        results: list[dict[str, Any]] = []
        halted = False
        for item in items:
            if halted:
                halt_error = {"errorCode": "BATCH_PROCESSING_HALTED", "message": "Batch processing halted per request"}
                results.append({"statusCode": 412, "result": [halt_error]})
                continue
            url = item["url"] if item["url"].startswith("/") else f"/services/data/{item['url']}"
            response = await self.dispatch(subrequest(request, item["method"], url, item.get("richInput")))
            status, answer_body, _ = _answer(response)
            results.append({"statusCode": status, "result": answer_body})
            halted = halt and status >= 400
        return {"hasErrors": any(r["statusCode"] >= 400 for r in results), "results": results}

    def tree(self, obj: SObject, body: Any) -> tuple[int, dict[str, Any]]:
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list) or not records:
            raise ApiError(400, "INVALID_INPUT", "records is required and must be a non-empty array")
        flat: list[tuple[SObject, dict[str, Any], str, int | None, str | None]] = []  # obj, fields, ref, parent, field
        self._flatten(obj, records, None, None, 1, flat)
        if len(flat) > MAX_TREE_RECORDS:
            raise ApiError(400, "LIMIT_EXCEEDED", f"Exceeded max limit of {MAX_TREE_RECORDS} records in a tree")
        refs = [ref for _, _, ref, _, _ in flat]
        if len(set(refs)) != len(refs):
            raise ApiError(400, "INVALID_INPUT", "Duplicate ReferenceId provided in the request")
        ids: list[str | None] = []
        try:
            with self.store.transaction():
                for child_obj, fields, ref, parent, parent_field in flat:
                    if parent is not None and parent_field is not None:
                        fields = {**fields, parent_field: ids[parent]}
                    result = self.store.create(child_obj, [fields])[0]
                    if not result["success"]:  # its errors are already in the tree's shape
                        raise _TreeFailed(ref, result["errors"])
                    ids.append(result["id"])
        except _TreeFailed as failed:
            return 400, {"hasErrors": True, "results": [{"referenceId": failed.ref, "errors": failed.errors}]}
        return 201, {
            "hasErrors": False,
            "results": [{"referenceId": r, "id": i} for r, i in zip(refs, ids, strict=True)],
        }

    def _flatten(
        self,
        obj: SObject,
        records: list[Any],
        parent: int | None,
        parent_field: str | None,
        depth: int,
        flat: list[tuple[SObject, dict[str, Any], str, int | None, str | None]],
    ) -> None:
        if depth > MAX_TREE_DEPTH:
            raise ApiError(400, "INVALID_INPUT", f"A record tree can be at most {MAX_TREE_DEPTH} levels deep")
        children = {c["relationshipName"].lower(): c for c in child_relationships(obj)}
        for record in records:
            attributes = record.get("attributes") if isinstance(record, dict) else None
            if not isinstance(attributes, dict) or not isinstance(attributes.get("referenceId"), str):
                raise ApiError(400, "INVALID_INPUT", "Every record needs attributes {type, referenceId}")
            if sobject(attributes.get("type")) is not obj:
                raise ApiError(400, "INVALID_INPUT", f"Record {attributes['referenceId']} must be of type {obj.name}")
            fields: dict[str, Any] = {}
            nested: list[tuple[dict[str, Any], list[Any]]] = []
            for key, value in record.items():
                if key == "attributes":
                    continue
                relation = children.get(key.lower())
                if relation is not None:
                    if not isinstance(value, dict) or not isinstance(value.get("records"), list):
                        raise ApiError(400, "INVALID_INPUT", f"{key} must be {{records: [...]}}")
                    nested.append((relation, value["records"]))
                else:
                    fields[key] = value
            flat.append((obj, fields, attributes["referenceId"], parent, parent_field))
            index = len(flat) - 1
            for relation, child_records in nested:
                child_obj = sobject(relation["childSObject"])
                assert child_obj is not None
                self._flatten(child_obj, child_records, index, relation["field"], depth + 1, flat)


class _TreeFailed(Exception):
    def __init__(self, ref: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(ref)
        self.ref = ref
        self.errors = errors
