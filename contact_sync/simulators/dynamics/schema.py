"""The Dataverse tables the Dynamics simulator serves (contact, account): their columns, types, lengths and rules.

Column names, lengths and the `parentcustomerid` lookup follow Microsoft's contact/account reference. A lookup is
written through a navigation property bind (`parentcustomerid_account@odata.bind: "/accounts(<guid>)"`) and read back
as `_parentcustomerid_value`, as the real Web API does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnType = Literal["guid", "string", "datetime", "int"]


@dataclass(frozen=True)
class Column:
    """One readable column: its Edm type, maximum length (strings) and whether a client may write it directly."""

    name: str
    type: ColumnType
    max_length: int | None = None
    writable: bool = False
    required: bool = False


@dataclass(frozen=True)
class Lookup:
    """A lookup column: read as `_{name}_value`, written through `{name}_{target}@odata.bind` for each target."""

    name: str
    targets: tuple[str, ...]  # entity set names a bind may point at, e.g. ("accounts", "contacts")

    @property
    def value_column(self) -> str:
        return f"_{self.name}_value"

    @property
    def type_column(self) -> str:
        return f"_{self.name}_type"


@dataclass(frozen=True)
class Entity:
    """A Dataverse table as the Web API shows it."""

    logical_name: str  # contact
    entity_set: str  # contacts
    key: str  # contactid
    columns: tuple[Column, ...]
    lookups: tuple[Lookup, ...] = ()
    by_name: dict[str, Column] = field(init=False, repr=False, compare=False)
    # Every column a client may `$select`, `$filter` or `$orderby` on, in the order rows show them.
    readable: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {c.name: c for c in self.columns})
        object.__setattr__(self, "readable", tuple(c.name for c in self.columns))

    @property
    def type_name(self) -> str:
        return f"Microsoft.Dynamics.CRM.{self.logical_name}"


_SYSTEM = (
    Column("createdon", "datetime"),
    Column("modifiedon", "datetime"),
    Column("statecode", "int", writable=True),
    Column("statuscode", "int", writable=True),
    Column("versionnumber", "int"),
)

CONTACT = Entity(
    logical_name="contact",
    entity_set="contacts",
    key="contactid",
    columns=(
        Column("contactid", "guid"),
        Column("firstname", "string", 50, writable=True),
        Column("lastname", "string", 50, writable=True, required=True),
        Column("fullname", "string", 160),
        Column("emailaddress1", "string", 100, writable=True),
        Column("telephone1", "string", 50, writable=True),
        Column("mobilephone", "string", 50, writable=True),
        Column("_parentcustomerid_value", "guid"),
        *_SYSTEM,
    ),
    lookups=(Lookup("parentcustomerid", ("accounts", "contacts")),),
)

ACCOUNT = Entity(
    logical_name="account",
    entity_set="accounts",
    key="accountid",
    columns=(
        Column("accountid", "guid"),
        Column("name", "string", 160, writable=True, required=True),
        Column("telephone1", "string", 50, writable=True),
        Column("emailaddress1", "string", 100, writable=True),
        *_SYSTEM,
    ),
)

ENTITIES: dict[str, Entity] = {e.entity_set: e for e in (CONTACT, ACCOUNT)}

# statecode -> the default statuscode of that state (contact and account: 0 Active/1 Active, 1 Inactive/2 Inactive).
DEFAULT_STATUS = {0: 1, 1: 2}
