"""The HTTP face of the Dynamics simulator: the token endpoint and `/api/data/v9.2/{contacts,accounts,$batch}`.

Every Web API operation is a plain function of a `Call` (method, path, query, headers, body), so the same code
answers a request on its own and inside a `$batch`. The wrapper around each route counts the call, checks the Bearer
token, applies the service protection limit, and turns `ApiError` (and anything unexpected) into the Dataverse error
body, so no request ever gets a traceback. Responses carry `OData-Version: 4.0` and a `x-ms-service-request-id`.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, compile_path

from contact_sync.simulators.dynamics import errors
from contact_sync.simulators.dynamics.auth import OAuthError, TokenIssuer
from contact_sync.simulators.dynamics.batch import BatchError, BatchPart, parse_batch, render_batch, resolve_references
from contact_sync.simulators.dynamics.errors import ApiError, bad_payload, bad_query, new_request_id
from contact_sync.simulators.dynamics.identity import (
    INSTANCE_DISCOVERY_PATH,
    OPENID_PATH,
    instance_discovery,
    openid_configuration,
)
from contact_sync.simulators.dynamics.metadata import Metadata, csdl
from contact_sync.simulators.dynamics.odata import GUID_RE, parse_prefer, parse_query, parse_select
from contact_sync.simulators.dynamics.ratelimit import SlidingWindowLimiter
from contact_sync.simulators.dynamics.schema import ENTITIES, Entity
from contact_sync.simulators.dynamics.service import Service

log = logging.getLogger(__name__)

API = "/api/data/v9.2"
TOKEN_PATH = "/{tenant}/oauth2/v2.0/token"
BATCH_PATH = f"{API}/$batch"
JSON = "application/json; odata.metadata=minimal"
MAX_BATCH = 1000
# Fixed identities WhoAmI reports (the simulator has one user: the application user of the OAuth client).
_WHOAMI_IDS = {
    "BusinessUnitId": "5d5f0f0e-7a4b-4e55-9c3e-1c1a6d0a0b01",
    "UserId": "5d5f0f0e-7a4b-4e55-9c3e-1c1a6d0a0b02",
    "OrganizationId": "5d5f0f0e-7a4b-4e55-9c3e-1c1a6d0a0b03",
}


@dataclass
class Call:
    """One Web API operation, from an HTTP request or from a part of a `$batch`."""

    method: str
    path: str
    query: str
    headers: Headers
    body: bytes
    origin: str  # scheme://host:port the client used
    path_params: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        """The Web API root as the client reached it (`http://127.0.0.1:PORT/api/data/v9.2`)."""
        return f"{self.origin}{API}"


Handler = Callable[[Call], Response]


def _response(
    status: int, payload: Any = None, headers: dict[str, str] | None = None, *, request_id: str | None = None
) -> Response:
    body = b"" if payload is None else payload if isinstance(payload, bytes) else orjson.dumps(payload)
    response = Response(body, status_code=status, headers=headers)
    if payload is not None:
        response.headers["Content-Type"] = JSON
    response.headers["OData-Version"] = "4.0"
    response.headers["x-ms-service-request-id"] = request_id or new_request_id()
    return response


def _error(err: ApiError) -> Response:
    response = _response(err.status, err.body() if err.raw_body is None else None, err.headers)
    if err.raw_body is not None:
        response.headers["Content-Length"] = "0"
    return response


def json_body(call: Call, entity: Entity) -> Any:
    """The call's JSON body: 415 for another content type, 400 (`0x80048d19`) when empty or malformed."""
    content_type = call.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise ApiError(415, "", f"The content type '{content_type or 'none'}' is not supported; send application/json.")
    if not call.body.strip():
        raise bad_payload(entity.entity_set, "An unexpected end of input was found in the JSON payload.")
    try:
        return orjson.loads(call.body)
    except orjson.JSONDecodeError as exc:
        raise bad_payload(entity.entity_set, f"Invalid JSON. {exc}") from None


def record_id(call: Call, entity: Entity) -> str:
    raw = call.path_params["record_id"]
    if not GUID_RE.match(raw):
        raise bad_query(f"Unrecognized 'Edm.String' literal '{raw}' in '{entity.entity_set}({raw})'.")
    return raw.lower()


def _run(handler: Handler, call: Call) -> Response:
    """A handler's response, with `ApiError` and anything unexpected turned into the Dataverse error body."""
    try:
        return handler(call)
    except ApiError as err:
        return _error(err)
    except Exception:
        log.exception("dynamics simulator: unexpected error on %s %s", call.method, call.path)
        return _error(ApiError(500, errors.UNEXPECTED, "An unexpected error occurred."))


def entity_handlers(service: Service, entity: Entity) -> list[tuple[str, str, Handler]]:
    """(method, route template, handler) of one entity set's operations."""
    collection = f"{API}/{entity.entity_set}"
    single = f"{collection}({{record_id}})"

    def entity_headers(call: Call, row: dict[str, Any]) -> dict[str, str]:
        return {
            "OData-EntityId": f"{call.base}/{entity.entity_set}({row[entity.key]})",
            "ETag": f'W/"{row["versionnumber"]}"',
        }

    def with_representation(call: Call, status: int, row: dict[str, Any]) -> Response:
        prefs = parse_prefer(call.headers.getlist("prefer"))
        headers = entity_headers(call, row)
        if not prefs.return_representation:
            return _response(204, None, headers)
        query = parse_query(entity, call.query)
        body = service.render(entity, row, query.select, prefs.annotations is not None)
        context = f"{call.base}/$metadata#{entity.entity_set}/$entity"
        headers["Preference-Applied"] = "return=representation"
        return _response(status, {"@odata.context": context, **body}, headers)

    def list_rows(call: Call) -> Response:
        query = parse_query(entity, call.query)
        prefs = parse_prefer(call.headers.getlist("prefer"))
        body, applied = service.list(entity, query, prefs, call.base)
        return _response(200, body, {"Preference-Applied": ", ".join(applied)} if applied else None)

    def create(call: Call) -> Response:
        parse_query(entity, call.query)  # a bad $select fails before anything is written
        row = service.create(entity, json_body(call, entity))
        return with_representation(call, 201, row)

    def get_row(call: Call) -> Response:
        rid = record_id(call, entity)
        query = parse_query(entity, call.query)
        prefs = parse_prefer(call.headers.getlist("prefer"))
        row = service.get(entity, rid)
        etag = f'W/"{row["versionnumber"]}"'
        if call.headers.get("if-none-match", "").strip() == etag:
            return _response(304, None, {"ETag": etag})
        select_part = f"({','.join(query.select)})" if query.select else ""
        context = f"{call.base}/$metadata#{entity.entity_set}{select_part}/$entity"
        body = service.render(entity, row, query.select, prefs.annotations is not None)
        return _response(200, {"@odata.context": context, **body}, {"ETag": etag})

    def patch(call: Call) -> Response:
        rid = record_id(call, entity)
        select = dict(parse_qsl(call.query)).get("$select")
        if select:
            parse_select(entity, select)
        body = json_body(call, entity)
        _, row = service.upsert(entity, rid, body, call.headers.get("if-match"), call.headers.get("if-none-match"))
        return with_representation(call, 200, row)

    def delete(call: Call) -> Response:
        service.delete(entity, record_id(call, entity), call.headers.get("if-match"))
        return _response(204)

    def targets(call: Call) -> list[dict[str, Any]]:
        """The `Targets` of a CreateMultiple/UpdateMultiple/UpsertMultiple body, each typed as this table's entity."""
        body = json_body(call, entity)
        found = body.get("Targets") if isinstance(body, dict) else None
        if not isinstance(found, list) or not found:
            raise bad_payload(entity.entity_set, "The parameter 'Targets' must be a non-empty collection of entities.")
        wanted = f"Microsoft.Dynamics.CRM.{entity.logical_name}"
        for n, target in enumerate(found):
            kind = target.get("@odata.type") if isinstance(target, dict) else None
            if kind != wanted:
                raise bad_payload(entity.entity_set, f'Targets[{n}] must be an entity with "@odata.type": "{wanted}".')
        return found

    def multiple_response(call: Call, action: str, ids: list[str]) -> Response:
        context = f"{call.base}/$metadata#Microsoft.Dynamics.CRM.{action}Response"
        return _response(200, {"@odata.context": context, "Ids": ids})

    # On a standard table each action is one transaction: a record that fails fails the request with its error and
    # nothing is written (per-record results are for elastic tables, which the simulator has none of).
    def create_multiple(call: Call) -> Response:
        with service.store.transaction():
            rows = [service.create(entity, target) for target in targets(call)]
        return multiple_response(call, "CreateMultiple", [row[entity.key] for row in rows])

    def update_multiple(call: Call) -> Response:
        with service.store.transaction():
            for n, target in enumerate(targets(call)):
                rid = target.get(entity.key)
                if not isinstance(rid, str) or not GUID_RE.match(rid):
                    raise bad_payload(entity.entity_set, f"Targets[{n}] has no {entity.key}: UpdateMultiple needs it.")
                values = {k: v for k, v in target.items() if k != entity.key}
                service.upsert(entity, rid.lower(), values, "*", None)
        return _response(204)

    def upsert_multiple(call: Call) -> Response:
        ids: list[str] = []
        with service.store.transaction():
            for target in targets(call):
                rid = target.get(entity.key)
                if isinstance(rid, str) and GUID_RE.match(rid):
                    values = {k: v for k, v in target.items() if k != entity.key}
                    _, row = service.upsert(entity, rid.lower(), values, None, None)
                else:
                    row = service.create(entity, target)
                ids.append(row[entity.key])
        return multiple_response(call, "UpsertMultiple", ids)

    actions = f"{collection}/Microsoft.Dynamics.CRM"
    table = [
        ("GET", collection, list_rows),
        ("POST", collection, create),
        ("POST", f"{actions}.CreateMultiple", create_multiple),
        ("POST", f"{actions}.UpdateMultiple", update_multiple),
        ("POST", f"{actions}.UpsertMultiple", upsert_multiple),
        ("GET", single, get_row),
        ("PATCH", single, patch),
    ]
    if entity.entity_set == "contacts":  # accounts are minimal: no delete (it would orphan contacts' lookups)
        table.append(("DELETE", single, delete))
    return table


def build_app(
    service: Service,
    issuer: TokenIssuer,
    limiter: SlidingWindowLimiter,
    calls: Counter,
    org_urls: Callable[[], set[str]],
) -> Starlette:
    """The Starlette app of one simulator (not yet wrapped in fault injection)."""

    def service_document(call: Call) -> Response:
        value = [{"name": s, "kind": "EntitySet", "url": s} for s in ENTITIES]
        return _response(200, {"@odata.context": f"{call.base}/$metadata", "value": value})

    def whoami(call: Call) -> Response:
        context = f"{call.base}/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse"
        return _response(200, {"@odata.context": context, **_WHOAMI_IDS})

    metadata = Metadata()

    def entity_definitions(call: Call) -> Response:
        return _response(200, metadata.answer(call.path_params["rest"], call.query, call.base))

    def csdl_document(call: Call) -> Response:
        if call.query:
            raise bad_query(f"The query '{call.query}' is not supported on $metadata")
        response = _response(200, csdl())
        response.headers["Content-Type"] = "application/xml"
        return response

    table: list[tuple[str, str, Handler]] = [
        ("GET", f"{API}/", service_document),
        ("GET", f"{API}/$metadata", csdl_document),
        ("GET", f"{API}/EntityDefinitions{{rest:path}}", entity_definitions),
        ("GET", f"{API}/WhoAmI", whoami),
        ("GET", f"{API}/WhoAmI()", whoami),
    ]
    for entity in ENTITIES.values():
        table += entity_handlers(service, entity)
    dispatch = [(method, compile_path(template)[0], template, handler) for method, template, handler in table]

    def dispatch_part(part: BatchPart, outer: Call) -> Response:
        """One operation of a `$batch`, with the batch's credentials (already checked)."""
        path = re.sub(r"^[a-z]+://[^/]+", "", part.url, flags=re.IGNORECASE)
        if not path.startswith("/"):
            path = f"{API}/{path}"
        path, _, query = path.partition("?")
        for method, regex, template, handler in dispatch:
            m = regex.match(path)
            if m and method == part.method:
                calls[(method, template)] += 1
                raw = [(k.lower().encode(), v.encode()) for k, v in part.headers]
                call = Call(part.method, path, query, Headers(raw=raw), part.body, outer.origin, m.groupdict())
                return _run(handler, call)
        return _error(ApiError(404, errors.BAD_QUERY, f"Resource not found for the segment '{path}'."))

    def batch(call: Call) -> Response:
        try:
            parts = parse_batch(call.headers.get("content-type", ""), call.body)
        except BatchError as exc:
            raise ApiError(400, errors.BAD_QUERY, str(exc)) from None
        if sum(len(p) if isinstance(p, list) else 1 for p in parts) > MAX_BATCH:
            raise ApiError(400, errors.BAD_QUERY, f"The number of requests in a batch cannot exceed {MAX_BATCH}.")
        continue_on_error = parse_prefer(call.headers.getlist("prefer")).continue_on_error
        results: list[Response | list[tuple[BatchPart, Response]]] = []
        for part in parts:
            if isinstance(part, list):  # a changeset: all or nothing
                outcome = run_changeset(part, call)
                results.append(outcome)
                failed = isinstance(outcome, Response)
            else:
                response = dispatch_part(part, call)
                results.append(response)
                failed = response.status_code >= 400
            if failed and not continue_on_error:
                break
        boundary = f"batchresponse_{uuid.uuid4()}"
        response = _response(200, None)
        response.body = render_batch(boundary, results)
        response.headers["Content-Length"] = str(len(response.body))
        response.headers["Content-Type"] = f"multipart/mixed; boundary={boundary}"
        return response

    def run_changeset(parts: list[BatchPart], outer: Call) -> Response | list[tuple[BatchPart, Response]]:
        """Every operation's response, or the first failure's alone when any failed (and nothing was written)."""
        done: list[tuple[BatchPart, Response]] = []
        created: dict[str, str] = {}  # Content-ID -> the record it created, for `$1` references
        try:
            with service.store.transaction():
                for part in parts:
                    response = dispatch_part(resolve_references(part, created), outer)
                    if response.status_code >= 400:
                        raise _ChangesetFailed(response)
                    entity_id = response.headers.get("OData-EntityId")
                    if part.content_id and entity_id:
                        created[part.content_id] = entity_id
                    done.append((part, response))
        except _ChangesetFailed as failed:
            return failed.response
        return done

    def api(template: str, handler: Handler, methods: list[str]) -> Route:
        async def endpoint(request: Request) -> Response:
            calls[(request.method, template)] += 1
            call = Call(
                request.method,
                request.url.path,
                request.url.query,
                request.headers,
                await request.body(),
                f"{request.url.scheme}://{request.url.netloc}",
                dict(request.path_params),
            )
            try:
                client_id = issuer.check(request.headers.get("authorization"))
                wait = limiter.admit(client_id)
                if wait is not None:
                    raise errors.request_limit(limiter.limit or 0, int(limiter.window_s), wait)
            except ApiError as err:
                return _error(err)
            return _run(handler, call)

        return Route(template, endpoint, methods=methods)

    async def token(request: Request) -> Response:
        calls[("POST", TOKEN_PATH)] += 1
        headers = {"Cache-Control": "no-store, no-cache", "x-ms-request-id": str(uuid.uuid4())}
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        origin = f"{request.url.scheme}://{request.url.netloc}"
        try:
            form: dict[str, str] = {}
            if content_type == "application/x-www-form-urlencoded":
                form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
            payload = issuer.issue(
                request.path_params["tenant"], form, request.headers.get("authorization"), org_urls() | {origin}
            )
        except OAuthError as err:
            return Response(orjson.dumps(err.body), err.status, headers, media_type="application/json; charset=utf-8")
        return Response(orjson.dumps(payload), 200, headers, media_type="application/json; charset=utf-8")

    def discovery(answer: Callable[[Request, str], dict[str, Any]], endpoint: str) -> Callable[..., Any]:
        async def serve(request: Request) -> Response:
            calls[("GET", endpoint)] += 1
            origin = f"{request.url.scheme}://{request.url.netloc}"
            headers = {"Cache-Control": "max-age=86400, private", "x-ms-request-id": str(uuid.uuid4())}
            try:
                payload = answer(request, origin)
            except OAuthError as err:
                return Response(orjson.dumps(err.body), err.status, headers, media_type="application/json")
            return Response(orjson.dumps(payload), 200, headers, media_type="application/json; charset=utf-8")

        return serve

    openid = discovery(
        lambda r, origin: openid_configuration(origin, r.path_params["tenant"], issuer.tenant_id), OPENID_PATH
    )
    instances = discovery(
        lambda r, origin: instance_discovery(origin, r.query_params.get("authorization_endpoint"), issuer.tenant_id),
        INSTANCE_DISCOVERY_PATH,
    )
    routes = [
        Route(TOKEN_PATH, token, methods=["POST"]),
        Route(OPENID_PATH, openid, methods=["GET"]),
        Route(INSTANCE_DISCOVERY_PATH, instances, methods=["GET"]),
        api(BATCH_PATH, batch, ["POST"]),
    ]
    routes += [api(template, handler, [method]) for method, template, handler in table]

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if status == 404:
            segment = request.url.path.removeprefix(API).strip("/") or request.url.path
            message = f"Resource not found for the segment '{segment}'."
        elif status == 405:
            message = f"The requested resource does not support http method '{request.method}'."
        else:
            message = "The request could not be handled."
        return _error(ApiError(status, errors.BAD_QUERY, message))

    return Starlette(routes=routes, exception_handlers={HTTPException: http_error, Exception: http_error})


class _ChangesetFailed(Exception):
    """Raised inside a changeset's transaction to roll it back, carrying the failing operation's response."""

    def __init__(self, response: Response) -> None:
        super().__init__("changeset failed")
        self.response = response
