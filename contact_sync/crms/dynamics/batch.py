"""The client side of the Web API's `$batch`: independent requests written as one multipart/mixed body, and the
multipart/mixed answer read back into one (status, headers, body) per request, in request order.

Only independent requests (no changesets): each part stands alone, so with `Prefer: odata.continue-on-error` one
refused update does not stop the others. A malformed answer is a `BatchAnswerError`: the caller cannot tell what was
applied and treats every part as an unknown outcome.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

MAX_BATCH_REQUESTS = 1000  # the service's limit of requests in one $batch
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_STATUS_LINE = re.compile(rb"^HTTP/1\.[01]\s+(\d{3})\b")


class BatchAnswerError(Exception):
    """The `$batch` answer could not be read (its parts' outcomes are unknown)."""


@dataclass(frozen=True)
class BatchRequest:
    method: str
    url: str  # absolute, or relative to the Web API root
    headers: Mapping[str, str]
    json: Any = None


@dataclass(frozen=True)
class PartAnswer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body) if self.body.strip() else None


def batch_body(requests: Sequence[BatchRequest]) -> tuple[str, bytes]:
    """(the Content-Type header, the body) of a `$batch` of these requests."""
    boundary = f"batch_{uuid.uuid4()}"
    out = bytearray()
    for request in requests:
        out += f"--{boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n".encode()
        out += f"{request.method} {request.url} HTTP/1.1\r\n".encode()
        for name, value in request.headers.items():
            out += f"{name}: {value}\r\n".encode()
        if request.json is not None:
            out += b"Content-Type: application/json\r\n\r\n" + orjson.dumps(request.json) + b"\r\n"
        else:
            out += b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return f"multipart/mixed; boundary={boundary}", bytes(out)


def _split_head(block: bytes) -> tuple[list[bytes], bytes]:
    normalized = block.replace(b"\r\n", b"\n")
    head, _, rest = normalized.partition(b"\n\n")
    return [line for line in head.split(b"\n") if line.strip()], rest


def parse_batch_answer(content_type: str, body: bytes, expected: int) -> list[PartAnswer]:
    """One answer per request of the batch, in order; `BatchAnswerError` when the body is not a batch answer of
    `expected` parts."""
    m = _BOUNDARY.search(content_type or "")
    if m is None:
        raise BatchAnswerError(f"the $batch answer is not multipart ({content_type or 'no content type'})")
    delimiter = b"--" + m.group(1).encode()
    segments = body.split(delimiter)
    if len(segments) < 2 or not segments[-1].lstrip().startswith(b"--"):
        raise BatchAnswerError("the $batch answer was cut off (no closing boundary)")
    answers = []
    for segment in segments[1:-1]:
        _, http = _split_head(segment.strip(b"\r\n"))
        lines, payload = _split_head(http)
        status = _STATUS_LINE.match(lines[0]) if lines else None
        if status is None:
            raise BatchAnswerError("a $batch answer part holds no HTTP status line")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.decode("utf-8", "replace").partition(":")
            headers[name.strip().lower()] = value.strip()
        answers.append(PartAnswer(int(status.group(1)), headers, payload.strip(b"\r\n")))
    if len(answers) != expected:
        raise BatchAnswerError(f"the $batch answer holds {len(answers)} parts for {expected} requests")
    return answers
