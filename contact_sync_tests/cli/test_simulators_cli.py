"""`contact-sync simulators seed` and `serve`: seeding a state folder, one-line errors, and a real served process."""

from __future__ import annotations

import os
import queue
import shlex
import signal
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from contact_sync.cli import main
from contact_sync.crms import CRM_KINDS, crm_plugin
from contact_sync.simulators import simulator_classes
from contact_sync.simulators.genesys import GenesysSimulator
from contact_sync.simulators.salesforce import SalesforceSimulator
from contact_sync.simulators.seed import generate_dataset

CLI = Path(sys.executable).parent / "contact-sync"
REQUIRED = {"SALESFORCE_INSTANCE_URL", "SALESFORCE_CLIENT_ID", "SALESFORCE_CLIENT_SECRET", "SALESFORCE_CA_BUNDLE"}
REQUIRED |= {"GENESYS_API_URL", "GENESYS_CLIENT_ID", "GENESYS_CLIENT_SECRET"}


def counts_in(state_dir: Path) -> tuple[int, int]:
    salesforce = SalesforceSimulator(state_dir / "salesforce")
    genesys = GenesysSimulator(state_dir / "genesys")
    try:
        return salesforce.count(), genesys.count()
    finally:
        salesforce.close()
        genesys.close()


def test_seed_fills_the_state_folder(tmp_path: Path) -> None:
    state = tmp_path / "state"
    args = ["simulators", "seed", "--contacts", "400", "--overlap", "0.5", "--duplicates", "0.05"]
    args += ["--genesys-only", "0.25", "--seed", "3", "--state-dir", str(state)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    expected = generate_dataset(400, overlap=0.5, duplicates=0.05, genesys_only=0.25, seed=3)
    assert counts_in(state) == (400, len(expected.genesys_contacts))
    assert "400 contacts (20 duplicates)" in result.output
    assert f"Genesys: 20 organizations, {len(expected.genesys_contacts)} contacts" in result.output

    # Seeding again adds to what is there.
    again = CliRunner().invoke(main, ["simulators", "seed", "--contacts", "10", "--state-dir", str(state)])
    assert again.exit_code == 0, again.output
    assert counts_in(state)[0] == 410


@pytest.mark.parametrize("kind", [kind for kind in CRM_KINDS if kind != "salesforce"])
def test_seed_fills_any_registered_crm_simulator(tmp_path: Path, kind: str) -> None:
    state = tmp_path / "state"
    args = ["simulators", "seed", "--crm", kind, "--contacts", "60", "--seed", "4", "--state-dir", str(state)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    plugin = crm_plugin(kind)
    expected = generate_dataset(60, seed=4)
    crm_sim = simulator_classes()[plugin.simulator](state / plugin.simulator)
    genesys = GenesysSimulator(state / "genesys")
    try:
        assert (plugin.seat(crm_sim).count(), genesys.count()) == (60, len(expected.genesys_contacts))
    finally:
        crm_sim.close()
        genesys.close()
    assert not (state / "salesforce").exists()  # the CRM asked for, not Salesforce
    assert result.output.startswith(f"Seeded {state.resolve()}: {plugin.label}: ")
    assert f"Now in total: 60 {plugin.label} contacts" in result.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--contacts", "-5"], "Error: --contacts must be >= 0, got -5"),
        (["--contacts", "5", "--overlap", "1.5"], "Error: --overlap must be between 0 and 1, got 1.5"),
        (["--contacts", "5", "--duplicates", "0.9"], "Error: --duplicates must be between 0 and 0.5, got 0.9"),
        (["--contacts", "5", "--genesys-only", "-0.1"], "Error: --genesys-only must be between 0 and 1, got -0.1"),
        (["--contacts", "5", "--accounts", "-1"], "Error: --accounts must be >= 0, got -1"),
    ],
)
def test_seed_rejects_bad_arguments_in_one_line(tmp_path: Path, extra: list[str], message: str) -> None:
    state = tmp_path / "state"
    result = CliRunner().invoke(main, ["simulators", "seed", *extra, "--state-dir", str(state)])
    assert result.exit_code == 1
    assert result.output.strip() == message
    assert not state.exists()  # nothing written


def test_unwritable_state_folder_is_a_one_line_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for command in (["seed", "--contacts", "5"], ["serve"]):
        result = CliRunner().invoke(main, ["simulators", *command, "--state-dir", str(blocker / "state")])
        assert result.exit_code == 1
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"Error: state folder {blocker / 'state'} is not writable")


def test_serve_rejects_bad_ports_and_rate_limit(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["simulators", "serve", "--port-genesys", "70000", "--state-dir", str(tmp_path)])
    assert result.exit_code == 1 and "--port-genesys must be a port number" in result.output
    result = runner.invoke(main, ["simulators", "serve", "--rate-limit", "-3", "--state-dir", str(tmp_path)])
    assert result.exit_code == 1 and result.output.strip() == "Error: --rate-limit must be >= 0, got -3"
    for value, message in [
        ("zendesk=8000", "Error: --port zendesk=8000: NAME must be one of dynamics, genesys, hubspot, salesforce"),
        ("hubspot=x", "Error: --port hubspot=x: PORT must be a number"),
        ("hubspot=70000", "Error: --port hubspot must be a port number between 0 and 65535, got 70000"),
    ]:
        result = runner.invoke(main, ["simulators", "serve", "--port", value, "--state-dir", str(tmp_path)])
        assert result.exit_code == 1 and result.output.strip() == message


class Served:
    """A `contact-sync simulators serve` subprocess and the environment it printed."""

    def __init__(self, state_dir: Path, cwd: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SALESFORCE_", "GENESYS_"))}
        self.process = subprocess.Popen(
            [str(CLI), "simulators", "serve", "--state-dir", str(state_dir), "--rate-limit", "0"],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.env = self._read_exports(timeout=60)

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _read_exports(self, timeout: float) -> dict[str, str]:
        env: dict[str, str] = {}
        while not env.keys() >= REQUIRED:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"serve printed only {sorted(env)} within {timeout} s") from None
            if line is None:
                raise AssertionError(f"serve exited early: {self.process.wait()} {self.process.stderr.read()}")
            word, assignment = shlex.split(line)
            assert word == "export"
            name, value = assignment.split("=", 1)
            env[name] = value
        return env

    def stop(self, sig: int) -> tuple[int, str]:
        self.process.send_signal(sig)
        _, stderr = self.process.communicate(timeout=30)
        return self.process.returncode, stderr


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    running = Served(tmp_path / "state", cwd=tmp_path)
    yield running
    if running.process.poll() is None:
        running.process.kill()
        running.process.wait()


def test_serve_prints_the_environment_answers_and_stops_cleanly_on_ctrl_c(served: Served, tmp_path: Path) -> None:
    env = served.env
    assert env["SALESFORCE_INSTANCE_URL"].startswith("https://127.0.0.1:")
    assert env["GENESYS_API_URL"].startswith("http://127.0.0.1:")
    assert Path(env["SALESFORCE_CA_BUNDLE"]).is_absolute() and Path(env["SALESFORCE_CA_BUNDLE"]).is_file()

    # Data seeded into the same folder while serving is visible to the served simulators.
    seeded = CliRunner().invoke(
        main, ["simulators", "seed", "--contacts", "50", "--state-dir", str(tmp_path / "state")]
    )
    assert seeded.exit_code == 0, seeded.output

    with httpx.Client(verify=ssl.create_default_context(cafile=env["SALESFORCE_CA_BUNDLE"]), timeout=20) as sf:
        token = sf.post(
            f"{env['SALESFORCE_INSTANCE_URL']}/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": env["SALESFORCE_CLIENT_ID"],
                "client_secret": env["SALESFORCE_CLIENT_SECRET"],
            },
        )
        assert token.status_code == 200, token.text
        query = sf.get(
            f"{env['SALESFORCE_INSTANCE_URL']}/services/data/v59.0/query",
            params={"q": "SELECT Id FROM Contact"},
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        )
        assert query.status_code == 200 and query.json()["totalSize"] == 50

    with httpx.Client(timeout=20) as gen:
        token = gen.post(
            f"{env['GENESYS_API_URL']}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(env["GENESYS_CLIENT_ID"], env["GENESYS_CLIENT_SECRET"]),
        )
        assert token.status_code == 200, token.text
        scan = gen.get(
            f"{env['GENESYS_API_URL']}/api/v2/externalcontacts/scan/contacts",
            params={"limit": 200},
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        )
        assert scan.status_code == 200
        assert len(scan.json()["entities"]) == len(generate_dataset(50).genesys_contacts)

    code, stderr = served.stop(signal.SIGINT)
    assert code == 0, stderr
    assert "Traceback" not in stderr


def test_serve_stops_cleanly_on_sigterm(served: Served) -> None:
    env = served.env
    with httpx.Client(timeout=20) as gen:
        wrong = gen.post(
            f"{env['GENESYS_API_URL']}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(env["GENESYS_CLIENT_ID"], "not-the-secret"),
        )
        assert wrong.status_code == 401
    code, stderr = served.stop(signal.SIGTERM)
    assert code == 0, stderr
    assert "Traceback" not in stderr


def test_serve_on_a_port_in_use_is_a_one_line_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            main, ["simulators", "serve", "--port-genesys", str(port), "--state-dir", str(tmp_path / "state")]
        )
    assert result.exit_code == 1
    assert result.output.strip() == "Error: cannot start the simulators: Address already in use"
