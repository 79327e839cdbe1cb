"""Dynamics simulator: every bad input gets the real status and `{"error": {"code", "message"}}` body, never a 500."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from contact_sync.simulators.dynamics import DynamicsSimulator
from contact_sync.simulators.dynamics.odata import encode_skiptoken
from contact_sync_tests.simulators.dynamics_fixtures import client, contact_body, dynamics, served_dynamics

__all__ = ["client", "dynamics", "served_dynamics"]


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert "Traceback" not in response.text
    return body["error"]


@pytest.mark.parametrize(
    ("column", "limit"),
    [("firstname", 50), ("lastname", 50), ("emailaddress1", 100), ("telephone1", 50), ("mobilephone", 50)],
)
def test_column_lengths(dynamics: DynamicsSimulator, client: httpx.Client, column: str, limit: int) -> None:
    at_limit = client.post("/contacts", json=contact_body(**{column: "x" * limit}))
    assert at_limit.status_code == 204
    over = error_of(client.post("/contacts", json=contact_body(**{column: "x" * (limit + 1)})), 400)
    assert over == {
        "code": "0x80044331",
        "message": f"A validation error occurred. The length of the '{column}' attribute of the 'contact' entity "
        f"exceeded the maximum allowed length of '{limit}'.",
    }
    assert dynamics.count() == 1  # the refused create wrote nothing


@pytest.mark.parametrize("lastname", [None, "", "missing"])
def test_lastname_is_required(dynamics: DynamicsSimulator, client: httpx.Client, lastname: str | None) -> None:
    body = contact_body()
    if lastname == "missing":
        del body["lastname"]
    else:
        body["lastname"] = lastname
    err = error_of(client.post("/contacts", json=body), 400)
    assert err["code"] == "0x80040203" and "'lastname'" in err["message"]
    assert dynamics.count() == 0


def test_lastname_cannot_be_cleared_by_an_update(dynamics: DynamicsSimulator, client: httpx.Client) -> None:
    (cid,) = dynamics.load_contacts([{"lastname": "Keep"}])
    error_of(client.patch(f"/contacts({cid})", json={"lastname": None}), 400)
    assert dynamics.contact(cid)["lastname"] == "Keep"  # type: ignore[index]


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b'{"lastname": "Lee",', "Invalid JSON"),
        (b"", "unexpected end of input"),
        (b"[]", "StartArray"),
        (b'"text"', "JSON object"),
    ],
)
def test_bad_json(dynamics: DynamicsSimulator, client: httpx.Client, raw: bytes, fragment: str) -> None:
    response = client.post("/contacts", content=raw, headers={"Content-Type": "application/json"})
    err = error_of(response, 400)
    assert err["code"] == "0x80048d19"
    assert fragment in err["message"]
    assert dynamics.count() == 0


def test_unknown_column_in_a_body(client: httpx.Client) -> None:
    err = error_of(client.post("/contacts", json=contact_body(emailaddress9="x@example.com")), 400)
    assert err["code"] == "0x80048d19"
    assert "The property 'emailaddress9' does not exist on type 'Microsoft.Dynamics.CRM.contact'" in err["message"]


@pytest.mark.parametrize(
    ("column", "value", "edm"),
    [("firstname", 5, "Edm.String"), ("lastname", True, "Edm.String"), ("statecode", "active", "Edm.Int32")],
)
def test_wrong_json_types(client: httpx.Client, column: str, value: Any, edm: str) -> None:
    err = error_of(client.post("/contacts", json=contact_body(**{column: value})), 400)
    assert err["code"] == "0x80048d19" and edm in err["message"]


def test_state_codes(dynamics: DynamicsSimulator, client: httpx.Client) -> None:
    error_of(client.post("/contacts", json=contact_body(statecode=7)), 400)
    (cid,) = dynamics.load_contacts([{"lastname": "Active"}])
    assert client.patch(f"/contacts({cid})", json={"statecode": 1}).status_code == 204
    row = dynamics.contact(cid)
    assert row is not None and (row["statecode"], row["statuscode"]) == (1, 2)


def test_lookups_are_written_through_binds_only(client: httpx.Client) -> None:
    direct = error_of(client.post("/contacts", json=contact_body(_parentcustomerid_value=str(uuid.uuid4()))), 400)
    assert "Use Navigation properties" in direct["message"]
    for bind in ("accounts(nope)", "/contacts(" + str(uuid.uuid4()) + ")", 12):
        body = contact_body(**{"parentcustomerid_account@odata.bind": bind})
        assert error_of(client.post("/contacts", json=body), 400)["code"] == "0x80048d19"
    unknown_nav = contact_body(**{"parentcustomerid_lead@odata.bind": f"/leads({uuid.uuid4()})"})
    assert "undeclared property" in error_of(client.post("/contacts", json=unknown_nav), 400)["message"]


@pytest.mark.parametrize("key", ["not-a-guid", "123", "emailaddress1='a@b.c'"])
def test_bad_guid_in_the_path(client: httpx.Client, key: str) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        response = client.request(method, f"/contacts({key})", json={"lastname": "X"} if method == "PATCH" else None)
        assert error_of(response, 400)["code"] == "0x80060888"


def test_wrong_content_type(dynamics: DynamicsSimulator, client: httpx.Client) -> None:
    response = client.post("/contacts", content=b"lastname=Lee", headers={"Content-Type": "text/plain"})
    assert "text/plain" in error_of(response, 415)["message"]
    (cid,) = dynamics.load_contacts([{"lastname": "Lee"}])
    patch = client.patch(f"/contacts({cid})", content=b"<x/>", headers={"Content-Type": "application/xml"})
    error_of(patch, 415)
    assert dynamics.count() == 1


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"$select": "firstname,nickname"}, "Could not find a property named 'nickname'"),
        ({"$filter": "nickname eq 'x'"}, "Could not find a property named 'nickname'"),
        ({"$orderby": "nickname"}, "Could not find a property named 'nickname'"),
        ({"$filter": "lastname eq"}, "unexpected end"),
        ({"$filter": "lastname eq 'unterminated"}, "Syntax error"),
        ({"$filter": "lastname 'x'"}, "Syntax error"),
        ({"$filter": "(lastname eq 'x'"}, "unexpected end"),
        ({"$filter": "lastname eq 'x')"}, "Syntax error"),
        ({"$filter": "modifiedon ge 'yesterday'"}, "incompatible types"),
        ({"$filter": "modifiedon ge 2026-13-45T00:00:00Z"}, "not valid"),
        ({"$filter": "statecode eq 'x'"}, "incompatible types"),
        ({"$filter": "contactid eq 'abc'"}, "incompatible types"),
        ({"$filter": "contains(statecode,'1')"}, "string property"),
        ({"$filter": ""}, "empty"),
        ({"$orderby": "lastname sideways"}, "Syntax error"),
        ({"$top": "-1"}, "$top"),
        ({"$count": "maybe"}, "count"),
        ({"$skip": "10"}, "The query parameter $skip is not supported"),
        ({"$expand": "parentcustomerid_account"}, "$expand is not supported"),
        ({"$apply": "groupby((lastname))"}, "not supported"),
        # Never the whole table for a query the simulator did not understand.
        ({"sql": "SELECT * FROM contact"}, "The query parameter sql is not supported"),
        ({"filter": "lastname eq 'x'"}, "The query parameter filter is not supported"),
        ({"fetchXml": "<fetch><entity name='contact'/></fetch>"}, "fetchXml is not supported by this simulator"),
    ],
)
def test_bad_queries(client: httpx.Client, params: dict[str, str], message: str) -> None:
    err = error_of(client.get("/contacts", params=params), 400)
    assert err["code"] == "0x80060888"
    assert message in err["message"]


def test_a_repeated_query_option(client: httpx.Client) -> None:
    response = client.get("/contacts?$top=1&$top=2")
    assert "more than once" in error_of(response, 400)["message"]


def test_unknown_resources_and_methods(client: httpx.Client) -> None:
    assert "leads" in error_of(client.get("/leads"), 404)["message"]
    assert "PUT" in error_of(client.put("/contacts", json={}), 405)["message"]
    assert "DELETE" in error_of(client.delete(f"/accounts({uuid.uuid4()})"), 405)["message"]


def test_no_input_produces_a_500(dynamics: DynamicsSimulator, client: httpx.Client) -> None:
    """A sweep of odd inputs over every route: whatever the answer, it is a 4xx with the Dataverse body."""
    (cid,) = dynamics.load_contacts([{"lastname": "Sweep"}])
    odd_bodies: list[Any] = [None, 0, [], {}, {"": 1}, {"@odata.type": "x"}, {"lastname": {"nested": 1}},
                             {"lastname": ["a"]}, {"firstname": "\u0000"}, {"lastname": "x" * 10_000}]  # fmt: skip
    for body in odd_bodies:
        for method, path in (("POST", "/contacts"), ("PATCH", f"/contacts({cid})"), ("POST", "/accounts")):
            response = client.request(method, path, json=body)
            assert response.status_code < 500, (method, path, body, response.text)
    for query in ("$filter=(((", "$filter=lastname eq 'a' and", "$orderby=,", "$select=,", "$top=99999999999999999999",
                  "$filter=not", "$filter=contains(", "$filter=lastname eq 1.5", "$skiptoken=%3Ccookie",
                  "$top=%C2%B2", "$deltatoken=%C2%B2!01/01/2026%2000:00:00"):  # fmt: skip
        response = client.get(f"/contacts?{query}")
        assert 400 <= response.status_code < 500, (query, response.text)
    # A hand-made paging cookie (it is base64 JSON, so a client could forge one) is refused, not trusted.
    forged_states = [{"o": "track", "s": "x", "k": 1}, {"o": "delta", "s": 1, "k": "x"}, {"o": "track"},
                     {"o": "contactid asc|", "k": [{}], "n": None}, {"o": "contactid asc|", "k": [""], "n": -5},
                     {"o": "contactid asc|", "k": ["", "extra"], "n": None}, []]  # fmt: skip
    for state in forged_states:
        token = encode_skiptoken(2, state)  # type: ignore[arg-type]
        for prefer in ("", "odata.track-changes"):
            response = client.get("/contacts", params={"$skiptoken": token}, headers={"Prefer": prefer})
            assert response.status_code == 400, (state, prefer, response.text)
    # A Prefer value that is not a plain number is ignored, not a crash.
    assert client.get("/contacts", headers={"Prefer": "odata.maxpagesize=\u00b2".encode()}).status_code == 200
