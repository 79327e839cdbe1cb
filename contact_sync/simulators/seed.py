"""Seeded, realistic data for the simulators: Salesforce accounts and contacts, Genesys organizations and contacts.

`generate_dataset` builds the rows (API-shaped dicts) and the ground truth of who is who across and inside the two
systems; `seed_simulators` loads them into simulators, accounts first so contacts can point at them. Faker fills small
pools of names, streets and cities once; numpy combines them, so 100,000 contacts take seconds, not minutes.

Besides everyday noise (email case, phone formats, another address or number) the data holds identity traps, small
shares by default, each record labelled with its class (`TRAP_CLASSES`): colleagues sharing an office line, people
sharing a role mailbox (`info@`, `sales@` ...), two people of one household sharing a personal address, nicknames,
one-letter typos, first and last name swapped, an email or phone missing on one side. This module imports no product
code: the ground truth is made here, independently of how the sync matches.
"""

from __future__ import annotations

import difflib
import functools
import random
import re
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "NICKNAMES",
    "ROLE_MAILBOXES",
    "TRAP_CLASSES",
    "Dataset",
    "SeedReport",
    "generate_dataset",
    "seed_simulators",
]

REGIONS: dict[str, str] = {"US": "en_US", "CA": "en_CA"}

# Formal first name -> a common nickname; a duplicate (or the Genesys copy) of a person may go by the nickname.
NICKNAMES: dict[str, str] = {
    "Robert": "Bob",
    "William": "Bill",
    "James": "Jim",
    "John": "Jack",
    "Richard": "Rick",
    "Michael": "Mike",
    "Thomas": "Tom",
    "Joseph": "Joe",
    "Charles": "Chuck",
    "Christopher": "Chris",
    "Daniel": "Dan",
    "Matthew": "Matt",
    "Anthony": "Tony",
    "Andrew": "Andy",
    "Joshua": "Josh",
    "Steven": "Steve",
    "Stephen": "Steve",
    "Edward": "Ed",
    "Benjamin": "Ben",
    "Samuel": "Sam",
    "Nicholas": "Nick",
    "Jonathan": "Jon",
    "Timothy": "Tim",
    "Gregory": "Greg",
    "Kenneth": "Ken",
    "Ronald": "Ron",
    "Donald": "Don",
    "Patrick": "Pat",
    "Alexander": "Alex",
    "Zachary": "Zach",
    "Elizabeth": "Liz",
    "Jennifer": "Jen",
    "Katherine": "Kate",
    "Catherine": "Cathy",
    "Kimberly": "Kim",
    "Jessica": "Jess",
    "Rebecca": "Becky",
    "Margaret": "Peggy",
    "Patricia": "Pat",
    "Deborah": "Debbie",
    "Susan": "Sue",
    "Christina": "Tina",
    "Victoria": "Vicky",
    "Samantha": "Sam",
    "Alexandra": "Alex",
    "Stephanie": "Steph",
    "Melissa": "Missy",
    "Kathleen": "Kathy",
    "Cynthia": "Cindy",
    "Pamela": "Pam",
    "Amanda": "Mandy",
    "Abigail": "Abby",
    "Jacqueline": "Jackie",
}

FREE_MAIL_DOMAINS: tuple[str, ...] = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "aol.com")
TAGS: tuple[str, ...] = ("newsletter", "vip", "webinar", "partner", "trial", "event-2024", "support", "renewal")

# Phone styles a person may write the same number in: "(317) 555-7000", "+1 317 555 7000", "317.555.7000", ...
PHONE_TEMPLATES: tuple[str, ...] = (
    "({0}) {1}-{2:04d}",
    "+1 {0} {1} {2:04d}",
    "{0}.{1}.{2:04d}",
    "{0}-{1}-{2:04d}",
    "+1{0}{1}{2:04d}",
)
# Exchanges real numbering avoids: N11 service codes, 555 (fiction), 950/958/959/976 (special use).
_RESERVED_EXCHANGES = {211, 311, 411, 511, 611, 711, 811, 911, 555, 950, 958, 959, 976}

# Share of each kind of noise on the Genesys copy of a CRM person.
_GENESYS_EMAIL_CASE = 0.30
_GENESYS_EMAIL_OTHER = 0.08  # a personal address instead of the work one
_GENESYS_EMAIL_MISSING = 0.04
_GENESYS_PHONE_OTHER = 0.05  # a different number altogether
_GENESYS_LASTNAME_OTHER = 0.02  # e.g. married since
_NO_ACCOUNT = 0.05

# Local parts of the shared role mailboxes people sit on (info@acme.com ...).
ROLE_MAILBOXES: tuple[str, ...] = (
    "info", "sales", "support", "office", "contact", "hello", "admin", "billing", "accounts", "team",
)  # fmt: skip

TRAP_CLASSES: tuple[str, ...] = (
    "plain",  # a person with everyday noise only (email case, phone format, sometimes another address or number)
    "duplicate",  # a Salesforce record duplicating another one of the same person
    "genesys_only",  # a person only in Genesys
    "office_line",  # colleagues of one account sharing one switchboard phone, on both sides
    "role_email",  # CRM people of one account sharing a role mailbox (info@, sales@ ...), some also in Genesys
    "household",  # two people (same last name) sharing one personal email
    "nickname",  # the Genesys copy goes by a nickname (Bob for Robert)
    "typo",  # a one-letter typo in the last (or first) name of the Genesys copy
    "swapped",  # first and last name swapped on the Genesys copy
    "missing_key",  # the email or the phone is missing on one side
)
"""Trap class labels of `Dataset.salesforce_trap` / `Dataset.genesys_trap`, one per record."""

# Default trap shares; `traps=False` turns all but nicknames (everyday noise before traps existed) off.
_TRAP_DEFAULTS: dict[str, float] = {
    "office_lines": 0.01,
    "role_emails": 0.01,
    "households": 0.01,
    "nicknames": 0.03,
    "typos": 0.01,
    "swapped": 0.005,
    "missing_keys": 0.01,
}
_MISSING_KINDS: tuple[str, ...] = ("", "crm_email_missing", "crm_phone_missing", "email_missing", "phone_missing")
_KEYBOARD_ROWS: tuple[str, ...] = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_NEIGHBOURS: dict[str, str] = {
    c: row[max(0, i - 1) : i] + row[i + 1 : i + 2] for row in _KEYBOARD_ROWS for i, c in enumerate(row)
}


@dataclass(frozen=True)
class Dataset:
    """Generated rows for both systems and the ground truth linking them.

    Rows are shaped like each API's own records (Salesforce field names; Genesys ExternalContact). Links to accounts
    and organizations are kept as indexes (`-1`: none) because the ids exist only once the rows are loaded:
    `salesforce_contact_rows(account_ids)` and `genesys_contact_rows(organization_ids)` fill them in.

    Ground truth, by position in the lists:
    - `salesforce_person[i]`, `genesys_person[j]`: the person a record stands for (same number = same person).
    - `salesforce_duplicate_of[i]`: index of the Salesforce record that record `i` duplicates, or -1.
    - `genesys_match[j]`: index of the (original) Salesforce record of the same person, or -1 (only in Genesys).
    - `genesys_noise[j]`: the noise applied to the Genesys copy, comma-separated ("" for none).
    - `salesforce_trap[i]`, `genesys_trap[j]`: the record's trap class (`TRAP_CLASSES`). A person's records carry
      the person's class on both sides; duplicates are "duplicate", plain people only in Genesys "genesys_only".
    - `salesforce_trap_group[i]`, `genesys_trap_group[j]`: the people sharing one office line, role mailbox or
      household email have one group number (-1: in no group).
    """

    accounts: list[dict[str, Any]]
    salesforce_contacts: list[dict[str, Any]]
    salesforce_contact_account: np.ndarray
    organizations: list[dict[str, Any]]
    genesys_contacts: list[dict[str, Any]]
    genesys_contact_organization: np.ndarray
    salesforce_person: np.ndarray
    genesys_person: np.ndarray
    salesforce_duplicate_of: np.ndarray
    genesys_match: np.ndarray
    genesys_noise: list[str]
    salesforce_trap: list[str] = field(default_factory=list)
    genesys_trap: list[str] = field(default_factory=list)
    salesforce_trap_group: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    genesys_trap_group: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def duplicate_count(self) -> int:
        return int((self.salesforce_duplicate_of >= 0).sum())

    @property
    def overlap_count(self) -> int:
        return int((self.genesys_match >= 0).sum())

    @property
    def genesys_only_count(self) -> int:
        return int((self.genesys_match < 0).sum())

    @property
    def trap_counts(self) -> dict[str, dict[str, int]]:
        """Records per trap class, per system ("salesforce", "genesys"), in `TRAP_CLASSES` order."""
        out: dict[str, dict[str, int]] = {}
        for system, labels in (("salesforce", self.salesforce_trap), ("genesys", self.genesys_trap)):
            counts = pd.Series(labels, dtype=object).value_counts()
            out[system] = {name: int(counts.get(name, 0)) for name in TRAP_CLASSES if counts.get(name, 0)}
        return out

    def trap_summary(self) -> str:
        """One line: the records of each trap class, Salesforce/Genesys."""
        counts = self.trap_counts
        traps = [name for name in TRAP_CLASSES if name not in ("plain", "duplicate", "genesys_only")]
        parts = [
            f"{name} {counts['salesforce'].get(name, 0)}/{counts['genesys'].get(name, 0)}"
            for name in traps
            if counts["salesforce"].get(name, 0) or counts["genesys"].get(name, 0)
        ]
        return "identity traps (Salesforce/Genesys records): " + (", ".join(parts) if parts else "none")

    def salesforce_contact_rows(self, account_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The Salesforce contact rows with `AccountId` set from the ids the accounts got when loaded."""
        if len(account_ids) != len(self.accounts):
            raise ValueError(f"expected {len(self.accounts)} account ids, got {len(account_ids)}")
        return _with_links(self.salesforce_contacts, self.salesforce_contact_account, account_ids, "AccountId", False)

    def genesys_contact_rows(self, organization_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The Genesys contact rows with `externalOrganization` set from the ids the organizations got."""
        if len(organization_ids) != len(self.organizations):
            raise ValueError(f"expected {len(self.organizations)} organization ids, got {len(organization_ids)}")
        return _with_links(
            self.genesys_contacts, self.genesys_contact_organization, organization_ids, "externalOrganization", True
        )


def _with_links(
    rows: list[dict[str, Any]], links: np.ndarray, ids: Sequence[str], key: str, as_ref: bool
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for row, link in zip(rows, links.tolist(), strict=True):
        if link < 0:
            out.append(dict(row))
        else:
            out.append({**row, key: {"id": ids[link]} if as_ref else ids[link]})
    return out


def _format_phones(npa: np.ndarray, nxx: np.ndarray, line: np.ndarray, style: np.ndarray) -> list[str]:
    t = PHONE_TEMPLATES
    return [
        t[s].format(a, b, c)
        for a, b, c, s in zip(npa.tolist(), nxx.tolist(), line.tolist(), style.tolist(), strict=True)
    ]


@functools.lru_cache(maxsize=4)
def _exchange_pool(region: str) -> np.ndarray:
    """(area code, exchange) pairs that phonenumbers accepts as valid numbers of `region`, chosen once, seeded."""
    import phonenumbers

    rng = random.Random(f"contact-sync-exchanges-{region}")
    kinds = phonenumbers.PhoneNumberType
    geographic = {kinds.FIXED_LINE_OR_MOBILE, kinds.FIXED_LINE, kinds.MOBILE}

    def valid(npa: int, nxx: int) -> bool:
        number = phonenumbers.parse(f"+1{npa}{nxx}4567")
        return (
            phonenumbers.is_valid_number(number)
            and phonenumbers.region_code_for_number(number) == region
            and phonenumbers.number_type(number) in geographic  # no toll-free, premium or personal numbers
        )

    pairs: list[tuple[int, int]] = []
    for npa in range(201, 990):
        if npa % 100 == 11 or not valid(npa, 234):
            continue
        for _ in range(4):
            nxx = rng.randrange(200, 1000)
            if nxx not in _RESERVED_EXCHANGES and valid(npa, nxx):
                pairs.append((npa, nxx))
    if not pairs:
        raise ValueError(f"no valid phone exchanges found for region {region!r}")
    return np.array(pairs, dtype=np.int64)


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", ascii_text.lower())


@dataclass
class _Pools:
    first: np.ndarray
    first_slug: np.ndarray
    last: np.ndarray
    last_slug: np.ndarray
    streets: np.ndarray
    places: list[tuple[str, str, str]]  # (city, state, postal code)
    suffixes: list[str]


@functools.lru_cache(maxsize=8)
def _pools(locale: str, seed: int) -> _Pools:
    """Small pools drawn from Faker once (its per-call cost is what makes per-row generation slow)."""
    from faker import Faker

    fake = Faker(locale)
    fake.seed_instance(seed)
    # Drawn with repeats, so common names stay common when numpy picks uniformly from the pool.
    first = [fake.first_name()[:40] for _ in range(1500)]
    last = [fake.last_name()[:80] for _ in range(2500)]
    first = [n for n in first if _slug(n)] or ["Alex"]
    last = [n for n in last if _slug(n)] or ["Smith"]
    streets = [fake.street_address() for _ in range(800)]
    state = fake.state_abbr if locale == "en_US" else fake.province_abbr
    places = [(fake.city(), state(), fake.postcode()) for _ in range(300)]
    suffixes = sorted({fake.company_suffix() for _ in range(60)})
    return _Pools(
        first=np.array(first, dtype=object),
        first_slug=np.array([_slug(n) for n in first], dtype=object),
        last=np.array(last, dtype=object),
        last_slug=np.array([_slug(n) for n in last], dtype=object),
        streets=np.array(streets, dtype=object),
        places=places,
        suffixes=suffixes,
    )


def _company_names(rng: np.random.Generator, pools: _Pools, count: int) -> list[str]:
    """Unique company names in Faker's own patterns ("Baker LLC", "Baker-Olsen", "Baker, Olsen and Ray")."""
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < count:
        need = (count - len(names)) * 2 + 8
        pattern = rng.choice(3, size=need, p=[0.5, 0.35, 0.15])
        a, b, c = (pools.last[rng.integers(0, len(pools.last), size=need)] for _ in range(3))
        suffix = rng.integers(0, len(pools.suffixes), size=need)
        for p, x, y, z, s in zip(pattern.tolist(), a, b, c, suffix.tolist(), strict=True):
            name = f"{x} {pools.suffixes[s]}" if p == 0 else f"{x}-{y}" if p == 1 else f"{x}, {y} and {z}"
            if name not in seen:
                seen.add(name)
                names.append(name)
                if len(names) == count:
                    break
        if len(seen) > 50 * count + 1000:  # pools exhausted: number the rest
            names += [f"{names[i % len(names)]} {i}" for i in range(len(names), count)]
    return names


def _case_variant(emails: Sequence[str], style: np.ndarray) -> list[str]:
    """The same addresses in a different letter case (always different from the input when it has letters)."""
    out = []
    for email, s in zip(emails, style.tolist(), strict=True):
        local, _, domain = email.partition("@")
        if s == 0:
            out.append(f"{local.title()}@{domain}")
        elif s == 1:
            out.append(email.upper())
        else:
            out.append(f"{local.title()}@{domain.title()}")
    return out


def _check_share(name: str, value: float, upper: float = 1.0) -> None:
    if not isinstance(value, int | float) or not 0.0 <= value <= upper:
        raise ValueError(f"{name} must be a share between 0 and {upper:g}, got {value!r}")


def generate_dataset(
    contacts: int,
    *,
    overlap: float = 0.6,
    duplicates: float = 0.02,
    genesys_only: float = 0.1,
    accounts: int | None = None,
    seed: int = 0,
    region: str = "US",
    traps: bool = True,
    office_lines: float | None = None,
    role_emails: float | None = None,
    households: float | None = None,
    nicknames: float | None = None,
    typos: float | None = None,
    swapped: float | None = None,
    missing_keys: float | None = None,
) -> Dataset:
    """Generate Salesforce and Genesys data for `contacts` Salesforce contact records; same arguments, same data.

    - `duplicates`: share of the `contacts` records that are duplicates of another Salesforce record (same person,
      email in another letter case, phone in another format, often a nickname). At most 0.5.
    - `overlap`: share of the distinct CRM people also present in Genesys, with realistic noise (email case, phone
      format, sometimes another address or number, a missing email).
    - `genesys_only`: people only in Genesys, as a share of `contacts`.
    - `accounts`: number of companies (Salesforce accounts, mirrored as Genesys organizations); by default one per 20
      contacts. Contacts spread over them unevenly, as in real CRMs; about 5% have no company.
    - `region`: "US" or "CA"; phone numbers are valid NANP numbers of that region.

    Identity traps (`TRAP_CLASSES`), as shares; None takes the default (in `_TRAP_DEFAULTS`: 0.5% to 3%), and
    `traps=False` sets every default but `nicknames` to 0. Traps change who the people are, never how many records
    there are: the counts above stay exactly as asked. A person has at most one trap; a person with one gets no
    other identity noise (another address or number, another last name), only email case and phone format.
    - `office_lines`: share of all distinct people in groups of 2-5 colleagues of one account sharing one
      switchboard number, in both systems (people only in Genesys included).
    - `role_emails`: share of all distinct people in groups of 2-4 CRM people of one account sharing a role mailbox
      (`ROLE_MAILBOXES` @ the company's domain); their Genesys copies carry it too.
    - `households`: share of all distinct people in two-person households: same last name, another first name and
      phone, one personal email. Half the pairs have one person only in the CRM and the other only in Genesys (two
      people, never to be linked); in the other half both are in both systems.
    - `nicknames`, `typos`, `swapped`, `missing_keys`: shares of the Genesys copies (of CRM people) that go by a
      nickname; have a one-letter typo in the last name (70%) or first name; have first and last name swapped; or
      miss one key, on one side: the CRM email or phone, or the Genesys email or phone (people with a Salesforce
      duplicate only on the Genesys side).
    Groups stop short when the data has too few people (e.g. accounts) to fill them.
    No Genesys contact is linked to Salesforce by `externalIds`: making those links is the sync's job.
    """
    if isinstance(contacts, bool) or not isinstance(contacts, int) or contacts < 0:
        raise ValueError(f"contacts must be a whole number >= 0, got {contacts!r}")
    _check_share("overlap", overlap)
    _check_share("duplicates", duplicates, 0.5)
    _check_share("genesys_only", genesys_only)
    if accounts is not None and (isinstance(accounts, bool) or not isinstance(accounts, int) or accounts < 0):
        raise ValueError(f"accounts must be a whole number >= 0, got {accounts!r}")
    if region not in REGIONS:
        raise ValueError(f"region must be one of {', '.join(REGIONS)}, got {region!r}")
    given = {
        "office_lines": office_lines,
        "role_emails": role_emails,
        "households": households,
        "nicknames": nicknames,
        "typos": typos,
        "swapped": swapped,
        "missing_keys": missing_keys,
    }
    shares = {
        name: float(value) if value is not None else (_TRAP_DEFAULTS[name] if traps or name == "nicknames" else 0.0)
        for name, value in given.items()
    }
    for name, value in given.items():
        if value is not None:
            _check_share(name, value)

    n_dup = round(contacts * duplicates)
    n_people = contacts - n_dup
    n_overlap = round(n_people * overlap)
    n_gonly = round(contacts * genesys_only)
    n_accounts = accounts if accounts is not None else (max(1, contacts // 20) if contacts else 0)
    n_all = n_people + n_gonly  # every distinct person, CRM people first

    rng = np.random.default_rng(seed)
    pools = _pools(REGIONS[region], seed)
    exchanges = _exchange_pool(region)

    # Companies.
    company = _company_names(rng, pools, n_accounts)
    company_domain = np.array([f"{_slug(c)[:40] or 'company'}.com" for c in company], dtype=object)

    people = _people(rng, pools, exchanges, n_all, company_domain)
    dup_of = np.sort(rng.choice(n_people, size=n_dup, replace=False)) if n_dup else np.zeros(0, dtype=np.int64)
    in_genesys = np.sort(rng.choice(n_people, size=n_overlap, replace=False)) if n_overlap else np.zeros(0, np.int64)
    # Traps draw from their own stream, so their shares do not reshuffle who is duplicated or copied.
    trapped = _assign_traps(
        np.random.default_rng([seed, 7217]), people, pools, company_domain, n_people, in_genesys, dup_of, shares
    )
    salesforce = _salesforce_records(rng, people, n_people, dup_of, trapped)
    genesys = _genesys_records(rng, people, pools, exchanges, n_people, in_genesys, region, trapped)

    # A Genesys copy of a CRM person matches that person's original Salesforce record.
    is_crm = genesys.person < n_people
    genesys_match = np.full(len(genesys.person), -1, dtype=np.int64)
    genesys_match[is_crm] = salesforce.original_position[genesys.person[is_crm]]

    # Trap classes: the person's, on both sides; a plain copy missing its email (everyday noise) is a missing key.
    kind = trapped.kind.copy()
    missed = [
        int(p) for p, noise in zip(genesys.person.tolist(), genesys.noise, strict=True) if "email_missing" in noise
    ]
    kind[[p for p in missed if kind[p] == ""]] = "missing_key"
    sf_kind = kind[salesforce.person]
    salesforce_trap = np.where(salesforce.duplicate_of >= 0, "duplicate", np.where(sf_kind == "", "plain", sf_kind))
    g_kind = kind[genesys.person]
    genesys_trap = np.where(g_kind != "", g_kind, np.where(genesys_match >= 0, "plain", "genesys_only"))

    return Dataset(
        accounts=[{"Name": name} for name in company],
        salesforce_contacts=salesforce.rows,
        salesforce_contact_account=people.account[salesforce.person],
        organizations=[{"name": name} for name in company],
        genesys_contacts=genesys.rows,
        genesys_contact_organization=people.account[genesys.person],
        salesforce_person=salesforce.person,
        genesys_person=genesys.person,
        salesforce_duplicate_of=salesforce.duplicate_of,
        genesys_match=genesys_match,
        genesys_noise=genesys.noise,
        salesforce_trap=[str(x) for x in salesforce_trap.tolist()],
        genesys_trap=[str(x) for x in genesys_trap.tolist()],
        salesforce_trap_group=trapped.group[salesforce.person],
        genesys_trap_group=trapped.group[genesys.person],
        parameters={
            "contacts": contacts,
            "overlap": overlap,
            "duplicates": duplicates,
            "genesys_only": genesys_only,
            "accounts": n_accounts,
            "seed": seed,
            "region": region,
            **shares,
        },
    )


@dataclass
class _People:
    """Every distinct person, CRM people first, then those only in Genesys: one array entry each."""

    first: np.ndarray
    last: np.ndarray
    first_slug: np.ndarray
    last_slug: np.ndarray
    account: np.ndarray  # company index, -1: none
    email: list[str]  # unique per person, but for the role mailboxes and household addresses of traps
    phone: tuple[np.ndarray, np.ndarray, np.ndarray]  # area code, exchange, line
    mobile: tuple[np.ndarray, np.ndarray, np.ndarray]
    has_mobile: np.ndarray
    style: np.ndarray  # the phone style of the person's CRM record (index into PHONE_TEMPLATES)

    def phones(self, which: str, index: np.ndarray, style: np.ndarray) -> list[str]:
        npa, nxx, line = self.phone if which == "phone" else self.mobile
        return _format_phones(npa[index], nxx[index], line[index], style)


def _people(
    rng: np.random.Generator, pools: _Pools, exchanges: np.ndarray, n: int, company_domain: np.ndarray
) -> _People:
    fi = rng.integers(0, len(pools.first), size=n)
    li = rng.integers(0, len(pools.last), size=n)
    n_accounts = len(company_domain)
    if n_accounts:
        weights = rng.pareto(1.2, size=n_accounts) + 1.0  # a few big customers, a long tail of small ones
        account = rng.choice(n_accounts, size=n, p=weights / weights.sum())
        account[rng.random(n) < _NO_ACCOUNT] = -1
    else:
        account = np.full(n, -1, dtype=np.int64)
    free = np.array(FREE_MAIL_DOMAINS, dtype=object)[rng.integers(0, len(FREE_MAIL_DOMAINS), size=n)]
    at_work = (account >= 0) & (rng.random(n) < 0.75)
    domain = free.copy()
    domain[at_work] = company_domain[account[at_work]]
    return _People(
        first=pools.first[fi],
        last=pools.last[li],
        first_slug=pools.first_slug[fi],
        last_slug=pools.last_slug[li],
        account=account.astype(np.int64),
        email=_emails(rng, pools.first_slug[fi], pools.last_slug[li], domain),
        phone=_numbers(rng, exchanges, n),
        mobile=_numbers(rng, exchanges, n),
        has_mobile=rng.random(n) < 0.4,
        style=rng.choice(len(PHONE_TEMPLATES), size=n, p=[0.6, 0.1, 0.1, 0.2, 0.0]),
    )


def _other_style(rng: np.random.Generator, style: np.ndarray) -> np.ndarray:
    """A phone style different from each given one."""
    return (style + rng.integers(1, len(PHONE_TEMPLATES), size=len(style))) % len(PHONE_TEMPLATES)


@dataclass
class _Traps:
    """Per person (index into `_People`): the trap class ("" for none), its group, and what the Genesys copy or the
    CRM record does differently. `_assign_traps` has already applied shared keys and household names to `_People`."""

    kind: np.ndarray  # object: "" or a TRAP_CLASSES label
    group: np.ndarray  # int64: people sharing an office line, role mailbox or household email; -1 for none
    nickname: np.ndarray  # bool: the Genesys copy goes by NICKNAMES[first]
    typo_first: np.ndarray  # object: the Genesys copy's first name with a typo, or None
    typo_last: np.ndarray  # object: the same for the last name
    swapped: np.ndarray  # bool: the Genesys copy has first and last name swapped
    missing: np.ndarray  # int8: index into _MISSING_KINDS (0: nothing missing)


def _typo(name: str, r: random.Random) -> str:
    """The name with one slip of the keyboard after its first letter: two neighbours swapped, a letter dropped,
    doubled, or replaced by the key next to it. Always different from `name`."""
    at = [i for i in range(1, len(name)) if name[i].isalpha()]
    for _ in range(12):
        if not at:
            break
        op, i = r.randrange(4), r.choice(at)
        out = name
        if op == 0 and i + 1 < len(name) and name[i + 1].isalpha():
            out = name[:i] + name[i + 1] + name[i] + name[i + 2 :]
        elif op == 1 and len(name) > 3:
            out = name[:i] + name[i + 1 :]
        elif op == 2 and len(name) < 38:
            out = name[:i] + name[i] + name[i:]
        elif op == 3 and _NEIGHBOURS.get(name[i].lower()):
            out = name[:i] + r.choice(_NEIGHBOURS[name[i].lower()]) + name[i + 1 :]
        if out != name:
            return out
    return name[:-1] + ("a" if name[-1:] != "a" else "e")


def _same_first_name(a: str, b: str) -> bool:
    """Names a person could tell apart only by asking: equal, a nickname of the other or both of one name, the same
    initial (could pass as a typo), one inside the other (Drew, Andrew) or much alike (Shelly, Michelle)."""
    x, y = a.lower(), b.lower()
    if x[:1] == y[:1] or x in y or y in x or difflib.SequenceMatcher(None, x, y).ratio() >= 0.5:
        return True
    return NICKNAMES.get(a, a) == NICKNAMES.get(b, b) or NICKNAMES.get(a) == b or NICKNAMES.get(b) == a


def _account_groups(
    rng: np.random.Generator, account: np.ndarray, free: np.ndarray, target: int, sizes: tuple[int, int]
) -> list[np.ndarray]:
    """Groups of `sizes[0]`..`sizes[1]` free people of one account (one group per account per pass, accounts in a
    random order) until `target` people are in groups, or the accounts run out."""
    groups: list[np.ndarray] = []
    free = free.copy()
    remaining = target
    while remaining >= 2:
        cand = np.flatnonzero(free & (account >= 0))
        if len(cand) < 2:
            break
        cand = cand[rng.permutation(len(cand))]
        cand = cand[np.argsort(account[cand], kind="stable")]
        _, starts, counts = np.unique(account[cand], return_index=True, return_counts=True)
        progress = False
        for k in rng.permutation(len(starts)).tolist():
            if remaining < 2:
                break
            room = int(counts[k])
            if room < 2:
                continue
            size = min(int(rng.integers(sizes[0], sizes[1] + 1)), room, remaining)
            if remaining - size == 1:  # never leave one person who cannot form a group
                size = size + 1 if size < room else size - 1 if size > 2 else size
            members = cand[starts[k] : starts[k] + size]
            groups.append(members)
            free[members] = False
            remaining -= size
            progress = True
        if not progress:
            break
    return groups


def _assign_traps(
    rng: np.random.Generator,
    people: _People,
    pools: _Pools,
    company_domain: np.ndarray,
    n_people: int,
    in_genesys: np.ndarray,
    dup_of: np.ndarray,
    shares: dict[str, float],
) -> _Traps:
    """Pick the people of each trap (disjoint sets) and apply the shared keys and household names to `people`."""
    n_all = len(people.first)
    kind = np.full(n_all, "", dtype=object)
    group = np.full(n_all, -1, dtype=np.int64)
    is_crm = np.arange(n_all) < n_people
    copied = np.zeros(n_all, dtype=bool)
    copied[in_genesys] = True
    duplicated = np.zeros(n_all, dtype=bool)
    duplicated[dup_of] = True
    next_group = 0

    def tag(members: np.ndarray, label: str) -> None:
        nonlocal next_group
        kind[members] = label
        group[members] = next_group
        next_group += 1

    # Role mailboxes: CRM people of one account on info@, sales@ ... of its domain (one address per group).
    used_roles: set[str] = set()
    for members in _account_groups(rng, people.account, is_crm, round(shares["role_emails"] * n_all), (2, 4)):
        domain = company_domain[people.account[members[0]]]
        start = int(rng.integers(0, len(ROLE_MAILBOXES)))
        roles = [f"{ROLE_MAILBOXES[(start + k) % len(ROLE_MAILBOXES)]}@{domain}" for k in range(len(ROLE_MAILBOXES))]
        address = next((a for a in roles if a not in used_roles), None)
        if address is None:
            continue
        used_roles.add(address)
        for i in members.tolist():
            people.email[i] = address
        tag(members, "role_email")

    # Office lines: colleagues (in either system) whose phone is the account's switchboard, the first one's number.
    npa, nxx, line = people.phone
    free = kind == ""
    for members in _account_groups(rng, people.account, free, round(shares["office_lines"] * n_all), (2, 5)):
        npa[members], nxx[members], line[members] = npa[members[0]], nxx[members[0]], line[members[0]]
        tag(members, "office_line")

    # Households: two people of one family on one personal address; half split across the systems.
    pairs = round(shares["households"] * n_all / 2)
    crm_only = np.flatnonzero((kind == "") & is_crm & ~copied)
    genesys_side = np.flatnonzero((kind == "") & ~is_crm)
    both = np.flatnonzero((kind == "") & copied)
    n_cross = min(pairs - pairs // 2, len(crm_only), len(genesys_side))
    n_both = min(pairs - n_cross, len(both) // 2)
    a_side = np.concatenate(
        [rng.choice(crm_only, n_cross, replace=False), rng.choice(both, 2 * n_both, replace=False)]
    ).astype(np.int64)
    b_side = np.concatenate([rng.choice(genesys_side, n_cross, replace=False), a_side[n_cross + n_both :]])
    a_side = a_side[: n_cross + n_both]
    taken = {e.lower() for e in people.email}
    r = random.Random(int(rng.integers(0, 2**31)))
    for a, b in zip(a_side.tolist(), b_side.tolist(), strict=True):
        people.last[b], people.last_slug[b] = people.last[a], people.last_slug[a]
        for _ in range(100):
            if not _same_first_name(people.first[a], people.first[b]):
                break
            k = r.randrange(len(pools.first))
            people.first[b], people.first_slug[b] = pools.first[k], pools.first_slug[k]
        fa, fb, ln = people.first_slug[a], people.first_slug[b], people.last_slug[a]
        local = r.choice([f"{ln}family", f"the{ln}s", f"{fa[:1]}{fb[:1]}{ln}", f"{ln}.home", f"{fa}and{fb}"])[:60]
        domain = r.choice(FREE_MAIL_DOMAINS)
        address, k = f"{local}@{domain}", 2
        while address in taken:
            address, k = f"{local}{k}@{domain}", k + 1
        taken.add(address)
        people.email[a] = people.email[b] = address
        tag(np.array([a, b]), "household")

    # Traps on the Genesys copy (or one side's keys) of CRM people in Genesys.
    free_copies = in_genesys[kind[in_genesys] == ""]
    free_copies = free_copies[rng.permutation(len(free_copies))]
    n_copies = len(in_genesys)
    nickname = np.zeros(n_all, dtype=bool)
    wants = min(round(shares["nicknames"] * n_copies), len(free_copies))
    has_nick = np.array([f in NICKNAMES for f in people.first[free_copies]], dtype=bool)
    ordered = np.concatenate([free_copies[has_nick], free_copies[~has_nick]])  # those with a formal name first
    chosen = ordered[:wants]
    formal = np.array(sorted(NICKNAMES), dtype=object)
    for i in chosen.tolist():
        if people.first[i] not in NICKNAMES:  # too few formal names: this person is given one
            people.first[i] = formal[r.randrange(len(formal))]
            people.first_slug[i] = _slug(people.first[i])
    nickname[chosen] = True
    kind[chosen] = "nickname"
    rest = free_copies[~np.isin(free_copies, chosen)]

    def take(share: float, ok: np.ndarray | None = None) -> np.ndarray:
        nonlocal rest
        pool = rest if ok is None else rest[ok]
        got = pool[: min(round(share * n_copies), len(pool))]
        rest = rest[~np.isin(rest, got)]
        return got

    typo_first = np.full(n_all, None, dtype=object)
    typo_last = np.full(n_all, None, dtype=object)
    chosen = take(shares["typos"])
    for i in chosen.tolist():
        if r.random() < 0.7:
            typo_last[i] = _typo(people.last[i], r)
        else:
            typo_first[i] = _typo(people.first[i], r)
    kind[chosen] = "typo"

    swap = np.zeros(n_all, dtype=bool)
    chosen = take(shares["swapped"], people.first[rest] != people.last[rest])
    swap[chosen] = True
    kind[chosen] = "swapped"

    missing = np.zeros(n_all, dtype=np.int8)
    chosen = take(shares["missing_keys"])
    sides = rng.integers(1, len(_MISSING_KINDS), size=len(chosen))
    on_genesys = rng.integers(3, 5, size=len(chosen))  # a duplicated person keeps both keys in the CRM
    missing[chosen] = np.where(duplicated[chosen], on_genesys, sides)
    kind[chosen] = "missing_key"
    return _Traps(
        kind=kind,
        group=group,
        nickname=nickname,
        typo_first=typo_first,
        typo_last=typo_last,
        swapped=swap,
        missing=missing,
    )


@dataclass
class _SalesforceRecords:
    rows: list[dict[str, Any]]
    person: np.ndarray
    duplicate_of: np.ndarray  # position of the original record, -1 for originals
    original_position: np.ndarray  # by CRM person: position of their original record


def _salesforce_records(
    rng: np.random.Generator, people: _People, n_people: int, dup_of: np.ndarray, traps: _Traps
) -> _SalesforceRecords:
    """One original record per CRM person plus a duplicate of each `dup_of` person, shuffled together. A missing
    key trap on the CRM side blanks the original's email or phone (such people have no duplicate)."""
    originals = np.arange(n_people)
    n_dup = len(dup_of)
    person = np.concatenate([originals, dup_of]).astype(np.int64)
    dup_style = _other_style(rng, people.style[dup_of])
    style = np.concatenate([people.style[:n_people], dup_style])
    first = [*people.first[:n_people].tolist(), *(NICKNAMES.get(n, n) for n in people.first[dup_of].tolist())]
    email: list[str | None] = [
        *people.email[:n_people],
        *_case_variant([people.email[i] for i in dup_of.tolist()], rng.integers(0, 3, n_dup)),
    ]
    phone: list[str | None] = list(people.phones("phone", person, style))
    mobile = people.phones("mobile", person, style)
    missing = traps.missing[person]
    for i in np.flatnonzero(missing == _MISSING_KINDS.index("crm_email_missing")).tolist():
        email[i] = None
    for i in np.flatnonzero(missing == _MISSING_KINDS.index("crm_phone_missing")).tolist():
        phone[i] = None
    n = len(person)
    score = rng.integers(0, 101, size=n)
    has_score = rng.random(n) < 0.8
    rows = [
        _compact(
            {
                "FirstName": f,
                "LastName": ln,
                "Email": e,
                "Phone": p,
                "MobilePhone": m if hm else None,
                "LeadScore__c": s if hs else None,
                "Tags__c": t,
            }
        )
        for f, ln, e, p, m, hm, s, hs, t in zip(
            first,
            people.last[person].tolist(),
            email,
            phone,
            mobile,
            people.has_mobile[person].tolist(),
            score.tolist(),
            has_score.tolist(),
            _tags(rng, n),
            strict=True,
        )
    ]
    order = rng.permutation(n)  # final position k holds record order[k]
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)
    logical_dup_of = np.concatenate([np.full(n_people, -1, dtype=np.int64), dup_of])[order]
    return _SalesforceRecords(
        rows=[rows[i] for i in order.tolist()],
        person=person[order],
        duplicate_of=np.where(logical_dup_of >= 0, position[np.maximum(logical_dup_of, 0)], -1).astype(np.int64),
        original_position=position[:n_people],
    )


@dataclass
class _GenesysRecords:
    rows: list[dict[str, Any]]
    person: np.ndarray
    noise: list[str]


def _genesys_records(
    rng: np.random.Generator,
    people: _People,
    pools: _Pools,
    exchanges: np.ndarray,
    n_people: int,
    in_genesys: np.ndarray,
    region: str,
    traps: _Traps,
) -> _GenesysRecords:
    """The Genesys copies of the `in_genesys` CRM people (with noise and their traps) and the people only in Genesys,
    shuffled together. A copy with a trap gets no other identity noise, only email case and phone format."""
    person = np.concatenate([in_genesys, np.arange(n_people, len(people.first))]).astype(np.int64)
    n = len(person)
    is_copy = np.arange(n) < len(in_genesys)
    noisy = is_copy & (traps.kind[person] == "")  # copies open to everyday identity noise
    roll = rng.random((6, n))

    first = people.first[person].copy()
    nick = is_copy & traps.nickname[person]
    first[nick] = [NICKNAMES[f] for f in first[nick]]
    last = people.last[person].copy()
    other_last = noisy & (roll[1] < _GENESYS_LASTNAME_OTHER)
    last[other_last] = pools.last[rng.integers(0, len(pools.last), size=int(other_last.sum()))]

    email: list[str | None] = [people.email[i] for i in person.tolist()]
    missing = traps.missing[person]
    no_email = is_copy & (missing == _MISSING_KINDS.index("email_missing"))
    email_case = is_copy & ~no_email & (roll[2] < _GENESYS_EMAIL_CASE)
    email_other = noisy & ~email_case & (roll[2] < _GENESYS_EMAIL_CASE + _GENESYS_EMAIL_OTHER)
    email_missing = (
        noisy
        & ~email_case
        & ~email_other
        & (roll[2] < _GENESYS_EMAIL_CASE + _GENESYS_EMAIL_OTHER + _GENESYS_EMAIL_MISSING)
    ) | no_email
    phone_missing = is_copy & (missing == _MISSING_KINDS.index("phone_missing"))
    typo_first = is_copy & pd.notna(traps.typo_first[person])
    typo_last = is_copy & pd.notna(traps.typo_last[person])
    first[typo_first] = traps.typo_first[person[typo_first]]
    last[typo_last] = traps.typo_last[person[typo_last]]
    swapped = is_copy & traps.swapped[person]
    first[swapped], last[swapped] = last[swapped], first[swapped].copy()
    case_idx = np.flatnonzero(email_case).tolist()
    variants = _case_variant([people.email[person[j]] for j in case_idx], rng.integers(0, 3, size=len(case_idx)))
    for j, variant in zip(case_idx, variants, strict=True):
        email[j] = variant
    other_idx = np.flatnonzero(email_other)
    personal = _emails(
        rng,
        people.first_slug[person[other_idx]],
        people.last_slug[person[other_idx]],
        np.full(len(other_idx), "gmail.com", dtype=object),
        taken=set(people.email),
        pattern_offset=1,
    )
    for j, address in zip(other_idx.tolist(), personal, strict=True):
        email[j] = address
    for j in np.flatnonzero(email_missing).tolist():
        email[j] = None

    style = np.where(is_copy, _other_style(rng, people.style[person]), rng.integers(0, len(PHONE_TEMPLATES), size=n))
    phone_other = noisy & (roll[3] < _GENESYS_PHONE_OTHER)
    npa, nxx, line = (part[person].copy() for part in people.phone)
    npa[phone_other], nxx[phone_other], line[phone_other] = _numbers(rng, exchanges, int(phone_other.sum()))
    phone = _format_phones(npa, nxx, line, style)
    mobile = people.phones("mobile", person, style)
    has_mobile = people.has_mobile[person] & (roll[4] < 0.8)
    has_address = roll[5] < 0.6
    street = pools.streets[rng.integers(0, len(pools.streets), size=n)].tolist()
    place = rng.integers(0, len(pools.places), size=n).tolist()

    rows: list[dict[str, Any]] = []
    for j in range(n):
        row: dict[str, Any] = {"firstName": first[j], "lastName": last[j]}
        if email[j] is not None:
            row["workEmail"] = email[j]
        if not phone_missing[j]:
            row["workPhone"] = {"display": phone[j]}
        if has_mobile[j]:
            row["cellPhone"] = {"display": mobile[j]}
        if has_address[j]:
            city, state, postal = pools.places[place[j]]
            row["address"] = {
                "address1": street[j],
                "city": city,
                "state": state,
                "postalCode": postal,
                "countryCode": region,
            }
        rows.append(row)
    noise = _noise_labels(
        {
            "email_case": email_case,
            "email_other": email_other,
            "email_missing": email_missing,
            "phone_format": is_copy & ~phone_missing,
            "phone_other": phone_other,
            "phone_missing": phone_missing,
            "nickname": nick,
            "last_name_other": other_last,
            "typo_first": typo_first,
            "typo_last": typo_last,
            "swapped": swapped,
            "crm_email_missing": is_copy & (missing == _MISSING_KINDS.index("crm_email_missing")),
            "crm_phone_missing": is_copy & (missing == _MISSING_KINDS.index("crm_phone_missing")),
        },
        n,
    )
    order = rng.permutation(n)
    return _GenesysRecords(
        rows=[rows[i] for i in order.tolist()],
        person=person[order],
        noise=[noise[i] for i in order.tolist()],
    )


def _numbers(rng: np.random.Generator, exchanges: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pick = exchanges[rng.integers(0, len(exchanges), size=n)]
    return pick[:, 0], pick[:, 1], rng.integers(0, 10000, size=n)


def _emails(
    rng: np.random.Generator,
    first_slug: np.ndarray,
    last_slug: np.ndarray,
    domain: np.ndarray,
    taken: set[str] | None = None,
    pattern_offset: int = 0,
) -> list[str]:
    """Addresses like first.last@, flast@, firstlast@; a number is appended where one is already in use."""
    n = len(first_slug)
    if n == 0:
        return []
    pattern = (rng.choice(3, size=n, p=[0.6, 0.25, 0.15]) + pattern_offset) % 3
    local = [
        f"{f}.{ln}" if p == 0 else f"{f[:1]}{ln}" if p == 1 else f"{f}{ln}"
        for f, ln, p in zip(first_slug.tolist(), last_slug.tolist(), pattern.tolist(), strict=True)
    ]
    local = [x[:60] for x in local]
    frame = pd.DataFrame({"local": local, "domain": list(domain)})
    frame["email"] = frame["local"] + "@" + frame["domain"]
    repeat = frame.groupby("email", sort=False).cumcount().to_numpy()
    emails = frame["email"].tolist()
    for i in np.flatnonzero(repeat).tolist():
        emails[i] = f"{frame.at[i, 'local']}{repeat[i] + 1}@{frame.at[i, 'domain']}"
    if taken:
        used = set(taken)
        for i in range(n):
            k = 2
            while emails[i] in used:
                emails[i] = f"{frame.at[i, 'local']}{k}@{frame.at[i, 'domain']}"
                k += 1
            used.add(emails[i])
    return emails


def _tags(rng: np.random.Generator, n: int) -> list[str | None]:
    count = np.where(rng.random(n) < 0.5, 0, rng.integers(1, 4, size=n))
    picks = rng.integers(0, len(TAGS), size=(n, 3))
    out: list[str | None] = []
    for c, row in zip(count.tolist(), picks.tolist(), strict=True):
        out.append(";".join(dict.fromkeys(TAGS[t] for t in row[:c])) if c else None)
    return out


def _compact(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if v is not None}


def _noise_labels(masks: dict[str, np.ndarray], n: int) -> list[str]:
    labels = [""] * n
    names = list(masks)
    stacked = np.stack([masks[k] for k in names]) if n else np.zeros((len(names), 0), dtype=bool)
    for j in np.flatnonzero(stacked.any(axis=0)).tolist():
        labels[j] = ",".join(name for name, hit in zip(names, stacked[:, j].tolist(), strict=True) if hit)
    return labels


@dataclass(frozen=True)
class SeedReport:
    """What `seed_simulators` loaded, with the ids each record got (same order as the dataset's lists)."""

    dataset: Dataset
    account_ids: list[str]
    salesforce_contact_ids: list[str]
    organization_ids: list[str]
    genesys_contact_ids: list[str]
    seconds: float

    @property
    def counts(self) -> dict[str, int]:
        return {
            "accounts": len(self.account_ids),
            "salesforce_contacts": len(self.salesforce_contact_ids),
            "salesforce_duplicates": self.dataset.duplicate_count,
            "organizations": len(self.organization_ids),
            "genesys_contacts": len(self.genesys_contact_ids),
            "genesys_overlapping": self.dataset.overlap_count,
            "genesys_only": self.dataset.genesys_only_count,
        }

    def summary(self, crm_label: str = "Salesforce") -> str:
        """The figures in one line; `crm_label` names the CRM the generated people went into."""
        c = self.counts
        return (
            f"{crm_label}: {c['accounts']} accounts, {c['salesforce_contacts']} contacts "
            f"({c['salesforce_duplicates']} duplicates); "
            f"Genesys: {c['organizations']} organizations, {c['genesys_contacts']} contacts "
            f"({c['genesys_overlapping']} also in {crm_label}, {c['genesys_only']} only in Genesys); "
            f"{self.seconds:.1f} s"
        )


def seed_simulators(
    target: Any,
    contacts: int = 1000,
    *,
    overlap: float = 0.6,
    duplicates: float = 0.02,
    genesys_only: float = 0.1,
    accounts: int | None = None,
    seed: int = 0,
    region: str = "US",
    traps: bool = True,
    dataset: Dataset | None = None,
) -> SeedReport:
    """Generate a dataset (or use `dataset`) and load it: companies first, then contacts linked to them.

    `traps`: identity traps at their default shares (see `generate_dataset`), or none.

    `target` is a `RunningSimulators` (from `run_simulators`) or a pair `(salesforce, genesys)` of simulator objects,
    e.g. opened directly on a state folder.
    """
    started = time.perf_counter()
    if hasattr(target, "salesforce") and hasattr(target, "genesys"):
        salesforce, genesys = target.salesforce, target.genesys
    else:
        salesforce, genesys = target
    if dataset is None:
        dataset = generate_dataset(
            contacts,
            overlap=overlap,
            duplicates=duplicates,
            genesys_only=genesys_only,
            accounts=accounts,
            seed=seed,
            region=region,
            traps=traps,
        )
    account_ids = list(salesforce.load_accounts(dataset.accounts))
    contact_ids = list(salesforce.load_contacts(dataset.salesforce_contact_rows(account_ids)))
    organization_ids = list(genesys.load_organizations(dataset.organizations))
    genesys_ids = list(genesys.load_contacts(dataset.genesys_contact_rows(organization_ids)))
    if len(contact_ids) != len(dataset.salesforce_contacts) or len(genesys_ids) != len(dataset.genesys_contacts):
        raise RuntimeError(
            f"simulators loaded {len(contact_ids)}/{len(dataset.salesforce_contacts)} Salesforce and "
            f"{len(genesys_ids)}/{len(dataset.genesys_contacts)} Genesys contacts"
        )
    return SeedReport(
        dataset=dataset,
        account_ids=account_ids,
        salesforce_contact_ids=contact_ids,
        organization_ids=organization_ids,
        genesys_contact_ids=genesys_ids,
        seconds=time.perf_counter() - started,
    )
