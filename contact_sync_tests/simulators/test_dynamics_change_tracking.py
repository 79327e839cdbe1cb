"""Dynamics simulator: change tracking (`Prefer: odata.track-changes`, `@odata.deltaLink`, `$deletedEntity` rows)."""

from __future__ import annotations

from typing import Any

import httpx

from contact_sync.simulators.dynamics import DynamicsSimulator
from contact_sync_tests.simulators.dynamics_fixtures import (
    api_client,
    client,
    clock,
    contact_body,
    dynamics,
    read_all,
    served_dynamics,
)
from contact_sync_tests.simulators.shared_fixtures import TestClock

__all__ = ["client", "clock", "dynamics", "served_dynamics"]

TRACK = "odata.track-changes"


def initial(client: httpx.Client, page_size: int = 5000, **params: str) -> tuple[list[dict[str, Any]], str]:
    rows, last = read_all(client, "/contacts", page_size, prefer=TRACK, params=params)
    assert "@odata.nextLink" not in last
    return rows, last["@odata.deltaLink"]


def delta(client: httpx.Client, link: str, page_size: int = 5000) -> tuple[list[dict[str, Any]], str]:
    rows, last = read_all(client, link, page_size, prefer=TRACK)
    return rows, last["@odata.deltaLink"]


def test_initial_read_returns_everything_and_a_delta_link(dynamics: DynamicsSimulator, client: httpx.Client) -> None:
    ids = dynamics.load_contacts([{"firstname": f"F{i}", "lastname": "T"} for i in range(3)])
    response = client.get("/contacts", params={"$select": "firstname,lastname"}, headers={"Prefer": TRACK})
    assert response.status_code == 200
    assert response.headers["Preference-Applied"] == TRACK
    body = response.json()
    assert body["@odata.context"] == f"{dynamics.api_url}/$metadata#contacts(firstname,lastname)/$delta"
    assert sorted(r["contactid"] for r in body["value"]) == sorted(ids)
    link = body["@odata.deltaLink"]
    assert link.startswith(f"{dynamics.api_url}/contacts?$select=firstname,lastname&$deltatoken=")
    token = httpx.URL(link).params["$deltatoken"]
    version, _, stamp = token.partition("!")
    assert version.isdigit() and len(stamp) == len("01/01/2026 00:00:00")
    # Nothing changed: the delta is empty, and hands out a fresh link.
    empty = client.get(link, headers={"Prefer": TRACK}).json()
    assert empty["value"] == []
    assert "$deltatoken=" in empty["@odata.deltaLink"]


def test_edits_creates_and_deletes_appear_in_the_next_delta(dynamics: DynamicsSimulator, client: httpx.Client) -> None:
    ids = dynamics.load_contacts([{"firstname": f"F{i}", "lastname": "T"} for i in range(4)])
    _, link = initial(client, **{"$select": "firstname"})
    dynamics.edit_contact(ids[0], firstname="Edited")
    dynamics.delete_contact(ids[1])
    created = client.post("/contacts", json=contact_body(firstname="New"))
    new_id = created.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
    client.patch(f"/contacts({ids[2]})", json={"firstname": "Patched"})

    rows, link2 = delta(client, link)
    deleted = [r for r in rows if r.get("reason") == "deleted"]
    changed = {r["contactid"]: r["firstname"] for r in rows if "reason" not in r}
    assert changed == {ids[0]: "Edited", new_id: "New", ids[2]: "Patched"}
    assert deleted == [
        {"@odata.context": f"{dynamics.api_url}/$metadata#contacts/$deletedEntity", "id": ids[1], "reason": "deleted"}
    ]
    assert all(set(r) == {"@odata.etag", "firstname", "contactid"} for r in rows if "reason" not in r)
    # Oldest change first, as written.
    assert [r.get("contactid", r.get("id")) for r in rows] == [ids[0], ids[1], new_id, ids[2]]
    # The next delta starts after these.
    dynamics.delete_contact(ids[0])
    rows3, _ = delta(client, link2)
    assert [(r["id"], r["reason"]) for r in rows3] == [(ids[0], "deleted")]
    # An old link still works: it returns everything since its own version.
    again, _ = delta(client, link)
    assert {r.get("contactid") or r.get("id") for r in again} == {ids[0], ids[1], ids[2], new_id}
    assert [r["id"] for r in again if r.get("reason")] == [ids[1], ids[0]]


def test_a_row_deleted_and_recreated_is_reported_as_the_row(dynamics: DynamicsSimulator, client: httpx.Client) -> None:
    (cid,) = dynamics.load_contacts([{"lastname": "Phoenix"}])
    _, link = initial(client)
    dynamics.delete_contact(cid)
    assert client.patch(f"/contacts({cid})", json={"lastname": "Reborn"}).status_code == 204  # upsert recreates
    rows, _ = delta(client, link)
    assert [(r["contactid"], r["lastname"]) for r in rows] == [(cid, "Reborn")]


def test_initial_read_and_delta_page_with_maxpagesize(dynamics: DynamicsSimulator, client: httpx.Client) -> None:
    ids = dynamics.load_contacts([{"lastname": f"P{i:02}"} for i in range(11)])
    first = client.get("/contacts", headers={"Prefer": f"odata.maxpagesize=4, {TRACK}"})
    assert first.headers["Preference-Applied"] == f"odata.maxpagesize=4, {TRACK}"
    assert "@odata.nextLink" in first.json() and "@odata.deltaLink" not in first.json()
    rows, link = initial(client, page_size=4)
    assert sorted(r["contactid"] for r in rows) == sorted(ids)
    for cid in ids[:7]:
        dynamics.edit_contact(cid, firstname="X")
    for cid in ids[7:10]:
        dynamics.delete_contact(cid)
    changed, _ = delta(client, link, page_size=3)
    assert [r.get("contactid") or r.get("id") for r in changed] == ids[:10]
    assert sum(1 for r in changed if r.get("reason") == "deleted") == 3


def test_changes_during_a_paged_initial_read_land_in_the_next_delta(
    dynamics: DynamicsSimulator, client: httpx.Client
) -> None:
    ids = sorted(dynamics.load_contacts([{"lastname": f"C{i}"} for i in range(6)]))
    headers = {"Prefer": f"odata.maxpagesize=2, {TRACK}"}
    page = client.get("/contacts", headers=headers).json()
    assert [r["contactid"] for r in page["value"]] == ids[:2]
    dynamics.edit_contact(ids[0], firstname="AfterRead")  # already read
    dynamics.edit_contact(ids[4], firstname="NotYetRead")  # changed before it was read
    seen = [r["contactid"] for r in page["value"]]
    while "@odata.nextLink" in page:
        page = client.get(page["@odata.nextLink"], headers=headers).json()
        seen += [r["contactid"] for r in page["value"]]
    # The read is a snapshot: the row changed mid-read is left for the delta, not lost.
    assert ids[4] not in seen and set(seen) == set(ids) - {ids[4]}
    changed, _ = delta(client, page["@odata.deltaLink"])
    assert {(r["contactid"], r["firstname"]) for r in changed} == {(ids[0], "AfterRead"), (ids[4], "NotYetRead")}


def test_filter_orderby_and_top_are_refused_with_change_tracking(client: httpx.Client) -> None:
    for option, value in (("$filter", "lastname eq 'x'"), ("$orderby", "lastname"), ("$top", "5")):
        response = client.get("/contacts", params={option: value}, headers={"Prefer": TRACK})
        assert response.status_code == 400, option
        assert option in response.json()["error"]["message"]
    _, link = initial(client)
    with_filter = client.get(link, params={"$filter": "lastname eq 'x'"}, headers={"Prefer": TRACK})
    assert with_filter.status_code == 400


def test_change_tracking_disabled_is_refused_so_clients_fall_back_to_modifiedon(
    dynamics: DynamicsSimulator, client: httpx.Client
) -> None:
    dynamics.load_contacts([{"lastname": "Off"}])
    _, link = initial(client)
    dynamics.set_change_tracking(False)
    for response in (client.get("/contacts", headers={"Prefer": TRACK}), client.get(link)):
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "0x80072491"
    # The modifiedon fallback works.
    fallback = client.get("/contacts", params={"$filter": "modifiedon ge 2000-01-01T00:00:00Z"})
    assert fallback.status_code == 200 and len(fallback.json()["value"]) == 1
    dynamics.set_change_tracking(True)
    assert client.get(link).status_code == 200


def test_delta_tokens_expire_after_seven_days(dynamics: DynamicsSimulator, clock: TestClock) -> None:
    with api_client(dynamics) as c:
        _, link = initial(c)
    clock.advance(7 * 86400)
    with api_client(dynamics) as c:  # a fresh access token each time: those last an hour
        assert c.get(link).status_code == 200
    clock.advance(1)
    with api_client(dynamics) as c:
        expired = c.get(link)
        assert expired.status_code == 400
        assert expired.json()["error"]["code"] == "0x80044352"
        assert "full sync" in expired.json()["error"]["message"]
        bad = c.get("/contacts", params={"$deltatoken": "not-a-token"})
        assert bad.status_code == 400
