"""The Microsoft identity platform's discovery documents, as the simulator serves them next to its token endpoint:
the tenant's OpenID configuration (`/{tenant}/v2.0/.well-known/openid-configuration`) and instance discovery
(`/common/discovery/instance?authorization_endpoint=...`), which MSAL and azure-identity read before asking for a
token. Every endpoint named points at this host; an unknown tenant or instance gets the platform's error."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from contact_sync.simulators.dynamics.auth import OAuthError

OPENID_PATH = "/{tenant}/v2.0/.well-known/openid-configuration"
INSTANCE_DISCOVERY_PATH = "/common/discovery/instance"


def _unknown_tenant(tenant: str) -> OAuthError:
    return OAuthError(
        400,
        "invalid_tenant",
        90002,
        f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the "
        "correct cloud.",
    )


def openid_configuration(origin: str, tenant: str, known_tenant: str) -> dict[str, Any]:
    if tenant.lower() != known_tenant.lower():
        raise _unknown_tenant(tenant)
    base = f"{origin}/{known_tenant}"
    return {
        "token_endpoint": f"{base}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "jwks_uri": f"{origin}/{known_tenant}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{base}/v2.0",
        "request_uri_parameter_supported": False,
        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid", "appid", "ver"],
        "tenant_region_scope": "NA",
        "cloud_instance_name": urlsplit(origin).netloc,
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    }


def instance_discovery(origin: str, authorization_endpoint: str | None, known_tenant: str) -> dict[str, Any]:
    """Instance discovery for an authorization endpoint on this host (its tenant's OpenID configuration and this
    host's aliases); any other host is `invalid_instance`, as the platform answers for an authority it does not
    know."""
    host = urlsplit(origin).netloc
    asked = urlsplit(authorization_endpoint or "")
    if (asked.hostname or "").lower() != (urlsplit(origin).hostname or "").lower():  # MSAL drops the port
        raise OAuthError(400, "invalid_instance", 50049, "Unknown or invalid instance.")
    tenant = asked.path.strip("/").split("/")[0] or known_tenant
    if tenant.lower() not in (known_tenant.lower(), "common", "organizations"):
        raise _unknown_tenant(tenant)
    return {
        "tenant_discovery_endpoint": f"{origin}/{tenant}/v2.0/.well-known/openid-configuration",
        "api-version": "1.1",
        "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
    }
