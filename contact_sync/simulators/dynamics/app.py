"""The HTTP face of the Dynamics simulator: the token endpoint and `/api/data/v9.2/{contacts,accounts}` as Starlette.

Every Web API route goes through one wrapper that counts the call, checks the Bearer token, applies the service
protection limit, and turns `ApiError` (and anything unexpected) into the Dataverse error body, so no request ever
gets a traceback. Responses carry `OData-Version: 4.0` and a `x-ms-service-request-id`.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from contact_sync.simulators.dynamics import errors
from contact_sync.simulators.dynamics.auth import OAuthError, TokenIssuer
from contact_sync.simulators.dynamics.errors import ApiError, bad_payload, bad_query, new_request_id
from contact_sync.simulators.dynamics.odata import GUID_RE, parse_prefer, parse_query, parse_select
from contact_sync.simulators.dynamics.ratelimit import SlidingWindowLimiter
from contact_sync.simulators.dynamics.schema import ENTITIES, Entity
from contact_sync.simulators.dynamics.service import Service

log = logging.getLogger(__name__)

API = "/api/data/v9.2"
TOKEN_PATH = "/{tenant}/oauth2/v2.0/token"
JSON = "application/json; odata.metadata=minimal"
# Fixed identities WhoAmI reports (the simulator has one user: the application user of the OAuth client).
_WHOAMI_IDS = {
    "BusinessUnitId": "5d5f0f0e-7a4b-4e55-9c3e-1c1a6d0a0b01",
    "UserId": "5d5f0f0e-7a4b-4e55-9c3e-1c1a6d0a0b02",
    "OrganizationId": "5d5f0f0e-7a4b-4e55-9c3e-1c1a6d0a0b03",
}

Handler = Callable[[Request], Awaitable[Response]]


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


def base_url(request: Request) -> str:
    """The Web API root as the client reached it (`http://127.0.0.1:PORT/api/data/v9.2`)."""
    return f"{request.url.scheme}://{request.url.netloc}{API}"


async def json_body(request: Request, entity: Entity) -> Any:
    """The request's JSON body: 415 for another content type, 400 (`0x80048d19`) when empty or malformed."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise ApiError(
            415,
            "",
            f"The content type '{content_type or 'none'}' is not supported; send application/json.",
        )
    raw = await request.body()
    if not raw.strip():
        raise bad_payload(entity.entity_set, "An unexpected end of input was found in the JSON payload.")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_payload(entity.entity_set, f"Invalid JSON. {exc}") from None


def record_id(request: Request, entity: Entity) -> str:
    raw = request.path_params["record_id"]
    if not GUID_RE.match(raw):
        raise bad_query(f"Unrecognized 'Edm.String' literal '{raw}' in '{entity.entity_set}({raw})'.")
    return raw.lower()


def build_app(
    service: Service,
    issuer: TokenIssuer,
    limiter: SlidingWindowLimiter,
    calls: Counter,
    org_urls: Callable[[], set[str]],
) -> Starlette:
    """The Starlette app of one simulator (not yet wrapped in fault injection)."""

    def api(template: str, handler: Handler, methods: list[str]) -> Route:
        async def endpoint(request: Request) -> Response:
            calls[(request.method, template)] += 1
            try:
                client_id = issuer.check(request.headers.get("authorization"))
                wait = limiter.admit(client_id)
                if wait is not None:
                    raise errors.request_limit(limiter.limit or 0, int(limiter.window_s), wait)
                return await handler(request)
            except ApiError as err:
                return _error(err)
            except Exception:
                log.exception("dynamics simulator: unexpected error on %s %s", request.method, request.url.path)
                return _error(ApiError(500, errors.UNEXPECTED, "An unexpected error occurred."))

        return Route(template, endpoint, methods=methods)

    def entity_routes(entity: Entity) -> list[Route]:
        collection = f"{API}/{entity.entity_set}"
        single = f"{collection}({{record_id}})"

        def entity_headers(request: Request, row: dict[str, Any]) -> dict[str, str]:
            return {
                "OData-EntityId": f"{base_url(request)}/{entity.entity_set}({row[entity.key]})",
                "ETag": f'W/"{row["versionnumber"]}"',
            }

        def with_representation(request: Request, status: int, row: dict[str, Any], prefs: Any) -> Response:
            headers = entity_headers(request, row)
            if not prefs.return_representation:
                return _response(204, None, headers)
            query = parse_query(entity, request.url.query)
            body = service.render(entity, row, query.select, prefs.annotations is not None)
            context = f"{base_url(request)}/$metadata#{entity.entity_set}/$entity"
            headers["Preference-Applied"] = "return=representation"
            return _response(status, {"@odata.context": context, **body}, headers)

        async def list_rows(request: Request) -> Response:
            query = parse_query(entity, request.url.query)
            prefs = parse_prefer(request.headers.getlist("prefer"))
            body, applied = service.list(entity, query, prefs, base_url(request))
            return _response(200, body, {"Preference-Applied": ", ".join(applied)} if applied else None)

        async def create(request: Request) -> Response:
            prefs = parse_prefer(request.headers.getlist("prefer"))
            parse_query(entity, request.url.query)  # a bad $select fails before anything is written
            row = service.create(entity, await json_body(request, entity))
            return with_representation(request, 201, row, prefs)

        async def get_row(request: Request) -> Response:
            rid = record_id(request, entity)
            query = parse_query(entity, request.url.query)
            prefs = parse_prefer(request.headers.getlist("prefer"))
            row = service.get(entity, rid)
            etag = f'W/"{row["versionnumber"]}"'
            if request.headers.get("if-none-match", "").strip() == etag:
                return _response(304, None, {"ETag": etag})
            select_part = f"({','.join(query.select)})" if query.select else ""
            context = f"{base_url(request)}/$metadata#{entity.entity_set}{select_part}/$entity"
            body = service.render(entity, row, query.select, prefs.annotations is not None)
            return _response(200, {"@odata.context": context, **body}, {"ETag": etag})

        async def patch(request: Request) -> Response:
            rid = record_id(request, entity)
            prefs = parse_prefer(request.headers.getlist("prefer"))
            if "$select" in request.query_params:
                parse_select(entity, request.query_params["$select"])
            body = await json_body(request, entity)
            _, row = service.upsert(
                entity, rid, body, request.headers.get("if-match"), request.headers.get("if-none-match")
            )
            return with_representation(request, 200, row, prefs)

        async def delete(request: Request) -> Response:
            service.delete(entity, record_id(request, entity), request.headers.get("if-match"))
            return _response(204)

        routes = [
            api(collection, list_rows, ["GET"]),
            api(collection, create, ["POST"]),
            api(single, get_row, ["GET"]),
            api(single, patch, ["PATCH"]),
        ]
        if entity.entity_set == "contacts":  # accounts are minimal: no delete (it would orphan contacts' lookups)
            routes.append(api(single, delete, ["DELETE"]))
        return routes

    async def service_document(request: Request) -> Response:
        value = [{"name": s, "kind": "EntitySet", "url": s} for s in ENTITIES]
        return _response(200, {"@odata.context": f"{base_url(request)}/$metadata", "value": value})

    async def whoami(request: Request) -> Response:
        context = f"{base_url(request)}/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse"
        return _response(200, {"@odata.context": context, **_WHOAMI_IDS})

    async def token(request: Request) -> Response:
        calls[("POST", TOKEN_PATH)] += 1
        headers = {"Cache-Control": "no-store, no-cache", "x-ms-request-id": str(uuid.uuid4())}
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        try:
            form: dict[str, str] = {}
            if content_type == "application/x-www-form-urlencoded":
                form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
            payload = issuer.issue(
                request.path_params["tenant"],
                form,
                request.headers.get("authorization"),
                org_urls() | {f"{request.url.scheme}://{request.url.netloc}"},
            )
        except OAuthError as err:
            return Response(orjson.dumps(err.body), err.status, headers, media_type="application/json; charset=utf-8")
        return Response(orjson.dumps(payload), 200, headers, media_type="application/json; charset=utf-8")

    routes = [
        Route(TOKEN_PATH, token, methods=["POST"]),
        api(f"{API}/", service_document, ["GET"]),
        api(f"{API}/WhoAmI", whoami, ["GET"]),
        api(f"{API}/WhoAmI()", whoami, ["GET"]),
    ]
    for entity in ENTITIES.values():
        routes += entity_routes(entity)

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
