"""Genesys simulator: cursor scan (every contact exactly once, even while contacts change) and the capped keyword
search, over real HTTP."""

from __future__ import annotations

import httpx
import pytest

from contact_sync.simulators.genesys import GenesysSimulator
from contact_sync_tests.simulators.genesys_fixtures import (
    client,
    clock,
    genesys,
    served_genesys,
)
from contact_sync_tests.simulators.shared_fixtures import TestClock

__all__ = ["client", "clock", "genesys", "served_genesys"]


def _rows(n: int, prefix: str = "P") -> list[dict]:
    return [
        {"firstName": f"{prefix}{i}", "lastName": "Scan", "workEmail": f"{prefix.lower()}{i}@example.com"}
        for i in range(n)
    ]


def _scan_all(client: httpx.Client, limit: int, path: str = "/scan/contacts") -> tuple[list[dict], int]:
    entities: list[dict] = []
    pages = 0
    url: str | None = f"{path}?limit={limit}"
    while url:
        response = client.get(url.removeprefix("/api/v2/externalcontacts"))
        assert response.status_code == 200, response.text
        page = response.json()
        pages += 1
        entities += page["entities"]
        assert len(page["entities"]) <= limit
        url = page.get("nextUri")
        assert ("after" in page["cursors"]) == (url is not None)
    return entities, pages


def test_scan_reads_every_contact_once_over_several_pages(genesys: GenesysSimulator, client: httpx.Client) -> None:
    ids = genesys.load_contacts(_rows(235))
    entities, pages = _scan_all(client, 50)
    assert pages == 5
    assert sorted(e["id"] for e in entities) == sorted(ids)
    assert len({e["id"] for e in entities}) == 235


def test_scan_default_limit_and_page_shape(genesys: GenesysSimulator, client: httpx.Client) -> None:
    genesys.load_contacts(_rows(150))
    first = client.get("/scan/contacts").json()
    assert len(first["entities"]) == 100
    assert "before" not in first["cursors"] and "previousUri" not in first
    assert first["selfUri"].startswith("/api/v2/externalcontacts/scan/contacts")
    second = client.get("/scan/contacts", params={"cursor": first["cursors"]["after"]}).json()
    assert len(second["entities"]) == 50
    assert "after" not in second["cursors"] and "nextUri" not in second
    # Going back from the second page gives the first again.
    back = client.get("/scan/contacts", params={"cursor": second["cursors"]["before"]}).json()
    assert [e["id"] for e in back["entities"]] == [e["id"] for e in first["entities"]]


def test_scan_while_contacts_are_added_updated_and_removed(genesys: GenesysSimulator, client: httpx.Client) -> None:
    ids = genesys.load_contacts(_rows(120))
    seen: list[str] = []
    page = client.get("/scan/contacts", params={"limit": 25}).json()
    seen += [e["id"] for e in page["entities"]]
    # Mid-scan: new contacts, edits of seen and unseen ones (the modifyDate moves), one deletion of a seen contact.
    added = genesys.load_contacts(_rows(40, "New"))
    for cid in ids[::7]:
        genesys.edit_contact(cid, {"title": "changed"})
    client.delete(f"/contacts/{seen[0]}")
    url = page.get("nextUri")
    while url:
        page = client.get(url.removeprefix("/api/v2/externalcontacts")).json()
        seen += [e["id"] for e in page["entities"]]
        url = page.get("nextUri")
    assert len(seen) == len(set(seen)), "a contact came back twice"
    assert set(ids) <= set(seen), "a contact present for the whole scan was lost"
    assert set(seen) <= set(ids) | set(added)


@pytest.mark.parametrize("limit", ["9", "201", "abc", "0"])
def test_scan_limit_out_of_range_is_400(client: httpx.Client, limit: str) -> None:
    response = client.get("/scan/contacts", params={"limit": limit})
    assert response.status_code == 400
    assert response.json()["details"][0]["fieldName"] == "limit"


def test_scan_limits_10_and_200_are_allowed(genesys: GenesysSimulator, client: httpx.Client) -> None:
    genesys.load_contacts(_rows(210))
    assert len(client.get("/scan/contacts", params={"limit": 10}).json()["entities"]) == 10
    assert len(client.get("/scan/contacts", params={"limit": 200}).json()["entities"]) == 200


def test_scan_cursor_garbage_and_expiry(genesys: GenesysSimulator, client: httpx.Client, clock: TestClock) -> None:
    genesys.load_contacts(_rows(20))
    assert client.get("/scan/contacts", params={"cursor": "not-a-cursor"}).status_code == 400
    after = client.get("/scan/contacts", params={"limit": 10}).json()["cursors"]["after"]
    clock.advance(23 * 3600)
    assert client.get("/scan/contacts", params={"cursor": after}).status_code == 200
    clock.advance(2 * 3600)
    expired = client.get("/scan/contacts", params={"cursor": after})
    assert expired.status_code == 400


def test_search_by_keyword_with_listing_shape(genesys: GenesysSimulator, client: httpx.Client) -> None:
    genesys.load_contacts(
        [*_rows(30), {"firstName": "Zed", "lastName": "Unique", "workPhone": {"display": "317-555-7000"}}]
    )
    found = client.get("/contacts", params={"q": "unique"}).json()
    assert found["total"] == 1 and found["entities"][0]["firstName"] == "Zed"
    by_phone = client.get("/contacts", params={"q": "+13175557000"}).json()
    assert by_phone["total"] == 1
    page = client.get("/contacts", params={"q": "scan", "pageSize": 10, "pageNumber": 2}).json()
    assert page["total"] == 30 and page["pageCount"] == 3 and page["pageNumber"] == 2 and page["pageSize"] == 10
    assert len(page["entities"]) == 10
    for key in ("firstUri", "selfUri", "nextUri", "lastUri", "previousUri"):
        assert page[key].startswith("/api/v2/externalcontacts/contacts?")
    default = client.get("/contacts").json()
    assert default["pageSize"] == 20 and default["total"] == 31
    ordered = client.get("/contacts", params={"q": "scan", "sortOrder": "firstName:desc", "pageSize": 3}).json()
    names = [e["firstName"] for e in ordered["entities"]]
    assert names == sorted(names, reverse=True)
    assert client.get("/contacts", params={"sortOrder": "shoeSize:asc"}).status_code == 400


def test_search_stops_at_1000_records(genesys: GenesysSimulator, client: httpx.Client) -> None:
    genesys.load_contacts(_rows(1100))
    last_allowed = client.get("/contacts", params={"pageSize": 100, "pageNumber": 10})
    assert last_allowed.status_code == 200
    assert last_allowed.json()["total"] == 1100
    assert "nextUri" not in last_allowed.json()  # the next page is beyond the cap
    beyond = client.get("/contacts", params={"pageSize": 100, "pageNumber": 11})
    assert beyond.status_code == 400
    assert beyond.json()["details"][0]["fieldName"] == "pageNumber"
    assert client.get("/contacts", params={"pageSize": 25, "pageNumber": 41}).status_code == 400
    assert client.get("/contacts", params={"pageSize": 1001}).status_code == 400
    assert client.get("/contacts", params={"q": "x" * 257}).status_code == 400
    assert client.get("/contacts", params={"pageNumber": 0}).status_code == 400
