"""The sync policy: which fields map where, in which direction, and how conflicts are resolved, loaded from YAML.

The shipped default (``default_policy.yaml`` next to this module) is the guide's field mapping table. An invalid file
raises ``PolicyError`` naming the bad key and its line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal, get_args

import phonenumbers
import yaml

from contact_sync.crms import CRM_KINDS
from contact_sync.sync.evidence import COMPARISONS, DEFAULT_WEIGHTS, MatchingPolicy

Direction = Literal["crm_to_genesys", "both", "genesys_to_crm"]
ConflictPolicy = Literal["crm_wins", "genesys_wins", "last_write_wins", "manual"]
Compare = Literal["text", "email", "phone", "number", "tags"]
Mode = Literal["one_way", "bidirectional"]
OnCrmDelete = Literal["unlink", "delete"]

DEFAULT_POLICY_PATH: Final = Path(__file__).with_name("default_policy.yaml")

CANONICAL_FIELDS: Final = ("first_name", "last_name", "email", "phone", "account_id", "lead_score", "tags")
# ExternalContact top-level fields a rule may target; custom fields are written "customFields.<name>".
GENESYS_FIELDS: Final = frozenset(
    {
        "firstName",
        "middleName",
        "lastName",
        "salutation",
        "title",
        "workEmail",
        "personalEmail",
        "otherEmail",
        "workPhone",
        "cellPhone",
        "homePhone",
        "otherPhone",
        "externalOrganization",
        "externalSystemUrl",
    }
)


class PolicyError(ValueError):
    """The policy file is invalid; the message names the bad key and its line."""


@dataclass(frozen=True)
class FieldRule:
    """How one canonical field is synced."""

    name: str
    """Canonical field: first_name, last_name, email, phone, account_id, lead_score or tags."""
    crm_fields: Mapping[str, str]
    """CRM type -> API field name, e.g. {"salesforce": "FirstName", "dynamics": "firstname"}. A CRM type that is
    absent does not sync this field."""
    genesys_path: str
    """ExternalContact field path: "firstName", "workPhone", "externalOrganization", "customFields.tags" ..."""
    direction: Direction
    conflict: ConflictPolicy
    compare: Compare
    """How values are compared: text as is, emails normalized, phones by E.164, numbers as floats, tags as sets."""

    @property
    def to_genesys(self) -> bool:
        """Whether this field may ever be written to Genesys."""
        return self.direction in ("crm_to_genesys", "both")

    @property
    def to_crm(self) -> bool:
        """Whether this field may be written to the CRM (bidirectional mode only; see ``SyncPolicy.mode``)."""
        return self.direction in ("genesys_to_crm", "both")

    def crm_field(self, crm_type: str) -> str | None:
        """The CRM field for this CRM type, or None when the field is not synced for it."""
        return self.crm_fields.get(crm_type)


@dataclass(frozen=True)
class SyncPolicy:
    """The whole policy: mode, field rules and switches."""

    mode: Mode
    fields: tuple[FieldRule, ...]
    link_field: Mapping[str, str]
    """CRM id field per CRM type: {"salesforce": "Id", "dynamics": "contactid"}."""
    external_source: Mapping[str, str]
    """Name of the Genesys external source holding the CRM id, per CRM type."""
    matching: MatchingPolicy = dataclasses.field(default_factory=MatchingPolicy)
    """How records are proposed, scored and linked (``contact_sync.sync.evidence``)."""
    create_crm_from_genesys: bool = False
    on_crm_delete: OnCrmDelete = "unlink"
    max_delete_share: float = 0.05
    max_delete_count: int = 10
    """The mass-delete guard holds a run's deletes/unlinks only when they exceed both this count and the share."""
    default_region: str = "US"

    def field(self, name: str) -> FieldRule:
        """The rule for a canonical field; KeyError when the policy does not map it."""
        for rule in self.fields:
            if rule.name == name:
                return rule
        raise KeyError(f"the policy maps no field named {name!r} (mapped: {', '.join(r.name for r in self.fields)})")

    def fields_for(self, crm_type: str) -> tuple[FieldRule, ...]:
        """The rules that apply to a CRM type (those naming a field for it)."""
        return tuple(rule for rule in self.fields if crm_type in rule.crm_fields)

    def with_mode(self, mode: Mode) -> SyncPolicy:
        """The same policy in another mode."""
        if mode not in get_args(Mode):
            raise PolicyError(f"mode must be one of {', '.join(get_args(Mode))}, not {mode!r}")
        return dataclasses.replace(self, mode=mode)


def load_policy(path: str | Path | None = None) -> SyncPolicy:
    """Read and validate a policy file; None reads the shipped default."""
    source = Path(path) if path is not None else DEFAULT_POLICY_PATH
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {source}: {exc.strerror or exc}") from exc
    return parse_policy(text, source=str(source))


def parse_policy(text: str, source: str = "<policy>") -> SyncPolicy:
    """Validate policy YAML text and build the policy."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise PolicyError(f"{source}: line {line}: not valid YAML: {exc.problem or exc}") from exc
    except yaml.YAMLError as exc:
        raise PolicyError(f"{source}: not valid YAML: {exc}") from exc
    if root is None:
        raise PolicyError(f"{source}: line 1: the policy file is empty")
    return _Reader(source).policy(root)


_TOP_KEYS: Final = {
    "mode": True,
    "fields": True,
    "link_field": True,
    "external_source": True,
    "matching": False,
    "create_crm_from_genesys": False,
    "on_crm_delete": False,
    "max_delete_share": False,
    "max_delete_count": False,
    "default_region": False,
}
_MATCHING_KEYS: Final = {
    "link_threshold": False,
    "review_threshold": False,
    "prior_bits": False,
    "weights": False,
    "compare": False,
    "role_local_parts": False,
    "shared_key_people": False,
    "max_block_records": False,
    "names_across_accounts": False,
    "recheck_links": False,
    "review_hold_days": False,
}
_FIELD_KEYS: Final = {"crm": True, "genesys": True, "direction": True, "conflict": True, "compare": True}


class _Reader:
    """Walks the composed YAML node tree so every complaint can name its line."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._constructor = yaml.SafeLoader("")

    def fail(self, node: yaml.Node, key: str, problem: str) -> PolicyError:
        return PolicyError(f"{self.source}: line {node.start_mark.line + 1}: {key}: {problem}")

    def mapping(
        self, node: yaml.Node, key: str, allowed: Mapping[str, bool] | None, owner: yaml.Node | None = None
    ) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """Key -> (key node, value node); checks unknown, duplicate and missing keys when ``allowed`` is given.

        A missing key is reported at ``owner`` (the key node naming this mapping) when given, else at the mapping.
        """
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, key, f"must be a mapping, not {self._kind(node)}")
        items: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            name = self.scalar(key_node, f"{key} key")
            if not isinstance(name, str):
                raise self.fail(key_node, f"{key}.{name}", "keys must be text")
            full = f"{key}.{name}" if key else name
            if name in items:
                raise self.fail(key_node, full, "appears twice")
            if allowed is not None and name not in allowed:
                raise self.fail(key_node, full, f"unknown key (allowed: {', '.join(allowed)})")
            items[name] = (key_node, value_node)
        if allowed is not None:
            for name, required in allowed.items():
                if required and name not in items:
                    full = f"{key}.{name}" if key else name
                    raise self.fail(owner or node, full, "required key is missing")
        return items

    def scalar(self, node: yaml.Node, key: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, key, f"must be a single value, not {self._kind(node)}")
        return self._constructor.construct_object(node, deep=True)

    def text(self, node: yaml.Node, key: str) -> str:
        value = self.scalar(node, key)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(node, key, f"must be non-empty text, not {value!r}")
        return value.strip()

    def choice(self, node: yaml.Node, key: str, choices: tuple[str, ...]) -> str:
        value = self.scalar(node, key)
        if value not in choices:
            raise self.fail(node, key, f"must be one of {', '.join(choices)}, not {value!r}")
        return str(value)

    def boolean(self, node: yaml.Node, key: str) -> bool:
        value = self.scalar(node, key)
        if not isinstance(value, bool):
            raise self.fail(node, key, f"must be true or false, not {value!r}")
        return value

    def crm_map(self, node: yaml.Node, key: str) -> Mapping[str, str]:
        """A mapping CRM type -> text (field names, source names)."""
        items = self.mapping(node, key, dict.fromkeys(CRM_KINDS, False))
        return MappingProxyType({name: self.text(value, f"{key}.{name}") for name, (_, value) in items.items()})

    @staticmethod
    def _kind(node: yaml.Node) -> str:
        if isinstance(node, yaml.MappingNode):
            return "a mapping"
        if isinstance(node, yaml.SequenceNode):
            return "a list"
        return f"the value {node.value!r}"

    def policy(self, root: yaml.Node) -> SyncPolicy:
        top = self.mapping(root, "", _TOP_KEYS)
        kwargs: dict[str, Any] = {
            "mode": self.choice(top["mode"][1], "mode", get_args(Mode)),
            "link_field": self.crm_map(top["link_field"][1], "link_field"),
            "external_source": self.crm_map(top["external_source"][1], "external_source"),
        }
        if "create_crm_from_genesys" in top:
            kwargs["create_crm_from_genesys"] = self.boolean(
                top["create_crm_from_genesys"][1], "create_crm_from_genesys"
            )
        if "matching" in top:
            kwargs["matching"] = self.matching(top["matching"][1], top["matching"][0])
        if "on_crm_delete" in top:
            kwargs["on_crm_delete"] = self.choice(top["on_crm_delete"][1], "on_crm_delete", get_args(OnCrmDelete))
        if "max_delete_share" in top:
            node = top["max_delete_share"][1]
            share = self.scalar(node, "max_delete_share")
            if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
                raise self.fail(node, "max_delete_share", f"must be a number from 0 to 1, not {share!r}")
            kwargs["max_delete_share"] = float(share)
        if "max_delete_count" in top:
            node = top["max_delete_count"][1]
            kwargs["max_delete_count"] = int(self.number(node, "max_delete_count", 0, 10_000_000, integer=True))
        if "default_region" in top:
            node = top["default_region"][1]
            region = self.text(node, "default_region").upper()
            if region not in phonenumbers.SUPPORTED_REGIONS:
                raise self.fail(node, "default_region", f"{region!r} is not a region phonenumbers knows (e.g. US, GB)")
            kwargs["default_region"] = region
        kwargs["fields"] = self.fields(top["fields"][1], kwargs["link_field"])
        return SyncPolicy(**kwargs)

    def number(self, node: yaml.Node, key: str, low: float, high: float, integer: bool = False) -> float:
        value = self.scalar(node, key)
        kind = int if integer else int | float
        if isinstance(value, bool) or not isinstance(value, kind) or not low <= value <= high:
            what = "a whole number" if integer else "a number"
            raise self.fail(node, key, f"must be {what} from {low:g} to {high:g}, not {value!r}")
        return value

    def text_list(self, node: yaml.Node, key: str) -> tuple[str, ...]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, key, f"must be a list, not {self._kind(node)}")
        return tuple(self.text(item, f"{key}[{i}]").casefold() for i, item in enumerate(node.value))

    def matching(self, node: yaml.Node, owner: yaml.Node) -> MatchingPolicy:
        """The ``matching`` section: thresholds, weights, comparisons, role mailboxes, blocking limits."""
        items = self.mapping(node, "matching", _MATCHING_KEYS, owner=owner)
        kwargs: dict[str, Any] = {}
        for name in ("link_threshold", "review_threshold"):
            if name in items:
                kwargs[name] = float(self.number(items[name][1], f"matching.{name}", 0, 1))
        if "prior_bits" in items:
            kwargs["prior_bits"] = float(self.number(items["prior_bits"][1], "matching.prior_bits", -100, 100))
        for name, low in (("shared_key_people", 2), ("max_block_records", 1)):
            if name in items:
                kwargs[name] = int(self.number(items[name][1], f"matching.{name}", low, 1_000_000, integer=True))
        for name in ("names_across_accounts", "recheck_links"):
            if name in items:
                kwargs[name] = self.boolean(items[name][1], f"matching.{name}")
        if "review_hold_days" in items:
            value_node = items["review_hold_days"][1]
            if self.scalar(value_node, "matching.review_hold_days") is not None:
                kwargs["review_hold_days"] = float(self.number(value_node, "matching.review_hold_days", 0, 3650))
        if "role_local_parts" in items:
            kwargs["role_local_parts"] = self.text_list(items["role_local_parts"][1], "matching.role_local_parts")
        if "compare" in items:
            toggles = self.mapping(items["compare"][1], "matching.compare", dict.fromkeys(COMPARISONS, False))
            kwargs["compare"] = tuple(
                name
                for name in COMPARISONS
                if name not in toggles or self.boolean(toggles[name][1], f"matching.compare.{name}")
            )
        if "weights" in items:
            weights = {k: dict(v) for k, v in DEFAULT_WEIGHTS.items()}
            groups = self.mapping(items["weights"][1], "matching.weights", dict.fromkeys(DEFAULT_WEIGHTS, False))
            for group, (_, group_node) in groups.items():
                levels = self.mapping(
                    group_node, f"matching.weights.{group}", dict.fromkeys(DEFAULT_WEIGHTS[group], False)
                )
                for level, (_, level_node) in levels.items():
                    weights[group][level] = float(
                        self.number(level_node, f"matching.weights.{group}.{level}", -100, 100)
                    )
            kwargs["weights"] = weights
        rules = MatchingPolicy(**kwargs)
        if rules.review_threshold > rules.link_threshold:
            raise self.fail(owner, "matching.review_threshold", "must not be above matching.link_threshold")
        return rules

    def fields(self, node: yaml.Node, link_field: Mapping[str, str]) -> tuple[FieldRule, ...]:
        items = self.mapping(node, "fields", None)
        if not items:
            raise self.fail(node, "fields", "must map at least one field")
        rules: list[FieldRule] = []
        seen_paths: dict[str, str] = {}
        seen_crm: dict[tuple[str, str], str] = {}
        for name, (key_node, value_node) in items.items():
            key = f"fields.{name}"
            if name not in CANONICAL_FIELDS:
                raise self.fail(key_node, key, f"unknown canonical field (known: {', '.join(CANONICAL_FIELDS)})")
            body = self.mapping(value_node, key, _FIELD_KEYS, owner=key_node)
            crm_fields = self.crm_map(body["crm"][1], f"{key}.crm")
            for crm_type, crm_field in crm_fields.items():
                if crm_type not in link_field:
                    raise self.fail(body["crm"][1], f"{key}.crm.{crm_type}", "this CRM type has no link_field entry")
                # One CRM field feeding two canonical fields would write one field's values into the other.
                mapped_by = seen_crm.setdefault((crm_type, crm_field.casefold()), name)
                if mapped_by != name:
                    raise self.fail(
                        body["crm"][1],
                        f"{key}.crm.{crm_type}",
                        f"{crm_field!r} is already mapped by fields.{mapped_by}",
                    )
            path_node = body["genesys"][1]
            path = self.text(path_node, f"{key}.genesys")
            head, _, rest = path.partition(".")
            if not ((head == "customFields" and rest and "." not in rest) or (not rest and head in GENESYS_FIELDS)):
                raise self.fail(
                    path_node,
                    f"{key}.genesys",
                    f"{path!r} is not an ExternalContact field (use one of {', '.join(sorted(GENESYS_FIELDS))} "
                    "or customFields.<name>)",
                )
            if path in seen_paths:
                raise self.fail(path_node, f"{key}.genesys", f"{path!r} is already mapped by {seen_paths[path]}")
            seen_paths[path] = name
            rules.append(
                FieldRule(
                    name=name,
                    crm_fields=crm_fields,
                    genesys_path=path,
                    direction=self.choice(body["direction"][1], f"{key}.direction", get_args(Direction)),  # type: ignore[arg-type]
                    conflict=self.choice(body["conflict"][1], f"{key}.conflict", get_args(ConflictPolicy)),  # type: ignore[arg-type]
                    compare=self.choice(body["compare"][1], f"{key}.compare", get_args(Compare)),  # type: ignore[arg-type]
                )
            )
        return tuple(rules)
