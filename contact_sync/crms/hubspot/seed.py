"""A seat at the HubSpot simulator: the generated (Salesforce-shaped) rows as HubSpot properties, companies first,
each contact's company as its `associatedcompanyid`; records read back flat (properties at the top level)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from contact_sync.crms.plugin import SimulatorSeat


class HubSpotSeat(SimulatorSeat):
    """Loads the generated CRM data into the HubSpot simulator, so `seed_simulators` fills a HubSpot account with the
    same people and companies. HubSpot keeps emails unique, so a generated duplicate that repeats an email (in any
    case) keeps its name and phone but no email, as a HubSpot user would have to enter it."""

    PROPERTIES: Final = {
        "FirstName": "firstname",
        "LastName": "lastname",
        "Email": "email",
        "Phone": "phone",
        "MobilePhone": "mobilephone",
        "AccountId": "associatedcompanyid",
        "LeadScore__c": "hubspotscore",
    }
    stamp_field = "lastmodifieddate"

    def load_accounts(self, rows: list[dict[str, Any]]) -> list[str]:
        return list(self.simulator.load_companies([{"name": row["Name"]} for row in rows]))

    def load_contacts(self, rows: list[dict[str, Any]]) -> list[str]:
        seen: set[str] = set()
        renamed = []
        for row in rows:
            props = {self.PROPERTIES[k]: str(v) for k, v in row.items() if k in self.PROPERTIES and v is not None}
            email = props.get("email", "").strip().lower()
            if email and email in seen:
                del props["email"]
            seen.add(email)
            renamed.append(props)
        return self.load_records(renamed)

    def edit(self, crm_id: str, values: Mapping[str, Any]) -> None:
        self.simulator.edit_contact(crm_id, dict(values))

    def delete(self, crm_id: str) -> None:
        self.simulator.archive_contact(crm_id)

    def record(self, crm_id: str) -> dict[str, Any] | None:
        """The contact's properties with `id` and `archived` (an archived contact counts as none: HubSpot's reads
        without `archived=true` do not find it)."""
        found = self.simulator.contact(crm_id)
        if found is None or found.get("archived"):
            return None
        return {**found.get("properties", {}), "id": found["id"]}

    def count(self) -> int:
        return int(self.simulator.count_contacts())
