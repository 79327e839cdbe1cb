"""Reading the credentials a client sends in an `Authorization` header: HTTP Basic (token requests) and Bearer."""

from __future__ import annotations

import base64
import binascii


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(client id, secret) from an `Authorization: Basic ...` header, None when absent or malformed."""
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (client_id, secret) if sep else None


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer ...` header, None when absent or another scheme."""
    if not header or header[:7].lower() != "bearer ":
        return None
    return header[7:].strip()
