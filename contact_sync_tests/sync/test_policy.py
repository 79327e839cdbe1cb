"""The policy file: the shipped default is the guide's table, and every kind of invalid file names its key and line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from contact_sync.sync.evidence import MatchingPolicy
from contact_sync.sync.policy import DEFAULT_POLICY_PATH, PolicyError, SyncPolicy, load_policy, parse_policy

DEFAULT_TEXT = DEFAULT_POLICY_PATH.read_text(encoding="utf-8")
TAGS_BLOCK = (
    "  tags:\n    crm: {salesforce: Tags__c}\n    genesys: customFields.tags\n"
    "    direction: both\n    conflict: genesys_wins\n    compare: tags\n"
)


def _line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line of the n-th line containing needle."""
    hits = [number for number, line in enumerate(text.splitlines(), start=1) if needle in line]
    return hits[occurrence - 1]


def test_default_policy_is_the_guides_table() -> None:
    policy = load_policy()
    assert policy.mode == "one_way"
    table = {
        rule.name: (dict(rule.crm_fields), rule.genesys_path, rule.direction, rule.conflict, rule.compare)
        for rule in policy.fields
    }
    assert table == {
        "first_name": (
            {"salesforce": "FirstName", "dynamics": "firstname", "hubspot": "firstname"},
            "firstName",
            "both",
            "crm_wins",
            "text",
        ),
        "last_name": (
            {"salesforce": "LastName", "dynamics": "lastname", "hubspot": "lastname"},
            "lastName",
            "both",
            "crm_wins",
            "text",
        ),
        "email": (
            {"salesforce": "Email", "dynamics": "emailaddress1", "hubspot": "email"},
            "workEmail",
            "both",
            "last_write_wins",
            "email",
        ),
        "phone": (
            {"salesforce": "Phone", "dynamics": "telephone1", "hubspot": "phone"},
            "workPhone",
            "both",
            "last_write_wins",
            "phone",
        ),
        "account_id": (
            {"salesforce": "AccountId", "dynamics": "parentcustomerid", "hubspot": "associatedcompanyid"},
            "externalOrganization",
            "crm_to_genesys",
            "crm_wins",
            "text",
        ),
        "lead_score": (
            {"salesforce": "LeadScore__c", "hubspot": "hubspotscore"},
            "customFields.leadScore",
            "crm_to_genesys",
            "crm_wins",
            "number",
        ),
        "tags": ({"salesforce": "Tags__c"}, "customFields.tags", "both", "genesys_wins", "tags"),
    }
    assert dict(policy.link_field) == {"salesforce": "Id", "dynamics": "contactid", "hubspot": "hs_object_id"}
    assert dict(policy.external_source) == {
        "salesforce": "Salesforce",
        "dynamics": "Dynamics 365",
        "hubspot": "HubSpot",
    }
    assert (policy.create_crm_from_genesys, policy.on_crm_delete) == (False, "unlink")
    assert policy.matching == MatchingPolicy()  # the file spells out the model's defaults
    assert policy.max_delete_share == 0.05
    assert policy.default_region == "US"


def test_load_by_path_equals_default(tmp_path: Path) -> None:
    copy = tmp_path / "policy.yaml"
    copy.write_text(DEFAULT_TEXT, encoding="utf-8")
    assert load_policy(copy) == load_policy(None)
    assert load_policy(str(copy)) == load_policy()


def test_field_lookup_and_directions() -> None:
    policy = load_policy()
    lead = policy.field("lead_score")
    assert lead.to_genesys and not lead.to_crm
    assert policy.field("tags").to_crm and policy.field("tags").to_genesys
    assert lead.crm_field("salesforce") == "LeadScore__c"
    assert lead.crm_field("dynamics") is None
    assert [rule.name for rule in policy.fields_for("dynamics")] == [
        "first_name",
        "last_name",
        "email",
        "phone",
        "account_id",
    ]
    with pytest.raises(KeyError, match="middle_name"):
        policy.field("middle_name")


def test_with_mode_returns_a_new_policy() -> None:
    policy = load_policy()
    both = policy.with_mode("bidirectional")
    assert both.mode == "bidirectional" and policy.mode == "one_way"
    assert both.fields == policy.fields
    with pytest.raises(PolicyError, match="mode"):
        policy.with_mode("sideways")  # type: ignore[arg-type]


def test_policy_is_immutable() -> None:
    policy = load_policy()
    with pytest.raises(AttributeError):
        policy.mode = "bidirectional"  # type: ignore[misc]
    with pytest.raises(TypeError):
        policy.link_field["salesforce"] = "Other"  # type: ignore[index]


def test_overrides_are_read() -> None:
    text = (
        DEFAULT_TEXT.replace("\nmode: one_way", "\nmode: bidirectional")
        .replace("names_across_accounts: false", "names_across_accounts: true")
        .replace("link_threshold: 0.95", "link_threshold: 0.99")
        .replace("review_hold_days: null", "review_hold_days: 7")
        .replace("first_name: true, last_name", "first_name: false, last_name")
        .replace("on_crm_delete: unlink", "on_crm_delete: delete")
        .replace("max_delete_share: 0.05", "max_delete_share: 0.2")
        .replace("default_region: US", "default_region: gb")
        .replace("    conflict: genesys_wins", "    conflict: manual")
    )
    policy = parse_policy(text)
    assert isinstance(policy, SyncPolicy)
    assert policy.mode == "bidirectional" and policy.on_crm_delete == "delete"
    assert policy.matching.names_across_accounts and policy.matching.link_threshold == 0.99
    assert policy.matching.review_hold_days == 7.0
    assert policy.matching.compare == ("email", "phone", "last_name", "account")
    assert policy.max_delete_share == 0.2 and policy.default_region == "GB"
    assert policy.field("tags").conflict == "manual"


def _assert_error(text: str, key: str, line: int) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source="policy.yaml")
    message = str(caught.value)
    assert f"line {line}:" in message, message
    assert key in message, message


@pytest.mark.parametrize(
    ("old", "new", "key", "line_needle"),
    [
        ("\nmode: one_way\n", "\nmode: one_way\ncolour: blue\n", "colour", "colour: blue"),
        ("\nmode: one_way\n", "\nmode: sideways\n", "mode", "mode: sideways"),
        (
            "    direction: crm_to_genesys",
            "    direction: to_genesys",
            "fields.account_id.direction",
            "direction: to_genesys",
        ),
        ("    conflict: genesys_wins", "    conflict: agent_wins", "fields.tags.conflict", "agent_wins"),
        ("    compare: phone", "    compare: digits", "fields.phone.compare", "compare: digits"),
        ("  tags:\n", "  labels:\n", "fields.labels", "  labels:"),
        ("    genesys: workEmail", "    genesys: emailAddress", "fields.email.genesys", "emailAddress"),
        ("    genesys: workEmail", "    genesys: customFields.a.b", "fields.email.genesys", "customFields.a.b"),
        ("    genesys: workEmail\n", "    genesys: workEmail\n    extra: 1\n", "fields.email.extra", "extra: 1"),
        ("recheck_links: false", "recheck_links: maybe", "matching.recheck_links", "recheck_links: maybe"),
        ("recheck_links: false", "recheck_links: 1", "matching.recheck_links", "recheck_links: 1"),
        ("link_threshold: 0.95", "link_threshold: 1.5", "matching.link_threshold", "link_threshold: 1.5"),
        ("review_threshold: 0.2", "review_threshold: 0.99", "matching.review_threshold", "matching:"),
        ("max_block_records: 50", "max_block_records: 0", "matching.max_block_records", "max_block_records: 0"),
        ("max_block_records: 50", "max_block_records: 2.5", "matching.max_block_records", "max_block_records: 2.5"),
        ("  compare: {email: true,", "  compare: {mail: true,", "matching.compare.mail", "compare: {mail"),
        ("  recheck_links: false", "  recheck_links: false\n  fuzzy: 1", "matching.fuzzy", "fuzzy: 1"),
        ("  # weights (", "  weights: {email: {equal: big}}\n  # weights (", "matching.weights.email.equal", "big"),
        ("\nmatching:\n", "\nmatch_on_name: true\nmatching:\n", "match_on_name", "match_on_name: true"),
        ("max_delete_share: 0.05", "max_delete_share: 5", "max_delete_share", "max_delete_share: 5"),
        ("max_delete_share: 0.05", "max_delete_share: lots", "max_delete_share", "max_delete_share: lots"),
        ("on_crm_delete: unlink", "on_crm_delete: archive", "on_crm_delete", "archive"),
        ("default_region: US", "default_region: XX", "default_region", "default_region: XX"),
        ("  salesforce: Salesforce", "  salesforce: Salesforce\n  zoho: Zoho", "external_source.zoho", "zoho"),
        ("crm: {salesforce: Email,", "crm: {zoho: Email,", "fields.email.crm.zoho", "zoho"),
        # One CRM field mapped to two canonical fields: the second is refused, naming the first.
        ("crm: {salesforce: Phone,", "crm: {salesforce: EMAIL,", "fields.phone.crm.salesforce", "EMAIL"),
        ("crm: {salesforce: FirstName,", "crm: {salesforce: [FirstName],", "fields.first_name.crm.salesforce", "[Fi"),
        ("    direction: both\n    conflict: crm_wins\n", "    direction: both\n", "fields.first_name.conflict", ""),
        (TAGS_BLOCK, "  tags: yes\n", "fields.tags", "  tags: yes"),
        (
            "link_field:\n  salesforce: Id\n  dynamics: contactid\n  hubspot: hs_object_id\n",
            "link_field: [Id]\n",
            "link_field",
            "link_field: [Id]",
        ),
    ],
)
def test_invalid_policy_names_key_and_line(old: str, new: str, key: str, line_needle: str) -> None:
    assert old in DEFAULT_TEXT, old
    text = DEFAULT_TEXT.replace(old, new, 1)
    line = _line_of(text, line_needle or "  first_name:")
    _assert_error(text, key, line)


def test_duplicate_field_is_rejected_at_its_second_line() -> None:
    text = DEFAULT_TEXT + "  email:\n    crm: {salesforce: Email}\n    genesys: otherEmail\n"
    text += "    direction: both\n    conflict: manual\n    compare: email\n"
    _assert_error(text, "fields.email", _line_of(text, "  email:", occurrence=2))


def test_missing_top_level_key_is_named_at_the_top_mapping() -> None:
    text = re.sub(r"external_source:\n(  .*\n)+", "", DEFAULT_TEXT)
    assert "\nexternal_source:" not in text
    line = _line_of(
        text, "mode: one_way", occurrence=2
    )  # the first key of the top mapping (the first hit is a comment)
    with pytest.raises(PolicyError, match=rf"line {line}: external_source: required key is missing"):
        parse_policy(text)


def test_genesys_path_mapped_twice_is_rejected_at_the_second() -> None:
    text = DEFAULT_TEXT.replace("    genesys: workEmail", "    genesys: firstName", 1)
    _assert_error(text, "fields.email.genesys", _line_of(text, "genesys: firstName", occurrence=2))


def test_crm_type_without_link_field_is_rejected() -> None:
    text = DEFAULT_TEXT.replace("  dynamics: contactid\n", "", 1).replace("  dynamics: Dynamics 365\n", "", 1)
    _assert_error(text, "fields.first_name.crm.dynamics", _line_of(text, "crm: {salesforce: FirstName"))


def test_not_yaml_and_empty_and_missing_file(tmp_path: Path) -> None:
    _assert_error("mode: one_way\nfields: [a\n", "not valid YAML", 3)
    with pytest.raises(PolicyError, match="line 1: the policy file is empty"):
        parse_policy("# nothing\n")
    with pytest.raises(PolicyError, match="cannot read policy file"):
        load_policy(tmp_path / "absent.yaml")
    _assert_error("- mode\n- one_way\n", "must be a mapping", 1)
