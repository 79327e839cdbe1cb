"""The seed data generator: deterministic, shares as asked, realistic noise, valid phones, consistent ground truth."""

from __future__ import annotations

import re

import numpy as np
import phonenumbers
import pytest

from contact_sync.simulators.seed import NICKNAMES, Dataset, generate_dataset


def digits(phone: str) -> str:
    return re.sub(r"\D", "", phone)[-10:]


@pytest.fixture(scope="module")
def data() -> Dataset:
    return generate_dataset(4000, overlap=0.5, duplicates=0.05, genesys_only=0.2, seed=7)


def test_same_arguments_give_the_same_data_and_another_seed_does_not() -> None:
    a = generate_dataset(500, seed=3)
    b = generate_dataset(500, seed=3)
    c = generate_dataset(500, seed=4)
    assert a.salesforce_contacts == b.salesforce_contacts
    assert a.genesys_contacts == b.genesys_contacts
    assert a.accounts == b.accounts
    assert np.array_equal(a.genesys_match, b.genesys_match)
    assert np.array_equal(a.salesforce_duplicate_of, b.salesforce_duplicate_of)
    assert a.salesforce_contacts != c.salesforce_contacts


def test_counts_follow_the_shares(data: Dataset) -> None:
    assert len(data.salesforce_contacts) == 4000
    assert data.duplicate_count == 200  # 5% of the records
    assert data.overlap_count == 1900  # 50% of the 3800 distinct CRM people
    assert data.genesys_only_count == 800  # 20% of contacts
    assert len(data.genesys_contacts) == 2700
    assert len(data.accounts) == len(data.organizations) == 200  # one company per 20 contacts by default
    assert len({a["Name"] for a in data.accounts}) == 200


def test_contacts_spread_unevenly_over_accounts_and_genesys_mirrors_the_company(data: Dataset) -> None:
    links = data.salesforce_contact_account
    assert 0.9 < (links >= 0).mean() < 0.99  # about 5% have no company
    per_account = np.bincount(links[links >= 0], minlength=len(data.accounts))
    assert per_account.max() > 3 * np.median(per_account)
    rows = data.salesforce_contact_rows([f"001{i:015d}" for i in range(len(data.accounts))])
    assert sum("AccountId" in r for r in rows) == int((links >= 0).sum())
    assert all("AccountId" not in r for r in data.salesforce_contacts)  # the originals stay unlinked
    matched = np.flatnonzero(data.genesys_match >= 0)
    assert np.array_equal(
        data.genesys_contact_organization[matched], data.salesforce_contact_account[data.genesys_match[matched]]
    )
    g_rows = data.genesys_contact_rows([f"org-{i}" for i in range(len(data.organizations))])
    linked = [r for r in g_rows if "externalOrganization" in r]
    assert linked and all(r["externalOrganization"]["id"].startswith("org-") for r in linked)
    with pytest.raises(ValueError, match="account ids"):
        data.salesforce_contact_rows(["001"])


def test_duplicates_are_the_same_person_with_noise(data: Dataset) -> None:
    sf = data.salesforce_contacts
    dups = np.flatnonzero(data.salesforce_duplicate_of >= 0)
    nicknames = 0
    for i in dups.tolist():
        o = int(data.salesforce_duplicate_of[i])
        dup, orig = sf[i], sf[o]
        assert data.salesforce_duplicate_of[o] == -1
        assert data.salesforce_person[i] == data.salesforce_person[o]
        assert dup["LastName"] == orig["LastName"]
        assert dup["Email"] != orig["Email"] and dup["Email"].lower() == orig["Email"].lower()
        assert dup["Phone"] != orig["Phone"] and digits(dup["Phone"]) == digits(orig["Phone"])
        if dup["FirstName"] != orig["FirstName"]:
            assert NICKNAMES[orig["FirstName"]] == dup["FirstName"]
            nicknames += 1
        else:
            assert orig["FirstName"] not in NICKNAMES
    assert nicknames > 0
    # Every distinct person has exactly one original record.
    originals = data.salesforce_person[data.salesforce_duplicate_of < 0]
    assert len(np.unique(originals)) == len(originals)


def test_genesys_copies_carry_realistic_noise_and_true_links(data: Dataset) -> None:
    sf, gc = data.salesforce_contacts, data.genesys_contacts
    seen: dict[str, int] = {}
    for j in np.flatnonzero(data.genesys_match >= 0).tolist():
        g, s = gc[j], sf[int(data.genesys_match[j])]
        noise = set(data.genesys_noise[j].split(","))
        for label in noise:
            seen[label] = seen.get(label, 0) + 1
        assert data.genesys_person[j] == data.salesforce_person[data.genesys_match[j]]
        assert "externalIds" not in g  # linking is the sync's job
        assert g["workPhone"]["display"] != s["Phone"]  # always written another way
        if "phone_other" not in noise:
            assert digits(g["workPhone"]["display"]) == digits(s["Phone"])
        if "email_case" in noise:
            assert g["workEmail"] != s["Email"] and g["workEmail"].lower() == s["Email"].lower()
        elif "email_other" in noise:
            assert g["workEmail"].lower() != s["Email"].lower()
        elif "email_missing" in noise:
            assert "workEmail" not in g
        else:
            assert g["workEmail"] == s["Email"]
        if "nickname" in noise:
            assert NICKNAMES[s["FirstName"]] == g["firstName"]
        if "last_name_other" not in noise:
            assert g["lastName"] == s["LastName"]
    n = data.overlap_count
    assert 0.25 * n < seen["email_case"] < 0.35 * n
    assert 0.05 * n < seen["email_other"] < 0.11 * n
    assert 0.02 * n < seen["email_missing"] < 0.06 * n
    assert 0.03 * n < seen["phone_other"] < 0.07 * n
    assert seen["nickname"] > 0 and seen["last_name_other"] > 0
    # Genesys-only people are nobody in Salesforce.
    only = data.genesys_person[data.genesys_match < 0]
    assert not set(only.tolist()) & set(data.salesforce_person.tolist())
    assert all(data.genesys_noise[j] == "" for j in np.flatnonzero(data.genesys_match < 0).tolist())


def test_emails_of_different_people_differ(data: Dataset) -> None:
    originals = [
        c["Email"].lower() for c, d in zip(data.salesforce_contacts, data.salesforce_duplicate_of, strict=True) if d < 0
    ]
    genesys_only = [
        g["workEmail"].lower()
        for g, m in zip(data.genesys_contacts, data.genesys_match, strict=True)
        if m < 0 and "workEmail" in g
    ]
    everyone = originals + genesys_only
    assert len(set(everyone)) == len(everyone)
    assert all(re.fullmatch(r"[A-Za-z0-9.]+@[A-Za-z0-9.-]+\.[A-Za-z]+", e) for e in everyone)


def test_phones_are_valid_numbers_of_the_region(data: Dataset) -> None:
    phones = [c["Phone"] for c in data.salesforce_contacts] + [
        c["MobilePhone"] for c in data.salesforce_contacts if "MobilePhone" in c
    ]
    phones += [g["workPhone"]["display"] for g in data.genesys_contacts]
    valid = sum(phonenumbers.is_valid_number(phonenumbers.parse(p, "US")) for p in phones)
    assert valid / len(phones) > 0.99
    for style in (r"\(\d{3}\) \d{3}-\d{4}", r"\+1 \d{3} \d{3} \d{4}", r"\d{3}\.\d{3}\.\d{4}", r"\+1\d{10}"):
        assert any(re.fullmatch(style, p) for p in phones), style


def test_field_values_fit_the_services_limits(data: Dataset) -> None:
    for c in data.salesforce_contacts:
        assert c["LastName"] and len(c["LastName"]) <= 80 and len(c.get("FirstName", "")) <= 40
        assert len(c["Email"]) <= 80
        assert 0 <= c.get("LeadScore__c", 0) <= 100
        tags = c.get("Tags__c")
        assert tags is None or all(t for t in tags.split(";"))
    assert any("Tags__c" in c for c in data.salesforce_contacts)
    assert any("address" in g for g in data.genesys_contacts)


def test_canadian_region_uses_canadian_numbers() -> None:
    data = generate_dataset(200, region="CA", seed=1)
    regions = {
        phonenumbers.region_code_for_number(phonenumbers.parse(c["Phone"], "CA")) for c in data.salesforce_contacts
    }
    assert regions == {"CA"}


def test_edge_sizes() -> None:
    empty = generate_dataset(0)
    assert empty.salesforce_contacts == [] and empty.genesys_contacts == [] and empty.accounts == []
    one = generate_dataset(1, overlap=1.0, duplicates=0.0, genesys_only=0.0, accounts=0)
    assert len(one.salesforce_contacts) == 1 and one.genesys_match.tolist() == [0]
    assert "AccountId" not in one.salesforce_contact_rows([])[0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"contacts": -1}, "contacts must be"),
        ({"contacts": 10, "overlap": 1.5}, "overlap must be"),
        ({"contacts": 10, "duplicates": 0.6}, "duplicates must be"),
        ({"contacts": 10, "genesys_only": -0.1}, "genesys_only must be"),
        ({"contacts": 10, "accounts": -2}, "accounts must be"),
        ({"contacts": 10, "region": "FR"}, "region must be"),
    ],
)
def test_bad_arguments_are_rejected_by_name(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate_dataset(**kwargs)
