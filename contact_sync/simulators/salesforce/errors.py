"""Salesforce error bodies: `[{"message", "errorCode", "fields"?}]` for REST calls, and the fault renderer.

Handlers raise `ApiError`; the app turns it into the status and JSON list the real service sends. Per-record errors
of sObject Collections use `statusCode` instead of `errorCode` and are built by `record_error`.
"""

from __future__ import annotations

import secrets
from typing import Any

import orjson

from contact_sync.simulators.faults import FaultRule

SESSION_EXPIRED = "Session expired or invalid"
NOT_FOUND_MESSAGE = "The requested resource does not exist"


class ApiError(Exception):
    """An error answer: HTTP status and one or more `{message, errorCode, fields?}` entries."""

    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        entry: dict[str, Any] = {"message": message, "errorCode": code}
        if fields is not None:
            entry["fields"] = fields
        self.entries: list[dict[str, Any]] = [entry]
        self.headers: dict[str, str] = {}

    @classmethod
    def from_record_errors(cls, status: int, errors: list[dict[str, Any]]) -> ApiError:
        """A REST error from validation errors in collection shape (`statusCode` becomes `errorCode`)."""
        first = errors[0]
        err = cls(status, first["statusCode"], first["message"], first.get("fields"))
        err.entries = [
            {"message": e["message"], "errorCode": e["statusCode"], "fields": e.get("fields", [])} for e in errors
        ]
        return err

    def body(self) -> bytes:
        return orjson.dumps(self.entries)


def record_error(code: str, message: str, fields: list[str] | None = None) -> dict[str, Any]:
    """One per-record error as sObject Collections (and validation) report it."""
    return {"statusCode": code, "message": message, "fields": fields or []}


def not_found() -> ApiError:
    return ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)


def invalid_session() -> ApiError:
    return ApiError(401, "INVALID_SESSION_ID", SESSION_EXPIRED)


def unknown_exception_message() -> str:
    return (
        "An unexpected error occurred. Please include this ErrorId if you contact support: "
        f"{secrets.randbelow(10**9)}-{secrets.randbelow(10**5)} ({secrets.randbelow(10**9) - 10**9})"
    )


def render_fault(kind: str, rule: FaultRule) -> tuple[int, dict[str, str], bytes]:
    """Render an injected fault as Salesforce would answer it (see `FaultMiddleware`)."""
    json_type = {"Content-Type": "application/json;charset=UTF-8"}
    if kind == "429":
        body = [{"message": "Too many requests; retry later.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
        return 429, {**json_type, "Retry-After": str(rule.retry_after)}, orjson.dumps(body)
    if kind == "503":
        body = [{"message": "Server temporarily unavailable, please retry.", "errorCode": "SERVER_UNAVAILABLE"}]
        return 503, {**json_type, "Retry-After": str(rule.retry_after)}, orjson.dumps(body)
    if kind == "expired_token":
        return 401, json_type, orjson.dumps([{"message": SESSION_EXPIRED, "errorCode": "INVALID_SESSION_ID"}])
    body = [{"message": unknown_exception_message(), "errorCode": "UNKNOWN_EXCEPTION"}]
    return 500, json_type, orjson.dumps(body)
