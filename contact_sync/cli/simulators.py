"""`contact-sync simulators ...`: serve the local CRM and Genesys simulators, and fill their state folder.

`seed --crm KIND` fills the simulator of any registered CRM plug-in (`contact_sync.crms.CRM_KINDS`) through its seat.

`serve` prints the `export NAME=value` lines that point contact-sync at the simulators and serves until Ctrl-C or
SIGTERM; `seed` writes realistic generated data straight into the state folder, which a running `serve` on the same
folder sees at once.
"""

from __future__ import annotations

import shlex
import signal
import threading
from contextlib import ExitStack
from pathlib import Path
from types import FrameType
from typing import Any

import click

from contact_sync.crms import CRM_KINDS

DEFAULT_STATE_DIR = Path(".contact_sync") / "simulators"

state_dir_option = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_STATE_DIR,
    show_default=True,
    help="Folder holding the simulators' data (SQLite), shared by every process that uses it.",
)


@click.group()
def simulators() -> None:
    """Local simulators of the CRM (Salesforce, Dynamics 365, HubSpot) and Genesys Cloud APIs."""


def _writable_folder(path: Path) -> Path:
    """The folder, created if missing; a one-line error when it cannot be created or written."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-probe"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise click.ClickException(f"state folder {path} is not writable: {exc.strerror or exc}") from exc
    return path


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise click.ClickException(message)


def _check_port(name: str, port: int | None) -> None:
    _check(port is None or 0 <= port <= 65535, f"{name} must be a port number between 0 and 65535, got {port}")


def _named_ports(values: tuple[str, ...]) -> dict[str, int]:
    """`--port NAME=PORT` values as {simulator name: port}; an unknown name or a bad port is a one-line error."""
    from contact_sync.simulators import simulator_classes

    known = sorted(simulator_classes())
    ports: dict[str, int] = {}
    for value in values:
        name, _, port = value.partition("=")
        _check(name in known, f"--port {value}: NAME must be one of {', '.join(known)}")
        _check(port.isdigit(), f"--port {value}: PORT must be a number")
        _check_port(f"--port {name}", int(port))
        if int(port):
            ports[name] = int(port)
    return ports


@simulators.command()
@state_dir_option
@click.option("--port-salesforce", type=int, default=None, help="Port of the Salesforce simulator (default: free).")
@click.option("--port-genesys", type=int, default=None, help="Port of the Genesys simulator (default: free).")
@click.option(
    "--port",
    "named_ports",
    multiple=True,
    metavar="NAME=PORT",
    help="Port of any simulator by name (salesforce, dynamics, hubspot, genesys); repeatable.",
)
@click.option(
    "--rate-limit",
    type=int,
    default=None,
    help="Genesys requests per minute per token (default 300, as the real service; 0 turns the limit off).",
)
def serve(
    state_dir: Path,
    port_salesforce: int | None,
    port_genesys: int | None,
    named_ports: tuple[str, ...],
    rate_limit: int | None,
) -> None:
    """Serve the simulators on 127.0.0.1 and print the environment that points contact-sync at them."""
    from contact_sync.simulators import run_simulators

    _check_port("--port-salesforce", port_salesforce)
    _check_port("--port-genesys", port_genesys)
    _check(rate_limit is None or rate_limit >= 0, f"--rate-limit must be >= 0, got {rate_limit}")
    folder = _writable_folder(state_dir).resolve()
    ports = {name: port for name, port in (("salesforce", port_salesforce), ("genesys", port_genesys)) if port}
    ports.update(_named_ports(named_ports))
    options: dict[str, dict[str, Any]] = {}
    if rate_limit is not None:
        options["genesys"] = {"rate_limit_per_minute": rate_limit or None}

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with ExitStack() as stack:
            try:
                sims = stack.enter_context(run_simulators(state_dir=folder, ports=ports, options=options))
            except OSError as exc:
                raise click.ClickException(f"cannot start the simulators: {exc.strerror or exc}") from exc
            for name, value in sims.env.items():
                click.echo(f"export {name}={shlex.quote(value)}")
            click.echo(f"# simulators serving on 127.0.0.1, state in {folder}; Ctrl-C to stop", err=True)
            while not stop.wait(0.5):
                pass
            click.echo("# stopping the simulators", err=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@simulators.command()
@state_dir_option
@click.option(
    "--crm", type=click.Choice(CRM_KINDS), default="salesforce", show_default=True, help="The CRM simulator to fill."
)
@click.option("--contacts", type=int, required=True, help="Number of CRM contact records (duplicates included).")
@click.option("--overlap", type=float, default=0.6, show_default=True, help="Share of CRM people also in Genesys.")
@click.option(
    "--duplicates", type=float, default=0.02, show_default=True, help="Share of CRM records that are duplicates."
)
@click.option(
    "--genesys-only",
    type=float,
    default=0.1,
    show_default=True,
    help="People only in Genesys, as a share of --contacts.",
)
@click.option("--accounts", type=int, default=None, help="Number of companies (default: one per 20 contacts).")
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Random seed: the same arguments give the same data."
)
@click.option("--region", type=click.Choice(["US", "CA"]), default="US", show_default=True, help="Phone number region.")
@click.option(
    "--traps/--no-traps",
    default=True,
    show_default=True,
    help="Identity traps at small shares: colleagues on one office line, role mailboxes, household emails, typos, "
    "swapped names, a key missing on one side.",
)
def seed(
    state_dir: Path,
    crm: str,
    contacts: int,
    overlap: float,
    duplicates: float,
    genesys_only: float,
    accounts: int | None,
    seed: int,
    region: str,
    traps: bool,
) -> None:
    """Fill the simulators' state folder with realistic, seeded contacts (added to what is there)."""
    from contact_sync.crms import crm_plugin
    from contact_sync.simulators import simulator_classes
    from contact_sync.simulators.seed import seed_simulators

    _check(contacts >= 0, f"--contacts must be >= 0, got {contacts}")
    _check(0.0 <= overlap <= 1.0, f"--overlap must be between 0 and 1, got {overlap}")
    _check(0.0 <= duplicates <= 0.5, f"--duplicates must be between 0 and 0.5, got {duplicates}")
    _check(0.0 <= genesys_only <= 1.0, f"--genesys-only must be between 0 and 1, got {genesys_only}")
    _check(accounts is None or accounts >= 0, f"--accounts must be >= 0, got {accounts}")
    folder = _writable_folder(state_dir).resolve()
    with ExitStack() as stack:
        plugin, classes = crm_plugin(crm), simulator_classes()
        crm_simulator = classes[plugin.simulator](folder / plugin.simulator)
        stack.callback(crm_simulator.close)
        genesys = classes["genesys"](folder / "genesys")
        stack.callback(genesys.close)
        seat = plugin.seat(crm_simulator)
        report = seed_simulators(
            (seat, genesys),
            contacts,
            overlap=overlap,
            duplicates=duplicates,
            genesys_only=genesys_only,
            accounts=accounts,
            seed=seed,
            region=region,
            traps=traps,
        )
        click.echo(f"Seeded {folder}: {report.summary(plugin.label)}")
        click.echo(f"Of these, {report.dataset.trap_summary()}")
        click.echo(f"Now in total: {seat.count()} {plugin.label} contacts, {genesys.count()} Genesys contacts")
