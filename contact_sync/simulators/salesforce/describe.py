"""Describe results in the shape real orgs send: the global describe (`/sobjects`), an object's basic info
(`/sobjects/{type}`) and its full describe (`/sobjects/{type}/describe`) with every field property clients read
(`soapType`, `filterable`, `custom`, `picklistValues`, `relationshipName`, `createable`, ...) and the child
relationships between the simulated objects. Values follow a standard Enterprise org's Contact and Account for the
fields the simulator has."""

from __future__ import annotations

from typing import Any, Final

from contact_sync.simulators.salesforce.schema import OBJECTS, Field, SObject

_SOAP_TYPES: Final = {
    "id": "tns:ID", "reference": "tns:ID", "string": "xsd:string", "email": "xsd:string", "phone": "xsd:string",
    "double": "xsd:double", "boolean": "xsd:boolean", "datetime": "xsd:dateTime",
}  # fmt: skip
_PLURALS: Final = {"Contact": "Contacts", "Account": "Accounts"}


def _urls(version: str, obj: SObject) -> dict[str, str]:
    base = f"/services/data/v{version}/sobjects/{obj.name}"
    return {
        "compactLayouts": f"{base}/describe/compactLayouts",
        "rowTemplate": f"{base}/{{ID}}",
        "approvalLayouts": f"{base}/describe/approvalLayouts",
        "defaultValues": f"{base}/defaultValues?recordTypeId&fields",
        "listviews": f"{base}/listviews",
        "describe": f"{base}/describe",
        "quickActions": f"{base}/quickActions",
        "layouts": f"{base}/describe/layouts",
        "sobject": base,
    }


def _object_flags(obj: SObject) -> dict[str, Any]:
    """The object-level properties the global describe and the full describe share."""
    return {
        "activateable": False,
        "associateEntityType": None,
        "associateParentEntity": None,
        "createable": True,
        "custom": False,
        "customSetting": False,
        "deepCloneable": False,
        "deletable": True,
        "deprecatedAndHidden": False,
        "feedEnabled": True,
        "hasSubtypes": False,
        "isInterface": False,
        "isSubtype": False,
        "keyPrefix": obj.prefix,
        "label": obj.name,
        "labelPlural": _PLURALS.get(obj.name, obj.name + "s"),
        "layoutable": True,
        "mergeable": True,
        "mruEnabled": True,
        "name": obj.name,
        "queryable": True,
        "replicateable": True,
        "retrieveable": True,
        "searchable": True,
        "triggerable": True,
        "undeletable": True,
        "updateable": True,
    }


def describe_global(version: str, max_batch_size: int) -> dict[str, Any]:
    sobjects = [{**_object_flags(o), "urls": _urls(version, o)} for o in OBJECTS.values()]
    return {"encoding": "UTF-8", "maxBatchSize": max_batch_size, "sobjects": sobjects}


def sobject_info(version: str, obj: SObject) -> dict[str, Any]:
    return {"objectDescribe": {**_object_flags(obj), "urls": _urls(version, obj)}, "recentItems": []}


def relationship_name(field: Field) -> str | None:
    """The parent relationship a reference field is reached through in SOQL (`AccountId` -> `Account`)."""
    if field.type != "reference":
        return None
    return field.name[:-2] if field.name.endswith("Id") else field.name.replace("__c", "__r")


def describe_field(obj: SObject, field: Field) -> dict[str, Any]:
    text = field.type in ("string", "email", "phone")
    numeric = field.type == "double"
    length = field.length if text or field.type in ("id", "reference") else 0
    return {
        "aggregatable": field.type != "boolean",
        "aiPredictionField": False,
        "autoNumber": False,
        "byteLength": length * 3,
        "calculated": False,
        "calculatedFormula": None,
        "cascadeDelete": False,
        "caseSensitive": False,
        "compoundFieldName": None,
        "controllerName": None,
        "createable": field.writable,
        "custom": field.name.endswith("__c"),
        "defaultValue": False if field.type == "boolean" else None,
        "defaultValueFormula": None,
        "defaultedOnCreate": field.type == "boolean" or not field.writable,
        "dependentPicklist": False,
        "deprecatedAndHidden": False,
        "digits": 0,
        "displayLocationInDecimal": False,
        "encrypted": False,
        "externalId": field.external_id,
        "extraTypeInfo": None,
        "filterable": True,
        "filteredLookupInfo": None,
        "formulaTreatNullNumberAsZero": False,
        "groupable": not numeric,
        "highScaleNumber": False,
        "htmlFormatted": False,
        "idLookup": field.type == "id" or field.external_id or field.type == "email",
        "inlineHelpText": None,
        "label": field.label,
        "length": length,
        "mask": None,
        "maskType": None,
        "name": field.name,
        "nameField": field.name == "Name",
        "namePointing": False,
        "nillable": not field.required
        and field.type not in ("boolean", "id")
        and (field.writable or field.type == "reference"),
        "permissionable": field.writable and not field.required,
        "picklistValues": [],
        "polymorphicForeignKey": False,
        "precision": 18 if numeric else 0,
        "queryByDistance": False,
        "referenceTargetField": None,
        "referenceTo": [field.reference_to] if field.reference_to else [],
        "relationshipName": relationship_name(field),
        "relationshipOrder": None,
        "restrictedDelete": False,
        "restrictedPicklist": False,
        "scale": 0,
        "searchPrefilterable": field.type == "reference",
        "soapType": _SOAP_TYPES[field.type],
        "sortable": True,
        "type": field.type,
        "unique": False,
        "updateable": field.writable,
        "writeRequiresMasterRead": False,
    }


def child_relationships(obj: SObject) -> list[dict[str, Any]]:
    """The relationships from other simulated objects' reference fields to this one (Account -> Contacts)."""
    children = []
    for child in OBJECTS.values():
        for field in child.fields:
            if field.reference_to == obj.name and field.writable:
                children.append(
                    {
                        "cascadeDelete": False,
                        "childSObject": child.name,
                        "deprecatedAndHidden": False,
                        "field": field.name,
                        "junctionIdListNames": [],
                        "junctionReferenceTo": [],
                        "relationshipName": _PLURALS.get(child.name, child.name + "s"),
                        "restrictedDelete": False,
                    }
                )
    return children


def describe(version: str, obj: SObject) -> dict[str, Any]:
    return {
        **_object_flags(obj),
        "actionOverrides": [],
        "childRelationships": child_relationships(obj),
        "compactLayoutable": True,
        "defaultImplementation": None,
        "extendedBy": None,
        "extendsInterfaces": None,
        "fields": [describe_field(obj, f) for f in obj.fields],
        "implementedBy": None,
        "implementsInterfaces": None,
        "listviewable": None,
        "lookupLayoutable": None,
        "namedLayoutInfos": [],
        "networkScopeFieldName": None,
        "recordTypeInfos": [
            {
                "active": True,
                "available": True,
                "defaultRecordTypeMapping": True,
                "developerName": "Master",
                "master": True,
                "name": "Master",
                "recordTypeId": "012000000000000AAA",
                "urls": {
                    "layout": f"/services/data/v{version}/sobjects/{obj.name}/describe/layouts/012000000000000AAA"
                },
            }
        ],
        "searchLayoutable": True,
        "sobjectDescribeOption": "FULL",
        "supportedScopes": [
            {"label": "All " + _PLURALS.get(obj.name, obj.name), "name": "everything"},
            {"label": "My " + _PLURALS.get(obj.name, obj.name), "name": "mine"},
        ],
        "urls": _urls(version, obj),
    }
