"""What a record id of each CRM looks like: the one definition the converters (which reject a record whose id or
reference is anything else) and the connectors (which refuse to put anything else into a query) share."""

from __future__ import annotations

import re
from typing import Final

SALESFORCE_ID: Final = r"[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?"
"""A Salesforce record id: 15 (case-sensitive) or 18 (case-safe) letters and digits."""
DYNAMICS_ID: Final = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
"""A Dataverse record id: a GUID."""

SALESFORCE_ID_RE: Final = re.compile(f"^{SALESFORCE_ID}$")
DYNAMICS_ID_RE: Final = re.compile(f"^{DYNAMICS_ID}$")
