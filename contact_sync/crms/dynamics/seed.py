"""Seeds the Dynamics simulator with generated people: the generated (Salesforce-shaped) rows with Dynamics columns."""

from __future__ import annotations

from typing import Any, Final


class DynamicsSeat:
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

    def __init__(self, dynamics: Any) -> None:
        self.dynamics = dynamics

    def load_accounts(self, rows: list[dict[str, Any]]) -> list[str]:
        return list(self.dynamics.load_accounts([{"name": row["Name"]} for row in rows]))

    def load_contacts(self, rows: list[dict[str, Any]]) -> list[str]:
        renamed = [{self.COLUMNS[k]: v for k, v in row.items() if k in self.COLUMNS} for row in rows]
        return list(self.dynamics.load_contacts(renamed))
