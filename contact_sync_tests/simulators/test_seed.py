"""The seed data generator: deterministic, shares as asked, realistic noise, valid phones, consistent ground truth."""

from __future__ import annotations

import difflib
import re

import numpy as np
import phonenumbers
import pytest

from contact_sync.simulators.seed import (
    FREE_MAIL_DOMAINS,
    NICKNAMES,
    ROLE_MAILBOXES,
    TRAP_CLASSES,
    Dataset,
    generate_dataset,
)


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
        if noise & {"phone_missing", "crm_phone_missing"}:  # a missing-key trap (tested on its own)
            assert ("workPhone" in g) != ("Phone" in s)
        else:
            assert g["workPhone"]["display"] != s["Phone"]  # always written another way
            if "phone_other" not in noise:
                assert digits(g["workPhone"]["display"]) == digits(s["Phone"])
        if "crm_email_missing" in noise:
            assert "Email" not in s and "workEmail" in g
        elif "email_case" in noise:
            assert g["workEmail"] != s["Email"] and g["workEmail"].lower() == s["Email"].lower()
        elif "email_other" in noise:
            assert g["workEmail"].lower() != s["Email"].lower()
        elif "email_missing" in noise:
            assert "workEmail" not in g
        else:
            assert g["workEmail"] == s["Email"]
        if "nickname" in noise:
            assert NICKNAMES[s["FirstName"]] == g["firstName"]
        if not noise & {"last_name_other", "typo_last", "swapped"}:  # typos and swaps are tested on their own
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
    """...but for the people a trap puts on one role mailbox or household address (tested on their own)."""
    sharing = {"role_email", "household"}
    originals = [
        c["Email"].lower()
        for c, d, t in zip(data.salesforce_contacts, data.salesforce_duplicate_of, data.salesforce_trap, strict=True)
        if d < 0 and "Email" in c and t not in sharing
    ]
    genesys_only = [
        g["workEmail"].lower()
        for g, m, t in zip(data.genesys_contacts, data.genesys_match, data.genesys_trap, strict=True)
        if m < 0 and "workEmail" in g and t not in sharing
    ]
    everyone = originals + genesys_only
    assert len(set(everyone)) == len(everyone)
    assert all(re.fullmatch(r"[A-Za-z0-9.]+@[A-Za-z0-9.-]+\.[A-Za-z]+", e) for e in everyone)


def test_phones_are_valid_numbers_of_the_region(data: Dataset) -> None:
    phones = [c["Phone"] for c in data.salesforce_contacts if "Phone" in c] + [
        c["MobilePhone"] for c in data.salesforce_contacts if "MobilePhone" in c
    ]
    phones += [g["workPhone"]["display"] for g in data.genesys_contacts if "workPhone" in g]
    valid = sum(phonenumbers.is_valid_number(phonenumbers.parse(p, "US")) for p in phones)
    assert valid / len(phones) > 0.99
    for style in (r"\(\d{3}\) \d{3}-\d{4}", r"\+1 \d{3} \d{3} \d{4}", r"\d{3}\.\d{3}\.\d{4}", r"\+1\d{10}"):
        assert any(re.fullmatch(style, p) for p in phones), style


def test_field_values_fit_the_services_limits(data: Dataset) -> None:
    for c in data.salesforce_contacts:
        assert c["LastName"] and len(c["LastName"]) <= 80 and len(c.get("FirstName", "")) <= 40
        assert len(c.get("Email", "")) <= 80
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


# --- identity traps -----------------------------------------------------------------------------------------------

SHARES = {
    "office_lines": 0.05,
    "role_emails": 0.04,
    "households": 0.04,
    "nicknames": 0.05,
    "typos": 0.04,
    "swapped": 0.03,
    "missing_keys": 0.04,
}


@pytest.fixture(scope="module")
def trapped() -> Dataset:
    return generate_dataset(6000, overlap=0.6, duplicates=0.03, genesys_only=0.15, seed=11, **SHARES)


def people_of(data: Dataset, label: str) -> set[int]:
    sf = {int(p) for p, t in zip(data.salesforce_person, data.salesforce_trap, strict=True) if t == label}
    return sf | {int(p) for p, t in zip(data.genesys_person, data.genesys_trap, strict=True) if t == label}


def copies_of(data: Dataset, label: str) -> list[tuple[dict, dict, set[str]]]:
    """(Genesys copy, Salesforce original, noise labels) of the copies of one trap class."""
    return [
        (data.genesys_contacts[j], data.salesforce_contacts[int(data.genesys_match[j])], set(n.split(",")))
        for j, (t, n) in enumerate(zip(data.genesys_trap, data.genesys_noise, strict=True))
        if t == label and data.genesys_match[j] >= 0
    ]


def groups_of(data: Dataset, label: str) -> dict[int, dict[str, list[int]]]:
    """group -> {"salesforce": record positions, "genesys": record positions} for one trap class."""
    out: dict[int, dict[str, list[int]]] = {}
    for system, labels, groups in (
        ("salesforce", data.salesforce_trap, data.salesforce_trap_group),
        ("genesys", data.genesys_trap, data.genesys_trap_group),
    ):
        for i, (t, g) in enumerate(zip(labels, groups.tolist(), strict=True)):
            if t == label:
                assert g >= 0
                out.setdefault(g, {"salesforce": [], "genesys": []})[system].append(i)
    return out


def one_edit_apart(a: str, b: str) -> bool:
    """One letter replaced, dropped, added, or two neighbours swapped."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        swap = len(diff) == 2 and diff[1] == diff[0] + 1 and (a[diff[0]], a[diff[1]]) == (b[diff[1]], b[diff[0]])
        return len(diff) == 1 or swap
    short, long = sorted((a, b), key=len)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def test_traps_change_who_people_are_never_how_many_records(data: Dataset) -> None:
    args = {"overlap": 0.5, "duplicates": 0.05, "genesys_only": 0.2, "seed": 7}
    for other in (generate_dataset(4000, traps=False, **args), generate_dataset(4000, **args, **SHARES)):
        assert len(other.salesforce_contacts) == len(data.salesforce_contacts) == 4000
        assert len(other.genesys_contacts) == len(data.genesys_contacts)
        assert (other.duplicate_count, other.overlap_count, other.genesys_only_count) == (200, 1900, 800)
    # The defaults have every class at a small share; traps=False keeps only the everyday nicknames and missing
    # emails.
    counts = data.trap_counts["genesys"]
    assert set(counts) == {"plain", "genesys_only", *(set(TRAP_CLASSES) - {"plain", "duplicate", "genesys_only"})}
    traps = [label for label in counts if label not in ("plain", "genesys_only")]
    assert all(counts[label] < 0.05 * len(data.genesys_contacts) for label in traps)
    off = generate_dataset(4000, traps=False, **args)
    assert set(off.trap_counts["genesys"]) == {"plain", "genesys_only", "nickname", "missing_key"}
    assert set(off.trap_counts["salesforce"]) == {"plain", "duplicate", "nickname", "missing_key"}
    assert all("email_missing" in off.genesys_noise[j] for j, t in enumerate(off.genesys_trap) if t == "missing_key")
    nick, miss = off.trap_counts["genesys"]["nickname"], off.trap_counts["genesys"]["missing_key"]
    assert nick == round(0.03 * 1900)  # the default share of the copies
    assert off.trap_summary().endswith(f": nickname {nick}/{nick}, missing_key {miss}/{miss}")
    assert data.trap_summary().startswith("identity traps (Salesforce/Genesys records): office_line ")


def test_every_record_has_a_person_and_one_class_the_same_on_both_sides(trapped: Dataset) -> None:
    d = trapped
    assert len(d.salesforce_trap) == len(d.salesforce_contacts) == len(d.salesforce_trap_group)
    assert len(d.genesys_trap) == len(d.genesys_contacts) == len(d.genesys_trap_group)
    assert set(d.salesforce_trap) <= set(TRAP_CLASSES) and set(d.genesys_trap) <= set(TRAP_CLASSES)
    assert d.salesforce_person.dtype.kind == d.genesys_person.dtype.kind == "i"
    is_dup = np.array([t == "duplicate" for t in d.salesforce_trap])
    assert np.array_equal(is_dup, d.salesforce_duplicate_of >= 0)
    class_of = {int(p): t for p, t in zip(d.salesforce_person, d.salesforce_trap, strict=True) if t != "duplicate"}
    for j, (p, t) in enumerate(zip(d.genesys_person.tolist(), d.genesys_trap, strict=True)):
        if d.genesys_match[j] >= 0:
            assert t == class_of[p] and t not in ("genesys_only", "duplicate")
        else:
            assert p not in class_of and t in ("genesys_only", "office_line", "household")
    # Duplicates are of the same person as their original, and a group holds one class.
    assert np.array_equal(d.salesforce_person[is_dup], d.salesforce_person[d.salesforce_duplicate_of[is_dup]])
    for label in ("office_line", "role_email", "household"):
        groups = groups_of(d, label)
        assert groups
        every = np.concatenate([d.salesforce_trap_group, d.genesys_trap_group])
        labels = np.array(d.salesforce_trap + d.genesys_trap, dtype=object)
        assert set(labels[np.isin(every, list(groups))]) <= {label, "duplicate"}


def test_each_trap_has_the_requested_share(trapped: Dataset) -> None:
    d = trapped
    n_people, n_all = 6000 - 180, 6000 - 180 + 900
    n_copies = d.overlap_count
    assert abs(len(people_of(d, "office_line")) - round(0.05 * n_all)) <= 1
    assert abs(len(people_of(d, "role_email")) - round(0.04 * n_all)) <= 1
    assert len(people_of(d, "household")) == 2 * round(0.04 * n_all / 2)
    for label, share in (("nickname", 0.05), ("typo", 0.04), ("swapped", 0.03)):
        assert len(copies_of(d, label)) == round(share * n_copies), label
    # Missing keys: the trap's own share (a quarter of it the Genesys email) plus the everyday missing emails.
    missing = copies_of(d, "missing_key")
    own = [c for c in missing if c[2] & {"crm_email_missing", "crm_phone_missing", "phone_missing"}]
    assert 0.6 * 0.75 * 0.04 * n_copies < len(own) < 0.04 * n_copies
    assert len(missing) > 0.04 * n_copies + 0.02 * n_copies
    assert len(d.salesforce_contacts) == 6000 and n_people == 6000 - d.duplicate_count


def test_office_line_colleagues_share_one_switchboard_on_both_sides(trapped: Dataset) -> None:
    d = trapped
    crm_people = set(d.salesforce_person.tolist())
    mixed = 0
    for records in groups_of(d, "office_line").values():
        sf = [d.salesforce_contacts[i] for i in records["salesforce"]]
        gc = [d.genesys_contacts[j] for j in records["genesys"]]
        people = {int(d.salesforce_person[i]) for i in records["salesforce"]}
        people |= {int(d.genesys_person[j]) for j in records["genesys"]}
        assert 2 <= len(people) <= 5
        phones = {digits(c["Phone"]) for c in sf} | {digits(g["workPhone"]["display"]) for g in gc}
        assert len(phones) == 1  # one switchboard, whichever way it is written
        accounts = {int(d.salesforce_contact_account[i]) for i in records["salesforce"]}
        accounts |= {int(d.genesys_contact_organization[j]) for j in records["genesys"]}
        assert len(accounts) == 1 and accounts.pop() >= 0
        names = {(c["FirstName"], c["LastName"]) for c in sf} | {(g["firstName"], g["lastName"]) for g in gc}
        assert len(names) >= 2  # different people (a duplicate may go by a nickname)
        emails = {c["Email"].lower() for c in sf} | {g["workEmail"].lower() for g in gc if "workEmail" in g}
        assert len(emails) >= len(people) - 1  # their own addresses, not the line
        if sf and any(int(d.genesys_person[j]) not in crm_people for j in records["genesys"]):
            mixed += 1
    assert mixed > 0  # some colleagues on the line are only in Genesys


def test_role_mailboxes_are_shared_by_different_crm_people(trapped: Dataset) -> None:
    d = trapped
    crm_people = set(d.salesforce_person.tolist())
    copied = 0
    for records in groups_of(d, "role_email").values():
        sf = [d.salesforce_contacts[i] for i in records["salesforce"]]
        people = {int(d.salesforce_person[i]) for i in records["salesforce"]}
        assert 2 <= len(people) <= 4
        emails = {c["Email"].lower() for c in sf}
        assert len(emails) == 1
        local, _, domain = emails.pop().partition("@")
        assert local in ROLE_MAILBOXES and domain not in FREE_MAIL_DOMAINS
        assert len({int(d.salesforce_contact_account[i]) for i in records["salesforce"]}) == 1
        assert len({digits(c["Phone"]) for c in sf if c["FirstName"]}) >= 2  # their own direct lines
        for j in records["genesys"]:
            assert int(d.genesys_person[j]) in crm_people  # the Genesys side holds copies only
            assert d.genesys_contacts[j]["workEmail"].lower() == f"{local}@{domain}"
            copied += 1
    assert copied > 0


def test_household_members_share_a_personal_email_and_nothing_else(trapped: Dataset) -> None:
    d = trapped
    crm_people = set(d.salesforce_person.tolist())
    genesys_people = set(d.genesys_person.tolist())
    variants = {"split": 0, "both": 0}
    for records in groups_of(d, "household").values():
        members: dict[int, tuple[str, str, str, str]] = {}  # person -> (first, last, email, phone digits)
        for i in records["salesforce"]:
            c = d.salesforce_contacts[i]
            if d.salesforce_duplicate_of[i] < 0:
                person = int(d.salesforce_person[i])
                members[person] = (c["FirstName"], c["LastName"], c["Email"].lower(), digits(c["Phone"]))
        for j in records["genesys"]:
            g = d.genesys_contacts[j]
            fields = (g["firstName"], g["lastName"], g["workEmail"].lower(), digits(g["workPhone"]["display"]))
            members.setdefault(int(d.genesys_person[j]), fields)
        assert len(members) == 2
        (a, ra), (b, rb) = members.items()
        assert ra[1] == rb[1] and ra[0] != rb[0] and NICKNAMES.get(ra[0]) != rb[0] and NICKNAMES.get(rb[0]) != ra[0]
        assert difflib.SequenceMatcher(None, ra[0].lower(), rb[0].lower()).ratio() < 0.5  # clearly another name
        assert ra[2] == rb[2] and ra[2].partition("@")[2] in FREE_MAIL_DOMAINS
        assert ra[3] != rb[3]
        if {a, b} <= crm_people & genesys_people:
            variants["both"] += 1
        else:  # one only in the CRM, the other only in Genesys: never to be linked
            assert len({a, b} & crm_people) == 1 and len({a, b} & genesys_people) == 1
            assert not {a, b} & crm_people & genesys_people
            variants["split"] += 1
    assert variants["split"] > 0 and variants["both"] > 0


def test_name_traps_on_the_genesys_copy(trapped: Dataset) -> None:
    for g, s, noise in copies_of(trapped, "nickname"):
        assert g["firstName"] == NICKNAMES[s["FirstName"]] and g["lastName"] == s["LastName"] and "nickname" in noise
    typos = {"first": 0, "last": 0}
    for g, s, noise in copies_of(trapped, "typo"):
        first, last = g["firstName"] != s["FirstName"], g["lastName"] != s["LastName"]
        assert first != last  # one name only
        if first:
            assert one_edit_apart(g["firstName"], s["FirstName"]) and "typo_first" in noise
            typos["first"] += 1
        else:
            assert one_edit_apart(g["lastName"], s["LastName"]) and "typo_last" in noise
            typos["last"] += 1
        assert g["firstName"][0] == s["FirstName"][0] and g["lastName"][0] == s["LastName"][0]
    assert typos["last"] > typos["first"] > 0
    for g, s, noise in copies_of(trapped, "swapped"):
        assert (g["firstName"], g["lastName"]) == (s["LastName"], s["FirstName"]) and "swapped" in noise
        assert g["workEmail"].lower() == s["Email"].lower()  # nothing else is in the way


def test_a_missing_key_is_missing_on_one_side_only(trapped: Dataset) -> None:
    kinds: dict[str, int] = {}
    for g, s, noise in copies_of(trapped, "missing_key"):
        present = {"crm_email": "Email" in s, "crm_phone": "Phone" in s, "email": "workEmail" in g}
        present["phone"] = "workPhone" in g
        missing = [name for name, there in present.items() if not there]
        assert len(missing) == 1 and f"{missing[0]}_missing" in noise
        kinds[missing[0]] = kinds.get(missing[0], 0) + 1
    assert set(kinds) == {"crm_email", "crm_phone", "email", "phone"}


def test_traps_are_deterministic_by_seed() -> None:
    a = generate_dataset(1500, seed=5, **SHARES)
    b = generate_dataset(1500, seed=5, **SHARES)
    c = generate_dataset(1500, seed=6, **SHARES)
    assert a.salesforce_contacts == b.salesforce_contacts and a.genesys_contacts == b.genesys_contacts
    assert a.salesforce_trap == b.salesforce_trap and a.genesys_trap == b.genesys_trap
    assert np.array_equal(a.genesys_trap_group, b.genesys_trap_group)
    assert np.array_equal(a.salesforce_person, b.salesforce_person)
    assert a.genesys_trap != c.genesys_trap
    assert a.parameters["office_lines"] == 0.05 and generate_dataset(10).parameters["office_lines"] == 0.01


@pytest.mark.parametrize("name", sorted(SHARES))
def test_bad_trap_shares_are_rejected_by_name(name: str) -> None:
    with pytest.raises(ValueError, match=f"{name} must be"):
        generate_dataset(10, **{name: 1.5})
