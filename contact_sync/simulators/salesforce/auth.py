"""Logging in: the OAuth 2.0 token endpoint (password, client_credentials and refresh_token grants) and the SOAP
partner login.

Both hand out a session id kept in the store's `session` table, so it stays valid across a restart on the same state
folder until `expire_sessions()`. Replies follow the real ones: OAuth errors are `{error, error_description}` with
400; a failed SOAP login is a 500 SOAP fault carrying `sf:exceptionCode` INVALID_LOGIN.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape

ORG_ID = "00D5g000004SimEAA"
USER_ID = "0055g000000SimUAAS"


@dataclass(frozen=True)
class Credentials:
    """What the simulated org accepts (never logged: `repr` hides the secrets)."""

    client_id: str
    client_secret: str
    username: str
    password: str
    security_token: str
    refresh_token: str = ""
    """The one refresh token the org honours (as if a user had authorized the connected app); "" for none."""

    def __repr__(self) -> str:
        return f"Credentials(client_id={self.client_id!r}, username={self.username!r}, secrets=***)"

    def password_ok(self, given: str) -> bool:
        """The password alone, or followed by the security token, as the real login accepts both from trusted IPs."""
        return hmac.compare_digest(given, self.password + self.security_token) or hmac.compare_digest(
            given, self.password
        )


def new_session_id() -> str:
    return f"{ORG_ID[:15]}!{secrets.token_urlsafe(72)}"


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.status = status
        self.body = {"error": error, "error_description": description}


def token_reply(form: dict[str, str], authorization: str | None, creds: Credentials, instance_url: str) -> dict:
    """Check a token request and return the success body (the caller stores `access_token`); raises OAuthError."""
    grant = form.get("grant_type", "")
    client_id = form.get("client_id")
    client_secret = form.get("client_secret")
    if authorization and authorization.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(authorization[6:].strip()).decode()
            client_id, _, client_secret = decoded.partition(":")
        except (ValueError, UnicodeDecodeError) as exc:
            raise OAuthError("invalid_client", "invalid client credentials") from exc
    if grant not in ("password", "client_credentials", "refresh_token"):
        raise OAuthError("unsupported_grant_type", "grant type not supported")
    if not client_id or not hmac.compare_digest(client_id, creds.client_id):
        raise OAuthError("invalid_client_id", "client identifier invalid")
    # A refresh may leave the secret out (a connected app that does not require it for refresh); one sent must match.
    secret_optional = grant == "refresh_token" and not client_secret
    if not secret_optional and (not client_secret or not hmac.compare_digest(client_secret, creds.client_secret)):
        raise OAuthError("invalid_client", "invalid client credentials")
    if grant == "refresh_token" and (
        not creds.refresh_token or not hmac.compare_digest(form.get("refresh_token") or "", creds.refresh_token)
    ):
        raise OAuthError("invalid_grant", "expired access/refresh token")
    if grant == "password" and (
        form.get("username") != creds.username or not creds.password_ok(form.get("password") or "")
    ):
        raise OAuthError("invalid_grant", "authentication failure")
    token = new_session_id()
    issued = str(int(time.time() * 1000))
    signature = base64.b64encode(
        hmac.new(creds.client_secret.encode(), f"{instance_url}{issued}".encode(), hashlib.sha256).digest()
    ).decode()
    return {
        "access_token": token,
        "instance_url": instance_url,
        "id": f"{instance_url}/id/{ORG_ID}/{USER_ID}",
        "token_type": "Bearer",
        "issued_at": issued,
        "signature": signature,
        "scope": "api",
    }


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_soap_login(body: bytes) -> tuple[str, str] | None:
    """(username, password) from a partner `login` envelope, or None when it is not one."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return None
    for el in root.iter():
        if _local(el.tag) == "login":
            values: dict[str, Any] = {_local(child.tag): (child.text or "") for child in el}
            if "username" in values and "password" in values:
                return values["username"], values["password"]
    return None


def soap_success(session_id: str, instance_url: str, version: str) -> str:
    server_url = f"{instance_url}/services/Soap/u/{version}/{ORG_ID[:15]}"
    return (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/'
        'envelope/" xmlns="urn:partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<soapenv:Body><loginResponse><result>"
        f"<metadataServerUrl>{escape(instance_url)}/services/Soap/m/{version}/{ORG_ID[:15]}</metadataServerUrl>"
        "<passwordExpired>false</passwordExpired><sandbox>false</sandbox>"
        f"<serverUrl>{escape(server_url)}</serverUrl><sessionId>{escape(session_id)}</sessionId>"
        f"<userId>{USER_ID}</userId><userInfo><organizationId>{ORG_ID}</organizationId>"
        "<userFullName>Simulated Integration User</userFullName></userInfo>"
        "</result></loginResponse></soapenv:Body></soapenv:Envelope>"
    )


def soap_fault(code: str, message: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/'
        'envelope/" xmlns:sf="urn:fault.partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"<soapenv:Body><soapenv:Fault><faultcode>sf:{code}</faultcode><faultstring>{code}: {escape(message)}"
        f'</faultstring><detail><sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>{code}</sf:exceptionCode>'
        f"<sf:exceptionMessage>{escape(message)}</sf:exceptionMessage></sf:LoginFault></detail></soapenv:Fault>"
        "</soapenv:Body></soapenv:Envelope>"
    )
