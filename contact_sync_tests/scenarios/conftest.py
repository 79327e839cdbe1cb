"""Fixtures for the end-to-end scenarios: one simulator set per test module (emptied before each test), a fresh data
folder, ledger and Dagster home per test, and helpers that run syncs the way `contact-sync sync` does and read the
end state back through the services' APIs."""

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
from contact_sync.cli.launch import SyncOutcome, open_ledger, run_sync
from contact_sync.connectors.genesys import GenesysConnector
from contact_sync.ledger import Ledger
from contact_sync.settings import GenesysSettings
from contact_sync.simulators import RunningSimulators, run_simulators
from contact_sync_tests.conftest import point_at_simulators


@dataclass
class Scenario:
    """Running simulators plus the environment of a user pointing contact-sync at them."""

    sims: RunningSimulators
    env: dict[str, str]
    folder: Path
    instance: dg.DagsterInstance

    def sync(self, mode: str = "one_way", cohort: str = "all", dry_run: bool = False) -> SyncOutcome:
        """One run through Dagster (the code path of `contact-sync sync`); fails the test if the run failed."""
        outcome = run_sync(mode, cohort, dry_run=dry_run, instance=self.instance)  # type: ignore[arg-type]
        assert outcome.succeeded, outcome.error
        return outcome

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
        """Genesys contacts keyed by the Salesforce id in their externalIds."""
        out = {}
        for contact in self.genesys_contacts():
            for link in contact.get("externalIds") or []:
                if link["externalSource"].get("name") == "Salesforce":
                    out[link["value"]] = contact
        return out

    def crm(self, crm_id: str) -> dict[str, Any]:
        contact = self.sims.salesforce.contact(crm_id)
        assert contact is not None, crm_id
        return contact

    def load_crm(self, rows: Sequence[dict[str, Any]]) -> list[str]:
        return self.sims.salesforce.load_contacts(list(rows))


def digits(phone: str | None) -> str:
    """The last ten digits of a phone number however it is formatted (US numbers in these scenarios)."""
    return re.sub(r"\D", "", phone or "")[-10:]


def people(n: int, prefix: str = "Person") -> list[dict[str, Any]]:
    """`n` distinct CRM contacts with a name, an email and a US phone."""
    return [
        {
            "FirstName": f"{prefix}{i:03d}",
            "LastName": "Example",
            "Email": f"{prefix.lower()}{i:03d}@example.com",
            "Phone": f"(415) 555-{1000 + i:04d}",
        }
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def module_sims() -> Iterator[RunningSimulators]:
    """One simulator set for the whole module (starting them is the slow part); tests empty them first."""
    with run_simulators() as running:
        yield running


@pytest.fixture(scope="module")
def module_instance() -> Iterator[dg.DagsterInstance]:
    """An in-memory Dagster instance for the module's runs: on this loaded machine SQLite run storage triples the
    time of a small run, and what is under test here is the sync, not Dagster's storage (the CLI tests run against
    a DAGSTER_HOME folder)."""
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


@pytest.fixture
def scenario(
    module_sims: RunningSimulators,
    module_instance: dg.DagsterInstance,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Scenario:
    """Empty simulators and an empty ledger and data folder, with the process environment pointing at them (a
    DAGSTER_HOME folder too, for commands run through the CLI)."""
    module_sims.salesforce.reset()
    module_sims.genesys.reset()
    env = point_at_simulators(monkeypatch, module_sims.env, tmp_path)
    return Scenario(sims=module_sims, env=env, folder=tmp_path, instance=module_instance)


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
