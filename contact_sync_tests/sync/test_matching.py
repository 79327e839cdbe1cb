"""Matching and deduplication: each tier, each ambiguity case, duplicates on both sides, deletes, bad ids."""

from __future__ import annotations

import pandas as pd

from contact_sync.sync.engine import reconcile
from contact_sync.sync.evidence import MatchingPolicy
from contact_sync.sync.matching import match_contacts, unmatched_genesys_reasons
from contact_sync_tests.sync.engine_helpers import at, crm, genesys, links, make_policy

POLICY = make_policy("one_way")


def pairs(result) -> set[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    return set(zip(result.matches["crm_id"], result.matches["genesys_id"], result.matches["rule"], strict=True))


def ambiguous_ids(result, system: str) -> set[str]:  # type: ignore[no-untyped-def]
    amb = result.ambiguous
    return set(amb.loc[amb["system"] == system, "record_id"])


def test_stored_link_wins_over_everything_else() -> None:
    # g2 carries c1's email, but the ledger links c1 to g1: the link is the most trusted fact.
    result = match_contacts(
        crm({"record_id": "c1", "email": "a@x.com"}),
        genesys({"record_id": "g1", "email": "other@x.com"}, {"record_id": "g2", "email": "a@x.com"}),
        links(("c1", "g1")),
        POLICY,
    )
    assert pairs(result) == {("c1", "g1", "link")}
    assert list(result.unmatched_genesys["genesys_id"]) == ["g2"]
    assert result.matches["score"].tolist() == [1.0]


def test_external_id_in_genesys_links_without_a_ledger_entry() -> None:
    result = match_contacts(
        crm({"record_id": "c1", "email": "a@x.com"}),
        genesys({"record_id": "g9", "crm_id": "c1", "email": "changed@x.com"}),
        None,
        POLICY,
    )
    assert pairs(result) == {("c1", "g9", "external_id")}


def test_email_matches_after_trim_and_casefold() -> None:
    result = match_contacts(
        crm({"record_id": "c1", "email": "  Ann.Lee@Example.COM "}),
        genesys({"record_id": "g1", "email": "ann.lee@example.com"}),
        None,
        POLICY,
    )
    assert pairs(result) == {("c1", "g1", "email")}
    assert result.matches["score"].iloc[0] < 1.0


def test_phone_matches_by_e164_across_formats_when_the_names_agree() -> None:
    result = match_contacts(
        crm({"record_id": "c1", "first_name": "Ann", "last_name": "Lee", "phone": "(415) 555-0101"}),
        genesys({"record_id": "g1", "first_name": "Ann", "last_name": "Lee", "phone": "+1 415-555-0101"}),
        None,
        POLICY,
    )
    assert pairs(result) == {("c1", "g1", "phone")}


def test_unparseable_phones_never_match() -> None:
    result = match_contacts(
        crm({"record_id": "c1", "phone": "call me"}),
        genesys({"record_id": "g1", "phone": "call me"}),
        None,
        POLICY,
    )
    assert result.matches.empty
    assert list(result.unmatched_crm["crm_id"]) == ["c1"]


def test_names_propose_pairs_within_one_account_and_across_accounts_only_with_the_switch() -> None:
    c = crm(
        {"record_id": "c1", "first_name": "José", "last_name": "Núñez", "account_id": "A1"},
        {"record_id": "c2", "first_name": "Mia", "last_name": "Wong", "account_id": "A1"},
    )
    g = genesys(
        {"record_id": "g1", "first_name": "jose ", "last_name": "NUNEZ", "account_id": "A1"},
        {"record_id": "g2", "first_name": "Mia", "last_name": "Wong", "account_id": "A2"},
    )
    assert pairs(match_contacts(c, g, None, POLICY)) == {("c1", "g1", "name_account")}
    across = make_policy("one_way", matching=MatchingPolicy(names_across_accounts=True))
    result = match_contacts(c, g, None, across)
    # Same name, another account, nothing else: proposed, but not enough to link; it waits for review.
    assert pairs(result) == {("c1", "g1", "name_account")}
    assert set(zip(result.review["crm_id"], result.review["genesys_id"], strict=True)) == {("c2", "g2")}


def test_each_record_takes_its_best_candidate_and_the_other_stays_free() -> None:
    # c1's email points at g1 and its phone at g2; the email pair scores higher, and g2 stays free for c2's phone.
    c = crm(
        {"record_id": "c1", "first_name": "Ann", "last_name": "Lee", "email": "a@x.com", "phone": "415 555 0101"},
        {"record_id": "c2", "first_name": "Bo", "last_name": "Ek", "email": "c2@x.com", "phone": "415 555 0102"},
    )
    g = genesys(
        {"record_id": "g1", "first_name": "Ann", "last_name": "Lee", "email": "A@x.com"},
        {"record_id": "g2", "first_name": "Ann", "last_name": "Lee", "phone": "4155550101"},
        {"record_id": "g3", "first_name": "Bo", "last_name": "Ek", "phone": "+14155550102"},
    )
    result = match_contacts(c, g, None, POLICY)
    assert pairs(result) == {("c1", "g1", "email"), ("c2", "g3", "phone")}
    assert list(result.unmatched_genesys["genesys_id"]) == ["g2"]


def test_two_equal_genesys_candidates_are_held_for_review_not_guessed() -> None:
    result = match_contacts(
        crm({"record_id": "c1", "first_name": "Ann", "last_name": "Lee", "email": "a@x.com"}),
        genesys(
            {"record_id": "g1", "first_name": "Ann", "last_name": "Lee", "email": "a@x.com"},
            {"record_id": "g2", "first_name": "Ann", "last_name": "Lee", "email": "A@X.com"},
        ),
        None,
        POLICY,
    )
    assert result.matches.empty
    assert set(result.review["genesys_id"]) <= {"g1", "g2"} and set(result.review["crm_id"]) == {"c1"}
    assert set(result.review["reason"]) == {"tied with another candidate at the same score"}
    # A record in review is left alone: c1 is not created in Genesys.
    assert result.unmatched_crm.empty


def test_a_phone_alone_is_not_enough_to_link() -> None:
    result = match_contacts(
        crm({"record_id": "c1", "phone": "415 555 0101"}),
        genesys({"record_id": "g1", "phone": "+14155550101"}),
        None,
        POLICY,
    )
    assert result.matches.empty
    assert list(result.review["genesys_id"]) == ["g1"]
    assert result.review["evidence"].iloc[0].startswith("email missing, phone equal")


def test_ambiguous_external_id_two_genesys_contacts_carry_the_same_crm_id() -> None:
    result = match_contacts(
        crm({"record_id": "c1"}),
        genesys({"record_id": "g1", "crm_id": "c1"}, {"record_id": "g2", "crm_id": "c1"}),
        None,
        POLICY,
    )
    assert result.matches.empty
    assert set(result.ambiguous["rule"]) == {"external_id"}
    assert ambiguous_ids(result, "genesys") == {"g1", "g2"}


def test_two_crm_namesakes_in_one_account_are_never_guessed() -> None:
    result = match_contacts(
        crm(
            {"record_id": "c1", "first_name": "Li", "last_name": "Chen", "account_id": "A1", "email": "li1@x.com"},
            {"record_id": "c2", "first_name": "Li", "last_name": "Chen", "account_id": "A1", "email": "li2@x.com"},
        ),
        genesys({"record_id": "g1", "first_name": "Li", "last_name": "Chen", "account_id": "A1"}),
        None,
        POLICY,
    )
    assert result.matches.empty
    assert set(zip(result.review["crm_id"], result.review["genesys_id"], strict=True)) == {("c1", "g1"), ("c2", "g1")}
    assert set(result.review["reason"]) == {"tied with another candidate at the same score"}
    assert result.unmatched_crm.empty


def test_corrupt_ledger_linking_one_crm_id_twice_is_reported() -> None:
    result = match_contacts(
        crm({"record_id": "c1"}),
        genesys({"record_id": "g1"}, {"record_id": "g2"}),
        links(("c1", "g1"), ("c1", "g2")),
        POLICY,
    )
    assert result.matches.empty
    assert set(result.ambiguous["rule"]) == {"link"}
    assert ambiguous_ids(result, "genesys") == {"g1", "g2"}


def test_crm_duplicates_get_one_primary_the_oldest_and_only_it_matches() -> None:
    c = crm(
        {"record_id": "c2", "first_name": "Ann", "last_name": "Lee", "email": "Ann@x.com", "created_at": at(0)},
        {"record_id": "c1", "first_name": "Ann", "last_name": "Lee", "email": "ann@x.com ", "created_at": at(5)},
        {"record_id": "c3", "first_name": "Bob", "last_name": "Ek", "phone": "415 555 0101", "created_at": at(1)},
        {"record_id": "c4", "first_name": "Robert", "last_name": "Ek", "phone": "+1 (415) 555-0101",
         "created_at": at(1)},
    )  # fmt: skip
    g = genesys({"record_id": "g1", "first_name": "Ann", "last_name": "Lee", "email": "ANN@x.com"})
    result = match_contacts(c, g, None, POLICY)
    assert pairs(result) == {("c2", "g1", "email")}
    dups = result.crm_duplicates.set_index("record_id")
    assert dups.loc["c2", "is_primary"] and not dups.loc["c1", "is_primary"]
    # Same created_at: the lowest id is the primary; the evidence says why they are one person.
    assert dups.loc["c3", "is_primary"] and dups.loc["c4", "primary_id"] == "c3"
    assert "first name nickname (bob~robert)" in dups.loc["c4", "evidence"]
    unmatched = result.unmatched_crm.set_index("crm_id")
    assert unmatched.loc["c1", "duplicate_of"] == "c2"
    assert unmatched.loc["c4", "duplicate_of"] == "c3"
    assert pd.isna(unmatched.loc["c3", "duplicate_of"])


def test_an_already_linked_duplicate_is_the_primary() -> None:
    # c1 is older, but c2 is already in Genesys: c1 must not become a second Genesys contact.
    c = crm(
        {"record_id": "c1", "email": "ann@x.com", "created_at": at(0)},
        {"record_id": "c2", "email": "ann@x.com", "created_at": at(9)},
    )
    g = genesys({"record_id": "g2", "crm_id": "c2", "email": "ann@x.com"})
    result = match_contacts(c, g, None, POLICY)
    assert pairs(result) == {("c2", "g2", "external_id")}
    assert result.unmatched_crm.set_index("crm_id").loc["c1", "duplicate_of"] == "c2"


def test_genesys_duplicates_are_grouped_and_reported() -> None:
    result = match_contacts(
        crm({"record_id": "c1", "email": "z@x.com"}),
        genesys({"record_id": "g1", "email": "dup@x.com"}, {"record_id": "g2", "email": "DUP@x.com"}),
        None,
        POLICY,
    )
    dups = result.genesys_duplicates
    assert set(dups["record_id"]) == {"g1", "g2"}
    assert dups["group_id"].nunique() == 1 and dups["key_type"].iloc[0] == "email"
    assert dups["is_primary"].sum() == 1


def test_deleted_crm_record_keeps_its_link_but_matches_nothing_new() -> None:
    c = crm(
        {"record_id": "c1", "email": "a@x.com", "is_deleted": True},
        {"record_id": "c2", "email": "b@x.com", "is_deleted": True, "merged_into": "c9"},
    )
    g = genesys({"record_id": "g1", "email": "zzz@x.com"}, {"record_id": "g2", "email": "b@x.com"})
    result = match_contacts(c, g, links(("c1", "g1")), POLICY)
    assert pairs(result) == {("c1", "g1", "link")}
    assert result.unmatched_crm.empty
    assert list(result.unmatched_genesys["genesys_id"]) == ["g2"]


def test_one_to_one_on_both_sides() -> None:
    # g1 carries c1's id and c2's email: once linked to c1 it is not offered to c2.
    result = match_contacts(
        crm({"record_id": "c1", "email": "a@x.com"}, {"record_id": "c2", "email": "b@x.com"}),
        genesys({"record_id": "g1", "crm_id": "c1", "email": "b@x.com"}),
        None,
        POLICY,
    )
    assert pairs(result) == {("c1", "g1", "external_id")}
    assert list(result.unmatched_crm["crm_id"]) == ["c2"]


def test_missing_and_repeated_ids_are_rejected_with_a_reason() -> None:
    c = crm({"record_id": "c1", "email": "a@x.com"}, {"record_id": "c2", "email": "b@x.com"})
    c = pd.concat([c, c.iloc[[1]]], ignore_index=True)
    g = genesys({"record_id": "g1", "email": "a@x.com"}, {"record_id": "g2", "email": "b@x.com"})
    g.loc[1, "record_id"] = pd.NA
    result = match_contacts(c, g, None, POLICY)
    assert pairs(result) == {("c1", "g1", "email")}
    rejected = result.rejected
    assert set(zip(rejected["system"], rejected["reason"], strict=True)) == {
        ("crm", "record_id appears twice in snapshot"),
        ("genesys", "missing record_id"),
    }
    assert "c2" not in set(result.unmatched_crm["crm_id"])


def test_bad_values_do_not_crash_and_stay_unmatched() -> None:
    long_name = "x" * 10_000
    result = match_contacts(
        crm(
            {"record_id": "c1", "email": "no-at-sign", "first_name": long_name, "last_name": "李", "account_id": "A"},
            {"record_id": "c2"},
        ),
        genesys({"record_id": "g1", "email": "no-at-sign", "first_name": long_name, "last_name": "李"}),
        None,
        make_policy("one_way", matching=MatchingPolicy(names_across_accounts=True)),
    )
    assert result.matches.empty
    assert set(result.unmatched_crm["crm_id"]) | set(result.review["crm_id"]) == {"c1", "c2"}


def test_each_unmatched_genesys_record_says_why_it_is_not_a_new_crm_contact() -> None:
    c = crm({"record_id": "c1", "email": "a@x.com", "phone": "415 555 0101"},
            {"record_id": "c2", "email": "d@x.com", "is_deleted": True})  # fmt: skip
    g = genesys(
        {"record_id": "g1", "crm_id": "c-gone", "email": "z@x.com"},
        {
            "record_id": "g2",
            "first_name": "Bo",
            "last_name": "Ek",
            "email": "p@y.com",
            "phone": "646 555 0111",
            "created_at": at(0),
        },
        {
            "record_id": "g3",
            "first_name": "Bo",
            "last_name": "Ek",
            "email": "q@y.com",
            "phone": "+16465550111",
            "created_at": at(5),
        },
        {"record_id": "g4", "email": "D@x.com"},
        {"record_id": "g5", "email": "new@x.com"},
    )
    lone = match_contacts(c, g, None, POLICY).unmatched_genesys
    reasons = dict(zip(lone["genesys_id"], unmatched_genesys_reasons(lone), strict=True))
    assert reasons == {
        "g1": "carries CRM id c-gone, which names no CRM record",
        "g2": None,  # the oldest of the two Genesys duplicates: only in Genesys
        "g3": "duplicate of Genesys contact g2",
        "g4": "same person as CRM record c2 by email or phone",  # c2 was deleted in the CRM: not brought back
        "g5": None,
    }


# Identity traps: an equal phone or email is a candidate, never proof.


def _linked(result) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return set(zip(result.matches["crm_id"], result.matches["genesys_id"], strict=True))


def _reviewed(result) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return set(zip(result.review["crm_id"], result.review["genesys_id"], strict=True))


def test_office_line_colleagues_are_not_linked_and_the_crm_person_is_created() -> None:
    result = match_contacts(
        crm({"record_id": "c1", "first_name": "Maria", "last_name": "Garcia", "email": "maria.garcia@acme.com",
             "phone": "212 555 0100", "account_id": "A1"}),
        genesys({"record_id": "g1", "first_name": "Tom", "last_name": "Brown", "email": "tom.brown@acme.com",
                 "phone": "+12125550100", "account_id": "A1"}),
        None,
        POLICY,
    )  # fmt: skip
    assert _linked(result) == set() and _reviewed(result) == set()
    assert result.kept_apart.to_dict("records") == [
        {"reason": "conflicting evidence (e.g. a shared line or mailbox, another first name)", "pairs": 1}
    ]
    assert list(result.unmatched_crm["crm_id"]) == ["c1"]
    assert result.unmatched_crm["duplicate_of"].isna().all() and not result.unmatched_crm["held"].any()


def test_household_email_with_another_first_name_and_phone_is_never_linked_automatically() -> None:
    result = match_contacts(
        crm({"record_id": "c1", "first_name": "John", "last_name": "Doe", "email": "doe.family@mail.test",
             "phone": "212 555 0100"}),
        genesys({"record_id": "g1", "first_name": "Jane", "last_name": "Doe", "email": "Doe.Family@mail.test",
                 "phone": "212 555 0199"}),
        None,
        POLICY,
    )  # fmt: skip
    assert _linked(result) == set() and _reviewed(result) == set()  # two people: kept apart, both free
    assert result.kept_apart["reason"].str.startswith("conflicting evidence").tolist() == [True]


def test_colleagues_on_a_role_mailbox_are_two_people_and_both_are_created() -> None:
    c = crm(
        {"record_id": "c1", "first_name": "Ann", "last_name": "Lee", "email": "info@acme.com"},
        {"record_id": "c2", "first_name": "Raj", "last_name": "Patel", "email": "INFO@acme.com"},
    )
    result = match_contacts(c, genesys(), None, POLICY)
    assert result.crm_duplicates.empty
    plan = reconcile(c, genesys(), POLICY)
    assert sorted(plan.genesys_creates["crm_id"]) == ["c1", "c2"]


def test_two_records_of_one_person_on_a_role_mailbox_are_still_duplicates() -> None:
    c = crm(
        {"record_id": "c1", "first_name": "Robert", "last_name": "Lee", "email": "sales@acme.com", "created_at": at(0)},
        {"record_id": "c2", "first_name": "Robert", "last_name": "Lee", "email": "sales@acme.com", "created_at": at(1)},
    )
    dups = match_contacts(c, genesys(), None, POLICY).crm_duplicates.set_index("record_id")
    assert dups.loc["c2", "primary_id"] == "c1"


def test_a_role_mailbox_alone_links_nobody() -> None:
    result = match_contacts(
        crm({"record_id": "c1", "first_name": "Ann", "last_name": "Lee", "email": "info@acme.com"}),
        genesys({"record_id": "g1", "email": "info@acme.com"}),
        None,
        POLICY,
    )
    assert _linked(result) == set()


def test_nickname_and_the_same_phone_link() -> None:
    result = match_contacts(
        crm({"record_id": "c1", "first_name": "Robert", "last_name": "Smith", "phone": "415 555 0101"}),
        genesys({"record_id": "g1", "first_name": "Bob", "last_name": "Smith", "phone": "+14155550101"}),
        None,
        POLICY,
    )
    assert pairs(result) == {("c1", "g1", "phone")}
    assert "first name nickname (robert~bob)" in result.matches["evidence"].iloc[0]


def test_a_one_letter_typo_and_the_same_email_link() -> None:
    result = match_contacts(
        crm({"record_id": "c1", "first_name": "Katherine", "last_name": "Smith", "email": "k.smith@acme.com"}),
        genesys({"record_id": "g1", "first_name": "Katherine", "last_name": "Smtih", "email": "k.smith@acme.com"}),
        None,
        POLICY,
    )
    assert pairs(result) == {("c1", "g1", "email")}
    assert "last name similar" in result.matches["evidence"].iloc[0]


def test_swapped_first_and_last_name_link_on_the_same_email() -> None:
    result = match_contacts(
        crm({"record_id": "c1", "first_name": "Wei", "last_name": "Zhang", "email": "wz@acme.com"}),
        genesys({"record_id": "g1", "first_name": "Zhang", "last_name": "Wei", "email": "wz@acme.com"}),
        None,
        POLICY,
    )
    assert _linked(result) == {("c1", "g1")}
    assert "first and last name swapped" in result.matches["evidence"].iloc[0]


def test_a_key_missing_on_one_side_still_links_on_the_other_key_and_the_names() -> None:
    both = {"first_name": "Ines", "last_name": "Costa"}
    result = match_contacts(
        crm({"record_id": "c1", **both, "email": "ines@acme.com", "phone": "415 555 0101"},
            {"record_id": "c2", "first_name": "Karl", "last_name": "Novak", "email": "karl@acme.com",
             "phone": "415 555 0102"}),
        genesys({"record_id": "g1", **both, "phone": "+14155550101"},
                {"record_id": "g2", "first_name": "Karl", "last_name": "Novak", "email": "KARL@acme.com"}),
        None,
        POLICY,
    )  # fmt: skip
    assert _linked(result) == {("c1", "g1"), ("c2", "g2")}
    evidence = set(result.matches["evidence"])
    assert any(text.startswith("email missing, phone equal") for text in evidence)
    assert any(text.startswith("email equal, phone missing") for text in evidence)


def test_a_switchboard_shared_by_five_people_on_each_side_links_each_person_to_themself() -> None:
    names = [("Ann", "Lee"), ("Raj", "Patel"), ("Olga", "Ivanova"), ("Hiro", "Tanaka"), ("Rosa", "Silva")]
    switchboard = {"phone": "212 555 0100", "account_id": "A1"}
    c = crm(*({"record_id": f"c{i}", "first_name": f, "last_name": last, **switchboard}
              for i, (f, last) in enumerate(names)))  # fmt: skip
    g = genesys(*({"record_id": f"g{i}", "first_name": f, "last_name": last, **switchboard}
                  for i, (f, last) in enumerate(reversed(names))))  # fmt: skip
    result = match_contacts(c, g, None, POLICY)
    expected = {(f"c{i}", f"g{len(names) - 1 - i}") for i in range(len(names))}
    assert _linked(result) == expected
    assert all("phone shared" in text for text in result.matches["evidence"])
    assert result.crm_duplicates.empty and result.genesys_duplicates.empty


def test_a_switchboard_alone_links_nobody() -> None:
    c = crm(*({"record_id": f"c{i}", "phone": "212 555 0100"} for i in range(5)))
    g = genesys(*({"record_id": f"g{i}", "phone": "212 555 0100"} for i in range(5)))
    result = match_contacts(c, g, None, POLICY)
    assert _linked(result) == set() and _reviewed(result) == set()


def test_equal_scores_are_never_guessed_even_above_the_link_threshold() -> None:
    twin = {"first_name": "Ann", "last_name": "Lee", "account_id": "A1"}
    result = match_contacts(
        crm({"record_id": "c1", **twin, "email": "ann@acme.com"}),
        genesys({"record_id": "g1", **twin}, {"record_id": "g2", **twin}),
        None,
        POLICY,
    )
    assert _linked(result) == set()
    assert _reviewed(result) == {("c1", "g1"), ("c1", "g2")}


def test_accepted_pairs_link_and_rejected_pairs_are_never_proposed_again() -> None:
    c = crm({"record_id": "c1", "first_name": "Ann", "last_name": "Lee", "phone": "212 555 0100"},
            {"record_id": "c2", "first_name": "Bo", "last_name": "Ek", "phone": "212 555 0111"})  # fmt: skip
    g = genesys({"record_id": "g1", "phone": "212 555 0100"},
                {"record_id": "g2", "phone": "212 555 0111"})  # fmt: skip
    first = match_contacts(c, g, None, POLICY)
    assert _linked(first) == set() and _reviewed(first) == {("c1", "g1"), ("c2", "g2")}
    decisions = pd.DataFrame({"crm_id": ["c1", "c2"], "genesys_id": ["g1", "g2"], "decision": ["accept", "reject"]})
    second = match_contacts(c, g, None, POLICY, pair_decisions=decisions)
    assert pairs(second) == {("c1", "g1", "accepted")}
    assert _reviewed(second) == set()
    # Each record of the rejected pair is free: c2 is created in Genesys, g2 may become a CRM contact.
    assert set(second.unmatched_crm["crm_id"]) == {"c2"}
    assert second.unmatched_genesys.set_index("genesys_id").loc["g2"].isna().all()


def test_a_released_pair_frees_its_records_for_this_run_only() -> None:
    c = crm({"record_id": "c2", "first_name": "Bo", "last_name": "Ek", "phone": "212 555 0111"})
    g = genesys({"record_id": "g2", "phone": "212 555 0111"})
    release = pd.DataFrame({"crm_id": ["c2"], "genesys_id": ["g2"], "decision": ["release"]})
    assert _reviewed(match_contacts(c, g, None, POLICY)) == {("c2", "g2")}
    assert set(match_contacts(c, g, None, POLICY, pair_decisions=release).unmatched_crm["crm_id"]) == {"c2"}


def test_recheck_links_sends_a_contradicted_stored_link_to_review() -> None:
    c = crm({"record_id": "c1", "first_name": "Maria", "last_name": "Garcia", "phone": "212 555 0100"})
    g = genesys({"record_id": "g1", "crm_id": "c1", "first_name": "Tom", "last_name": "Brown", "phone": "212 555 0100"})
    trusting = match_contacts(c, g, links(("c1", "g1")), POLICY)
    assert pairs(trusting) == {("c1", "g1", "link")}
    checking = make_policy("one_way", matching=MatchingPolicy(recheck_links=True))
    result = match_contacts(c, g, links(("c1", "g1")), checking)
    assert result.matches.empty
    assert result.review["reason"].tolist() == ["stored link re-checked: link"]
    assert result.unmatched_crm.empty  # held while in review, not created a second time


def test_names_in_any_script_and_odd_values_never_crash_nor_link() -> None:
    odd = [
        {"first_name": "Алексей", "last_name": "Смирнов"},
        {"first_name": "小龍", "last_name": "李"},
        {"first_name": "محمد", "last_name": "علي"},
        {"first_name": "", "last_name": "X"},
        {"first_name": "A", "last_name": "B"},
        {"first_name": "x" * 5000, "last_name": "y" * 5000},
    ]
    c = crm(*({"record_id": f"c{i}", **names, "email": "no-at-sign", "phone": "212 555 0100"}
              for i, names in enumerate(odd)))  # fmt: skip
    g = genesys(*({"record_id": f"g{i}", **names, "email": "no-at-sign", "phone": "212 555 0100"}
                  for i, names in enumerate(reversed(odd))))  # fmt: skip
    result = match_contacts(c, g, None, POLICY)
    # A shared switchboard and exact names: each links to its own namesake, never across scripts; the record with
    # only a last name has too little evidence and waits for review.
    namesake = {f"c{i}": f"g{len(odd) - 1 - i}" for i in range(len(odd))}
    assert _linked(result) == {(c_id, g_id) for c_id, g_id in namesake.items() if c_id != "c3"}
    assert _reviewed(result) == {("c3", namesake["c3"])}


def test_a_key_held_by_ten_thousand_records_proposes_nothing_and_is_reported() -> None:
    n = 10_000
    rows = [{"record_id": f"c{i}", "first_name": f"P{i}", "last_name": "Same", "phone": "212 555 0100"}
            for i in range(n)]  # fmt: skip
    c = crm(*rows)
    g = genesys(*({**row, "record_id": f"g{i}"} for i, row in enumerate(rows)))
    result = match_contacts(c, g, None, POLICY)
    assert result.matches.empty and result.review.empty
    assert result.shared_keys[["key_type", "crm_records", "genesys_records"]].to_dict("records") == [
        {"key_type": "phone", "crm_records": n, "genesys_records": n}
    ]
    assert len(result.unmatched_crm) == n


def test_a_crm_record_that_may_be_an_unreadable_genesys_contact_is_held_not_created() -> None:
    c = crm(
        {"record_id": "c1", "first_name": "Odd", "last_name": "Tags", "email": "odd@x.com"},
        {"record_id": "c2", "first_name": "Ann", "last_name": "Lee", "email": "odd@x.com"},
        {"record_id": "c3", "first_name": "Bo", "last_name": "Ek", "email": "bo@x.com"},
    )
    unreadable = pd.DataFrame(
        {"system": ["genesys"], "record_id": ["g9"], "reason": ["customFields.tags is not text or a list of text: 7"],
         "crm_id": [None], "first_name": ["odd"], "last_name": ["tags"], "email": ["ODD@x.com"],
         "phone_e164": [None], "account_id": [None]}
    ).astype("string")  # fmt: skip
    result = match_contacts(c, genesys(), None, POLICY, unreadable_genesys=unreadable)
    held = result.unmatched_crm.set_index("crm_id")["held"].to_dict()
    # Odd Tags may be that contact: held. Ann shares the address but not the name: two people, she is created.
    assert held == {"c1": True, "c2": False, "c3": False}


def test_a_link_of_a_record_merged_into_an_unlinked_record_moves_to_it() -> None:
    # HubSpot's merge makes c9, a new record, of c1 and c2; only c1 was linked. c9 is not created a second time.
    c = crm(
        {"record_id": "c1", "email": "a@x.com", "is_deleted": True, "merged_into": "c9"},
        {"record_id": "c2", "email": "a2@x.com", "is_deleted": True, "merged_into": "c9"},
        {"record_id": "c9", "email": "a@x.com"},
    )
    result = match_contacts(c, genesys({"record_id": "g1", "crm_id": "c1", "email": "a@x.com"}), links(("c1", "g1")),
                            POLICY)  # fmt: skip
    assert pairs(result) == {("c9", "g1", "merged")}
    assert result.moved_links.to_dict("records") == [{"crm_id": "c1", "genesys_id": "g1", "merged_into": "c9"}]
    assert result.unmatched_crm.empty and result.ambiguous.empty


def test_a_merge_into_a_linked_master_moves_nothing() -> None:
    # Salesforce's merge keeps the master c9, already linked to g9: c1's link goes by on_crm_delete as before.
    c = crm({"record_id": "c1", "email": "a@x.com", "is_deleted": True, "merged_into": "c9"}, {"record_id": "c9"})
    g = genesys({"record_id": "g1", "email": "a@x.com"}, {"record_id": "g9"})
    result = match_contacts(c, g, links(("c1", "g1"), ("c9", "g9")), POLICY)
    assert pairs(result) == {("c1", "g1", "link"), ("c9", "g9", "link")}
    assert result.moved_links.empty


def test_two_links_merged_into_one_record_are_not_chosen_between() -> None:
    c = crm(
        {"record_id": "c1", "email": "a@x.com", "is_deleted": True, "merged_into": "c9"},
        {"record_id": "c2", "email": "b@x.com", "is_deleted": True, "merged_into": "c9"},
        {"record_id": "c9", "email": "a@x.com"},
    )
    g = genesys({"record_id": "g1", "email": "a@x.com"}, {"record_id": "g2", "email": "b@x.com"})
    result = match_contacts(c, g, links(("c1", "g1"), ("c2", "g2")), POLICY)
    assert pairs(result) == {("c1", "g1", "link"), ("c2", "g2", "link")}
    assert ambiguous_ids(result, "crm") == {"c9"} and set(result.ambiguous["rule"]) == {"merged"}
    assert result.unmatched_crm.empty and result.moved_links.empty


def test_the_id_of_a_merged_record_in_externalids_links_its_survivor() -> None:
    c = crm({"record_id": "c1", "is_deleted": True, "merged_into": "c9"}, {"record_id": "c9", "email": "a@x.com"})
    result = match_contacts(c, genesys({"record_id": "g1", "crm_id": "c1"}), None, POLICY)
    assert pairs(result) == {("c9", "g1", "merged")}
    assert result.moved_links.empty and result.unmatched_crm.empty
