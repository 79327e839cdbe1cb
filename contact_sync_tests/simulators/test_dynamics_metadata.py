"""Dynamics simulator: `EntityDefinitions` (filter, select, expand, attribute casts, option sets), the `$metadata`
document, and the service's refusal of every metadata query it does not support."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import httpx
import pytest

from contact_sync_tests.simulators.dynamics_fixtures import client, dynamics, served_dynamics

__all__ = ["client", "dynamics", "served_dynamics"]

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"


def test_a_table_is_found_by_logical_name_with_the_properties_selected(client: httpx.Client) -> None:
    params = {"$select": "LogicalName,EntitySetName,PrimaryIdAttribute", "$filter": "LogicalName eq 'contact'"}
    body = client.get("/EntityDefinitions", params=params).json()
    assert [{k: v for k, v in row.items() if k != "MetadataId"} for row in body["value"]] == [
        {"LogicalName": "contact", "EntitySetName": "contacts", "PrimaryIdAttribute": "contactid"}
    ]
    both = client.get("/EntityDefinitions", params={"$filter": "LogicalName eq 'account' or LogicalName eq 'contact'"})
    assert {row["ObjectTypeCode"] for row in both.json()["value"]} == {1, 2}
    none = client.get("/EntityDefinitions", params={"$filter": "LogicalName eq 'opportunity'"})
    assert none.status_code == 200 and none.json()["value"] == []


def test_attributes_with_their_types_lengths_and_option_sets(client: httpx.Client) -> None:
    table = client.get(
        "/EntityDefinitions(LogicalName='contact')", params={"$expand": "Attributes($select=LogicalName)"}
    )
    assert table.status_code == 200
    names = {a["LogicalName"] for a in table.json()["Attributes"]}
    assert {"contactid", "firstname", "lastname", "emailaddress1", "parentcustomerid", "statecode"} <= names
    email = client.get("/EntityDefinitions(LogicalName='contact')/Attributes(LogicalName='emailaddress1')").json()
    assert (email["AttributeType"], email["MaxLength"], email["FormatName"]["Value"]) == ("String", 100, "Email")
    lookup = client.get("/EntityDefinitions(LogicalName='contact')/Attributes(LogicalName='parentcustomerid')").json()
    assert lookup["@odata.type"] == "#Microsoft.Dynamics.CRM.LookupAttributeMetadata"
    assert sorted(lookup["Targets"]) == ["account", "contact"]
    states = client.get(
        "/EntityDefinitions(LogicalName='contact')/Attributes/Microsoft.Dynamics.CRM.StateAttributeMetadata",
        params={"$select": "LogicalName", "$expand": "OptionSet($select=Options)"},
    ).json()["value"]
    assert [(o["Value"], o["Label"]["UserLocalizedLabel"]["Label"]) for o in states[0]["OptionSet"]["Options"]] == [
        (0, "Active"),
        (1, "Inactive"),
    ]
    picklists = client.get(
        "/EntityDefinitions(LogicalName='contact')/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata"
    )
    assert picklists.status_code == 200 and picklists.json()["value"] == []


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/EntityDefinitions", {"$filter": "contains(LogicalName,'con')"}, 400),
        ("/EntityDefinitions", {"$top": "1"}, 400),
        ("/EntityDefinitions", {"$select": "NoSuchProperty"}, 400),
        ("/EntityDefinitions", {"$expand": "Keys"}, 400),
        ("/EntityDefinitions(LogicalName='opportunity')", {}, 404),
        ("/EntityDefinitions(LogicalName='contact')/Attributes(LogicalName='nosuch')", {}, 404),
        ("/EntityDefinitions(LogicalName='contact')/Keys", {}, 400),
        ("/$metadata", {"$select": "x"}, 400),
    ],
)
def test_metadata_queries_the_simulator_does_not_support_are_refused(
    client: httpx.Client, path: str, params: dict[str, str], status: int
) -> None:
    response = client.get(path, params=params)
    assert response.status_code == status
    assert set(response.json()["error"]) == {"code", "message"}


def test_the_metadata_document_declares_the_tables_their_keys_and_the_bulk_actions(client: httpx.Client) -> None:
    response = client.get("/$metadata")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/xml")
    schema = ET.fromstring(response.content).find(f".//{EDM}Schema")
    assert schema is not None
    types = {t.get("Name"): t for t in schema.findall(f"{EDM}EntityType")}
    assert types["contact"].find(f"{EDM}Key/{EDM}PropertyRef").get("Name") == "contactid"  # type: ignore[union-attr]
    properties = {p.get("Name"): p.get("Type") for p in types["contact"].findall(f"{EDM}Property")}
    assert properties["modifiedon"] == "Edm.DateTimeOffset" and properties["lastname"] == "Edm.String"
    assert {a.get("Name") for a in schema.findall(f"{EDM}Action")} == {
        "CreateMultiple",
        "UpdateMultiple",
        "UpsertMultiple",
    }
    sets = {s.get("Name") for s in schema.findall(f"{EDM}EntityContainer/{EDM}EntitySet")}
    assert sets == {"contacts", "accounts"}
