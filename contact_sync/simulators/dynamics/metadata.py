"""The Dataverse metadata the simulator serves for its tables: `EntityDefinitions` (with their `Attributes`, the
attribute-type casts and option sets of the state and status columns) and the `$metadata` CSDL document.

Microsoft's clients look a table up here before any record call (the Dataverse SDK resolves `contact` to its entity
set and primary key through `EntityDefinitions?$filter=LogicalName eq 'contact'`), so the shapes follow the service's
`EntityMetadata` / `AttributeMetadata` for the columns the simulator has. The queries it answers: `$select` of known
properties, `$filter` of `<property> eq '<value>'` terms joined by `or` (LogicalName, SchemaName, EntitySetName,
MetadataId), and `$expand=Attributes` / `OptionSet` (each with its own `$select`); anything else is refused with the
service's error, never answered with everything.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Final
from xml.sax.saxutils import quoteattr

from contact_sync.simulators.dynamics.errors import NOT_FOUND, ApiError, bad_query
from contact_sync.simulators.dynamics.odata import EDM, query_options
from contact_sync.simulators.dynamics.schema import ENTITIES, Column, Entity

_NAMESPACE = uuid.UUID("1f6b3c1e-5a0d-4f7e-9c55-3e1d2b7a9c40")
_SCHEMA_NAMES: Final = {
    "contactid": "ContactId", "accountid": "AccountId", "firstname": "FirstName", "lastname": "LastName",
    "fullname": "FullName", "name": "Name", "emailaddress1": "EMailAddress1", "telephone1": "Telephone1",
    "mobilephone": "MobilePhone", "parentcustomerid": "ParentCustomerId", "createdon": "CreatedOn",
    "modifiedon": "ModifiedOn", "statecode": "StateCode", "statuscode": "StatusCode", "versionnumber": "VersionNumber",
}  # fmt: skip
_TABLES: Final = {
    "contact": {"SchemaName": "Contact", "ObjectTypeCode": 2, "PrimaryNameAttribute": "fullname", "Plural": "Contacts"},
    "account": {"SchemaName": "Account", "ObjectTypeCode": 1, "PrimaryNameAttribute": "name", "Plural": "Accounts"},
}
_STATES: Final = ((0, "Active", 1), (1, "Inactive", 2))  # state value, label, its default status
_STATUSES: Final = ((1, "Active", 0), (2, "Inactive", 1))  # status value, label, the state it belongs to
_FORMATS: Final = {"emailaddress1": "Email", "telephone1": "Phone", "mobilephone": "Phone"}
_FILTERABLE: Final = ("LogicalName", "SchemaName", "EntitySetName", "MetadataId")
_TERM = re.compile(r"^\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\s*$")


def _metadata_id(*names: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "/".join(names)))


def _label(text: str) -> dict[str, Any]:
    localized = {"Label": text, "LanguageCode": 1033, "IsManaged": True}
    return {"LocalizedLabels": [localized], "UserLocalizedLabel": localized}


def _words(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).replace("E Mail", "Email")


def entity_definition(entity: Entity) -> dict[str, Any]:
    table = _TABLES[entity.logical_name]
    return {
        "MetadataId": _metadata_id(entity.logical_name),
        "LogicalName": entity.logical_name,
        "SchemaName": table["SchemaName"],
        "EntitySetName": entity.entity_set,
        "LogicalCollectionName": entity.entity_set,
        "CollectionSchemaName": table["Plural"],
        "PrimaryIdAttribute": entity.key,
        "PrimaryNameAttribute": table["PrimaryNameAttribute"],
        "ObjectTypeCode": table["ObjectTypeCode"],
        "DisplayName": _label(table["SchemaName"]),
        "DisplayCollectionName": _label(table["Plural"]),
        "Description": _label(f"The {entity.logical_name} table of the contact-sync simulator."),
        "OwnershipType": "UserOwned",
        "TableType": "Standard",
        "IsCustomEntity": False,
        "IsActivity": False,
        "IsManaged": True,
        "ChangeTrackingEnabled": True,
        "IsValidForAdvancedFind": True,
    }


def _attribute_kind(entity: Entity, column: Column) -> tuple[str, str, dict[str, Any]]:
    """(AttributeType, metadata type, the type's own properties) of a column."""
    if column.name == entity.key:
        return "Uniqueidentifier", "UniqueIdentifierAttributeMetadata", {}
    if column.name.startswith("_") and column.name.endswith("_value"):
        targets = [ENTITIES[t].logical_name for lookup in entity.lookups for t in lookup.targets]
        return "Customer", "LookupAttributeMetadata", {"Targets": targets}
    if column.name == "statecode":
        return "State", "StateAttributeMetadata", {}
    if column.name == "statuscode":
        return "Status", "StatusAttributeMetadata", {}
    if column.name == "versionnumber":
        return "BigInt", "BigIntAttributeMetadata", {"MinValue": -(2**63), "MaxValue": 2**63 - 1}
    if column.type == "datetime":
        return (
            "DateTime",
            "DateTimeAttributeMetadata",
            {"Format": "DateAndTime", "DateTimeBehavior": {"Value": "UserLocal"}},
        )
    if column.type == "int":
        return "Integer", "IntegerAttributeMetadata", {"MinValue": -(2**31), "MaxValue": 2**31 - 1}
    return (
        "String",
        "StringAttributeMetadata",
        {
            "MaxLength": column.max_length,
            "DatabaseLength": (column.max_length or 0) * 2,
            "FormatName": {"Value": _FORMATS.get(column.name, "Text")},
        },
    )


def _option_set(entity: Entity, column: str) -> dict[str, Any]:
    if column == "statecode":
        options = [
            {"Value": v, "Label": _label(text), "DefaultStatus": status, "InvariantName": text}
            for v, text, status in _STATES
        ]
        kind = "State"
    else:
        options = [{"Value": v, "Label": _label(text), "State": state} for v, text, state in _STATUSES]
        kind = "Status"
    return {
        "MetadataId": _metadata_id(entity.logical_name, column, "options"),
        "Name": f"{entity.logical_name}_{column}",
        "OptionSetType": kind,
        "IsGlobal": False,
        "Options": options,
    }


def attribute_definitions(entity: Entity) -> list[dict[str, Any]]:
    attributes = []
    for column in entity.columns:
        logical = column.name.removeprefix("_").removesuffix("_value")
        kind, odata_type, extra = _attribute_kind(entity, column)
        required = (
            "SystemRequired" if column.name == entity.key else "ApplicationRequired" if column.required else "None"
        )
        writable = column.writable or logical != column.name
        attribute = {
            "@odata.type": f"#Microsoft.Dynamics.CRM.{odata_type}",
            "MetadataId": _metadata_id(entity.logical_name, logical),
            "LogicalName": logical,
            "SchemaName": _SCHEMA_NAMES.get(logical, logical),
            "EntityLogicalName": entity.logical_name,
            "AttributeType": kind,
            "AttributeTypeName": {"Value": f"{kind}Type"},
            "DisplayName": _label(_words(_SCHEMA_NAMES.get(logical, logical))),
            "RequiredLevel": {"Value": required, "CanBeChanged": column.name != entity.key},
            "IsPrimaryId": column.name == entity.key,
            "IsPrimaryName": logical == _TABLES[entity.logical_name]["PrimaryNameAttribute"],
            "IsValidForCreate": writable or column.name == entity.key,
            "IsValidForUpdate": writable,
            "IsValidForRead": True,
            "IsCustomAttribute": False,
            "IsManaged": True,
            **extra,
        }
        attributes.append(attribute)
    return attributes


# --- queries --------------------------------------------------------------------------------------------------------


def _selected(items: list[dict[str, Any]], select: str | None, type_name: str) -> list[dict[str, Any]]:
    if select is None:
        return items
    names = [n.strip() for n in select.split(",") if n.strip()]
    known = _known_properties(type_name)
    for name in names:
        if name not in known and name not in ("OptionSet", "Attributes"):
            raise bad_query(f"Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.{type_name}'.")
    keep = {*names, "MetadataId", "@odata.type", "OptionSet", "Attributes"}  # what $expand added stays
    return [{k: v for k, v in item.items() if k in keep} for item in items]


def _known_properties(type_name: str) -> set[str]:
    """Every property a `$select` may name on this metadata type (whether or not the rows at hand have it)."""
    entities = list(ENTITIES.values())
    if type_name == ENTITY:
        return set(entity_definition(entities[0]))
    if type_name == ATTRIBUTE:
        return {k for e in entities for a in attribute_definitions(e) for k in a}
    return set(_option_set(entities[0], "statecode")) | set(_option_set(entities[0], "statuscode"))


def _filtered(items: list[dict[str, Any]], expression: str | None) -> list[dict[str, Any]]:
    if expression is None:
        return items
    terms = []
    for part in re.split(r"\s+or\s+", expression.strip()):
        m = _TERM.match(part)
        if m is None or m.group(1) not in _FILTERABLE:
            raise bad_query(
                f"The $filter '{expression}' is not supported by this simulator: use "
                f"<{'|'.join(_FILTERABLE)}> eq '<value>' terms joined by or"
            )
        terms.append((m.group(1), m.group(2).replace("''", "'")))
    return [i for i in items if any(str(i.get(prop, "")).lower() == value.lower() for prop, value in terms)]


_EXPAND = re.compile(r"^(\w+)(?:\((.*)\))?$")
_PATH = re.compile(r"\(([^)]*)\)(?:/Attributes(?:/Microsoft\.Dynamics\.CRM\.(\w+))?(?:\(([^)]*)\))?)?")
ENTITY, ATTRIBUTE = "EntityMetadata", "AttributeMetadata"


def _expand(text: str | None, allowed: str) -> str | None:
    """The `$select` inside `$expand=<allowed>(...)` ("" for all), or None when nothing is expanded."""
    if text is None:
        return None
    m = _EXPAND.match(text.strip())
    if m is None or m.group(1) != allowed:
        raise bad_query(f"The $expand '{text}' is not supported by this simulator: only {allowed}")
    inner = query_options(m.group(2).replace(";", "&"), ("$select",)) if m.group(2) else {}
    return inner.get("$select", "")


class Metadata:
    """Answers `EntityDefinitions...` paths (the part after `EntityDefinitions`) and `$metadata`."""

    def __init__(self) -> None:
        self._entities = {e.logical_name: e for e in ENTITIES.values()}

    def _entity(self, key: str) -> Entity:
        m = re.fullmatch(r"LogicalName='([^']*)'", key)
        for entity in self._entities.values():
            if (m and m.group(1).lower() == entity.logical_name) or key.lower() == _metadata_id(entity.logical_name):
                return entity
        raise ApiError(404, NOT_FOUND, f"Could not find an entity with key {key}.")

    def answer(self, rest: str, query: str, base: str) -> dict[str, Any]:
        """The body of `GET EntityDefinitions{rest}?{query}`."""
        context = f"{base}/$metadata#EntityDefinitions"
        if rest == "":
            options = query_options(query, ("$select", "$filter", "$expand"))
            items = _filtered([entity_definition(e) for e in self._entities.values()], options.get("$filter"))
            for item in items:
                self._expand_attributes(item, options)
            return {"@odata.context": context, "value": _selected(items, options.get("$select"), "EntityMetadata")}
        m = _PATH.fullmatch(rest)
        if m is None:
            raise bad_query(f"Resource not found for the segment 'EntityDefinitions{rest}'.")
        entity = self._entity(m.group(1))
        if "/Attributes" not in rest:
            options = query_options(query, ("$select", "$expand"))
            item = self._expand_attributes(entity_definition(entity), options)
            return {"@odata.context": f"{context}/$entity", **_selected([item], options.get("$select"), ENTITY)[0]}
        return self._attributes(
            entity, m.group(2), m.group(3), query_options(query, ("$select", "$filter", "$expand")), context
        )

    def _expand_attributes(self, item: dict[str, Any], options: dict[str, str]) -> dict[str, Any]:
        select = _expand(options.get("$expand"), "Attributes")
        if select is not None:
            attributes = attribute_definitions(self._entities[item["LogicalName"]])
            item["Attributes"] = _selected(attributes, select or None, ATTRIBUTE)
        return item

    @staticmethod
    def _attributes(
        entity: Entity, cast: str | None, key: str | None, options: dict[str, str], context: str
    ) -> dict[str, Any]:
        """`EntityDefinitions(...)/Attributes[/Microsoft.Dynamics.CRM.<cast>][(<key>)]`."""
        attributes = attribute_definitions(entity)
        if cast is not None:
            if not cast.endswith("AttributeMetadata"):
                raise bad_query(f"The type 'Microsoft.Dynamics.CRM.{cast}' is not a metadata type.")
            attributes = [a for a in attributes if a["@odata.type"] == f"#Microsoft.Dynamics.CRM.{cast}"]
        option_select = _expand(options.get("$expand"), "OptionSet")
        if option_select is not None:
            if cast not in ("StateAttributeMetadata", "StatusAttributeMetadata", "PicklistAttributeMetadata"):
                raise bad_query("OptionSet can only be expanded on an attribute type cast that has one.")
            for attribute in attributes:
                option_set = _option_set(entity, attribute["LogicalName"])
                attribute["OptionSet"] = _selected([option_set], option_select or None, "OptionSetMetadata")[0]
        if key is None:
            attributes = _filtered(attributes, options.get("$filter"))
            return {
                "@odata.context": f"{context}/Attributes",
                "value": _selected(attributes, options.get("$select"), ATTRIBUTE),
            }
        logical = re.fullmatch(r"LogicalName='([^']*)'", key)
        wanted = logical.group(1).lower() if logical else None
        found = [a for a in attributes if a["LogicalName"] == wanted or a["MetadataId"] == key]
        if not found:
            raise ApiError(404, NOT_FOUND, f"Could not find an attribute with key {key} on {entity.logical_name}.")
        return {
            "@odata.context": f"{context}/Attributes/$entity",
            **_selected(found, options.get("$select"), ATTRIBUTE)[0],
        }


def csdl() -> bytes:
    """The `$metadata` document: an OData v4 CSDL with the simulator's entity types, their keys, properties and
    lookup navigation properties, the entity sets, and the bound actions it serves."""
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">',
        "<edmx:DataServices>",
        '<Schema Namespace="Microsoft.Dynamics.CRM" Alias="mscrm" xmlns="http://docs.oasis-open.org/odata/ns/edm">',
    ]
    lines.append('<EntityType Name="crmbaseentity" Abstract="true" />')
    for entity in ENTITIES.values():
        lines.append(f'<EntityType Name="{entity.logical_name}" BaseType="mscrm.crmbaseentity">')
        lines.append(f'<Key><PropertyRef Name="{entity.key}" /></Key>')
        for column in entity.columns:
            length = f' MaxLength="{column.max_length}"' if column.max_length else ""
            edm = "Edm.Int64" if column.name == "versionnumber" else EDM[column.type]
            lines.append(f'<Property Name={quoteattr(column.name)} Type="{edm}"{length} />')
        for lookup in entity.lookups:
            for target in lookup.targets:
                other = ENTITIES[target].logical_name
                lines.append(
                    f'<NavigationProperty Name="{lookup.name}_{other}" Type="mscrm.{other}" '
                    f'Partner="{entity.logical_name}_customer_{target}" />'
                )
        lines.append("</EntityType>")
    collection = 'Type="Collection(mscrm.crmbaseentity)" Nullable="false" />'
    for action in ("CreateMultiple", "UpdateMultiple", "UpsertMultiple"):
        returns = f'<ReturnType Type="mscrm.{action}Response" Nullable="false" />' if action != "UpdateMultiple" else ""
        lines.append(
            f'<Action Name="{action}" IsBound="true"><Parameter Name="entityset" {collection}'
            f'<Parameter Name="Targets" {collection}{returns}</Action>'
        )
    lines.append('<EntityContainer Name="System">')
    for entity in ENTITIES.values():
        lines.append(
            f'<EntitySet Name="{entity.entity_set}" EntityType="Microsoft.Dynamics.CRM.{entity.logical_name}" />'
        )
    lines += ["</EntityContainer>", "</Schema>", "</edmx:DataServices>", "</edmx:Edmx>"]
    return "\n".join(lines).encode()
