"""Genesys simulator: external contact exports (an asynchronous job, its filters and limit, the download, FAILED on a
fault rule, the listing), driven through the official SDK (`PureCloudPlatformClientV2`'s `ExternalContactsApi`) and
httpx."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta

import httpx
import pytest
from PureCloudPlatformClientV2 import (
    ContactsExport,
    ContactsExportComparisonFieldFilter,
    ContactsExportFieldListFilter,
    ContactsExportFilter,
    ContactsExportQueryConditions,
    ExternalContactsApi,
)
from PureCloudPlatformClientV2.rest import ApiException

from contact_sync.simulators.genesys import GenesysSimulator
from contact_sync.simulators.genesys.service import iso_ms
from contact_sync_tests.simulators.genesys_fixtures import client, clock, genesys, sdk, served_genesys
from contact_sync_tests.simulators.shared_fixtures import TestClock

__all__ = ["client", "clock", "genesys", "sdk", "served_genesys"]

EXPORTS = "/contacts/exports"


def _rows(genesys: GenesysSimulator, clock: TestClock, n: int) -> list[str]:
    ids = []
    for i in range(n):
        ids += genesys.load_contacts([{"firstName": f"E{i}", "lastName": "Export", "workEmail": f"e{i}@example.com"}])
        clock.advance(60)
    return ids


def _download(client: httpx.Client, url: str) -> list[dict]:
    response = client.get(url)
    assert response.status_code == 200 and response.headers["content-type"] == "application/gzip"
    return [json.loads(line) for line in gzip.decompress(response.content).splitlines()]


def test_an_export_of_contacts_modified_since_runs_then_serves_them_to_the_sdk(
    genesys: GenesysSimulator, clock: TestClock, sdk: ExternalContactsApi, client: httpx.Client
) -> None:
    ids = _rows(genesys, clock, 5)
    since = clock() - timedelta(minutes=2, seconds=30)  # the last two contacts, created 60 s apart
    body = ContactsExport()
    body.query_conditions = ContactsExportQueryConditions()
    body.query_conditions.filters = ContactsExportFilter()
    body.query_conditions.filters.gte = ContactsExportComparisonFieldFilter()
    body.query_conditions.filters.gte.field, body.query_conditions.filters.gte.value = "ModifyDate", iso_ms(since)

    job = sdk.post_externalcontacts_contacts_exports(body)
    assert (
        job.status == "RUNNING" and job.download_url is None and job.query_conditions.filters.gte.field == "ModifyDate"
    )
    clock.advance(2)
    done = sdk.get_externalcontacts_contacts_export(job.id)
    assert done.status == "SUCCEEDED" and done.result_row_count == 2 and done.date_completion is not None
    rows = _download(client, done.download_url)
    assert [r["id"] for r in rows] == sorted(ids[-2:]) and rows[0]["lastName"] == "Export"
    listing = sdk.get_externalcontacts_contacts_exports()
    assert [e.id for e in listing.entities] == [job.id] and listing.entities[0].status == "SUCCEEDED"


def test_filters_combine_and_the_limit_caps_the_file(
    genesys: GenesysSimulator, clock: TestClock, client: httpx.Client, sdk: ExternalContactsApi
) -> None:
    genesys.set_clock(clock)
    [org] = genesys.load_organizations([{"name": "Acme"}])
    in_org = genesys.load_contacts([{"lastName": f"O{i}", "externalOrganization": {"id": org}} for i in range(3)])
    genesys.load_contacts([{"lastName": "Loose"}])
    body = ContactsExport()
    body.query_conditions = ContactsExportQueryConditions()
    either = ContactsExportFilter()
    either.pcIn = ContactsExportFieldListFilter()  # the SDK's name for `in`
    either.pcIn.field, either.pcIn.values = "ExternalOrganizationId", [org, "no-such-org"]
    body.query_conditions.filters = either
    body.query_conditions.limit = 2
    job = sdk.post_externalcontacts_contacts_exports(body)
    clock.advance(2)
    rows = _download(client, sdk.get_externalcontacts_contacts_export(job.id).download_url)
    assert len(rows) == 2 and {r["id"] for r in rows} <= set(in_org)

    negated = client.post(
        EXPORTS,
        json={"queryConditions": {"filters": {"and": [{"not": {"eq": {"field": "ExternalOrganizationId",
                                                                         "value": org}}},
                                                      {"lte": {"field": "CreateDate", "value": iso_ms(clock())}}]}}},
    )  # fmt: skip
    assert negated.status_code == 200, negated.text
    clock.advance(2)
    done = client.get(f"{EXPORTS}/{negated.json()['id']}").json()
    assert [r["lastName"] for r in _download(client, done["downloadUrl"])] == ["Loose"]


@pytest.mark.parametrize(
    ("conditions", "message"),
    [
        ({"filters": {"gte": {"field": "Birthday", "value": "2026-01-01T00:00:00Z"}}}, "field must be one of"),
        ({"filters": {"gte": {"field": "ModifyDate", "value": "yesterday"}}}, "ISO-8601"),
        ({"filters": {"eq": {"field": "DivisionId", "value": "x"}, "in": {"field": "DivisionId", "values": []}}},
         "exactly one of"),
        ({"filters": {"like": {"field": "DivisionId", "value": "x"}}}, "unknown operator"),
        ({"limit": 0}, "positive integer"),
        ({"sort": "id"}, "unknown fields: sort"),
    ],
)  # fmt: skip
def test_a_bad_query_is_refused_naming_what_is_wrong(client: httpx.Client, conditions: dict, message: str) -> None:
    response = client.post(EXPORTS, json={"queryConditions": conditions})
    assert response.status_code == 400 and message in response.json()["message"]


def test_a_failed_rule_fails_the_export_and_an_unknown_one_is_404(
    genesys: GenesysSimulator, clock: TestClock, client: httpx.Client, sdk: ExternalContactsApi
) -> None:
    genesys.load_contacts([{"lastName": "Kept"}])
    genesys.set_faults([{"kind": "failed", "path": "/contacts/exports$", "method": "POST", "count": 1}])
    failed = client.post(EXPORTS, json={}).json()
    clock.advance(2)
    seen = client.get(f"{EXPORTS}/{failed['id']}").json()
    assert seen["status"] == "FAILED" and "downloadUrl" not in seen
    assert client.get(f"{EXPORTS}/{failed['id']}/download").status_code == 400
    retried = client.post(EXPORTS, json={}).json()  # the rule fired once: the next export succeeds
    clock.advance(2)
    assert client.get(f"{EXPORTS}/{retried['id']}").json()["resultRowCount"] == 1
    with pytest.raises(ApiException) as missing:
        sdk.get_externalcontacts_contacts_export("00000000-0000-0000-0000-000000000000")
    assert missing.value.status == 404
    anonymous = httpx.get(f"{genesys.url}/api/v2/externalcontacts/contacts/exports/{retried['id']}/download")
    assert anonymous.status_code == 401


def test_the_listing_pages_with_after(genesys: GenesysSimulator, client: httpx.Client) -> None:
    made = [client.post(EXPORTS, json={}).json()["id"] for _ in range(3)]
    first = client.get(EXPORTS, params={"pageSize": 2}).json()
    assert [e["id"] for e in first["entities"]] == made[:2] and "after=" in first["nextUri"]
    rest = client.get(EXPORTS, params={"pageSize": 2, "after": made[1]}).json()
    assert [e["id"] for e in rest["entities"]] == made[2:] and "nextUri" not in rest


def test_the_plain_json_lines_format_is_a_setting() -> None:
    sim = GenesysSimulator(export_format="jsonl", export_delay_s=0)
    try:
        sim.load_contacts([{"lastName": "Plain"}])
        job = sim.exports.create({}, sim.store.contacts_raw(), sim.client_id, fails=False)
        data, media_type = sim.exports.download(job)
        assert media_type == "application/x-ndjson" and json.loads(data.splitlines()[0])["lastName"] == "Plain"
    finally:
        sim.close()
    with pytest.raises(ValueError, match="export_format must be one of"):
        GenesysSimulator(export_format="csv")
