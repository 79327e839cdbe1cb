"""Fixtures for the end-to-end scenarios: one simulator set per test module (emptied before each test), a fresh data
folder, ledger and Dagster home per test, and helpers that run syncs the way `contact-sync sync` does and read the
end state back through the services' APIs.

Scenarios run once per CRM of the registry: the `crm` fixture is a `Crm` that speaks canonical field names
(first_name, last_name, email, phone, tags) over the plug-in's seat at its simulator, which hides each CRM's columns
and simulator helpers; the scenario selects the CRM with `CONTACT_SYNC_CRM`, as a user does."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from click.testing import CliRunner, Result

from contact_sync.cli import main
from contact_sync.connectors.genesys import GenesysConnector
from contact_sync.crms import CRM_KINDS, crm_plugin
from contact_sync.crms.plugin import CrmSeat
from contact_sync.defs.sync.checks import LOSS_CHECKS
from contact_sync.launcher import SyncOutcome, open_ledger, run_sync
from contact_sync.ledger import Ledger
from contact_sync.settings import GenesysSettings
from contact_sync.simulators import RunningSimulators, run_simulators
from contact_sync.sync.policy import load_policy
from contact_sync_tests.conftest import SIMULATOR_OPTIONS, point_at_simulators

SCENARIO_FIELDS = ("first_name", "last_name", "email", "phone", "tags")
# Canonical field -> the CRM's column, per CRM, as the shipped policy maps them (Dynamics and HubSpot map no tags).
CRM_COLUMNS: dict[str, dict[str, str]] = {
    kind: {rule.name: rule.crm_fields[kind] for rule in load_policy().fields_for(kind) if rule.name in SCENARIO_FIELDS}
    for kind in CRM_KINDS
}


@dataclass
class Crm:
    """One CRM's simulator behind canonical field names: seed, edit and delete records as a user would, read them."""

    kind: str
    sim: Any

    @property
    def seat(self) -> CrmSeat:
        return crm_plugin(self.kind).seat(self.sim)

    @property
    def columns(self) -> dict[str, str]:
        return CRM_COLUMNS[self.kind]

    @property
    def external_source(self) -> str:
        """The Genesys external source the CRM ids are kept under."""
        return crm_plugin(self.kind).external_source

    @property
    def later(self) -> float:
        """Seconds to wait between two edits whose order last-write-wins must see."""
        return self.seat.stamp_resolution_s

    def maps(self, field: str) -> bool:
        return field in self.columns

    def _columns(self, values: dict[str, Any]) -> dict[str, Any]:
        unknown = set(values) - set(self.columns)
        assert not unknown, f"{self.kind} maps no column for {sorted(unknown)}"
        return {self.columns[k]: v for k, v in values.items()}

    def load(self, rows: Sequence[dict[str, Any]]) -> list[str]:
        """Create records from canonical values (fields this CRM does not map are left out); their ids in order."""
        mapped = [{k: v for k, v in row.items() if self.maps(k)} for row in rows]
        return self.seat.load_records([self._columns(row) for row in mapped])

    def edit(self, crm_id: str, **values: Any) -> None:
        """A user's edit in the CRM app (canonical field names)."""
        self.seat.edit(crm_id, self._columns(values))

    def delete(self, crm_id: str) -> None:
        self.seat.delete(crm_id)

    def merge(self, master_id: str, loser_ids: list[str]) -> str:
        """A user's merge; the id of the record holding the result. Salesforce deletes the losers with their master
        recorded (`MasterRecordId`); HubSpot makes a new record of the two (both old ids then name it)."""
        if self.kind == "hubspot":
            (other,) = loser_ids
            return self.sim.merge_contacts(master_id, other)
        assert self.kind == "salesforce", f"the {self.kind} simulator has no merge"
        self.sim.merge(master_id, loser_ids)
        return master_id

    def record(self, crm_id: str) -> dict[str, Any]:
        """The record as the CRM's API shows it (its own column names)."""
        record = self.seat.record(crm_id)
        assert record is not None, crm_id
        return record

    def get(self, crm_id: str) -> dict[str, Any]:
        """The record's canonical values (fields this CRM maps)."""
        record = self.record(crm_id)
        return {field: record.get(column) for field, column in self.columns.items()}

    def exists(self, crm_id: str) -> bool:
        return self.seat.record(crm_id) is not None

    def stamp(self, crm_id: str) -> str:
        """The record's version as the service keeps it (changes on every write)."""
        return self.seat.stamp(crm_id)

    def reset(self) -> None:
        self.sim.reset()


@dataclass
class Scenario:
    """Running simulators plus the environment of a user pointing contact-sync at them, for one CRM."""

    sims: RunningSimulators
    env: dict[str, str]
    folder: Path
    instance: dg.DagsterInstance
    crm: Crm

    def sync(self, mode: str = "one_way", cohort: str = "all", dry_run: bool = False) -> SyncOutcome:
        """One run through Dagster (the code path of `contact-sync sync`); fails the test if the run failed."""
        outcome = run_sync(mode, cohort, dry_run=dry_run, instance=self.instance)  # type: ignore[arg-type]
        assert outcome.succeeded, outcome.error
        if not dry_run:
            assert self.loss_guard_failures(outcome.run_id) == {}, "a loss guard failed"
        return outcome

    def loss_guard_failures(self, run_id: str) -> dict[str, str]:
        """The loss guards that failed on a run (every scenario's every run must pass them): name -> records."""
        failed = {}
        for name in LOSS_CHECKS:
            key = dg.AssetCheckKey(dg.AssetKey("sync_report"), name)
            [record] = self.instance.event_log_storage.get_asset_check_execution_history(key, limit=1)
            assert record.run_id == run_id, f"{name} did not run in {run_id}"
            evaluation = record.event.dagster_event.event_specific_data  # type: ignore[union-attr]
            if not evaluation.passed:
                failed[name] = str(evaluation.metadata.get("listed", evaluation.metadata))
        return failed

    def cli(self, *args: str) -> Result:
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    def ledger(self) -> AbstractContextManager[Ledger]:
        """The ledger the runs use (`with scenario.ledger() as ledger:`)."""
        return open_ledger()

    def genesys_contacts(self) -> list[dict[str, Any]]:
        """Every Genesys contact, read over the API."""
        with GenesysConnector(GenesysSettings.from_env(self.sims.env), rate_limit=False) as genesys:
            return genesys.scan_contacts()

    def genesys_by_crm_id(self) -> dict[str, dict[str, Any]]:
        """Genesys contacts keyed by the CRM id in their externalIds (under the CRM's external source)."""
        out = {}
        for contact in self.genesys_contacts():
            for link in contact.get("externalIds") or []:
                if link["externalSource"].get("name") == self.crm.external_source:
                    out[link["value"]] = contact
        return out

    def load_crm(self, rows: Sequence[dict[str, Any]]) -> list[str]:
        return self.crm.load(rows)

    def linked_ids(self) -> set[str]:
        """CRM ids the ledger links to a Genesys contact."""
        with self.ledger() as ledger:
            return set(ledger.links(self.crm.kind)["crm_id"])


def digits(phone: str | None) -> str:
    """The last ten digits of a phone number however it is formatted (US numbers in these scenarios)."""
    return re.sub(r"\D", "", phone or "")[-10:]


GENESYS_PATHS = {"first_name": "firstName", "last_name": "lastName", "email": "workEmail"}


def genesys_edit(**values: Any) -> dict[str, Any]:
    """A Genesys contact edit from canonical values (phone -> workPhone.display, tags -> customFields.tags)."""
    body: dict[str, Any] = {}
    for field, value in values.items():
        if field == "phone":
            body["workPhone"] = {"display": value}
        elif field == "tags":
            body["customFields"] = {"tags": value}
        else:
            body[GENESYS_PATHS[field]] = value
    return body


def genesys_value(contact: dict[str, Any], field: str) -> Any:
    """A canonical field's value on a Genesys contact as the API returns it."""
    if field == "phone":
        return (contact.get("workPhone") or {}).get("display")
    if field == "tags":
        return (contact.get("customFields") or {}).get("tags")
    return contact.get(GENESYS_PATHS[field])


def people(n: int, prefix: str = "Person") -> list[dict[str, Any]]:
    """`n` distinct CRM contacts (canonical values) with a name, an email and a US phone."""
    return [
        {
            "first_name": f"{prefix}{i:03d}",
            "last_name": "Example",
            "email": f"{prefix.lower()}{i:03d}@example.com",
            "phone": f"(415) 555-{1000 + i:04d}",
        }
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def module_sims() -> Iterator[RunningSimulators]:
    """One simulator set for the whole module (starting them is the slow part); tests empty them first."""
    with run_simulators(options=SIMULATOR_OPTIONS) as running:
        yield running


@pytest.fixture(scope="module")
def module_instance() -> Iterator[dg.DagsterInstance]:
    """An in-memory Dagster instance for the module's runs: on this loaded machine SQLite run storage triples the
    time of a small run, and what is under test here is the sync, not Dagster's storage (the CLI tests run against
    a DAGSTER_HOME folder)."""
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


@pytest.fixture(params=CRM_KINDS)
def crm_kind(request: pytest.FixtureRequest) -> str:
    """The CRM a scenario runs against. A test that applies to one CRM only overrides it with
    `@pytest.mark.parametrize("crm_kind", [...])` and says why."""
    return str(request.param)


@pytest.fixture
def crm(module_sims: RunningSimulators, crm_kind: str) -> Crm:
    """The scenario's CRM simulator behind canonical field names (emptied)."""
    return Crm(kind=crm_kind, sim=getattr(module_sims, crm_kind))


@pytest.fixture
def scenario(
    module_sims: RunningSimulators,
    module_instance: dg.DagsterInstance,
    crm: Crm,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Scenario:
    """Empty simulators and an empty ledger and data folder, with the process environment pointing at them (a
    DAGSTER_HOME folder too, for commands run through the CLI) and `CONTACT_SYNC_CRM` naming the scenario's CRM."""
    for kind in CRM_KINDS:
        getattr(module_sims, kind).reset()
    module_sims.genesys.reset()
    env = point_at_simulators(monkeypatch, module_sims.env, tmp_path)
    monkeypatch.setenv("CONTACT_SYNC_CRM", crm.kind)
    env["CONTACT_SYNC_CRM"] = crm.kind
    return Scenario(sims=module_sims, env=env, folder=tmp_path, instance=module_instance, crm=crm)


def write_policy(folder: Path, **changes: str) -> Path:
    """A copy of the shipped policy with top-level settings or `<field>.conflict` values replaced, e.g.
    `write_policy(tmp, on_crm_delete="delete", phone="manual")`."""
    from contact_sync.sync.policy import DEFAULT_POLICY_PATH

    text = DEFAULT_POLICY_PATH.read_text()
    for key, value in changes.items():
        if re.search(rf"^{key}:", text, flags=re.M):
            text, n = re.subn(rf"^{key}:[^\n#]*", f"{key}: {value} ", text, flags=re.M)
        else:
            text, n = re.subn(rf"(^  {key}:\n(?:    .*\n)*?    conflict:)[^\n]*", rf"\1 {value}", text, flags=re.M)
        assert n == 1, key
    path = folder / "policy.yaml"
    path.write_text(text)
    return path
