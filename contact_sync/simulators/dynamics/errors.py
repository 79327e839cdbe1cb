"""Dataverse Web API error bodies (`{"error": {"code": "0x...", "message": "..."}}`) and the exception that answers one.

Codes follow what the real service returns where known: 0x80040217 (record not found), 0x80060882 (If-Match version
mismatch), 0x80060888 (bad query: unknown property, `$skip`, syntax), 0x80048d19 (bad payload: malformed JSON, unknown
property, wrong type), 0x80044331 (value longer than the column), 0x80072322 (service protection: request count).
Unconfirmed choices, kept configurable-by-edit in one place here: 0x80040203 for a missing required column,
0x80072491 for change tracking not enabled, 0x80044352 for an expired delta token, 0x80040237 for a duplicate key.
A bad or expired token gets a 401 with an empty body and a `WWW-Authenticate: Bearer ...` header, as the real service.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from contact_sync.simulators.faults import FaultRule

NOT_FOUND = "0x80040217"
VERSION_MISMATCH = "0x80060882"
BAD_QUERY = "0x80060888"
BAD_PAYLOAD = "0x80048d19"
TOO_LONG = "0x80044331"
REQUIRED = "0x80040203"
CHANGE_TRACKING_OFF = "0x80072491"
DELTA_TOKEN_EXPIRED = "0x80044352"
DUPLICATE_KEY = "0x80040237"
REQUEST_LIMIT = "0x80072322"
UNEXPECTED = "0x80040216"


class ApiError(Exception):
    """Raised anywhere in a request to answer with this status and Dataverse error body (or `raw_body`)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
        raw_body: bytes | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.raw_body = raw_body

    def body(self) -> bytes:
        if self.raw_body is not None:
            return self.raw_body
        return orjson.dumps(error_body(self.code, self.message))


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def bad_query(message: str) -> ApiError:
    return ApiError(400, BAD_QUERY, message)


def unknown_property(entity_type: str, name: str) -> ApiError:
    return bad_query(f"Could not find a property named '{name}' on type '{entity_type}'.")


def bad_payload(entity_set: str, inner: str) -> ApiError:
    return ApiError(
        400,
        BAD_PAYLOAD,
        f"Error identified in Payload provided by the user for Entity :'{entity_set}', For more information on this "
        f"error please follow this help link https://go.microsoft.com/fwlink/?linkid=2195293  ----> "
        f"InnerException : Microsoft.OData.ODataException: {inner}",
    )


def not_found(logical_name: str, record_id: str) -> ApiError:
    return ApiError(404, NOT_FOUND, f"{logical_name} With Id = {record_id} Does Not Exist")


def version_mismatch() -> ApiError:
    return ApiError(
        412, VERSION_MISMATCH, "The version of the existing record doesn't match the RowVersion property provided."
    )


def request_limit(limit: int, window_s: int, retry_after: int) -> ApiError:
    return ApiError(
        429,
        REQUEST_LIMIT,
        f"Number of requests exceeded the limit of {limit} over time window of {window_s} seconds.",
        headers={"Retry-After": str(retry_after)},
    )


def unauthorized(expired: bool = False) -> ApiError:
    detail = ', error="invalid_token", error_description="The access token expired"' if expired else ""
    header = f"Bearer authorization_uri=https://login.microsoftonline.com/common/oauth2/authorize{detail}"
    return ApiError(401, "", "", headers={"WWW-Authenticate": header}, raw_body=b"")


def new_request_id() -> str:
    return str(uuid.uuid4())


_FAULT_ERRORS: dict[str, tuple[int, str, str]] = {
    "500": (500, UNEXPECTED, "An unexpected error occurred."),
    "503": (503, "", "Service Unavailable"),
}


def render_fault(kind: str, rule: FaultRule) -> tuple[int, dict[str, str], bytes]:
    """A fault as the real service would answer it (the renderer `FaultMiddleware` calls)."""
    if kind == "429":
        err = request_limit(6000, 300, rule.retry_after)
    elif kind == "expired_token":
        err = unauthorized(expired=True)
    else:
        status, code, message = _FAULT_ERRORS[kind]
        err = ApiError(status, code, message)
        if kind == "503":
            err.headers["Retry-After"] = str(rule.retry_after)
    headers = {"content-type": "application/json; odata.metadata=minimal", "x-ms-service-request-id": new_request_id()}
    headers.update(err.headers)
    return err.status, headers, err.body()
