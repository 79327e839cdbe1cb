"""Pandera models of the frames the sync logic passes around: canonical contacts and rejected records.

The models are the documentation of the columns. Text columns use the pandas ``string`` dtype (missing = ``pd.NA``),
timestamps are ``datetime64[ns, UTC]``. ``empty_canonical()`` / ``empty_rejected()`` build correctly typed empty frames.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Final

import pandas as pd
import pandera.pandas as pa
from pandera.typing.pandas import Series

from contact_sync.crms import CRM_KINDS

CRM_SYSTEMS: Final = CRM_KINDS
SYSTEMS: Final = (*CRM_KINDS, "genesys")

UtcTimestamp = Annotated[pd.DatetimeTZDtype, "ns", "UTC"]


class CanonicalContact(pa.DataFrameModel):
    """One row per record of one system, in a shape shared by every system.

    Stored values (names, email, phone) are kept exactly as the system holds them; normalized forms used for
    matching are computed on the fly by ``contact_sync.sync.normalize`` and never written back. ``(system,
    record_id)`` is unique.
    """

    system: Series[pd.StringDtype] = pa.Field(isin=list(SYSTEMS), nullable=False)
    """Which system the record lives in: a CRM kind (`contact_sync.crms.CRM_KINDS`) or "genesys"."""
    record_id: Series[pd.StringDtype] = pa.Field(nullable=False, str_length={"min_value": 1})
    """The record's id in its own system (Salesforce 18-char Id, Dynamics contactid, Genesys contact uuid)."""
    crm_id: Series[pd.StringDtype] = pa.Field(nullable=True)
    """CRM rows: same as record_id. Genesys rows: the CRM id in the contact's externalIds for the CRM's external
    source; null when the Genesys contact is not linked."""
    first_name: Series[pd.StringDtype] = pa.Field(nullable=True)
    """First name as stored."""
    last_name: Series[pd.StringDtype] = pa.Field(nullable=True)
    """Last name as stored."""
    email: Series[pd.StringDtype] = pa.Field(nullable=True)
    """Email as stored (Salesforce Email, Dynamics emailaddress1, Genesys workEmail)."""
    phone: Series[pd.StringDtype] = pa.Field(nullable=True)
    """Phone as stored (Salesforce Phone, Dynamics telephone1, Genesys workPhone.display)."""
    phone_e164: Series[pd.StringDtype] = pa.Field(nullable=True, str_startswith="+")
    """The phone in E.164 (Genesys: workPhone.e164 when the service set it, else parsed from display); null when it
    does not parse to a valid number. Phones are compared on this column, never on ``phone``."""
    account_id: Series[pd.StringDtype] = pa.Field(nullable=True)
    """CRM account id. CRM rows: AccountId / _parentcustomerid_value. Genesys rows: the CRM account id mapped from the
    contact's externalOrganization id (null when it has none or the organization is not mapped)."""
    lead_score: Series[float] = pa.Field(nullable=True)
    """Lead score (Salesforce LeadScore__c, Genesys customFields.leadScore); NaN when absent."""
    tags: Series[pd.StringDtype] = pa.Field(nullable=True)
    """Tags in canonical form: unique, trimmed, sorted, joined with ";"; null when there are none."""
    created_at: Series[UtcTimestamp] = pa.Field(nullable=True)
    """Creation time (Salesforce CreatedDate, Dynamics createdon, Genesys createDate); null when not selected."""
    modified_at: Series[UtcTimestamp] = pa.Field(nullable=False)
    """Modify stamp used for last-write-wins: Salesforce LastModifiedDate (user edits) falling back to SystemModstamp,
    Dynamics modifiedon, Genesys modifyDate."""
    is_deleted: Series[bool] = pa.Field(nullable=False)
    """True for deleted records (Salesforce IsDeleted, Dynamics $deletedEntity or statecode 1 = inactive); Genesys
    rows are always False (a deleted Genesys contact is simply absent)."""
    merged_into: Series[pd.StringDtype] = pa.Field(nullable=True)
    """Salesforce MasterRecordId: the record this one was merged into (the row is then also deleted)."""

    class Config:
        strict = True
        ordered = False
        unique: ClassVar[list[str]] = ["system", "record_id"]


class RejectedRecord(pa.DataFrameModel):
    """A raw record a converter could not put into the canonical frame, or kept with a problem worth reporting.

    Rejected records are left untouched by the sync: nothing is written to or for them.
    """

    system: Series[pd.StringDtype] = pa.Field(isin=list(SYSTEMS), nullable=False)
    """System the raw record came from."""
    record_id: Series[pd.StringDtype] = pa.Field(nullable=True)
    """The record's id, null when the record has none."""
    reason: Series[pd.StringDtype] = pa.Field(nullable=False)
    """Why the record was rejected (or flagged), in words an operator understands."""
    crm_id: Series[pd.StringDtype] | None = pa.Field(nullable=True)
    """Genesys rows: the CRM id the record links to, if one could be read, so the engine can hold that CRM record
    instead of creating a second Genesys contact for it. Optional column."""
    first_name: Series[pd.StringDtype] | None = pa.Field(nullable=True)
    """Genesys rows: who the record is, as far as it could be read (first_name, last_name, email, phone_e164,
    account_id), so matching can hold a CRM record that is the same person instead of creating them twice.
    Optional columns."""
    last_name: Series[pd.StringDtype] | None = pa.Field(nullable=True)
    email: Series[pd.StringDtype] | None = pa.Field(nullable=True)
    phone_e164: Series[pd.StringDtype] | None = pa.Field(nullable=True)
    account_id: Series[pd.StringDtype] | None = pa.Field(nullable=True)

    class Config:
        strict = True
        ordered = False


CANONICAL_COLUMNS: Final[tuple[str, ...]] = tuple(CanonicalContact.to_schema().columns)
REJECTED_COLUMNS: Final[tuple[str, ...]] = ("system", "record_id", "reason", "crm_id")

_TEXT_COLUMNS: Final = (
    "system",
    "record_id",
    "crm_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "phone_e164",
    "account_id",
    "tags",
    "merged_into",
)


def empty_canonical() -> pd.DataFrame:
    """A canonical frame with no rows and every column correctly typed."""
    data: dict[str, pd.Series] = {}
    for name in CANONICAL_COLUMNS:
        if name in _TEXT_COLUMNS:
            data[name] = pd.Series([], dtype="string")
        elif name == "lead_score":
            data[name] = pd.Series([], dtype="float64")
        elif name == "is_deleted":
            data[name] = pd.Series([], dtype="bool")
        else:
            data[name] = pd.Series([], dtype="datetime64[ns, UTC]")
    return pd.DataFrame(data)


def empty_rejected() -> pd.DataFrame:
    """A rejected-records frame with no rows."""
    return pd.DataFrame({name: pd.Series([], dtype="string") for name in REJECTED_COLUMNS})
