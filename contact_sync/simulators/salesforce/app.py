"""The ASGI app of the Salesforce simulator: routing, sessions, the daily API allocation and every REST handler.

Paths follow the real ones (`/services/data/v{50.0..62.0}/...`, `/services/oauth2/token`, `/services/Soap/u/{ver}`).
Login routes are also served under `/{anything}.salesforce.com/services/...`, which is what lets simple-salesforce's
own username/password login reach the simulator (see the package docstring). Every data call needs a session from
the token endpoint or SOAP login, counts against the daily allocation, and its answer carries `Sforce-Limit-Info`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.responses import Response

from contact_sync.simulators.salesforce import auth, describe
from contact_sync.simulators.salesforce.bulk import MAX_RECORDS_DEFAULT, BulkJobs, QueryJob
from contact_sync.simulators.salesforce.composite import Composite
from contact_sync.simulators.salesforce.errors import ApiError, invalid_session, not_found, unknown_exception_message
from contact_sync.simulators.salesforce.ids import make_id, normalize_id
from contact_sync.simulators.salesforce.ingest import (
    DELIMITERS,
    LINE_ENDINGS,
    MAX_UPLOAD_BYTES,
    OPERATIONS,
    IngestJob,
    IngestJobs,
    abort,
    process,
)
from contact_sync.simulators.salesforce.limits import ORG_LIMITS
from contact_sync.simulators.salesforce.schema import OBJECTS, SObject, sobject
from contact_sync.simulators.salesforce.soql import Compiled, compile_soql
from contact_sync.simulators.salesforce.sosl import parse_sosl, with_search
from contact_sync.simulators.salesforce.store import Store
from contact_sync.simulators.salesforce.timefmt import format_sf, parse_sf

log = logging.getLogger(__name__)

JSON = "application/json;charset=UTF-8"
MIN_VERSION, MAX_VERSION = 50.0, 62.0
DEFAULT_BATCH, MIN_BATCH, MAX_BATCH = 2000, 200, 2000
MAX_COLLECTION = 200
MAX_RETRIEVE = 2000
MAX_CURSORS = 10  # open query cursors kept per simulator (the real per-user limit); the oldest is dropped
KEEP_FINISHED_CURSORS = 2
CURSOR_TTL_SECONDS = 15 * 60
_LOGIN_HOST_RE = re.compile(r"^/[^/]+\.salesforce\.com(?=/services/)")
_BATCH_RE = re.compile(r"batchSize\s*=\s*(\d+)", re.IGNORECASE)

Handler = Callable[[Request, dict[str, str]], Awaitable[Response]]


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type=JSON, headers=headers)


@dataclass
class _Route:
    template: str
    regex: re.Pattern[str]
    methods: dict[str, Handler]
    data: bool  # a data API call: needs a session, has a version, counts against the allocation


@dataclass
class _Cursor:
    """The evaluated result of one query, served page by page through `nextRecordsUrl`."""

    query: Compiled
    rows: list[tuple[Any, ...]]
    batch: int
    include_deleted: bool
    touched: float
    finished: bool = False


def _compile_template(template: str) -> re.Pattern[str]:
    pattern = re.sub(r"\{(\w+)\}", lambda m: f"(?P<{m.group(1)}>[^/]+)", template)
    return re.compile(f"^{pattern}$")


class SalesforceApp:
    """ASGI callable; all state is in the `Store` (records, sessions) or here (cursors, bulk jobs, API usage)."""

    def __init__(
        self,
        store: Store,
        creds: auth.Credentials,
        instance_url: Callable[[], str],
        daily_api_limit: int,
        calls: Counter,
        duplicate_rule: bool = False,
    ) -> None:
        self.store = store
        self.creds = creds
        self.instance_url = instance_url
        self.daily_api_limit = daily_api_limit
        self.calls = calls
        self.duplicate_rule = duplicate_rule
        self.api_used = 0
        self.bulk = BulkJobs()
        self.ingest = IngestJobs()
        self.composites = Composite(store, lambda r: self.dispatch(r, subrequest=True))
        self._cursors: OrderedDict[str, _Cursor] = OrderedDict()
        self._cursor_lock = threading.Lock()
        self._cursor_seq = 0
        d = "/services/data/v{version}"
        self.routes: list[_Route] = []
        self._route("/services/oauth2/token", {"POST": self.oauth_token}, data=False)
        self._route("/services/Soap/u/{version}", {"POST": self.soap_login}, data=False)
        self._route("/services/data", {"GET": self.versions}, data=False)
        self._route(d, {"GET": self.resources})
        self._route(f"{d}/limits", {"GET": self.limits})
        self._route(f"{d}/query", {"GET": self.query})
        self._route(f"{d}/queryAll", {"GET": self.query_all})
        self._route(f"{d}/query/{{locator}}", {"GET": self.query_more})
        self._route(f"{d}/queryAll/{{locator}}", {"GET": self.query_more})
        self._route(f"{d}/sobjects", {"GET": self.describe_global})
        self._route(f"{d}/search", {"GET": self.search})
        self._route(f"{d}/composite", {"POST": self.composite})
        self._route(f"{d}/composite/batch", {"POST": self.composite_batch})
        self._route(f"{d}/composite/tree/{{sobject}}", {"POST": self.composite_tree})
        self._route(f"{d}/composite/sobjects", {"POST": self.coll_create, "PATCH": self.coll_update,
                                                 "DELETE": self.coll_delete})  # fmt: skip
        self._route(f"{d}/composite/sobjects/{{sobject}}", {"GET": self.retrieve_many, "POST": self.retrieve_many})
        self._route(f"{d}/sobjects/{{sobject}}", {"GET": self.sobject_info, "POST": self.create})
        self._route(f"{d}/sobjects/{{sobject}}/describe", {"GET": self.describe})
        self._route(f"{d}/sobjects/{{sobject}}/updated", {"GET": self.updated})
        self._route(f"{d}/sobjects/{{sobject}}/deleted", {"GET": self.deleted})
        self._route(f"{d}/sobjects/{{sobject}}/{{id}}", {"GET": self.read, "PATCH": self.update, "DELETE": self.delete})
        self._route(f"{d}/sobjects/{{sobject}}/{{field}}/{{value}}", {"GET": self.read_by, "PATCH": self.upsert})
        self._route(f"{d}/jobs/query", {"POST": self.job_create, "GET": self.job_list})
        self._route(f"{d}/jobs/query/{{job}}", {"GET": self.job_get, "PATCH": self.job_patch,
                                                "DELETE": self.job_delete})  # fmt: skip
        self._route(f"{d}/jobs/query/{{job}}/results", {"GET": self.job_results})
        self._route(f"{d}/jobs/ingest", {"POST": self.ingest_create, "GET": self.ingest_list})
        self._route(f"{d}/jobs/ingest/{{job}}", {"GET": self.ingest_get, "PATCH": self.ingest_patch,
                                                 "DELETE": self.ingest_delete})  # fmt: skip
        self._route(f"{d}/jobs/ingest/{{job}}/batches", {"PUT": self.ingest_upload})
        self._route(f"{d}/jobs/ingest/{{job}}/{{results}}", {"GET": self.ingest_results})

    def _route(self, template: str, methods: dict[str, Handler], data: bool = True) -> None:
        self.routes.append(_Route(template, _compile_template(template), methods, data))

    def reset(self) -> None:
        self.api_used = 0
        self.bulk.clear()
        self.ingest.clear()
        with self._cursor_lock:
            self._cursors.clear()

    # -- dispatch -----------------------------------------------------------------------------------------------
    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        response = await self.dispatch(request)
        await response(scope, receive, send)

    async def dispatch(self, request: Request, *, subrequest: bool = False) -> Response:
        """The response of one request; a `subrequest` of a composite is neither counted nor charged (the composite
        was)."""
        path = _LOGIN_HOST_RE.sub("", request.url.path)
        if len(path) > 1:
            path = path.rstrip("/")
        method = request.method.upper()
        for route in self.routes:
            m = route.regex.match(path)
            if m is None:
                continue
            params = m.groupdict()
            if not subrequest:
                self.calls[(method, route.template)] += 1
            extra: dict[str, str] = {}
            try:
                if route.data:
                    self._check_version(params["version"])
                    self._check_session(request)
                    if not subrequest:
                        extra = self._spend_api_call()
                handler = route.methods.get(method)
                if handler is None:
                    allowed = ",".join(route.methods)
                    raise ApiError(
                        405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are {allowed}"
                    )
                response = await handler(request, params)
            except ApiError as err:
                response = Response(err.body(), status_code=err.status, media_type=JSON, headers=err.headers)
            except Exception:
                log.exception("salesforce simulator: unexpected error in %s %s", method, route.template)
                body = [{"message": unknown_exception_message(), "errorCode": "UNKNOWN_EXCEPTION"}]
                response = json_response(body, 500)
            for key, value in extra.items():
                response.headers[key] = value
            return response
        return Response(not_found().body(), status_code=404, media_type=JSON)

    def _check_version(self, version: str) -> None:
        try:
            number = float(version)
        except ValueError:
            raise not_found() from None
        if not re.fullmatch(r"\d+\.\d", version) or not MIN_VERSION <= number <= MAX_VERSION:
            raise not_found()

    def _check_session(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() not in ("bearer", "oauth") or not token.strip():
            raise invalid_session()
        if not self.store.has_session(token.strip()):
            raise invalid_session()

    def _spend_api_call(self) -> dict[str, str]:
        if self.api_used >= self.daily_api_limit:
            err = ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            err.headers = {"Sforce-Limit-Info": f"api-usage={self.api_used}/{self.daily_api_limit}"}
            raise err
        self.api_used += 1
        return {"Sforce-Limit-Info": f"api-usage={self.api_used}/{self.daily_api_limit}"}

    # -- helpers ------------------------------------------------------------------------------------------------
    async def _json(self, request: Request) -> Any:
        ctype = request.headers.get("content-type", "")
        media = ctype.split(";")[0].strip().lower()
        if media and media != "application/json":
            raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE", f"Content type '{media}' is not supported")
        body = await request.body()
        if not body.strip():
            raise ApiError(400, "JSON_PARSER_ERROR", "No content to map due to end-of-input")
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ApiError(400, "JSON_PARSER_ERROR", f"{exc.msg} at [line:{exc.lineno}, column:{exc.colno}]") from None

    async def _json_object(self, request: Request, what: str) -> dict[str, Any]:
        data = await self._json(request)
        if not isinstance(data, dict):
            kind = "START_ARRAY" if isinstance(data, list) else "VALUE_STRING"
            raise ApiError(400, "JSON_PARSER_ERROR", f"Cannot deserialize instance of {what} from {kind} value")
        return data

    @staticmethod
    def _sobject(name: str) -> SObject:
        obj = sobject(name)
        if obj is None:
            raise ApiError(404, "NOT_FOUND", f"The requested resource does not exist: sObject type '{name}'")
        return obj

    def _record_url(self, version: str, obj: SObject, record_id: str) -> str:
        return f"/services/data/v{version}/sobjects/{obj.name}/{record_id}"

    def _api_record(self, version: str, obj: SObject, row: dict[str, Any], fields: list[str] | None = None) -> dict:
        record: dict[str, Any] = {"attributes": {"type": obj.name, "url": self._record_url(version, obj, row["Id"])}}
        for name in fields or obj.columns:
            record[name] = row[name]
        return record

    # -- login --------------------------------------------------------------------------------------------------
    async def oauth_token(self, request: Request, params: dict[str, str]) -> Response:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/x-www-form-urlencoded":
            return json_response({"error": "invalid_request", "error_description": "must use form encoding"}, 400)
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
        try:
            reply = auth.token_reply(form, request.headers.get("authorization"), self.creds, self.instance_url())
        except auth.OAuthError as err:
            return json_response(err.body, err.status)
        self.store.add_session(reply["access_token"])
        return json_response(reply)

    async def soap_login(self, request: Request, params: dict[str, str]) -> Response:
        xml = "text/xml;charset=UTF-8"
        parsed = auth.parse_soap_login(await request.body())
        if parsed is None:
            fault = auth.soap_fault("INVALID_REQUEST", "Expected a partner login request")
            return Response(fault, status_code=500, media_type=xml)
        username, password = parsed
        if username != self.creds.username or not self.creds.password_ok(password):
            fault = auth.soap_fault("INVALID_LOGIN", "Invalid username, password, security token; or user locked out.")
            return Response(fault, status_code=500, media_type=xml)
        token = auth.new_session_id()
        self.store.add_session(token)
        return Response(auth.soap_success(token, self.instance_url(), params["version"]), media_type=xml)

    # -- discovery and limits -----------------------------------------------------------------------------------
    async def versions(self, request: Request, params: dict[str, str]) -> Response:
        out = []
        for major in range(int(MIN_VERSION), int(MAX_VERSION) + 1):
            out.append({"label": f"v{major}.0", "url": f"/services/data/v{major}.0", "version": f"{major}.0"})
        return json_response(out)

    async def resources(self, request: Request, params: dict[str, str]) -> Response:
        base = f"/services/data/v{params['version']}"
        names = ("sobjects", "query", "queryAll", "limits", "composite", "jobs")
        return json_response({n: f"{base}/{n}" for n in names})

    async def limits(self, request: Request, params: dict[str, str]) -> Response:
        """Every key an Enterprise org's `/limits/` answers, each `{"Max", "Remaining"}`; the API requests and
        Bulk API 2.0 query jobs count what this simulator served, the others stand at their allocation."""
        out: dict[str, Any] = {name: {"Max": most, "Remaining": most} for name, most in ORG_LIMITS.items()}
        out["DailyApiRequests"] = {
            "Max": self.daily_api_limit,
            "Remaining": max(self.daily_api_limit - self.api_used, 0),
        }
        jobs = out["DailyBulkV2QueryJobs"]
        jobs["Remaining"] = max(jobs["Max"] - len(self.bulk.all()), 0)
        return json_response(dict(sorted(out.items())))

    # -- search -------------------------------------------------------------------------------------------------
    async def search(self, request: Request, params: dict[str, str]) -> Response:
        """SOSL (`sosl.py`): each object's matches in RETURNING order, at most the search's LIMIT in all."""
        parsed = parse_sosl(request.query_params.get("q"))
        records: list[dict[str, Any]] = []
        for compiled in parsed.returning:
            _, rows = self.store.query(with_search(compiled, parsed), include_deleted=False)
            records += [compiled.record(row, params["version"]) for row in rows]
        return json_response({"searchRecords": records[: parsed.limit]})

    # -- composite ----------------------------------------------------------------------------------------------
    async def composite(self, request: Request, params: dict[str, str]) -> Response:
        body = await self._json_object(request, "composite request")
        return json_response(await self.composites.composite(request, body))

    async def composite_batch(self, request: Request, params: dict[str, str]) -> Response:
        body = await self._json_object(request, "batch request")
        return json_response(await self.composites.batch(request, body))

    async def composite_tree(self, request: Request, params: dict[str, str]) -> Response:
        obj = self._sobject(params["sobject"])
        status, answer = self.composites.tree(obj, await self._json_object(request, "record tree"))
        return json_response(answer, status)

    async def describe_global(self, request: Request, params: dict[str, str]) -> Response:
        return json_response(describe.describe_global(params["version"], MAX_COLLECTION))

    async def sobject_info(self, request: Request, params: dict[str, str]) -> Response:
        return json_response(describe.sobject_info(params["version"], self._sobject(params["sobject"])))

    async def describe(self, request: Request, params: dict[str, str]) -> Response:
        return json_response(describe.describe(params["version"], self._sobject(params["sobject"])))

    # -- query --------------------------------------------------------------------------------------------------
    async def query(self, request: Request, params: dict[str, str]) -> Response:
        return self._run_query(request, params, include_deleted=False)

    async def query_all(self, request: Request, params: dict[str, str]) -> Response:
        return self._run_query(request, params, include_deleted=True)

    def _run_query(self, request: Request, params: dict[str, str], include_deleted: bool) -> Response:
        soql = request.query_params.get("q")
        if soql is None:
            raise ApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
        compiled = compile_soql(soql)
        total, rows = self.store.query(compiled, include_deleted)
        if compiled.count_only:
            return json_response({"totalSize": total, "done": True, "records": []})
        batch = DEFAULT_BATCH
        m = _BATCH_RE.search(request.headers.get("sforce-query-options", ""))
        if m:
            batch = min(max(int(m.group(1)), MIN_BATCH), MAX_BATCH)
        cursor = _Cursor(compiled, rows, batch, include_deleted, time.monotonic())
        locator = self._keep_cursor(cursor) if len(rows) > batch else ""
        return self._page(cursor, locator, 0, params["version"])

    def _keep_cursor(self, cursor: _Cursor) -> str:
        with self._cursor_lock:
            self._cursor_seq += 1
            locator = make_id("01g", self._cursor_seq)
            self._cursors[locator] = cursor
            now = time.monotonic()
            for key in [k for k, c in self._cursors.items() if now - c.touched > CURSOR_TTL_SECONDS]:
                del self._cursors[key]
            # Finished cursors stay a while (a client may fetch a page again after a timeout), but only a few.
            finished = [k for k, c in self._cursors.items() if c.finished]
            for key in finished[:-KEEP_FINISHED_CURSORS]:
                del self._cursors[key]
            while len(self._cursors) > MAX_CURSORS:
                self._cursors.popitem(last=False)
        return locator

    async def query_more(self, request: Request, params: dict[str, str]) -> Response:
        locator, _, offset_text = params["locator"].rpartition("-")
        with self._cursor_lock:
            cursor = self._cursors.get(locator)
            if cursor is not None:
                cursor.touched = time.monotonic()
                self._cursors.move_to_end(locator)
        if cursor is None or not offset_text.isdigit() or int(offset_text) > len(cursor.rows):
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(cursor, locator, int(offset_text), params["version"])

    def _page(self, cursor: _Cursor, locator: str, start: int, version: str) -> Response:
        end = min(start + cursor.batch, len(cursor.rows))
        records = [cursor.query.record(row, version) for row in cursor.rows[start:end]]
        body: dict[str, Any] = {"totalSize": len(cursor.rows), "done": end >= len(cursor.rows)}
        cursor.finished = cursor.finished or body["done"]
        if not body["done"]:
            kind = "queryAll" if cursor.include_deleted else "query"
            body["nextRecordsUrl"] = f"/services/data/v{version}/{kind}/{locator}-{end}"
        body["records"] = records
        return json_response(body)

    # -- single records -----------------------------------------------------------------------------------------
    def _id_in_path(self, obj: SObject, raw: str) -> str:
        record_id = normalize_id(raw)
        if record_id is None:
            raise ApiError(404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {raw}")
        if not record_id.startswith(obj.prefix):
            raise not_found()
        return record_id

    async def create(self, request: Request, params: dict[str, str]) -> Response:
        obj = self._sobject(params["sobject"])
        payload = await self._json_object(request, obj.name)
        result = self.store.create(obj, [payload], check_duplicates=self.duplicate_rule)[0]
        if not result["success"]:
            raise ApiError.from_record_errors(400, result["errors"])
        location = f"/services/data/v{params['version']}/sobjects/{obj.name}/{result['id']}"
        return json_response({"id": result["id"], "success": True, "errors": []}, 201, {"Location": location})

    async def read(self, request: Request, params: dict[str, str]) -> Response:
        obj = self._sobject(params["sobject"])
        record_id = self._id_in_path(obj, params["id"])
        row = self.store.get(obj, record_id)
        if row is None:
            raise not_found()
        if row["IsDeleted"]:
            raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted")
        fields = None
        if request.query_params.get("fields"):
            fields = []
            for name in request.query_params["fields"].split(","):
                f = obj.field(name.strip())
                if f is None:
                    raise ApiError(400, "INVALID_FIELD", f"No such column '{name.strip()}' on entity '{obj.name}'")
                fields.append(f.name)
        return json_response(self._api_record(params["version"], obj, row, fields))

    async def update(self, request: Request, params: dict[str, str]) -> Response:
        obj = self._sobject(params["sobject"])
        record_id = self._id_in_path(obj, params["id"])
        payload = await self._json_object(request, obj.name)
        since = None
        header = request.headers.get("if-unmodified-since")
        if header:
            try:
                since = parsedate_to_datetime(header).astimezone(UTC)
            except (TypeError, ValueError):
                raise ApiError(400, "BAD_REQUEST", f"Invalid If-Unmodified-Since header: {header}") from None
        result = self.store.update(
            obj, [(record_id, payload)], unmodified_since=since, check_duplicates=self.duplicate_rule
        )[0]
        if result["success"]:
            return Response(status_code=204)
        self._raise_write_error(result["errors"])
        raise AssertionError("unreachable")

    @staticmethod
    def _raise_write_error(errors: list[dict[str, Any]]) -> None:
        code = errors[0]["statusCode"]
        if code == "PRECONDITION_FAILED":
            raise ApiError.from_record_errors(412, errors)
        if code == "INVALID_CROSS_REFERENCE_KEY" and not errors[0]["fields"]:
            raise not_found()
        if code == "ENTITY_IS_DELETED":
            raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted")
        raise ApiError.from_record_errors(400, errors)

    async def delete(self, request: Request, params: dict[str, str]) -> Response:
        obj = self._sobject(params["sobject"])
        record_id = self._id_in_path(obj, params["id"])
        result = self.store.delete(obj, [record_id])[0]
        if result["success"]:
            return Response(status_code=204)
        self._raise_write_error(result["errors"])
        raise AssertionError("unreachable")

    async def retrieve_many(self, request: Request, params: dict[str, str]) -> Response:
        """sObject Collections retrieve: `GET ?ids=a,b&fields=F,G` or `POST {"ids": [...], "fields": [...]}`; the
        records in the order asked, null for an id with no live record."""
        obj = self._sobject(params["sobject"])
        if request.method.upper() == "POST":
            body = await self._json_object(request, "CollectionsRetrieveRequest")
            ids, names = body.get("ids"), body.get("fields")
            if not isinstance(ids, list) or not isinstance(names, list):
                raise ApiError(400, "JSON_PARSER_ERROR", "ids and fields must be arrays")
        else:
            ids = [i for i in request.query_params.get("ids", "").split(",") if i.strip()]
            names = [n for n in request.query_params.get("fields", "").split(",") if n.strip()]
        if not names:
            raise ApiError(400, "MISSING_ARGUMENT", "The fields parameter is required.")
        if not ids:
            raise ApiError(400, "MISSING_ARGUMENT", "The ids parameter is required.")
        if len(ids) > MAX_RETRIEVE:
            raise ApiError(400, "EXCEEDED_ID_LIMIT", f"too many ids: {len(ids)}, the maximum is {MAX_RETRIEVE}")
        fields = []
        for name in names:
            f = obj.field(str(name).strip())
            if f is None:
                raise ApiError(400, "INVALID_FIELD", f"No such column '{str(name).strip()}' on entity '{obj.name}'")
            fields.append(f.name)
        out: list[dict[str, Any] | None] = []
        for raw in ids:
            record_id = normalize_id(str(raw).strip())
            if record_id is None:
                raise ApiError(400, "MALFORMED_ID", f"malformed id {str(raw).strip()}")
            row = self.store.get(obj, record_id) if record_id.startswith(obj.prefix) else None
            out.append(
                None if row is None or row["IsDeleted"] else self._api_record(params["version"], obj, row, fields)
            )
        return json_response(out)

    def _external_field(self, obj: SObject, name: str) -> str:
        f = obj.field(name)
        if f is None or not f.external_id:
            raise ApiError(404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {name}")
        return f.name

    def _multiple(self, version: str, obj: SObject, ids: list[str]) -> Response:
        return json_response([self._record_url(version, obj, i) for i in ids], 300)

    async def read_by(self, request: Request, params: dict[str, str]) -> Response:
        obj = self._sobject(params["sobject"])
        ids = self.store.find_by(obj, self._external_field(obj, params["field"]), params["value"])
        if not ids:
            raise not_found()
        if len(ids) > 1:
            return self._multiple(params["version"], obj, ids)
        row = self.store.get(obj, ids[0])
        assert row is not None
        return json_response(self._api_record(params["version"], obj, row))

    async def upsert(self, request: Request, params: dict[str, str]) -> Response:
        obj = self._sobject(params["sobject"])
        field = self._external_field(obj, params["field"])
        payload = await self._json_object(request, obj.name)
        ids = self.store.find_by(obj, field, params["value"])
        if len(ids) > 1:
            return self._multiple(params["version"], obj, ids)
        if not ids:
            result = self.store.create(
                obj, [{**payload, field: params["value"]}], check_duplicates=self.duplicate_rule
            )[0]
            if not result["success"]:
                raise ApiError.from_record_errors(400, result["errors"])
            return json_response({"id": result["id"], "success": True, "errors": [], "created": True}, 201)
        result = self.store.update(obj, [(ids[0], payload)], check_duplicates=self.duplicate_rule)[0]
        if not result["success"]:
            self._raise_write_error(result["errors"])
        return json_response({"id": ids[0], "success": True, "errors": [], "created": False}, 200)

    # -- sObject Collections ------------------------------------------------------------------------------------
    async def _collection_body(self, request: Request) -> tuple[bool, list[Any]]:
        body = await self._json_object(request, "SObjectCollection")
        records = body.get("records")
        if not isinstance(records, list):
            raise ApiError(400, "JSON_PARSER_ERROR", "records is required and must be an array")
        if len(records) > MAX_COLLECTION:
            raise ApiError(
                400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call"
            )
        return body.get("allOrNone") in (True, "true"), records

    def _by_type(self, records: list[Any]) -> tuple[SObject | None, list[dict[str, Any] | None]]:
        """The one sObject type of the call and, per record, its error when it has no (or another) type."""
        obj: SObject | None = None
        errors: list[dict[str, Any] | None] = []
        for rec in records:
            attrs = rec.get("attributes") if isinstance(rec, dict) else None
            kind = sobject(attrs.get("type", "")) if isinstance(attrs, dict) else None
            if obj is None and kind is not None:
                obj = kind
            if kind is None or kind is not obj:
                errors.append({"statusCode": "INVALID_TYPE", "message": "Must send a concrete entity type.",
                               "fields": []})  # fmt: skip
            else:
                errors.append(None)
        return obj, errors

    @staticmethod
    def _merge_results(type_errors: list[dict[str, Any] | None], results: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Put the results of the typed records back between the per-record type errors, in request order."""
        it = iter(results)
        out = []
        for err in type_errors:
            out.append({"success": False, "errors": [err]} if err else next(it))
        return out

    async def coll_create(self, request: Request, params: dict[str, str]) -> Response:
        all_or_none, records = await self._collection_body(request)
        obj, type_errors = self._by_type(records)
        if all_or_none and any(type_errors):
            return json_response(_rolled_back_all(type_errors))
        good = [r for r, e in zip(records, type_errors, strict=True) if e is None]
        results = self.store.create(obj, good, all_or_none, self.duplicate_rule) if obj and good else []
        return json_response(self._merge_results(type_errors, results))

    async def coll_update(self, request: Request, params: dict[str, str]) -> Response:
        all_or_none, records = await self._collection_body(request)
        obj, type_errors = self._by_type(records)
        if all_or_none and any(type_errors):
            return json_response(_rolled_back_all(type_errors))
        items = []
        for rec, err in zip(records, type_errors, strict=True):
            if err is None:
                rid = next((v for k, v in rec.items() if k.lower() == "id"), None)
                items.append((rid, rec))
        results = (
            self.store.update(obj, items, all_or_none, check_duplicates=self.duplicate_rule) if obj and items else []
        )
        return json_response(self._merge_results(type_errors, results))

    async def coll_delete(self, request: Request, params: dict[str, str]) -> Response:
        raw = request.query_params.get("ids", "")
        ids = [i.strip() for i in raw.split(",") if i.strip()]
        if not ids:
            raise ApiError(400, "MISSING_ARGUMENT", "ids parameter is required")
        if len(ids) > MAX_COLLECTION:
            raise ApiError(
                400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call"
            )
        all_or_none = request.query_params.get("allOrNone", "false").lower() == "true"
        first = next((n for n in map(normalize_id, ids) if n), None)
        obj = next((o for o in OBJECTS.values() if first and first.startswith(o.prefix)), OBJECTS["contact"])
        return json_response(self.store.delete(obj, ids, all_or_none))

    # -- replication --------------------------------------------------------------------------------------------
    def _window(self, request: Request, days: int) -> tuple[datetime, datetime]:
        values = []
        for name in ("start", "end"):
            text = request.query_params.get(name)
            parsed = parse_sf(text) if text else None
            if parsed is None:
                raise ApiError(400, "INVALID_REPLICATION_DATE", f"{name} must be a valid dateTime: {text}")
            values.append(parsed.replace(second=0, microsecond=0))
        start, end = values
        now = self.store.now().replace(second=0, microsecond=0)
        if end <= start:
            raise ApiError(400, "INVALID_REPLICATION_DATE", "EndDate must be after StartDate")
        if start < now - timedelta(days=days):
            raise ApiError(400, "INVALID_REPLICATION_DATE", f"startDate cannot be more than {days} days ago")
        return start, min(end, now)

    async def updated(self, request: Request, params: dict[str, str]) -> Response:
        obj = self._sobject(params["sobject"])
        start, covered = self._window(request, 30)
        ids = self.store.updated_ids(obj, format_sf(start), format_sf(covered)) if covered > start else []
        return json_response({"ids": ids[:600_000], "latestDateCovered": format_sf(covered)})

    async def deleted(self, request: Request, params: dict[str, str]) -> Response:
        obj = self._sobject(params["sobject"])
        start, covered = self._window(request, 15)
        rows = self.store.deleted_records(obj, format_sf(start), format_sf(covered)) if covered > start else []
        earliest = self.store.now().replace(second=0, microsecond=0) - timedelta(days=15)
        return json_response(
            {
                "deletedRecords": [{"id": i, "deletedDate": d} for i, d in rows],
                "earliestDateAvailable": format_sf(earliest),
                "latestDateCovered": format_sf(covered),
            }
        )

    # -- Bulk API 2.0 query -------------------------------------------------------------------------------------
    async def job_create(self, request: Request, params: dict[str, str]) -> Response:
        body = await self._json_object(request, "QueryJob")
        operation = body.get("operation")
        if operation not in ("query", "queryAll"):
            raise ApiError(400, "INVALIDJOB", f"Invalid operation: {operation}; expected query or queryAll")
        soql = body.get("query")
        if not isinstance(soql, str):
            raise ApiError(400, "INVALIDJOB", "query is required")
        line_ending = body.get("lineEnding", "LF")
        delimiter = body.get("columnDelimiter", "COMMA")
        if line_ending not in LINE_ENDINGS or delimiter not in DELIMITERS:
            raise ApiError(400, "INVALIDJOB", "Invalid lineEnding or columnDelimiter")
        compiled = compile_soql(soql)
        if compiled.count_only:
            raise ApiError(400, "INVALIDJOB", "Aggregate queries are not supported by Bulk API 2.0")
        _, rows = self.store.query(compiled, include_deleted=operation == "queryAll")
        job = QueryJob(
            id=self.bulk.next_id(),
            operation=operation,
            query=compiled,
            rows=rows,
            created=format_sf(self.store.now()),
            api_version=params["version"],
            line_ending=line_ending,
            column_delimiter=delimiter,
        )
        self.bulk.add(job)
        return json_response(job.describe())

    def _job(self, job_id: str) -> QueryJob:
        job = self.bulk.get(job_id)
        if job is None:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return job

    async def job_list(self, request: Request, params: dict[str, str]) -> Response:
        return json_response({"done": True, "records": [j.describe() for j in self.bulk.all()], "nextRecordsUrl": None})

    async def job_get(self, request: Request, params: dict[str, str]) -> Response:
        job = self._job(params["job"])
        if job.state == "UploadComplete":
            job.state = "JobComplete"
        return json_response(job.describe())

    async def job_patch(self, request: Request, params: dict[str, str]) -> Response:
        job = self._job(params["job"])
        body = await self._json_object(request, "QueryJob")
        if body.get("state") != "Aborted":
            raise ApiError(400, "INVALIDJOB", "A query job can only be set to Aborted")
        if job.state == "JobComplete":
            raise ApiError(400, "INVALIDJOB", "Job is already complete")
        job.state = "Aborted"
        return json_response(job.describe())

    async def job_delete(self, request: Request, params: dict[str, str]) -> Response:
        self._job(params["job"])
        self.bulk.delete(params["job"])
        return Response(status_code=204)

    async def job_results(self, request: Request, params: dict[str, str]) -> Response:
        job = self._job(params["job"])
        if job.state != "JobComplete":
            raise ApiError(400, "INVALIDJOB", f"Results are not available: the job is in state {job.state}")
        locator = request.query_params.get("locator") or None
        if locator is not None and (not locator.isdigit() or int(locator) > len(job.rows)):
            raise ApiError(400, "INVALIDJOB", f"Invalid locator: {locator}")
        max_text = request.query_params.get("maxRecords")
        max_records = MAX_RECORDS_DEFAULT
        if max_text is not None:
            if not max_text.isdigit() or int(max_text) < 1:
                raise ApiError(400, "INVALIDJOB", f"Invalid maxRecords: {max_text}")
            max_records = int(max_text)
        content, next_locator, count = job.page(locator, max_records)
        return Response(
            content,
            media_type="text/csv",
            headers={"Sforce-Locator": next_locator, "Sforce-NumberOfRecords": str(count)},
        )

    # -- Bulk API 2.0 ingest ------------------------------------------------------------------------------------
    async def ingest_create(self, request: Request, params: dict[str, str]) -> Response:
        body = await self._json_object(request, "IngestJob")
        operation = body.get("operation")
        if operation not in OPERATIONS:
            raise ApiError(400, "INVALIDJOB", f"Invalid operation: {operation}")
        obj = sobject(body.get("object", ""))
        if obj is None:
            raise ApiError(400, "INVALIDJOB", f"Unable to find object: {body.get('object')}")
        if body.get("contentType", "CSV") != "CSV":
            raise ApiError(400, "INVALIDJOB", f"Invalid contentType: {body.get('contentType')}; only CSV is supported")
        line_ending = body.get("lineEnding", "LF")
        delimiter = body.get("columnDelimiter", "COMMA")
        if line_ending not in LINE_ENDINGS or delimiter not in DELIMITERS:
            raise ApiError(400, "INVALIDJOB", "Invalid lineEnding or columnDelimiter")
        ext = body.get("externalIdFieldName")
        if operation == "upsert":
            if not ext:
                raise ApiError(400, "INVALIDJOB", "External ID was blank for upsert")
            if not (ext.lower() == "id" or (obj.field(ext) is not None and obj.field(ext).external_id)):  # type: ignore[union-attr]
                raise ApiError(400, "INVALIDJOB", f"Field {ext} is not an external id field of {obj.name}")
        job = IngestJob(
            id=self.bulk.next_id(),
            obj=obj,
            operation=operation,
            created=format_sf(self.store.now()),
            api_version=params["version"],
            external_id_field=ext if operation == "upsert" else None,
            line_ending=line_ending,
            column_delimiter=delimiter,
        )
        self.ingest.add(job)
        return json_response(job.describe())

    def _ingest_job(self, job_id: str) -> IngestJob:
        job = self.ingest.get(job_id)
        if job is None:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return job

    async def ingest_list(self, request: Request, params: dict[str, str]) -> Response:
        records = [j.describe() for j in self.ingest.all()]
        return json_response({"done": True, "records": records, "nextRecordsUrl": None})

    async def ingest_upload(self, request: Request, params: dict[str, str]) -> Response:
        job = self._ingest_job(params["job"])
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "text/csv":
            raise ApiError(400, "INVALIDJOB", f"Unsupported content type: {media or 'none'}; upload text/csv")
        if job.state != "Open":
            raise ApiError(409, "INVALIDJOBSTATE", f"Job is in state {job.state}; data can be uploaded to Open jobs")
        if job.content is not None:
            raise ApiError(
                400,
                "BULK_API_ERROR",
                f"Found multiple contents for job: <{job.id}>, please 'Close' / 'Abort' / 'Delete' the current Job "
                "then create a new Job and make sure the CSV file is uploaded only once.",
            )
        content = await request.body()
        if len(content) > MAX_UPLOAD_BYTES:
            raise ApiError(400, "INVALIDJOB", "The upload exceeds the 150 MB limit of one job")
        job.content = content
        return Response(status_code=201)

    async def ingest_get(self, request: Request, params: dict[str, str]) -> Response:
        job = self._ingest_job(params["job"])
        if job.state == "UploadComplete":
            job.state = "InProgress"
        elif job.state == "InProgress":
            process(job, self.store, self.duplicate_rule)
        return json_response(job.describe())

    async def ingest_patch(self, request: Request, params: dict[str, str]) -> Response:
        job = self._ingest_job(params["job"])
        body = await self._json_object(request, "IngestJob")
        state = body.get("state")
        if state not in ("UploadComplete", "Aborted"):
            raise ApiError(400, "INVALIDJOB", f"Invalid state: {state}; expected UploadComplete or Aborted")
        if state == "UploadComplete" and job.state != "Open":
            raise ApiError(409, "INVALIDJOBSTATE", f"Job is in state {job.state}; only an Open job can be closed")
        if state == "Aborted" and job.state in ("JobComplete", "Failed", "Aborted"):
            raise ApiError(409, "INVALIDJOBSTATE", f"Job is in state {job.state} and cannot be aborted")
        if state == "Aborted":
            abort(job)
        else:
            job.state = state
        return json_response(job.describe())

    async def ingest_delete(self, request: Request, params: dict[str, str]) -> Response:
        job = self._ingest_job(params["job"])
        if job.state in ("Open", "UploadComplete", "InProgress"):
            raise ApiError(409, "INVALIDJOBSTATE", f"Job is in state {job.state}; abort it before deleting it")
        self.ingest.delete(job.id)
        return Response(status_code=204)

    async def ingest_results(self, request: Request, params: dict[str, str]) -> Response:
        kinds = {"successfulresults": "successfulResults", "failedresults": "failedResults",
                 "unprocessedrecords": "unprocessedrecords"}  # fmt: skip
        kind = kinds.get(params["results"].lower())
        if kind is None:
            raise not_found()
        job = self._ingest_job(params["job"])
        if job.state not in ("JobComplete", "Failed", "Aborted"):
            raise ApiError(400, "INVALIDJOB", f"Results are not available: the job is in state {job.state}")
        return Response(job.results_csv(kind), media_type="text/csv")


def _rolled_back_all(type_errors: list[dict[str, Any] | None]) -> list[dict[str, Any]]:
    rolled = {
        "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "message": "Record rolled back because not all records were valid and the request was using AllOrNone header",
        "fields": [],
    }
    return [{"success": False, "errors": [err or rolled]} for err in type_errors]
