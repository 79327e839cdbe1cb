"""Genesys Cloud error bodies (`ErrorBody`) and the exception the simulator raises to answer with one.

Every error the simulator returns has the real shape: `{message, code, status, messageParams, contextId, details,
errors}`, with `contextId` equal to the response's `ININ-Correlation-Id` header.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from contact_sync.simulators.faults import FaultRule


class ApiError(Exception):
    """Raised anywhere in a request to answer with an ErrorBody of this status and code."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.headers = headers or {}

    def body(self, context_id: str) -> dict[str, Any]:
        return error_body(self.status, self.code, self.message, self.details, context_id)


def error_body(
    status: int, code: str, message: str, details: list[dict[str, Any]] | None = None, context_id: str = ""
) -> dict[str, Any]:
    return {
        "message": message,
        "code": code,
        "status": status,
        "messageParams": {},
        "contextId": context_id,
        "details": details or [],
        "errors": [],
    }


def field_detail(field: str, code: str = "invalid.value", entity_id: str | None = None) -> dict[str, Any]:
    """One `details` entry naming the field that failed validation."""
    detail: dict[str, Any] = {"errorCode": code, "fieldName": field}
    if entity_id:
        detail["entityId"] = entity_id
    return detail


def bad_request(message: str, field: str | None = None, code: str = "invalid.value") -> ApiError:
    details = [field_detail(field, code)] if field else []
    return ApiError(400, "bad.request", message, details)


def not_found(what: str, ident: str) -> ApiError:
    return ApiError(404, "not.found", f"Unable to find {what} with id {ident}")


def rate_limited(retry_after: int) -> ApiError:
    return ApiError(
        429,
        "too.many.requests.retry.after",
        f"Rate limit exceeded the maximum. Retry the request in [{retry_after}] seconds",
        headers={"Retry-After": str(retry_after)},
    )


def bad_token() -> ApiError:
    return ApiError(401, "bad.credentials", "Invalid login credentials.")


def new_correlation_id() -> str:
    return str(uuid.uuid4())


_FAULT_ERRORS: dict[str, tuple[int, str, str]] = {
    "500": (500, "internal.server.error", "The server encountered an unexpected condition."),
    "503": (503, "service.unavailable", "Service Unavailable"),
    "expired_token": (401, "bad.credentials", "Invalid login credentials."),
}


def render_fault(kind: str, rule: FaultRule) -> tuple[int, dict[str, str], bytes]:
    """A fault as the real service would answer it (the renderer `FaultMiddleware` calls)."""
    if kind == "429":
        err = rate_limited(rule.retry_after)
    else:
        status, code, message = _FAULT_ERRORS[kind]
        err = ApiError(status, code, message)
        if kind == "503":
            err.headers["Retry-After"] = str(rule.retry_after)
    context_id = new_correlation_id()
    headers = {"content-type": "application/json", "inin-correlation-id": context_id, **err.headers}
    return err.status, headers, orjson.dumps(err.body(context_id))
