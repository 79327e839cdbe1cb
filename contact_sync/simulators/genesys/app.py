"""The HTTP face of the Genesys simulator: Starlette routes for `/oauth/token` and `/api/v2/externalcontacts/...`.

Every API route goes through one wrapper that counts the call, checks the Bearer token, applies the per-token rate
limit, turns `ApiError` (and anything unexpected) into an ErrorBody, and sets `ININ-Correlation-Id`.
"""

from __future__ import annotations

import logging
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

from contact_sync.simulators.genesys.auth import OAuthError, TokenIssuer
from contact_sync.simulators.genesys.enrich import Enricher
from contact_sync.simulators.genesys.errors import ApiError, error_body, new_correlation_id, rate_limited
from contact_sync.simulators.genesys.exports import EXPORTS_PATH, Exports
from contact_sync.simulators.genesys.merge import Merger
from contact_sync.simulators.genesys.ratelimit import RateLimiter
from contact_sync.simulators.genesys.service import BASE, Service

log = logging.getLogger(__name__)

Result = tuple[int, Any]
Handler = Callable[[Request], Awaitable[Result]]


def _json_response(status: int, payload: Any, correlation_id: str, headers: dict[str, str] | None = None) -> Response:
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    response = Response(body, status_code=status, media_type="application/json", headers=headers)
    response.headers["ININ-Correlation-Id"] = correlation_id
    return response


def _error_response(err: ApiError, correlation_id: str) -> Response:
    return _json_response(err.status, err.body(correlation_id), correlation_id, err.headers)


async def json_body(request: Request) -> Any:
    """The request's JSON body: 415 for another content type, 400 when empty or malformed."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise ApiError(
            415,
            "unsupported.media.type",
            f"Unsupported content type '{content_type or 'none'}'; send application/json",
        )
    raw = await request.body()
    if not raw.strip():
        raise ApiError(400, "bad.request", "The request body is empty")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "bad.request", f"Unable to parse the request body as JSON: {exc}") from None


def build_app(
    service: Service,
    issuer: TokenIssuer,
    limiter: RateLimiter,
    calls: Counter,
    exports: Exports,
    fails_job: Callable[[str, str], bool],
    *,
    enrich: bool = True,
) -> Starlette:
    """The Starlette app of one simulator (not yet wrapped in fault injection). `fails_job(method, path)` says
    whether a `failed` fault rule makes the export a call creates end FAILED."""
    enricher = Enricher(service)
    merger = Merger(service)

    def api(template: str, handler: Handler, methods: list[str]) -> Route:
        async def endpoint(request: Request) -> Response:
            correlation_id = new_correlation_id()
            calls[(request.method, template.replace(":uuid", ""))] += 1
            try:
                token = issuer.check(request.headers.get("authorization"))
                wait = limiter.admit(token)
                if wait is not None:
                    raise rate_limited(wait)
                status, payload = await handler(request)
                if isinstance(payload, Response):  # a file, not JSON
                    payload.headers["ININ-Correlation-Id"] = correlation_id
                    return payload
            except ApiError as err:
                return _error_response(err, correlation_id)
            except Exception:
                log.exception("genesys simulator: unexpected error on %s %s", request.method, request.url.path)
                return _error_response(
                    ApiError(500, "internal.server.error", "The server encountered an unexpected condition."),
                    correlation_id,
                )
            return _json_response(status, payload, correlation_id)

        return Route(template, endpoint, methods=methods)

    def q(request: Request, name: str) -> str | None:
        return request.query_params.get(name)

    def int_param(request: Request, name: str, default: int) -> int:
        raw = request.query_params.get(name)
        if raw in (None, ""):
            return default
        try:
            return int(raw)
        except ValueError:
            raise ApiError(400, "bad.request", f"{name} must be a number") from None

    # --- contacts ---
    async def create_contact(request: Request) -> Result:
        return 200, service.create_contact(await json_body(request))

    async def search_contacts(request: Request) -> Result:
        size, number = int_param(request, "pageSize", 20), int_param(request, "pageNumber", 1)
        return 200, service.search(q(request, "q"), size, number, q(request, "sortOrder"))

    async def get_contact(request: Request) -> Result:
        return 200, service.get_contact(str(request.path_params["contactId"]), q(request, "expand"))

    async def put_contact(request: Request) -> Result:
        return 200, service.replace_contact(str(request.path_params["contactId"]), await json_body(request))

    async def patch_contact(request: Request) -> Result:
        return 200, service.patch_contact(str(request.path_params["contactId"]), await json_body(request))

    async def delete_contact(request: Request) -> Result:
        service.delete_contact(str(request.path_params["contactId"]))
        return 200, {}

    async def scan_contacts(request: Request) -> Result:
        return 200, service.scan("contacts", "/scan/contacts", q(request, "limit"), q(request, "cursor"))

    def bulk(operation: Callable[[Any], dict[str, Any]]) -> Handler:
        async def handler(request: Request) -> Result:
            return 200, operation(await json_body(request))

        return handler

    def dry_run(request: Request) -> bool:
        raw = (q(request, "dryRun") or "false").lower()
        if raw not in ("true", "false"):
            raise ApiError(400, "bad.request", "dryRun must be true or false")
        return raw == "true"

    async def enrich_contact(request: Request) -> Result:
        return enricher.enrich(await json_body(request), dry_run(request))

    async def bulk_enrich_contacts(request: Request) -> Result:
        return 200, enricher.bulk_enrich(await json_body(request), dry_run(request))

    async def merge_contacts(request: Request) -> Result:
        return 200, merger.merge(await json_body(request))

    async def post_search(request: Request) -> Result:
        return 200, service.search_request(await json_body(request))

    async def list_identifiers(request: Request) -> Result:
        return 200, merger.identifiers(str(request.path_params["contactId"]))

    async def claim_identifier(request: Request) -> Result:
        return 200, merger.claim(str(request.path_params["contactId"]), await json_body(request))

    async def lookup(request: Request) -> Result:
        return 200, service.identifier_lookup(await json_body(request))

    async def reverse_lookup(request: Request) -> Result:
        return 200, service.reverse_whitepages_lookup(q(request, "lookupVal"))

    # --- contact exports ---
    def base_url(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    async def create_export(request: Request) -> Result:
        body = await json_body(request)
        fails = fails_job(request.method, request.url.path)
        job = exports.create(body, service.store.contacts_raw(), issuer.client_id, fails)
        return 200, exports.render(job, base_url(request))

    async def list_exports(request: Request) -> Result:
        size = int_param(request, "pageSize", 25)
        return 200, exports.listing(base_url(request), q(request, "after"), size)

    async def get_export(request: Request) -> Result:
        return 200, exports.render(exports.get(str(request.path_params["exportId"])), base_url(request))

    async def download_export(request: Request) -> Result:
        data, media_type = exports.download(exports.get(str(request.path_params["exportId"])))
        return 200, Response(data, media_type=media_type)

    # --- organizations ---
    async def create_org(request: Request) -> Result:
        return 200, service.create_organization(await json_body(request))

    async def search_orgs(request: Request) -> Result:
        if "trustorId" in request.query_params or "includeTrustors" in request.query_params:
            raise ApiError(400, "bad.request", "trustorId and includeTrustors are not simulated")
        size, number = int_param(request, "pageSize", 20), int_param(request, "pageNumber", 1)
        return 200, service.search_organizations(q(request, "q"), size, number, q(request, "sortOrder"))

    async def get_org(request: Request) -> Result:
        return 200, service.get_organization(str(request.path_params["organizationId"]))

    async def put_org(request: Request) -> Result:
        return 200, service.replace_organization(str(request.path_params["organizationId"]), await json_body(request))

    async def delete_org(request: Request) -> Result:
        service.delete_organization(str(request.path_params["organizationId"]))
        return 200, {}

    async def scan_orgs(request: Request) -> Result:
        return 200, service.scan("organizations", "/scan/organizations", q(request, "limit"), q(request, "cursor"))

    # --- external sources ---
    async def create_source(request: Request) -> Result:
        return 200, service.create_source(await json_body(request))

    async def list_sources(request: Request) -> Result:
        sources = service.store.list_sources()
        name = q(request, "name")
        if name:
            sources = [s for s in sources if s["name"].lower() == name.lower()]
        return 200, {"entities": sources, "selfUri": f"{BASE}/externalsources", "cursors": {}}

    async def get_source(request: Request) -> Result:
        return 200, service.get_source(str(request.path_params["sourceId"]))

    async def put_source(request: Request) -> Result:
        return 200, service.replace_source(str(request.path_params["sourceId"]), await json_body(request))

    async def delete_source(request: Request) -> Result:
        service.delete_source(str(request.path_params["sourceId"]))
        return 200, {}

    # --- OAuth ---
    async def token(request: Request) -> Response:
        correlation_id = new_correlation_id()
        calls[("POST", "/oauth/token")] += 1
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        try:
            if content_type != "application/x-www-form-urlencoded":
                raise OAuthError(400, "invalid_request", "send application/x-www-form-urlencoded")
            form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
            payload = issuer.issue(request.headers.get("authorization"), form)
        except OAuthError as err:
            return _json_response(err.status, err.body, correlation_id)
        return _json_response(200, payload, correlation_id, {"Cache-Control": "no-store"})

    # Ids are UUIDs (`:uuid`), so a path no route serves (`contacts/merge`, `contacts/search`, ...) is a 404 naming
    # the path, never "no contact with id merge" nor a 405 from the single-contact route.
    routes = [
        Route("/oauth/token", token, methods=["POST"]),
        api(f"{BASE}/contacts", create_contact, ["POST"]),
        api(f"{BASE}/contacts", search_contacts, ["GET"]),
        # Before `contacts/{contactId}`, which would take "exports" for a contact id.
        api(EXPORTS_PATH, create_export, ["POST"]),
        api(EXPORTS_PATH, list_exports, ["GET"]),
        api(f"{EXPORTS_PATH}/{{exportId:uuid}}", get_export, ["GET"]),
        api(f"{EXPORTS_PATH}/{{exportId:uuid}}/download", download_export, ["GET"]),
        api(f"{BASE}/contacts/merge", merge_contacts, ["POST"]),
        api(f"{BASE}/contacts/search", post_search, ["POST"]),
        api(f"{BASE}/contacts/{{contactId:uuid}}/identifiers", list_identifiers, ["GET"]),
        api(f"{BASE}/contacts/{{contactId:uuid}}/identifiers", claim_identifier, ["PATCH"]),
        api(f"{BASE}/contacts/{{contactId:uuid}}", get_contact, ["GET"]),
        api(f"{BASE}/contacts/{{contactId:uuid}}", put_contact, ["PUT"]),
        api(f"{BASE}/contacts/{{contactId:uuid}}", patch_contact, ["PATCH"]),
        api(f"{BASE}/contacts/{{contactId:uuid}}", delete_contact, ["DELETE"]),
        api(f"{BASE}/scan/contacts", scan_contacts, ["GET"]),
        api(f"{BASE}/bulk/contacts", bulk(service.bulk_fetch), ["POST"]),
        api(f"{BASE}/bulk/contacts/add", bulk(service.bulk_add), ["POST"]),
        api(f"{BASE}/bulk/contacts/update", bulk(service.bulk_update), ["POST"]),
        api(f"{BASE}/bulk/contacts/remove", bulk(service.bulk_remove), ["POST"]),
        *(
            [
                api(f"{BASE}/contacts/enrich", enrich_contact, ["POST"]),
                api(f"{BASE}/bulk/contacts/enrich", bulk_enrich_contacts, ["POST"]),
            ]
            if enrich
            else []
        ),
        api(f"{BASE}/identifierlookup/contacts", lookup, ["POST"]),
        api(f"{BASE}/reversewhitepageslookup", reverse_lookup, ["GET"]),
        api(f"{BASE}/organizations", create_org, ["POST"]),
        api(f"{BASE}/organizations", search_orgs, ["GET"]),
        api(f"{BASE}/bulk/organizations/add", bulk(service.bulk_add_organizations), ["POST"]),
        api(f"{BASE}/bulk/organizations/update", bulk(service.bulk_update_organizations), ["POST"]),
        api(f"{BASE}/organizations/{{organizationId:uuid}}", get_org, ["GET"]),
        api(f"{BASE}/organizations/{{organizationId:uuid}}", put_org, ["PUT"]),
        api(f"{BASE}/organizations/{{organizationId:uuid}}", delete_org, ["DELETE"]),
        api(f"{BASE}/scan/organizations", scan_orgs, ["GET"]),
        api(f"{BASE}/externalsources", create_source, ["POST"]),
        api(f"{BASE}/externalsources", list_sources, ["GET"]),
        api(f"{BASE}/externalsources/{{sourceId:uuid}}", get_source, ["GET"]),
        api(f"{BASE}/externalsources/{{sourceId:uuid}}", put_source, ["PUT"]),
        api(f"{BASE}/externalsources/{{sourceId:uuid}}", delete_source, ["DELETE"]),
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        code = {404: "not.found", 405: "method.not.allowed"}.get(status, "bad.request")
        message = {404: f"No resource at {request.url.path}", 405: f"{request.method} is not allowed here"}.get(
            status, "The request could not be handled"
        )
        correlation_id = new_correlation_id()
        return _json_response(status, error_body(status, code, message, context_id=correlation_id), correlation_id)

    return Starlette(routes=routes, exception_handlers={HTTPException: http_error})
