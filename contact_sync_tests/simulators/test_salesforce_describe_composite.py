"""Salesforce simulator through simple-salesforce: the complete describe (global, object, fields, child
relationships) and the Composite resources (`composite` with references and allOrNone, `composite/batch`,
`composite/tree`), each counted as one API call."""

from __future__ import annotations

from typing import Any

import pytest
from simple_salesforce import Salesforce

from contact_sync.simulators.salesforce import SalesforceSimulator
from contact_sync_tests.simulators import salesforce_fixtures as fx

served_sf, sim, sf, http = fx.served_sf, fx.sim, fx.sf, fx.http

V = "/services/data/v59.0"
FIELD_KEYS = {
    "aggregatable", "autoNumber", "byteLength", "calculated", "caseSensitive", "controllerName", "createable",
    "custom", "defaultValue", "defaultedOnCreate", "dependentPicklist", "deprecatedAndHidden", "digits",
    "externalId", "filterable", "groupable", "htmlFormatted", "idLookup", "inlineHelpText", "label", "length",
    "name", "nameField", "namePointing", "nillable", "permissionable", "picklistValues", "polymorphicForeignKey",
    "precision", "referenceTo", "relationshipName", "relationshipOrder", "restrictedPicklist", "scale", "soapType",
    "sortable", "type", "unique", "updateable", "writeRequiresMasterRead",
}  # fmt: skip
OBJECT_KEYS = {
    "actionOverrides", "activateable", "childRelationships", "compactLayoutable", "createable", "custom",
    "customSetting", "deletable", "deprecatedAndHidden", "feedEnabled", "fields", "keyPrefix", "label",
    "labelPlural", "layoutable", "mergeable", "mruEnabled", "name", "queryable", "recordTypeInfos", "replicateable",
    "retrieveable", "searchable", "supportedScopes", "triggerable", "undeletable", "updateable", "urls",
}  # fmt: skip


def test_describe_has_every_key_real_orgs_send(sf: Salesforce) -> None:
    described = sf.Contact.describe()
    assert described.keys() >= OBJECT_KEYS
    fields = {f["name"]: f for f in described["fields"]}
    for field in fields.values():
        assert field.keys() >= FIELD_KEYS, field["name"]
    assert fields["AccountId"]["relationshipName"] == "Account" and fields["AccountId"]["soapType"] == "tns:ID"
    assert fields["Email"]["soapType"] == "xsd:string" and fields["Email"]["filterable"] is True
    assert fields["Genesys_Id__c"]["custom"] is True and fields["LastName"]["custom"] is False
    assert fields["LastName"]["nillable"] is False and fields["AccountId"]["nillable"] is True
    account = sf.Account.describe()
    assert [(c["childSObject"], c["field"], c["relationshipName"]) for c in account["childRelationships"]] == [
        ("Contact", "AccountId", "Contacts")
    ]
    overview = sf.describe()
    assert {o["name"] for o in overview["sobjects"]} == {"Contact", "Account"}
    assert all({"keyPrefix", "labelPlural", "urls", "custom", "searchable"} <= o.keys() for o in overview["sobjects"])
    assert sf.Contact.metadata()["objectDescribe"]["labelPlural"] == "Contacts"


def composite(sf: Salesforce, requests: list[dict[str, Any]], all_or_none: bool = False) -> list[dict[str, Any]]:
    body = {"allOrNone": all_or_none, "compositeRequest": requests}
    return list(sf.restful("composite", method="POST", json=body)["compositeResponse"])


def test_composite_subrequests_refer_to_earlier_results_and_count_as_one_call(
    sim: SalesforceSimulator, sf: Salesforce
) -> None:
    before = sim.api.api_used
    answers = composite(
        sf,
        [
            {"method": "POST", "url": f"{V}/sobjects/Account", "referenceId": "acme", "body": {"Name": "Acme"}},
            {"method": "POST", "url": f"{V}/sobjects/Contact", "referenceId": "ada",
             "body": {"LastName": "Lovelace", "AccountId": "@{acme.id}"}},
            {"method": "GET", "url": f"{V}/sobjects/Contact/@{{ada.id}}?fields=AccountId", "referenceId": "read"},
        ],
    )  # fmt: skip
    assert [a["httpStatusCode"] for a in answers] == [201, 201, 200]
    assert answers[2]["body"]["AccountId"] == answers[0]["body"]["id"]
    location = {k.lower(): v for k, v in answers[0]["httpHeaders"].items()}["location"]
    assert location == f"{V}/sobjects/Account/{answers[0]['body']['id']}"
    assert sim.api.api_used - before == 1


def test_composite_all_or_none_rolls_every_subrequest_back(sim: SalesforceSimulator, sf: Salesforce) -> None:
    answers = composite(
        sf,
        [
            {"method": "POST", "url": f"{V}/sobjects/Account", "referenceId": "acme", "body": {"Name": "Acme"}},
            {"method": "POST", "url": f"{V}/sobjects/Contact", "referenceId": "bad", "body": {"FirstName": "NoLast"}},
            {"method": "POST", "url": f"{V}/sobjects/Contact", "referenceId": "never", "body": {"LastName": "X"}},
        ],
        all_or_none=True,
    )
    assert [a["httpStatusCode"] for a in answers] == [400, 400, 400]
    assert answers[1]["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert answers[0]["body"][0]["errorCode"] == answers[2]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 0


def test_composite_without_all_or_none_keeps_what_worked_and_fails_what_refers_to_a_failure(sf: Salesforce) -> None:
    answers = composite(
        sf,
        [
            {"method": "POST", "url": f"{V}/sobjects/Contact", "referenceId": "bad", "body": {"FirstName": "NoLast"}},
            {"method": "PATCH", "url": f"{V}/sobjects/Contact/@{{bad.id}}", "referenceId": "uses",
             "body": {"LastName": "Y"}},
            {"method": "POST", "url": f"{V}/sobjects/Contact", "referenceId": "good", "body": {"LastName": "Kept"}},
        ],
    )  # fmt: skip
    assert [a["httpStatusCode"] for a in answers] == [400, 400, 201]
    assert answers[1]["body"][0]["errorCode"] == "PROCESSING_HALTED" and "bad.id" in answers[1]["body"][0]["message"]
    assert sf.query("SELECT LastName FROM Contact")["records"][0]["LastName"] == "Kept"


def test_composite_refuses_too_many_or_malformed_subrequests(
    sf: Salesforce, http: Any, sim: SalesforceSimulator
) -> None:
    url = fx.api(sim, "composite")
    many = [{"method": "GET", "url": f"{V}/limits", "referenceId": f"r{n}"} for n in range(26)]
    assert http.post(url, json={"compositeRequest": many}).status_code == 400
    twice = [{"method": "GET", "url": f"{V}/limits", "referenceId": "same"}] * 2
    assert http.post(url, json={"compositeRequest": twice}).status_code == 400
    assert (
        http.post(url, json={"compositeRequest": [{"method": "TRACE", "url": "/x", "referenceId": "a"}]}).status_code
        == 400
    )


def test_composite_batch_runs_independent_subrequests_and_can_halt(sim: SalesforceSimulator, sf: Salesforce) -> None:
    (cid,) = sim.load_contacts([{"LastName": "Batch"}])
    answer = sf.restful(
        "composite/batch",
        method="POST",
        json={
            "haltOnError": True,
            "batchRequests": [
                {"method": "PATCH", "url": f"v59.0/sobjects/Contact/{cid}", "richInput": {"FirstName": "Bo"}},
                {"method": "GET", "url": "v59.0/sobjects/Contact/003000000000000AAA"},
                {"method": "GET", "url": f"v59.0/sobjects/Contact/{cid}"},
            ],
        },
    )
    assert answer["hasErrors"] is True
    assert [r["statusCode"] for r in answer["results"]] == [204, 404, 412]
    assert answer["results"][2]["result"][0]["errorCode"] == "BATCH_PROCESSING_HALTED"
    assert sf.Contact.get(cid)["FirstName"] == "Bo"


def test_composite_tree_creates_parents_and_children_all_or_none(sf: Salesforce) -> None:
    tree = {
        "records": [
            {"attributes": {"type": "Account", "referenceId": "acme"}, "Name": "Acme",
             "Contacts": {"records": [
                 {"attributes": {"type": "Contact", "referenceId": "c1"}, "LastName": "One"},
                 {"attributes": {"type": "Contact", "referenceId": "c2"}, "LastName": "Two", "Email": "two@x.com"},
             ]}},
        ]
    }  # fmt: skip
    made = sf.restful("composite/tree/Account", method="POST", json=tree)
    assert made["hasErrors"] is False and [r["referenceId"] for r in made["results"]] == ["acme", "c1", "c2"]
    account_id = made["results"][0]["id"]
    children = sf.query(f"SELECT LastName FROM Contact WHERE AccountId = '{account_id}' ORDER BY LastName")
    assert [r["LastName"] for r in children["records"]] == ["One", "Two"]

    tree["records"][0]["Contacts"]["records"][1]["Email"] = "not an email"  # type: ignore[index]
    with pytest.raises(Exception) as refused:
        sf.restful("composite/tree/Account", method="POST", json=tree)
    assert "c2" in str(refused.value) and "INVALID_EMAIL_ADDRESS" in str(refused.value)
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 1


def test_parent_relationship_fields_in_select_where_and_order_by(sim: SalesforceSimulator, sf: Salesforce) -> None:
    acme, globex = sim.load_accounts([{"Name": "Acme"}, {"Name": "Globex"}])
    sim.load_contacts(
        [{"LastName": "Ann", "AccountId": acme}, {"LastName": "Bob", "AccountId": globex}, {"LastName": "Cy"}]
    )
    rows = sf.query("SELECT LastName, Account.Name FROM Contact ORDER BY Account.Name DESC NULLS LAST")["records"]
    assert [(r["LastName"], r["Account"] and r["Account"]["Name"]) for r in rows] == [
        ("Bob", "Globex"), ("Ann", "Acme"), ("Cy", None)
    ]  # fmt: skip
    assert rows[0]["Account"]["attributes"] == {"type": "Account", "url": f"{V}/sobjects/Account/{globex}"}
    found = sf.query("SELECT LastName FROM Contact WHERE Account.Name = 'ACME'")["records"]
    assert [r["LastName"] for r in found] == ["Ann"]
    like = sf.query("SELECT Id FROM Contact WHERE Account.Name LIKE 'glo%' OR Account.Name = null")["records"]
    assert len(like) == 2
    csv_pages = list(
        sf.bulk2.Contact.query("SELECT LastName, Account.Name FROM Contact WHERE Account.Name != null", wait=0)
    )
    assert csv_pages[0].splitlines()[0] == '"LastName","Account.Name"' and len(csv_pages[0].splitlines()) == 3


@pytest.mark.parametrize(
    ("soql", "message"),
    [
        ("SELECT Owner.Name FROM Contact", "Didn't understand relationship 'Owner'"),
        ("SELECT Account.Nope FROM Contact", "No such column 'Nope' on entity 'Account'"),
        ("SELECT Account.Owner.Name FROM Contact", "Didn't understand relationship 'Account'"),
    ],
)
def test_relationship_paths_the_org_does_not_have_are_invalid_fields(http: Any, sim: SalesforceSimulator, soql: str,
                                                                     message: str) -> None:  # fmt: skip
    response = http.get(fx.api(sim, "query"), params={"q": soql})
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "INVALID_FIELD" and message in response.json()[0]["message"]


def test_sosl_finds_records_by_words_in_the_scope_and_returns_the_fields_asked(
    sim: SalesforceSimulator, sf: Salesforce
) -> None:
    (acme,) = sim.load_accounts([{"Name": "Lovelace Analytics"}])
    sim.load_contacts(
        [
            {"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@engines.org", "AccountId": acme},
            {"FirstName": "Charles", "LastName": "Babbage", "Email": "charles@engines.org"},
        ]
    )
    everything = sf.quick_search("Lovelace")["searchRecords"]
    assert sorted(r["attributes"]["type"] for r in everything) == ["Account", "Contact"]
    assert all(set(r) == {"attributes", "Id"} for r in everything)
    emails = sf.search("FIND {engines*} IN EMAIL FIELDS RETURNING Contact(LastName, Account.Name ORDER BY LastName)")
    assert [(r["LastName"], r["Account"] and r["Account"]["Name"]) for r in emails["searchRecords"]] == [
        ("Babbage", None), ("Lovelace", "Lovelace Analytics")
    ]  # fmt: skip
    filtered = sf.search("FIND {engines.org} RETURNING Contact(FirstName WHERE FirstName LIKE 'C%')")
    assert [r["FirstName"] for r in filtered["searchRecords"]] == ["Charles"]
    names = sf.search("FIND {Analytics} IN NAME FIELDS RETURNING Contact, Account(Name)")["searchRecords"]
    assert [r.get("Name") for r in names] == ["Lovelace Analytics"]
    limited = sf.search("FIND {engines} RETURNING Contact(Id) LIMIT 1")["searchRecords"]
    assert len(limited) == 1


@pytest.mark.parametrize(
    ("sosl", "code"),
    [
        ("Lovelace", "MALFORMED_SEARCH"),
        ("FIND {a}", "MALFORMED_SEARCH"),
        ("FIND {Ada} IN EVERY FIELDS", "MALFORMED_SEARCH"),
        ("FIND {Ada} RETURNING Lead", "INVALID_TYPE"),
        ("FIND {Ada} RETURNING Contact(Nope)", "INVALID_FIELD"),
    ],
)
def test_sosl_it_does_not_understand_is_refused(http: Any, sim: SalesforceSimulator, sosl: str, code: str) -> None:
    response = http.get(fx.api(sim, "search"), params={"q": sosl})
    assert response.status_code == 400 and response.json()[0]["errorCode"] == code
