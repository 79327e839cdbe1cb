"""A seat at the Dynamics simulator: the generated (Salesforce-shaped) rows with Dynamics columns, and a record's
version as its `@odata.etag`."""

from __future__ import annotations

from typing import Any, Final

from contact_sync.crms.plugin import SimulatorSeat


class DynamicsSeat(SimulatorSeat):
    """Loads the generated CRM data into the Dynamics simulator, columns renamed, so `seed_simulators` fills a
    Dynamics org with the same people, duplicates and companies."""

    COLUMNS: Final = {
        "FirstName": "firstname",
        "LastName": "lastname",
        "Email": "emailaddress1",
        "Phone": "telephone1",
        "MobilePhone": "mobilephone",
        "AccountId": "parentcustomerid",
    }
    stamp_field = "@odata.etag"
    # The Web API shows `modifiedon` in whole seconds, so edits whose order matters are a second apart.
    stamp_resolution_s = 1.05

    def load_accounts(self, rows: list[dict[str, Any]]) -> list[str]:
        return list(self.simulator.load_accounts([{"name": row["Name"]} for row in rows]))

    def load_contacts(self, rows: list[dict[str, Any]]) -> list[str]:
        return self.load_records([{self.COLUMNS[k]: v for k, v in row.items() if k in self.COLUMNS} for row in rows])
