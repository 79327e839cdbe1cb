"""The `requests.Session` simple-salesforce runs on: CA bundle, retries, session renewal, call counting, API usage.

Every call simple-salesforce makes (REST, queries, Bulk API 2.0, logins) goes through `SalesforceSession.request`,
which applies the shared retry loop of `connectors.http`, counts the call per endpoint, reads `Sforce-Limit-Info`,
puts the current session id in the `Authorization` header, and, on `INVALID_SESSION_ID`, logs in again once and
repeats the call once. Failures leave as the typed errors of `connectors.http`, never as simple-salesforce's own.

simple-salesforce itself is only ever given a session id (its "direct" mode), so its own re-login on 401, which
repeats the call recursively, never runs: renewal happens here, at most once per call.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3

from contact_sync.connectors.http import (
    AuthError,
    CallCounter,
    ConnectorError,
    Decision,
    OutcomeUnknown,
    RequestRejected,
    RetryPolicy,
    call_with_retries,
    retry_after_seconds,
    route_template,
)
from contact_sync.connectors.results import WriteReport
from contact_sync.settings import Secret, redact

log = logging.getLogger(__name__)

_LIMIT_INFO = re.compile(r"api-usage=(?P<used>\d+)/(?P<total>\d+)")


class ApiLimitExceeded(RequestRejected):
    """Salesforce refused the call with `REQUEST_LIMIT_EXCEEDED`: the org's daily API allocation is used up.

    Nothing more can be done until the allocation renews; the run should stop and report it. When raised by a
    write, `report` holds the outcomes of the records handled before the limit was hit.
    """

    report: WriteReport | None = None


@dataclass(frozen=True)
class ApiUsage:
    """The org's API usage from the last `Sforce-Limit-Info` header seen: `used` of `total` daily calls."""

    used: int
    total: int

    @property
    def remaining(self) -> int:
        return max(0, self.total - self.used)


def parse_limit_info(header: str) -> ApiUsage | None:
    """`api-usage=18/5000` (possibly followed by `per-app-api-usage=...`) as an `ApiUsage`."""
    match = _LIMIT_INFO.search(header)
    if match is None or header[: match.start()].endswith("per-app-"):
        return None
    return ApiUsage(int(match["used"]), int(match["total"]))


def salesforce_errors(response: requests.Response) -> tuple[str, str]:
    """(errorCode, message) of a Salesforce error response `[{"errorCode", "message"}]`; empty strings if absent."""
    try:
        body = response.json()
    except ValueError:
        return "", response.text.strip()[:500]
    if isinstance(body, list) and body and isinstance(body[0], dict):
        codes = [str(item.get("errorCode", "")) for item in body if isinstance(item, dict)]
        messages = [str(item.get("message", "")) for item in body if isinstance(item, dict)]
        return codes[0], "; ".join(m for m in messages if m)
    if isinstance(body, dict):
        code = str(body.get("errorCode") or body.get("error") or "")
        return code, str(body.get("message") or body.get("error_description") or "")
    return "", response.text.strip()[:500]


def _is_login(path: str) -> bool:
    return path.endswith("/services/oauth2/token") or "/services/Soap/u/" in path


def _is_create(method: str, path: str) -> bool:
    """POST /composite/sobjects creates records: repeating it after an ambiguous failure could create them twice."""
    return method.upper() == "POST" and path.rstrip("/").endswith("/composite/sobjects")


def _never_sent(exc: BaseException) -> bool:
    """True when a requests exception proves the request never reached the service (connect phase failures)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError) and exc.args:
        reason = exc.args[0]
        if isinstance(reason, urllib3.exceptions.MaxRetryError):
            reason = reason.reason
        return isinstance(reason, urllib3.exceptions.NewConnectionError)
    return False


class SalesforceSession(requests.Session):
    """A requests session that retries, renews the Salesforce session once on expiry, and counts every call.

    `renew` logs in again and returns the new session id (None when the settings allow no new login).
    """

    def __init__(
        self,
        *,
        ca_bundle: str | None,
        retry: RetryPolicy,
        counter: CallCounter,
        renew: Callable[[], Secret | None],
        secrets: list[Secret | None],
        timeout: float = 60.0,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        super().__init__()
        if ca_bundle:
            self.verify = ca_bundle
        self.retry = retry
        self.counter = counter
        self.timeout = timeout
        self.session_id: Secret | None = None
        self.api_usage: ApiUsage | None = None
        self._renew = renew
        self._secrets = secrets
        self._sleep = sleep

    def secrets(self) -> list[Secret | None]:
        return [*self._secrets, self.session_id]

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        method = method.decode() if isinstance(method, bytes) else method
        url = url.decode() if isinstance(url, bytes) else url
        path = urlsplit(url).path
        endpoint = route_template(method, url)
        headers = dict(kwargs.pop("headers", None) or {})
        kwargs.setdefault("timeout", self.timeout)
        # Per request, because requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's `verify`.
        kwargs.setdefault("verify", self.verify)
        carries_session = str(headers.get("Authorization", "")).startswith("Bearer ")
        login_call = _is_login(path)
        repeatable = not _is_create(method, path)
        renewed = False

        def attempt() -> requests.Response:
            if carries_session and self.session_id is not None:
                headers["Authorization"] = f"Bearer {self.session_id.reveal()}"
            self.counter.count(endpoint)
            response = super(SalesforceSession, self).request(method, url, *args, headers=headers, **kwargs)
            limit_info = response.headers.get("Sforce-Limit-Info")
            if limit_info:
                self.api_usage = parse_limit_info(limit_info) or self.api_usage
            return response

        def classify(response: requests.Response | None, exc: BaseException | None) -> Decision:
            nonlocal renewed
            if exc is not None:
                if isinstance(exc, ConnectorError):
                    return Decision.fail(exc)
                if not isinstance(exc, requests.exceptions.RequestException):
                    return Decision("raise", type(exc).__name__)
                reason = redact(f"{type(exc).__name__}: {exc}", self.secrets())
                if isinstance(exc, requests.exceptions.SSLError):
                    return Decision.fail(
                        ConnectorError(f"{endpoint}: TLS failed (is SALESFORCE_CA_BUNDLE right?): {reason}")
                    )
                if repeatable or _never_sent(exc):
                    return Decision.retry(reason)
                return Decision.fail(OutcomeUnknown(f"{endpoint}: {reason}", endpoint=endpoint))
            assert response is not None
            status = response.status_code
            if status < 400:
                return Decision.done()
            code, message = salesforce_errors(response)
            message = redact(message, self.secrets())
            if status == 429:
                return Decision.rate_limited(retry_after_seconds(response), f"429 {code} {message}")
            if login_call and (status < 500 or b"Fault>" in response.content):
                # Refused credentials: the login code turns this answer into an AuthError naming the service's reason.
                return Decision.done()
            if status == 401 and carries_session:
                if renewed:
                    return Decision.fail(
                        AuthError(
                            f"{endpoint}: the Salesforce session expired again after a new login: {code} {message}",
                            status=401,
                            endpoint=endpoint,
                        )
                    )
                renewed = True
                if self._renew() is None:
                    return Decision.fail(
                        AuthError(
                            f"{endpoint}: the Salesforce session expired ({code}) and the settings allow no new login",
                            status=401,
                            endpoint=endpoint,
                        )
                    )
                return Decision.again(f"{code or 401}: logged in again")
            if status == 403 and code == "REQUEST_LIMIT_EXCEEDED":
                return Decision.fail(
                    ApiLimitExceeded(
                        f"Salesforce daily API limit reached ({code}): {message}. Stop and run again when the "
                        "allocation renews.",
                        status=403,
                        endpoint=endpoint,
                    )
                )
            if status == 503 or (status >= 500 and repeatable):
                return Decision.retry(f"{status} {code} {message}")
            if status >= 500:
                return Decision.fail(
                    OutcomeUnknown(f"{endpoint}: {status} {code} {message}", status=status, endpoint=endpoint)
                )
            return Decision.fail(
                RequestRejected(
                    f"{endpoint}: {status} {code}: {message}".strip(),
                    status=status,
                    endpoint=endpoint,
                    body=_json_or_text(response),
                )
            )

        extra: dict[str, Any] = {"sleep": self._sleep} if self._sleep is not None else {}
        return call_with_retries(attempt, classify, policy=self.retry, what=endpoint, secrets=self.secrets(), **extra)

    def __repr__(self) -> str:
        return f"SalesforceSession(calls={self.counter.total})"


def _json_or_text(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text
