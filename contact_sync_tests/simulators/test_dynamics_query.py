"""Dynamics simulator: `$select`, `$filter`, `$orderby`, `$top`, `$count`, and paging with `odata.maxpagesize`."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from contact_sync.simulators import serve_simulator
from contact_sync.simulators.dynamics import DynamicsSimulator
from contact_sync_tests.simulators.dynamics_fixtures import (
    api_client,
    client,
    clock,
    dynamics,
    read_all,
    served_dynamics,
)
from contact_sync_tests.simulators.shared_fixtures import TestClock

__all__ = ["client", "clock", "dynamics", "served_dynamics"]


@pytest.fixture
def people(dynamics: DynamicsSimulator, clock: TestClock) -> dict[str, str]:
    """Five contacts modified one minute apart from 2026-01-01T00:00:00Z; their ids by last name."""
    names = [("Ann", "Lee", "ann@example.com"), ("Bob", "Stone", "BOB@example.com"), ("Cy", "Adams", None),
             ("Di", "Lee", "di@example.org"), ("Ed", "Young", "ed@example.com")]  # fmt: skip
    ids: dict[str, str] = {}
    for i, (first, last, email) in enumerate(names):
        clock.now = datetime(2026, 1, 1, 0, i, tzinfo=UTC)
        (cid,) = dynamics.load_contacts([{"firstname": first, "lastname": last, "emailaddress1": email}])
        ids[first] = cid
    clock.now = datetime(2026, 1, 1, 1, 0, tzinfo=UTC)
    return ids


def firsts(client: httpx.Client, **params: str) -> list[str]:
    response = client.get("/contacts", params={"$select": "firstname", **params})
    assert response.status_code == 200, response.text
    return [row["firstname"] for row in response.json()["value"]]


def test_select_returns_only_those_columns_plus_the_key_and_etag(
    client: httpx.Client, people: dict[str, str], dynamics: DynamicsSimulator
) -> None:
    body = client.get("/contacts", params={"$select": "lastname,emailaddress1"}).json()
    assert body["@odata.context"] == f"{dynamics.api_url}/$metadata#contacts(lastname,emailaddress1)"
    assert len(body["value"]) == 5
    for row in body["value"]:
        assert set(row) == {"@odata.etag", "lastname", "emailaddress1", "contactid"}
    full = client.get("/contacts").json()["value"][0]
    assert {"firstname", "lastname", "emailaddress1", "telephone1", "mobilephone", "_parentcustomerid_value",
            "createdon", "modifiedon", "statecode", "versionnumber"} <= set(full)  # fmt: skip


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("modifiedon ge 2026-01-01T00:02:00Z", ["Cy", "Di", "Ed"]),
        ("modifiedon gt 2026-01-01T00:02:00Z", ["Di", "Ed"]),
        ("modifiedon le 2026-01-01T00:01:00Z", ["Ann", "Bob"]),
        ("modifiedon lt 2026-01-01T00:01:00Z", ["Ann"]),
        ("modifiedon ge 2026-01-01T01:02:00+01:00", ["Cy", "Di", "Ed"]),  # an offset is converted to UTC
        ("lastname eq 'Lee'", ["Ann", "Di"]),
        ("lastname eq 'lee'", ["Ann", "Di"]),  # string comparison ignores case, as the real service's collation
        ("emailaddress1 eq 'bob@example.com'", ["Bob"]),
        ("lastname ne 'Lee'", ["Bob", "Cy", "Ed"]),
        ("emailaddress1 eq null", ["Cy"]),
        ("emailaddress1 ne null and lastname eq 'Lee'", ["Ann", "Di"]),
        ("lastname eq 'Lee' and modifiedon ge 2026-01-01T00:01:00Z", ["Di"]),
        ("lastname eq 'Young' or firstname eq 'Cy'", ["Cy", "Ed"]),
        ("(lastname eq 'Lee' or lastname eq 'Stone') and modifiedon lt 2026-01-01T00:03:00Z", ["Ann", "Bob"]),
        ("lastname eq 'Lee' or (lastname eq 'Stone' and modifiedon gt 2026-01-01T00:03:00Z)", ["Ann", "Di"]),
        ("not (lastname eq 'Lee')", ["Bob", "Cy", "Ed"]),
        ("contains(emailaddress1,'example.org')", ["Di"]),
        ("startswith(lastname,'st')", ["Bob"]),
        ("endswith(emailaddress1,'.com')", ["Ann", "Bob", "Ed"]),
        ("statecode eq 0 and lastname eq 'Adams'", ["Cy"]),
        ("firstname eq 'O''Brien'", []),
    ],
)
def test_filter(client: httpx.Client, people: dict[str, str], expression: str, expected: list[str]) -> None:
    assert firsts(client, **{"$filter": expression, "$orderby": "firstname"}) == expected


def test_filter_on_the_key_and_on_versionnumber(client: httpx.Client, people: dict[str, str]) -> None:
    assert firsts(client, **{"$filter": f"contactid eq {people['Bob']}"}) == ["Bob"]
    rows = client.get("/contacts", params={"$select": "versionnumber", "$orderby": "versionnumber"}).json()["value"]
    third = rows[2]["versionnumber"]
    assert len(firsts(client, **{"$filter": f"versionnumber gt {third}"})) == 2


@pytest.mark.parametrize(
    ("orderby", "expected"),
    [
        ("lastname asc,firstname desc", ["Cy", "Di", "Ann", "Bob", "Ed"]),
        ("lastname,firstname", ["Cy", "Ann", "Di", "Bob", "Ed"]),
        ("modifiedon desc", ["Ed", "Di", "Cy", "Bob", "Ann"]),
        ("emailaddress1", ["Cy", "Ann", "Bob", "Di", "Ed"]),  # null first, then case-insensitive
    ],
)
def test_orderby(client: httpx.Client, people: dict[str, str], orderby: str, expected: list[str]) -> None:
    assert firsts(client, **{"$orderby": orderby}) == expected


def test_top_and_count(client: httpx.Client, people: dict[str, str]) -> None:
    assert firsts(client, **{"$orderby": "firstname", "$top": "2"}) == ["Ann", "Bob"]
    body = client.get("/contacts", params={"$filter": "lastname eq 'Lee'", "$count": "true"}).json()
    assert body["@odata.count"] == 2
    # $top across pages: three rows in pages of two.
    rows, last = read_all(client, "/contacts", 2, params={"$top": "3", "$orderby": "firstname"})
    assert [r["firstname"] for r in rows] == ["Ann", "Bob", "Cy"]
    assert "@odata.nextLink" not in last


def test_paging_across_several_pages_with_maxpagesize(dynamics: DynamicsSimulator, client: httpx.Client) -> None:
    ids = dynamics.load_contacts([{"firstname": f"P{i:03}", "lastname": "Page"} for i in range(23)])
    first = client.get("/contacts", params={"$select": "firstname"}, headers={"Prefer": "odata.maxpagesize=5"})
    assert first.status_code == 200
    assert first.headers["Preference-Applied"] == "odata.maxpagesize=5"
    page = first.json()
    assert len(page["value"]) == 5
    next_link = page["@odata.nextLink"]
    assert next_link.startswith(f"{dynamics.api_url}/contacts?")
    assert "$skiptoken=" in next_link and "$select=firstname" in next_link
    rows, last = read_all(client, "/contacts", 5, params={"$select": "firstname"})
    assert sorted(r["contactid"] for r in rows) == sorted(ids)  # every row once, none twice
    assert len(rows) == 23
    assert "@odata.nextLink" not in last
    pages = dynamics.calls[("GET", "/api/data/v9.2/contacts")] - 1
    assert pages == 5  # 5 + 5 + 5 + 5 + 3
    # Ordered and filtered reads page the same way.
    ordered, _ = read_all(
        client, "/contacts", 4, params={"$orderby": "firstname desc", "$filter": "lastname eq 'Page'"}
    )
    assert [r["firstname"] for r in ordered] == [f"P{i:03}" for i in reversed(range(23))]


def test_page_size_is_capped_at_the_maximum(dynamics: DynamicsSimulator, client: httpx.Client) -> None:
    dynamics.load_contacts([{"lastname": "Cap"}])
    response = client.get("/contacts", headers={"Prefer": "odata.maxpagesize=20000"})
    assert response.headers["Preference-Applied"] == "odata.maxpagesize=5000"
    no_prefer = client.get("/contacts")
    assert "Preference-Applied" not in no_prefer.headers


def test_default_page_size_when_no_preference_is_the_maximum() -> None:
    with serve_simulator(DynamicsSimulator(max_page_size=7, service_protection_limit=None)) as sim:
        sim.load_contacts([{"lastname": f"L{i}"} for i in range(10)])  # type: ignore[attr-defined]
        with api_client(sim) as c:  # type: ignore[arg-type]
            page = c.get("/contacts").json()
            assert len(page["value"]) == 7 and "@odata.nextLink" in page
            rows, _ = read_all(c, "/contacts", 3)
            assert len(rows) == 10


def test_paging_stays_complete_while_rows_change(
    dynamics: DynamicsSimulator, client: httpx.Client, clock: TestClock
) -> None:
    ids = dynamics.load_contacts([{"firstname": f"R{i:02}", "lastname": "Keyset"} for i in range(12)])
    headers = {"Prefer": "odata.maxpagesize=4"}
    page = client.get("/contacts", params={"$orderby": "firstname"}, headers=headers).json()
    seen = [r["firstname"] for r in page["value"]]
    assert seen == ["R00", "R01", "R02", "R03"]
    by_name = {dynamics.contact(i)["firstname"]: i for i in ids}  # type: ignore[index]
    dynamics.delete_contact(by_name["R01"])  # a row already read goes away
    dynamics.edit_contact(by_name["R07"], telephone1="555")  # a row not yet read changes
    while "@odata.nextLink" in page:
        page = client.get(page["@odata.nextLink"], headers=headers).json()
        seen += [r["firstname"] for r in page["value"]]
    assert seen == [f"R{i:02}" for i in range(12)]  # no row skipped or repeated


def test_a_skiptoken_from_another_query_is_refused(dynamics: DynamicsSimulator, client: httpx.Client) -> None:
    dynamics.load_contacts([{"lastname": f"L{i}"} for i in range(4)])
    page = client.get("/contacts", params={"$orderby": "lastname"}, headers={"Prefer": "odata.maxpagesize=2"}).json()
    token = httpx.URL(page["@odata.nextLink"]).params["$skiptoken"]
    other = client.get("/contacts", params={"$orderby": "firstname", "$skiptoken": token})
    assert other.status_code == 400
    garbage = client.get("/contacts", params={"$skiptoken": "nonsense"})
    assert garbage.status_code == 400
    assert garbage.json()["error"]["code"] == "0x80060888"
