"""The simulated objects (Contact, Account): their fields, types, lengths and which ones clients may write."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    """One field of an sObject as the describe call would report it."""

    name: str
    type: str  # id, reference, string, email, phone, double, boolean, datetime
    label: str
    length: int = 0
    required: bool = False
    writable: bool = True
    external_id: bool = False
    reference_to: str | None = None


@dataclass(frozen=True)
class SObject:
    """An sObject type: name, key prefix, SQLite table and fields in column order."""

    name: str
    prefix: str
    table: str
    fields: tuple[Field, ...]

    def field(self, name: str) -> Field | None:
        """The field of this name, compared case-insensitively like the real API does."""
        return _LOOKUP[self.name].get(name.lower())

    @property
    def columns(self) -> list[str]:
        return [f.name for f in self.fields]


_SYSTEM = (
    Field("CreatedDate", "datetime", "Created Date", writable=False),
    Field("LastModifiedDate", "datetime", "Last Modified Date", writable=False),
    Field("SystemModstamp", "datetime", "System Modstamp", writable=False),
)

CONTACT = SObject(
    "Contact",
    "003",
    "contact",
    (
        Field("Id", "id", "Contact ID", 18, writable=False),
        Field("IsDeleted", "boolean", "Deleted", writable=False),
        Field("MasterRecordId", "reference", "Master Record ID", 18, writable=False, reference_to="Contact"),
        Field("AccountId", "reference", "Account ID", 18, reference_to="Account"),
        Field("LastName", "string", "Last Name", 80, required=True),
        Field("FirstName", "string", "First Name", 40),
        Field("Name", "string", "Full Name", 121, writable=False),
        Field("Email", "email", "Email", 80),
        Field("Phone", "phone", "Business Phone", 40),
        Field("MobilePhone", "phone", "Mobile Phone", 40),
        Field("LeadScore__c", "double", "Lead Score", 18),
        Field("Tags__c", "string", "Tags", 255),
        Field("Genesys_Id__c", "string", "Genesys Id", 255, external_id=True),
        *_SYSTEM,
    ),
)

ACCOUNT = SObject(
    "Account",
    "001",
    "account",
    (
        Field("Id", "id", "Account ID", 18, writable=False),
        Field("IsDeleted", "boolean", "Deleted", writable=False),
        Field("Name", "string", "Account Name", 255, required=True),
        *_SYSTEM,
    ),
)

OBJECTS: dict[str, SObject] = {"contact": CONTACT, "account": ACCOUNT}
BY_PREFIX: dict[str, SObject] = {o.prefix: o for o in OBJECTS.values()}
_LOOKUP: dict[str, dict[str, Field]] = {o.name: {f.name.lower(): f for f in o.fields} for o in OBJECTS.values()}


def sobject(name: object) -> SObject | None:
    """The sObject type of this name (case-insensitive), or None (also for anything that is not a string)."""
    return OBJECTS.get(name.lower()) if isinstance(name, str) else None


def full_name(first: str | None, last: str | None) -> str | None:
    """The compound Name field: first and last name joined by a space, like the real Contact.Name."""
    parts = [p for p in (first, last) if p]
    return " ".join(parts) or None
