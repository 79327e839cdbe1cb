"""Dynamics simulator: `$batch` with independent requests and all-or-nothing changesets."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import httpx

from contact_sync.simulators.dynamics import DynamicsSimulator
from contact_sync_tests.simulators.dynamics_fixtures import client, contact_body, dynamics, served_dynamics

__all__ = ["client", "dynamics", "served_dynamics"]


def request_part(method: str, url: str, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
                 content_id: int | None = None) -> str:  # fmt: skip
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id is not None:
        lines.append(f"Content-ID: {content_id}")
    lines += ["", f"{method} {url} HTTP/1.1"]
    if body is not None:
        lines.append("Content-Type: application/json")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    lines += ["", json.dumps(body) if body is not None else ""]
    return "\r\n".join(lines)


def batch_body(boundary: str, parts: list[str | list[str]]) -> bytes:
    out = []
    for part in parts:
        if isinstance(part, list):
            inner = f"changeset_{uuid.uuid4().hex}"
            nested = "".join(f"--{inner}\r\n{p}\r\n" for p in part) + f"--{inner}--"
            out.append(f"--{boundary}\r\nContent-Type: multipart/mixed; boundary={inner}\r\n\r\n{nested}\r\n")
        else:
            out.append(f"--{boundary}\r\n{part}\r\n")
    return ("".join(out) + f"--{boundary}--\r\n").encode()


def send(client: httpx.Client, parts: list[str | list[str]], prefer: str | None = None) -> list[int]:
    """POST the batch; the statuses of the responses inside, in order."""
    boundary = f"batch_{uuid.uuid4().hex}"
    headers = {"Content-Type": f"multipart/mixed; boundary={boundary}"}
    if prefer:
        headers["Prefer"] = prefer
    response = client.post("/$batch", content=batch_body(boundary, parts), headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("multipart/mixed; boundary=batchresponse_")
    assert "\r\nOData-Version: 4.0\r\n" in response.text
    return [int(s) for s in re.findall(r"HTTP/1\.1 (\d{3})", response.text)]


def test_independent_requests_each_get_their_response(dynamics: DynamicsSimulator, client: httpx.Client) -> None:
    (existing,) = dynamics.load_contacts([{"lastname": "Existing"}])
    statuses = send(
        client,
        [
            request_part("POST", "/api/data/v9.2/contacts", contact_body(firstname="B1")),
            request_part("POST", f"{dynamics.api_url}/contacts", contact_body(firstname="B2")),  # absolute URL
            request_part("PATCH", f"contacts({existing})", {"firstname": "Relative"}),  # relative to the root
            request_part("GET", f"/api/data/v9.2/contacts({existing})?$select=firstname"),
        ],
    )
    assert statuses == [204, 204, 204, 200]
    assert dynamics.count() == 3
    assert dynamics.contact(existing)["firstname"] == "Relative"  # type: ignore[index]
    assert dynamics.calls[("POST", "/api/data/v9.2/$batch")] == 1
    assert dynamics.calls[("POST", "/api/data/v9.2/contacts")] == 2


def test_a_changeset_is_all_or_nothing(dynamics: DynamicsSimulator, client: httpx.Client) -> None:
    (existing,) = dynamics.load_contacts([{"lastname": "Existing"}])
    before = dynamics.contact(existing)
    failing = [
        request_part("POST", "/api/data/v9.2/contacts", contact_body(firstname="C1"), content_id=1),
        request_part("PATCH", f"/api/data/v9.2/contacts({existing})", {"firstname": "Changed"}, content_id=2),
        request_part("POST", "/api/data/v9.2/contacts", {"firstname": "NoLastName"}, content_id=3),
    ]
    assert send(client, [failing]) == [400]  # the failing request's response alone
    assert dynamics.count() == 1
    assert dynamics.contact(existing) == before  # the PATCH before the failure was rolled back too
    ok = failing[:2]
    assert send(client, [ok]) == [204, 204]
    assert dynamics.count() == 2
    assert dynamics.contact(existing)["firstname"] == "Changed"  # type: ignore[index]


def test_a_failure_stops_the_batch_unless_continue_on_error(dynamics: DynamicsSimulator, client: httpx.Client) -> None:
    parts: list[str | list[str]] = [
        request_part("POST", "/api/data/v9.2/contacts", contact_body(firstname="First")),
        request_part("PATCH", f"/api/data/v9.2/contacts({uuid.uuid4()})", {"firstname": "X"}, {"If-Match": "*"}),
        request_part("POST", "/api/data/v9.2/contacts", contact_body(firstname="Third")),
    ]
    assert send(client, parts) == [204, 404]
    assert dynamics.count() == 1
    assert send(client, parts, prefer="odata.continue-on-error") == [204, 404, 204]
    assert dynamics.count() == 3


def test_if_match_inside_a_batch(dynamics: DynamicsSimulator, client: httpx.Client) -> None:
    (cid,) = dynamics.load_contacts([{"lastname": "Versioned"}])
    stale = dynamics.contact(cid)["@odata.etag"]  # type: ignore[index]
    dynamics.edit_contact(cid, firstname="UserEdit")
    part = request_part("PATCH", f"/api/data/v9.2/contacts({cid})", {"firstname": "Sync"}, {"If-Match": stale})
    assert send(client, [part]) == [412]
    assert dynamics.contact(cid)["firstname"] == "UserEdit"  # type: ignore[index]


def test_bad_batches_are_refused(dynamics: DynamicsSimulator, client: httpx.Client) -> None:
    not_multipart = client.post("/$batch", json={"requests": []})
    assert not_multipart.status_code == 400
    assert not_multipart.json()["error"]["code"] == "0x80060888"
    boundary = "batch_x"
    headers = {"Content-Type": f"multipart/mixed; boundary={boundary}"}
    unterminated = client.post(
        "/$batch", content=f"--{boundary}\r\nContent-Type: application/http\r\n\r\n", headers=headers
    )
    assert unterminated.status_code == 400
    garbage = batch_body(boundary, ["Content-Type: application/http\r\n\r\nNOT A REQUEST LINE"])
    assert client.post("/$batch", content=garbage, headers=headers).status_code == 400
    too_many = batch_body(boundary, [request_part("GET", "/api/data/v9.2/contacts")] * 1001)
    refused = client.post("/$batch", content=too_many, headers=headers)
    assert refused.status_code == 400 and "1000" in refused.json()["error"]["message"]
    assert dynamics.count() == 0


def test_content_id_references_inside_a_changeset_name_the_records_created_before(
    dynamics: DynamicsSimulator, client: httpx.Client
) -> None:
    account = {"name": "Acme"}
    contact = contact_body(firstname="Ref", **{"parentcustomerid_account@odata.bind": "$1"})
    statuses = send(
        client,
        [
            [
                request_part("POST", "/api/data/v9.2/accounts", account, content_id=1),
                request_part("POST", "/api/data/v9.2/contacts", contact, content_id=2),
                request_part("PATCH", "$1", {"name": "Acme Tools"}, content_id=3),
            ]
        ],
    )
    assert statuses == [204, 204, 204]
    made = client.get("/contacts", params={"$filter": "firstname eq 'Ref'"}).json()["value"]
    account_id = made[0]["_parentcustomerid_value"]
    assert client.get(f"/accounts({account_id})").json()["name"] == "Acme Tools"


def test_a_reference_to_no_earlier_request_fails_its_changeset_and_writes_nothing(
    dynamics: DynamicsSimulator, client: httpx.Client
) -> None:
    before = dynamics.count()
    statuses = send(
        client,
        [
            [
                request_part("POST", "/api/data/v9.2/contacts", contact_body(firstname="Lost"), content_id=1),
                request_part("PATCH", "$7", {"firstname": "Nobody"}, content_id=2),
            ]
        ],
    )
    assert len(statuses) == 1 and statuses[0] >= 400
    assert dynamics.count() == before
