"""`POST /$batch` as the Web API takes it: a multipart/mixed body of HTTP requests, some grouped in changesets.

Each part is `Content-Type: application/http` holding one request (`METHOD URL HTTP/1.1`, headers, blank line, body);
a part of type `multipart/mixed` is a changeset, whose requests succeed or fail together. The reply is a
multipart/mixed body of HTTP responses in the same order (a failed changeset answers with its failing response
alone). Inside a changeset, `$<Content-ID>` of an earlier request stands for the record it created, at the start of
a later request's URL (`$1` or `$1/...`) or as an `@odata.bind` value, as the service resolves them
(`resolve_references`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from starlette.responses import Response

_BOUNDARY_RE = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_REQUEST_LINE_RE = re.compile(r"^(GET|POST|PATCH|PUT|DELETE)\s+(\S+)(?:\s+HTTP/1\.[01])?$", re.IGNORECASE)


# Header names as the real service writes them (Starlette keeps them lower case).
_CASED = {
    "content-type": "Content-Type",
    "etag": "ETag",
    "odata-entityid": "OData-EntityId",
    "odata-version": "OData-Version",
    "preference-applied": "Preference-Applied",
    "retry-after": "Retry-After",
    "www-authenticate": "WWW-Authenticate",
}


class BatchError(ValueError):
    """A `$batch` body that cannot be read."""


@dataclass
class BatchPart:
    """One request inside a batch."""

    method: str
    url: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    content_id: str | None = None


def resolve_references(part: BatchPart, created: dict[str, str]) -> BatchPart:
    """The part with `$<Content-ID>` references to records created earlier in its changeset replaced by their URLs
    (`created`: Content-ID -> the `OData-EntityId` of the record); an unknown reference is left for the dispatch to
    refuse."""
    if not created:
        return part
    url = part.url
    m = re.match(r"^\$([^/?]+)", url)
    if m and m.group(1) in created:
        url = created[m.group(1)] + url[m.end() :]
    body = part.body
    if body:

        def bind(found: re.Match[bytes]) -> bytes:
            target = created.get(found.group(2).decode())
            if target is None:
                return found.group(0)
            path = re.sub(r"^[a-z]+://[^/]+/api/data/v9\.2", "", target, flags=re.IGNORECASE)
            return found.group(1) + b'"' + path.encode() + b'"'

        body = re.sub(rb'(@odata\.bind"\s*:\s*)"\$([^"]+)"', bind, body)
    return BatchPart(part.method, url, part.headers, body, part.content_id)


def _boundary(content_type: str) -> str:
    if content_type.split(";")[0].strip().lower() != "multipart/mixed":
        raise BatchError(f"The content type '{content_type or 'none'}' of a $batch must be multipart/mixed.")
    m = _BOUNDARY_RE.search(content_type)
    if not m:
        raise BatchError("The multipart/mixed content type of a $batch must name its boundary.")
    return m.group(1).strip()


def _split_head(blob: bytes) -> tuple[list[tuple[str, str]], bytes]:
    """(headers, rest) of a block whose headers end at the first blank line."""
    blob = blob.replace(b"\r\n", b"\n")
    head, _, rest = blob.partition(b"\n\n")
    headers = []
    for line in head.decode("utf-8", "replace").split("\n"):
        if line.strip():
            name, sep, value = line.partition(":")
            if not sep:
                raise BatchError(f"Malformed header line in a $batch part: '{line}'.")
            headers.append((name.strip(), value.strip()))
    return headers, rest


def _parts(body: bytes, boundary: str) -> list[bytes]:
    delimiter = b"--" + boundary.encode()
    segments = body.split(delimiter)
    if len(segments) < 2 or not segments[-1].lstrip().startswith(b"--"):
        raise BatchError(f"The $batch body does not end with the closing boundary '--{boundary}--'.")
    parts = []
    for segment in segments[1:-1]:
        parts.append(segment.removeprefix(b"\r\n").removeprefix(b"\n").removesuffix(b"\n").removesuffix(b"\r"))
    return parts


def _request(part: bytes, headers: list[tuple[str, str]]) -> BatchPart:
    kinds = {k.lower(): v for k, v in headers}
    if kinds.get("content-type", "").split(";")[0].strip().lower() != "application/http":
        raise BatchError("Each $batch part must be application/http or a multipart/mixed changeset.")
    text = part.replace(b"\r\n", b"\n")
    line, _, rest = text.partition(b"\n")
    m = _REQUEST_LINE_RE.match(line.decode("utf-8", "replace").strip())
    if not m:
        raise BatchError(f"Malformed request line in a $batch part: '{line.decode('utf-8', 'replace')}'.")
    inner_headers, body = _split_head(rest)
    return BatchPart(m.group(1).upper(), m.group(2), inner_headers, body.rstrip(b"\n"), kinds.get("content-id"))


def parse_batch(content_type: str, body: bytes) -> list[BatchPart | list[BatchPart]]:
    """The requests of a batch, a changeset as a list of its requests."""
    out: list[BatchPart | list[BatchPart]] = []
    for part in _parts(body, _boundary(content_type)):
        headers, rest = _split_head(part)
        kind = next((v for k, v in headers if k.lower() == "content-type"), "")
        if kind.split(";")[0].strip().lower() == "multipart/mixed":
            changeset = []
            for inner in _parts(rest, _boundary(kind)):
                inner_headers, inner_rest = _split_head(inner)
                request = _request(inner_rest, inner_headers)
                if request.method == "GET":
                    raise BatchError("A changeset cannot contain GET requests.")
                changeset.append(request)
            out.append(changeset)
        else:
            out.append(_request(rest, headers))
    if not out:
        raise BatchError("The $batch holds no requests.")
    return out


def _http(response: Response, content_id: str | None = None) -> bytes:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id:
        lines.append(f"Content-ID: {content_id}")
    lines += ["", f"HTTP/1.1 {response.status_code} {HTTPStatus(response.status_code).phrase}"]
    lines += [f"{_CASED.get(k, k)}: {v}" for k, v in response.headers.items() if k.lower() != "content-length"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + bytes(response.body) + b"\r\n"


def render_batch(boundary: str, results: list[Any]) -> bytes:
    """The multipart/mixed reply: a response per request, a changeset's responses in a nested multipart."""
    out = b""
    for result in results:
        out += f"--{boundary}\r\n".encode()
        if isinstance(result, Response):
            out += _http(result)
            continue
        inner = f"changesetresponse_{boundary.removeprefix('batchresponse_')}"
        out += f"Content-Type: multipart/mixed; boundary={inner}\r\n\r\n".encode()
        for part, response in result:
            out += f"--{inner}\r\n".encode() + _http(response, part.content_id)
        out += f"--{inner}--\r\n".encode()
    return out + f"--{boundary}--\r\n".encode()
