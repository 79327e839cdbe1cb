"""SOQL through the real simple-salesforce client: paging, query vs queryAll, every operator, ordering, errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from contact_sync.simulators.salesforce import SalesforceSimulator
from contact_sync_tests.simulators import salesforce_fixtures as fx
from contact_sync_tests.simulators.salesforce_fixtures import api, utc
from contact_sync_tests.simulators.shared_fixtures import TestClock

served_sf, sim, sf, http = fx.served_sf, fx.sim, fx.sf, fx.http


def _names(sf: Salesforce, where: str, order: str = "LastName") -> list[str]:
    soql = f"SELECT LastName FROM Contact WHERE {where} ORDER BY {order}"
    return [r["LastName"] for r in sf.query_all(soql)["records"]]


@pytest.fixture
def people(sim: SalesforceSimulator) -> dict[str, str]:
    """Five contacts written a minute apart (so each has its own SystemModstamp), by LastName -> Id."""
    clock = TestClock(utc(2026, 1, 1, 10, 0))
    sim.set_clock(clock)
    (acme,) = sim.load_accounts([{"Name": "Acme"}])
    rows = [
        {"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.com", "LeadScore__c": 90,
         "AccountId": acme, "Tags__c": "vip;math"},
        {"FirstName": "Alan", "LastName": "Turing", "Email": "ALAN@example.org", "LeadScore__c": 75},
        {"FirstName": "Grace", "LastName": "Hopper", "Email": None, "LeadScore__c": 60, "Phone": "+1 555 0100"},
        {"FirstName": None, "LastName": "O'Neil", "Email": "oneil@example.com", "LeadScore__c": None},
        {"FirstName": "Edsger", "LastName": "Dijkstra", "Email": "ewd_1@example.net", "LeadScore__c": 75.5},
    ]  # fmt: skip
    ids = {}
    for row in rows:
        clock.now += timedelta(minutes=1)
        ids[row["LastName"]] = sim.load_contacts([row])[0]
    return ids


def test_query_all_iter_pages_with_the_batch_size_header(sim: SalesforceSimulator, sf: Salesforce) -> None:
    ids = sim.load_contacts([{"LastName": f"Person {i:04d}"} for i in range(1050)])
    seen = list(
        sf.query_all_iter("SELECT Id, LastName FROM Contact", headers={"Sforce-Query-Options": "batchSize=200"})
    )
    assert [r["Id"] for r in seen] == ids
    assert sim.calls[("GET", "/services/data/v{version}/query")] == 1
    assert sim.calls[("GET", "/services/data/v{version}/query/{locator}")] == 5  # 1050 rows in pages of 200
    assert seen[0]["attributes"] == {"type": "Contact", "url": f"/services/data/v59.0/sobjects/Contact/{ids[0]}"}


def test_first_page_shape_and_relative_next_records_url(sim: SalesforceSimulator, http: requests.Session) -> None:
    sim.load_contacts([{"LastName": f"P{i}"} for i in range(2500)])
    page = http.get(api(sim, "query/"), params={"q": "SELECT Id FROM Contact"}).json()
    assert page["totalSize"] == 2500
    assert page["done"] is False
    assert len(page["records"]) == 2000  # the default batch size
    assert page["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    assert page["nextRecordsUrl"].endswith("-2000")
    rest = http.get(sim.url + page["nextRecordsUrl"]).json()
    assert rest["done"] is True
    assert len(rest["records"]) == 500
    assert "nextRecordsUrl" not in rest
    again = http.get(sim.url + page["nextRecordsUrl"])  # a client retrying a page after a timeout gets it again
    assert again.status_code == 200 and again.json()["records"] == rest["records"]
    bad = http.get(api(sim, "query/01gNOPE-2000"))
    assert bad.status_code == 400
    assert bad.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_batch_size_is_clamped_to_200_through_2000(sim: SalesforceSimulator, http: requests.Session) -> None:
    sim.load_contacts([{"LastName": f"P{i}"} for i in range(450)])
    small = http.get(
        api(sim, "query/"), params={"q": "SELECT Id FROM Contact"}, headers={"Sforce-Query-Options": "batchSize=10"}
    ).json()
    assert len(small["records"]) == 200


def test_query_hides_deleted_and_merged_rows_query_all_shows_them(sim: SalesforceSimulator, sf: Salesforce) -> None:
    keep, gone, loser = sim.load_contacts([{"LastName": "Keep"}, {"LastName": "Gone"}, {"LastName": "Loser"}])
    sim.delete_contact(gone)
    sim.merge(keep, [loser])
    live = sf.query_all("SELECT Id FROM Contact")["records"]
    assert [r["Id"] for r in live] == [keep]
    everything = sf.query_all("SELECT Id, IsDeleted, MasterRecordId FROM Contact", include_deleted=True)["records"]
    by_id = {r["Id"]: r for r in everything}
    assert set(by_id) == {keep, gone, loser}
    assert by_id[keep]["IsDeleted"] is False
    assert by_id[gone]["IsDeleted"] is True
    assert by_id[gone]["MasterRecordId"] is None
    assert by_id[loser]["IsDeleted"] is True
    assert by_id[loser]["MasterRecordId"] == keep
    deleted_only = sf.query_all("SELECT Id FROM Contact WHERE IsDeleted = true", include_deleted=True)["records"]
    assert {r["Id"] for r in deleted_only} == {gone, loser}
    assert sim.count() == 1
    assert sim.count(include_deleted=True) == 3


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("LastName = 'turing'", ["Turing"]),  # string equality is case-insensitive in SOQL
        ("Email = 'alan@example.org'", ["Turing"]),
        ("LeadScore__c = 75", ["Turing"]),
        ("LeadScore__c != 75", ["Dijkstra", "Hopper", "Lovelace", "O'Neil"]),  # != also matches null
        ("LeadScore__c < 75", ["Hopper"]),
        ("LeadScore__c <= 75", ["Hopper", "Turing"]),
        ("LeadScore__c > 75", ["Dijkstra", "Lovelace"]),
        ("LeadScore__c >= 75.5", ["Dijkstra", "Lovelace"]),
        ("LastName LIKE 'ho%'", ["Hopper"]),
        ("Email LIKE '%@example.com'", ["Lovelace", "O'Neil"]),
        ("LastName LIKE '_uring'", ["Turing"]),
        ("Email LIKE 'ewd\\_%'", ["Dijkstra"]),
        ("LastName IN ('Hopper', 'turing', 'Nobody')", ["Hopper", "Turing"]),
        ("LastName NOT IN ('Hopper', 'Turing')", ["Dijkstra", "Lovelace", "O'Neil"]),
        ("Email = null", ["Hopper"]),
        ("FirstName = null", ["O'Neil"]),
        ("Email != null AND FirstName != null", ["Dijkstra", "Lovelace", "Turing"]),
        ("LastName = 'O\\'Neil'", ["O'Neil"]),
        ("LeadScore__c > 70 OR Email = null", ["Dijkstra", "Hopper", "Lovelace", "Turing"]),
        ("(LeadScore__c > 70 OR Email = null) AND NOT LastName = 'Turing'", ["Dijkstra", "Hopper", "Lovelace"]),
        ("NOT (LeadScore__c > 70)", ["Hopper", "O'Neil"]),
        ("NOT Email LIKE '%example.com'", ["Dijkstra", "Hopper", "Turing"]),
        ("IsDeleted = false AND Tags__c LIKE '%vip%'", ["Lovelace"]),
        ("AccountId != null", ["Lovelace"]),
        ("SystemModstamp > 2026-01-01T10:02:00Z", ["Dijkstra", "Hopper", "O'Neil"]),
        ("SystemModstamp >= 2026-01-01T10:02:00.000+0000", ["Dijkstra", "Hopper", "O'Neil", "Turing"]),
        ("CreatedDate < 2026-01-01T12:03:00+02:00", ["Lovelace", "Turing"]),
        ("LastModifiedDate = 2026-01-01T10:01:00Z", ["Lovelace"]),
    ],
)
def test_each_operator(people: dict[str, str], sf: Salesforce, where: str, expected: list[str]) -> None:
    assert _names(sf, where) == expected


def test_id_filters_accept_15_and_18_character_ids(people: dict[str, str], sf: Salesforce) -> None:
    turing = people["Turing"]
    assert _names(sf, f"Id = '{turing}'") == ["Turing"]
    assert _names(sf, f"Id = '{turing[:15]}'") == ["Turing"]
    assert _names(sf, f"Id IN ('{turing}', '{people['Hopper']}')") == ["Hopper", "Turing"]


def test_order_by_several_fields_nulls_and_limit(people: dict[str, str], sf: Salesforce) -> None:
    order = "LeadScore__c DESC NULLS LAST, LastName"
    assert _names(sf, "IsDeleted = false", order) == ["Lovelace", "Dijkstra", "Turing", "Hopper", "O'Neil"]
    assert _names(sf, "IsDeleted = false", "LeadScore__c ASC NULLS FIRST") == [
        "O'Neil", "Hopper", "Turing", "Dijkstra", "Lovelace",
    ]  # fmt: skip
    assert _names(sf, "IsDeleted = false", "FirstName DESC") == ["Hopper", "Dijkstra", "Turing", "Lovelace", "O'Neil"]
    limited = sf.query("SELECT LastName FROM Contact ORDER BY SystemModstamp DESC LIMIT 2")
    assert [r["LastName"] for r in limited["records"]] == ["Dijkstra", "O'Neil"]
    assert limited["totalSize"] == 2


def test_values_come_back_typed_and_formatted(people: dict[str, str], sf: Salesforce) -> None:
    rec = sf.query(
        "SELECT Id, Name, Email, LeadScore__c, IsDeleted, CreatedDate, SystemModstamp, AccountId FROM Contact "
        "WHERE LastName = 'Lovelace'"
    )["records"][0]
    assert rec["Name"] == "Ada Lovelace"
    assert rec["LeadScore__c"] == 90
    assert rec["IsDeleted"] is False
    assert rec["CreatedDate"] == "2026-01-01T10:01:00.000+0000"
    assert rec["SystemModstamp"] == "2026-01-01T10:01:00.000+0000"
    assert rec["AccountId"].startswith("001") and len(rec["AccountId"]) == 18
    assert len(rec["Id"]) == 18 and rec["Id"].startswith("003")


def test_count_and_accounts(people: dict[str, str], sf: Salesforce) -> None:
    assert sf.query("SELECT COUNT() FROM Contact WHERE LeadScore__c > 70")["totalSize"] == 3
    accounts = sf.query("SELECT Id, Name FROM Account")["records"]
    assert [a["Name"] for a in accounts] == ["Acme"]
    assert accounts[0]["attributes"]["type"] == "Account"


@pytest.mark.parametrize(
    ("soql", "code", "fragment"),
    [
        ("SELECT Id, Nope__c FROM Contact", "INVALID_FIELD", "No such column 'Nope__c' on entity 'Contact'"),
        ("SELECT Id FROM Lead", "INVALID_TYPE", "sObject type 'Lead' is not supported"),
        ("SELECT Id FROM Contact WHERE", "MALFORMED_QUERY", "unexpected token: '<EOF>'"),
        ("SELECT FROM Contact", "MALFORMED_QUERY", "unexpected token: 'FROM'"),
        ("SELECT Id Contact", "MALFORMED_QUERY", "unexpected token"),
        ("SELECT Id FROM Contact WHERE LastName = 'a' AND Email = 'b' OR Phone = 'c'", "MALFORMED_QUERY",
         "unexpected token: 'OR'"),
        ("SELECT Id FROM Contact WHERE SystemModstamp > '2026-01-01'", "MALFORMED_QUERY",
         "must be of type dateTime and should not be enclosed in quotes"),
        ("SELECT Id FROM Contact WHERE LeadScore__c > 'x'", "MALFORMED_QUERY", "must be of type double"),
        ("SELECT Id FROM Contact WHERE Email = 5", "MALFORMED_QUERY", "should be enclosed in quotes"),
        ("SELECT Id FROM Contact WHERE Id = 'abc'", "INVALID_QUERY_FILTER_OPERATOR", "invalid ID field: abc"),
        ("SELECT Id, Id FROM Contact", "MALFORMED_QUERY", "duplicate field selected: Id"),
        ("SELECT Id FROM Contact LIMIT x", "MALFORMED_QUERY", "unexpected token: 'x'"),
    ],
)  # fmt: skip
def test_bad_soql_is_400_with_the_real_code(sf: Salesforce, soql: str, code: str, fragment: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query(soql)
    assert err.value.status == 400
    body = err.value.content
    assert isinstance(body, list) and body[0]["errorCode"] == code
    assert fragment in body[0]["message"]


def test_error_message_points_at_the_offending_token(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Id, Bogus FROM Contact")
    message = err.value.content[0]["message"]
    assert "ERROR at Row:1:Column:12" in message
    assert "\nSELECT Id, Bogus FROM Contact\n           ^\n" in message


def test_missing_q_parameter(http: requests.Session, sim: SalesforceSimulator) -> None:
    reply = http.get(api(sim, "query/"))
    assert reply.status_code == 400
    assert reply.json()[0]["errorCode"] == "MALFORMED_QUERY"
