"""HubSpot error bodies and the exception the simulator raises to answer with one.

Every error the API answers has HubSpot's shape: `{status: "error", message, correlationId, category}` plus, where
HubSpot gives them, `errors: [{message, code, context}]`, `context`, or (rate limits) `errorType` and `policyName`.
`correlationId` equals the response's `X-HubSpot-Correlation-Id` header. Batch answers (207) carry per-input errors in
the `StandardError` shape instead (`batch_error`).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import orjson

from contact_sync.simulators.faults import FaultRule

JSON_TYPE = "application/json;charset=utf-8"
CORRELATION_HEADER = "X-HubSpot-Correlation-Id"
AUTH_NOT_FOUND = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details "
    "at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)


class ApiError(Exception):
    """Raised anywhere in a request to answer with this status and HubSpot error body (without correlationId)."""

    def __init__(
        self,
        status: int,
        category: str,
        message: str,
        *,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message
        self.extra = extra or {}
        self.headers = headers or {}

    def body(self, correlation_id: str) -> dict[str, Any]:
        body: dict[str, Any] = {"status": "error", "message": self.message, "correlationId": correlation_id}
        if self.category:
            body["category"] = self.category
        body.update(self.extra)
        return body


def new_correlation_id() -> str:
    return str(uuid.uuid4())


def validation_error(message: str, errors: list[dict[str, Any]] | None = None) -> ApiError:
    return ApiError(400, "VALIDATION_ERROR", message, extra={"errors": errors} if errors else None)


def invalid_json(detail: str) -> ApiError:
    return validation_error(f"Invalid input JSON {detail}")


def property_errors(failures: list[dict[str, str]]) -> ApiError:
    """400 for invalid property values, as HubSpot words it: the message embeds the validation results as JSON, and
    `errors` lists one entry per failure with its `code` and the property in `context.propertyName`.

    Each failure is `{"name", "error" (the code), "message"}`.
    """
    results = [{"isValid": False, "message": f["message"], "error": f["error"], "name": f["name"]} for f in failures]
    message = "Property values were not valid: " + json.dumps(results, separators=(",", ":"))
    errors = [{"message": f["message"], "code": f["error"], "context": {"propertyName": [f["name"]]}} for f in failures]
    return validation_error(message, errors)


def unknown_property(name: str) -> dict[str, str]:
    return {"name": name, "error": "PROPERTY_DOESNT_EXIST", "message": f'Property "{name}" does not exist'}


def conflict(message: str) -> ApiError:
    return ApiError(409, "CONFLICT", message)


def not_found(message: str = "resource not found") -> ApiError:
    return ApiError(404, "OBJECT_NOT_FOUND", message)


def invalid_authentication() -> ApiError:
    return ApiError(401, "INVALID_AUTHENTICATION", AUTH_NOT_FOUND)


def expired_authentication(minutes_ago: int, expired_at: str | None = None) -> ApiError:
    return ApiError(
        401,
        "EXPIRED_AUTHENTICATION",
        f"The OAuth token used to make this call expired {minutes_ago} minute(s) ago.",
        extra={"context": {"expire time": [expired_at]}} if expired_at else None,
    )


RATE_LIMIT_MESSAGES = {
    "TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
    "SECONDLY": "You have reached your secondly limit.",
    "DAILY": "You have reached your daily limit.",
}


def rate_limited(policy: str, headers: dict[str, str] | None = None) -> ApiError:
    """429 in HubSpot's rate-limit shape: no `category`, but `errorType` and the `policyName` that was exhausted."""
    return ApiError(
        429,
        "",
        RATE_LIMIT_MESSAGES[policy],
        extra={"errorType": "RATE_LIMIT", "policyName": policy},
        headers=headers,
    )


def batch_error(category: str, message: str, context: dict[str, list[str]], details: list | None = None) -> dict:
    """One entry of a 207 answer's `errors` (the client's `StandardError`, which requires `links` and `errors`)."""
    return {
        "status": "error",
        "category": category,
        "message": message,
        "context": context,
        "links": {},
        "errors": details or [],
    }


_FAULT_ERRORS: dict[str, tuple[int, str, str]] = {
    "500": (500, "INTERNAL_ERROR", "internal error"),
    "503": (503, "SERVICE_UNAVAILABLE", "Service Unavailable"),
}


def render_fault(kind: str, rule: FaultRule) -> tuple[int, dict[str, str], bytes]:
    """A fault as HubSpot would answer it (the renderer `FaultMiddleware` calls).

    429 names the policy of the path (`SECONDLY` for search, else `TEN_SECONDLY_ROLLING`); 429 and 503 carry the
    rule's `Retry-After`; `expired_token` is the 401 of an expired OAuth token.
    """
    if kind == "429":
        policy = "SECONDLY" if rule.path and "search" in rule.path else "TEN_SECONDLY_ROLLING"
        err = rate_limited(policy, {"Retry-After": str(rule.retry_after)})
    elif kind == "expired_token":
        err = expired_authentication(0)
    else:
        status, category, message = _FAULT_ERRORS[kind]
        err = ApiError(status, category, message)
        if kind == "503":
            err.headers["Retry-After"] = str(rule.retry_after)
    correlation_id = new_correlation_id()
    headers = {"content-type": JSON_TYPE, CORRELATION_HEADER.lower(): correlation_id, **err.headers}
    return err.status, headers, orjson.dumps(err.body(correlation_id))
