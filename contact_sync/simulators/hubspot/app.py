"""The HTTP face of the HubSpot simulator: Starlette routes for `/oauth/v1/token`, `/crm/v3/objects/{contacts|
companies}/...` and the `/crm/v4` association routes.

Every API route goes through one wrapper that counts the call (`"METHOD /path-template"`), checks the Bearer token,
applies the rate limits (and adds their headers), turns `ApiError` (and anything unexpected) into HubSpot's error
body, and sets `X-HubSpot-Correlation-Id` (equal to the body's `correlationId`).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from contact_sync.simulators.hubspot.auth import Auth, OAuthError
from contact_sync.simulators.hubspot.errors import (
    CORRELATION_HEADER,
    JSON_TYPE,
    ApiError,
    invalid_json,
    new_correlation_id,
    validation_error,
)
from contact_sync.simulators.hubspot.ratelimit import RateLimiter
from contact_sync.simulators.hubspot.service import Service

log = logging.getLogger(__name__)

Result = tuple[int, Any]
Handler = Callable[[Request], Awaitable[Result]]
ID_PARAMS = {"contacts": "contactId", "companies": "companyId"}
# The singular names HubSpot also accepts in `associations=`.
ASSOCIATION_NAMES = {"contacts": "contacts", "contact": "contacts", "companies": "companies", "company": "companies"}


def _response(status: int, payload: Any, correlation_id: str, headers: dict[str, str] | None = None) -> Response:
    if status == 204 or payload is None:
        response = Response(status_code=status, headers=headers)
    else:
        response = Response(orjson.dumps(payload), status_code=status, media_type=JSON_TYPE, headers=headers)
    response.headers[CORRELATION_HEADER] = correlation_id
    return response


def _error(err: ApiError, correlation_id: str, headers: dict[str, str] | None = None) -> Response:
    return _response(err.status, err.body(correlation_id), correlation_id, {**(headers or {}), **err.headers})


async def json_body(request: Request) -> Any:
    """The request's JSON body; 400 VALIDATION_ERROR ("Invalid input JSON ...") when empty or malformed."""
    raw = await request.body()
    if not raw.strip():
        raise invalid_json("on line 1, column 1: No content to map due to end-of-input")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            json.loads(raw)
        except json.JSONDecodeError as exc:
            raise invalid_json(f"on line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
        except UnicodeDecodeError:
            pass
        raise invalid_json("on line 1, column 1: the body is not valid JSON") from None


def multi(request: Request, name: str) -> list[str]:
    """A list query parameter, repeated (`properties=a&properties=b`, as the client sends it) or comma separated."""
    return [part.strip() for value in request.query_params.getlist(name) for part in value.split(",") if part.strip()]


def flag(request: Request, name: str) -> bool:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return False
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise validation_error(f"{name} must be true or false, not {raw!r}")


def number(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise validation_error(f"{name} must be a number, not {raw!r}") from None


def build_app(service: Service, auth: Auth, limiter: RateLimiter, calls: Counter) -> Starlette:
    """The Starlette app of one simulator (not yet wrapped in fault injection)."""

    def api(template: str, handler: Handler, methods: list[str], *, search: bool = False) -> Route:
        async def endpoint(request: Request) -> Response:
            correlation_id = new_correlation_id()
            calls[f"{request.method} {template}"] += 1
            headers: dict[str, str] = {}
            try:
                token = auth.check(request.headers.get("authorization"))
                headers = limiter.admit(token, search)
                status, payload = await handler(request)
            except ApiError as err:
                return _error(err, correlation_id, headers)
            except Exception:
                log.exception("hubspot simulator: unexpected error on %s %s", request.method, request.url.path)
                return _error(ApiError(500, "INTERNAL_ERROR", "internal error"), correlation_id, headers)
            return _response(status, payload, correlation_id, headers)

        return Route(template, endpoint, methods=methods)

    routes: list[Route] = []
    for obj, id_param in ID_PARAMS.items():
        routes.extend(_object_routes(api, service, obj, id_param))
    routes.extend(_association_routes(api, service))

    async def token(request: Request) -> Response:
        correlation_id = new_correlation_id()
        calls["POST /oauth/v1/token"] += 1
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        form: dict[str, str] = {}
        if content_type == "application/x-www-form-urlencoded":
            form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        try:
            payload = auth.grant(form)
        except OAuthError as err:
            return _response(err.status, err.body(correlation_id), correlation_id)
        return _response(200, payload, correlation_id, {"Cache-Control": "no-store"})

    routes.insert(0, Route("/oauth/v1/token", token, methods=["POST"]))

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if status == 404:
            err = ApiError(404, "OBJECT_NOT_FOUND", f"Unable to route {request.method} url: {request.url.path}")
        elif status == 405:
            err = ApiError(405, "VALIDATION_ERROR", "HTTP 405 Method Not Allowed")
        else:
            err = ApiError(status, "VALIDATION_ERROR", "The request could not be handled")
        extra = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
        return _error(err, new_correlation_id(), extra)

    return Starlette(routes=routes, exception_handlers={HTTPException: http_error})


def _object_routes(api: Callable[..., Route], service: Service, obj: str, id_param: str) -> list[Route]:
    base = f"/crm/v3/objects/{obj}"

    def props(request: Request) -> list[str] | None:
        return multi(request, "properties") or None

    def associations(request: Request) -> list[str]:
        return [ASSOCIATION_NAMES.get(a.lower(), a) for a in multi(request, "associations")]

    async def list_objects(request: Request) -> Result:
        query = [(k, v) for k, v in request.query_params.multi_items() if k != "after"]

        def link(after: str) -> str:
            return f"{str(request.base_url).rstrip('/')}{base}?{urlencode([*query, ('after', after)])}"

        return service.list_page(
            obj,
            limit=number(request, "limit", 10),
            after=request.query_params.get("after"),
            properties=props(request),
            associations=associations(request),
            archived=flag(request, "archived"),
            link=link,
        )

    async def create(request: Request) -> Result:
        return service.create(obj, await json_body(request))

    async def get(request: Request) -> Result:
        return service.get(
            obj,
            request.path_params[id_param],
            properties=props(request),
            associations=associations(request),
            archived=flag(request, "archived"),
            id_property=request.query_params.get("idProperty"),
        )

    async def update(request: Request) -> Result:
        body = await json_body(request)
        return service.update(obj, request.path_params[id_param], body, request.query_params.get("idProperty"))

    async def archive(request: Request) -> Result:
        service.archive(obj, [request.path_params[id_param]])
        return 204, None

    async def batch_read(request: Request) -> Result:
        return service.batch_read(obj, await json_body(request), flag(request, "archived"))

    async def batch_create(request: Request) -> Result:
        return service.batch_create(obj, await json_body(request))

    async def batch_update(request: Request) -> Result:
        return service.batch_update(obj, await json_body(request))

    async def batch_upsert(request: Request) -> Result:
        return service.batch_upsert(obj, await json_body(request))

    async def batch_archive(request: Request) -> Result:
        service.batch_archive(obj, await json_body(request))
        return 204, None

    async def search(request: Request) -> Result:
        return service.search(obj, await json_body(request))

    async def merge(request: Request) -> Result:
        return service.merge(obj, await json_body(request))

    one = f"{base}/{{{id_param}}}"
    return [
        api(f"{base}/batch/read", batch_read, ["POST"]),
        api(f"{base}/batch/create", batch_create, ["POST"]),
        api(f"{base}/batch/update", batch_update, ["POST"]),
        api(f"{base}/batch/upsert", batch_upsert, ["POST"]),
        api(f"{base}/batch/archive", batch_archive, ["POST"]),
        api(f"{base}/search", search, ["POST"], search=True),
        api(f"{base}/merge", merge, ["POST"]),
        api(base, list_objects, ["GET"]),
        api(base, create, ["POST"]),
        api(one, get, ["GET"]),
        api(one, update, ["PATCH"]),
        api(one, archive, ["DELETE"]),
    ]


def _association_routes(api: Callable[..., Route], service: Service) -> list[Route]:
    async def create_default(request: Request) -> Result:
        p = request.path_params
        return service.associate_default(p["fromObjectType"], p["fromObjectId"], p["toObjectType"], p["toObjectId"])

    async def batch_default(request: Request) -> Result:
        p = request.path_params
        return service.batch_associate_default(p["fromObjectType"], p["toObjectType"], await json_body(request))

    async def list_associated(request: Request) -> Result:
        p = request.path_params
        return service.list_associations(p["objectType"], p["objectId"], p["toObjectType"])

    async def remove(request: Request) -> Result:
        p = request.path_params
        service.remove_association(p["objectType"], p["objectId"], p["toObjectType"], p["toObjectId"])
        return 204, None

    objects = "/crm/v4/objects/{objectType}/{objectId}/associations"
    return [
        api(
            "/crm/v4/objects/{fromObjectType}/{fromObjectId}/associations/default/{toObjectType}/{toObjectId}",
            create_default,
            ["PUT"],
        ),
        api("/crm/v4/associations/{fromObjectType}/{toObjectType}/batch/associate/default", batch_default, ["POST"]),
        api(f"{objects}/{{toObjectType}}", list_associated, ["GET"]),
        api(f"{objects}/{{toObjectType}}/{{toObjectId}}", remove, ["DELETE"]),
    ]
