"""A faithful Python port of the guide's ``findMatchingContact`` loop, the baseline the sync engine is measured against.

The guide (contact-sync-patterns.txt, "Data Deduplication") calls this once per Salesforce contact, and each call
scans the whole Genesys list up to three times: by lower-cased email, by the first phone number exactly as stored,
then by first name + last name + external organization. That is O(n * m). Only one liberty is taken: where the
JavaScript would throw on a Salesforce contact without an email (``sfContact.Email.toLowerCase()``), the port treats
the email as not matching and goes on to the phone.
"""

from __future__ import annotations

from typing import Any


def find_matching_contact(sf_contact: dict[str, Any], genesys_contacts: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The guide's function, line for line."""
    # Try email (best match)
    sf_email = sf_contact.get("Email")
    if sf_email is not None:
        sf_email_lower = sf_email.lower()
        for gc in genesys_contacts:
            email = gc.get("email")
            if email is not None and email.lower() == sf_email_lower:
                return gc
    # Try phone (second best)
    sf_phone = sf_contact.get("Phone")
    for gc in genesys_contacts:
        numbers = gc.get("phoneNumbers")
        if numbers and numbers[0].get("number") == sf_phone:
            return gc
    # Try first + last name (risky, could be duplicate)
    for gc in genesys_contacts:
        org = gc.get("externalOrganization")
        if (
            gc.get("firstName") == sf_contact.get("FirstName")
            and gc.get("lastName") == sf_contact.get("LastName")
            and (org or {}).get("id") == sf_contact.get("AccountId")
        ):
            return gc
    # Not found
    return None


def match_all(sf_contacts: list[dict[str, Any]], genesys_contacts: list[dict[str, Any]]) -> dict[str, str | None]:
    """What the guide's sync loop does: one findMatchingContact call per Salesforce contact."""
    return {
        sf["Id"]: (found["id"] if (found := find_matching_contact(sf, genesys_contacts)) else None)
        for sf in sf_contacts
    }
