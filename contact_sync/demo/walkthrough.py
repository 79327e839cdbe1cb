"""The demo's steps: make a fresh demo folder, seed the simulators kept in it, then walk the guide's migration path
(pilot cohort one way, all contacts one way, bidirectional with conflicting edits, a decision, a trace), every run
through the real Dagster sync job against the instance in the folder so it also shows in the Dagster UI.

Each step returns a `Section` (a titled table plus notes) that the CLI renders; nothing here prints.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import dagster as dg
import pandas as pd

from contact_sync.crms import CRM_KINDS, crm_plugin
from contact_sync.crms.plugin import CrmSeat
from contact_sync.ledger import Ledger
from contact_sync.pipeline.config import ALL_COHORT, PipelineSettings
from contact_sync.pipeline.services import SERVICE_PREFIXES
from contact_sync.sync.policy import DEFAULT_POLICY_PATH, load_policy

PILOT_COHORT: Final = "pilot-001"
PILOT_SIZE: Final = 100
DEMO_CRMS: Final = CRM_KINDS
# Variables that would point a run at real services or another setup: the demo runs without them.
_FOREIGN_PREFIXES: Final = (*SERVICE_PREFIXES, "CONTACT_SYNC_")
_SAME_TIME_GAP_S: Final = 1.1  # CRM and Genesys modify stamps: keep the two sides' edits clearly apart in time.

Progress = Callable[[str, int, int], None]
"""A step reports (what it does, done, total) through this."""


class DemoError(Exception):
    """A demo that cannot start or go on; the message is one line for the user."""


@dataclass(frozen=True)
class Section:
    """What one step shows: a title, a table and notes under it."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DemoFolder:
    """The demo's own folder: Dagster home, data (simulator state, ledger, CRM mirror), policy and workspace."""

    root: Path

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster_home"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def simulators_dir(self) -> Path:
        """Where the pipeline keeps simulator state when no credentials are set (`<data_dir>/simulators`)."""
        return self.data_dir / "simulators"

    @property
    def policy_path(self) -> Path:
        return self.root / "policy.yaml"

    @property
    def workspace_path(self) -> Path:
        return self.root / "workspace.yaml"

    @classmethod
    def create(cls, root: Path, crm: str = "salesforce") -> DemoFolder:
        """Make the folder; an existing non-empty folder is refused before anything is written."""
        root = Path(root).expanduser().absolute()
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise DemoError(f"{root} already exists and is not empty: choose a new folder with --dir")
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DemoError(f"cannot create {root}: {exc.strerror or exc}") from exc
        folder = cls(root)
        folder.dagster_home.mkdir()
        folder.simulators_dir.mkdir(parents=True)
        # The same instance settings as the command's own home (the run queue's one-sync-per-pair limit included).
        from contact_sync.launcher import FALLBACK_DAGSTER_YAML, REPO_DAGSTER_YAML

        instance_yaml = REPO_DAGSTER_YAML.read_text() if REPO_DAGSTER_YAML.is_file() else FALLBACK_DAGSTER_YAML
        (folder.dagster_home / "dagster.yaml").write_text(instance_yaml)
        folder.workspace_path.write_text(
            "load_from:\n  - python_module:\n      module_name: contact_sync.definitions\n"
            "      location_name: contact_sync\n"
        )
        folder.policy_path.write_text(demo_policy_text())
        # `dagster dev` and `contact-sync` both load a folder's .env first: in the demo folder they share one home.
        (folder.root / ".env").write_text("".join(f"{k}={v}\n" for k, v in folder.env(crm).items()))
        return folder

    def env(self, crm: str) -> dict[str, str]:
        """The variables every demo run (and `dagster dev` on the demo) uses."""
        return {
            "DAGSTER_HOME": str(self.dagster_home),
            "CONTACT_SYNC_DATA_DIR": str(self.data_dir),
            "CONTACT_SYNC_POLICY": str(self.policy_path),
            "CONTACT_SYNC_CRM": crm,
            "CONTACT_SYNC_DEPLOYMENT": "simulated",
        }

    def dagster_dev_command(self) -> str:
        """How to open the demo's runs in the UI (`dagster dev` reads DAGSTER_HOME and the rest from the .env)."""
        return f'cd "{self.root}" && dagster dev -w workspace.yaml'


def demo_policy_text() -> str:
    """The shipped default policy with one change: email conflicts are held for a person (manual), so the demo has a
    review queue to show."""
    text = DEFAULT_POLICY_PATH.read_text()
    old = "    genesys: workEmail\n    direction: both\n    conflict: last_write_wins\n"
    if old not in text:
        raise DemoError("the shipped policy file no longer has the email entry the demo changes")
    header = "# contact-sync demo policy: the shipped default, except that email conflicts wait for a person.\n"
    return header + text.replace(old, old.replace("last_write_wins", "manual  # demo: the default is last_write_wins"))


@contextmanager
def demo_environment(env: Mapping[str, str]) -> Iterator[None]:
    """Run with exactly the demo's settings: credentials and other contact-sync settings of the caller's environment
    are set aside (so nothing reaches a real service), then restored."""
    saved = {k: v for k, v in os.environ.items() if k.startswith(_FOREIGN_PREFIXES) or k == "DAGSTER_HOME"}
    for name in saved:
        del os.environ[name]
    os.environ.update(env)
    try:
        yield
    finally:
        for name in env:
            os.environ.pop(name, None)
        os.environ.update(saved)


def run_sync_job(instance: dg.DagsterInstance, mode: str, cohort: str) -> dict[str, Any]:
    """Run the real sync job for one cohort through the launcher, against `instance` (so it is stored there and
    shows in the UI); the run report, or DemoError when the run failed or could not start."""
    from contact_sync.launcher import LaunchError, run_sync

    try:
        outcome = run_sync(mode, cohort, instance=instance, log_level="ERROR")  # type: ignore[arg-type]
    except LaunchError as exc:
        raise DemoError(str(exc)) from None
    if not outcome.succeeded:
        raise DemoError(f"sync run {outcome.run_id} failed: {outcome.error}")
    return outcome.report


@dataclass
class EditedContact:
    """A contact the demo edits between runs, and what it did on each side."""

    field: str
    crm_id: str
    genesys_id: str
    crm_edit: str | None
    genesys_edit: str | None


def _text(value: Any) -> str:
    if value is None or (not isinstance(value, list | dict) and pd.isna(value)):
        return "-"
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return str(value)


class Walkthrough:
    """The demo's steps, in order. Use as a context manager (it sets the demo's environment for its runs)."""

    def __init__(self, folder: DemoFolder, contacts: int, crm: str = "salesforce", progress: Progress | None = None):
        if crm not in DEMO_CRMS:
            raise DemoError(f"--crm must be one of {', '.join(DEMO_CRMS)}, got {crm!r}")
        if contacts < PILOT_SIZE * 2:
            raise DemoError(f"--contacts must be at least {PILOT_SIZE * 2} (the pilot cohort alone is {PILOT_SIZE})")
        self.folder = folder
        self.contacts = contacts
        self.crm = crm
        self.label = crm_plugin(crm).label
        self.policy = load_policy(folder.policy_path)
        self.progress: Progress = progress or (lambda what, done, total: None)
        self.runs: list[dict[str, Any]] = []
        self.edited: list[EditedContact] = []
        self.decided: EditedContact | None = None
        self._env = demo_environment(folder.env(crm))
        self._instance: dg.DagsterInstance | None = None
        self._ledger: Ledger | None = None
        self._closing = ExitStack()

    def __enter__(self) -> Walkthrough:
        self._env.__enter__()
        self._instance = dg.DagsterInstance.get()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.close()
        if self._instance is not None:
            self._instance.dispose()
        self._env.__exit__(*exc)

    # -- helpers ----------------------------------------------------------------------------------------------------
    @property
    def instance(self) -> dg.DagsterInstance:
        assert self._instance is not None, "use Walkthrough as a context manager"
        return self._instance

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            self._ledger = self._closing.enter_context(Ledger.opened(PipelineSettings.from_env().database_url))
        return self._ledger

    @contextmanager
    def simulators(self) -> Iterator[tuple[CrmSeat, Any]]:
        """A seat at the CRM simulator and the Genesys simulator, opened directly on the demo's state folder (no
        server)."""
        from contact_sync.simulators import simulator_classes

        classes, name = simulator_classes(), crm_plugin(self.crm).simulator
        crm = classes[name](self.folder.simulators_dir / name)
        genesys = classes["genesys"](self.folder.simulators_dir / "genesys")
        try:
            yield crm_plugin(self.crm).seat(crm), genesys
        finally:
            crm.close()
            genesys.close()

    def _run(self, label: str, mode: str, cohort: str) -> dict[str, Any]:
        report = {**run_sync_job(self.instance, mode, cohort), "step": label}
        self.runs.append(report)
        return report

    def _matches_metadata(self) -> dict[str, Any]:
        event = self.instance.get_latest_materialization_event(dg.AssetKey("contact_matches"))
        if event is None or event.asset_materialization is None:
            return {}
        return {k: v.value for k, v in event.asset_materialization.metadata.items()}

    @staticmethod
    def run_rows(report: Mapping[str, Any]) -> list[list[str]]:
        return [
            ["Dagster run", str(report["run_id"])],
            ["Mode / cohort", f"{report['mode']} / {report['cohort']}"],
            ["Created in Genesys", str(report["created"]["genesys"])],
            ["Updated in Genesys", str(report["updated"]["genesys"])],
            ["Updated in CRM", str(report["updated"]["crm"])],
            ["Skipped", str(report["skipped"])],
            ["Errors", str(report["errors"])],
            ["Conflicts", str(report["conflicts"])],
            ["Baseline differences", str(report.get("baseline_differences", 0))],
            ["API calls", str(sum(report["api_calls"].values()))],
            # The report's duration (run start to report), the figure status, sync_report and sync_health show.
            ["Duration", f"{report['duration_s']:.1f} s"],
        ]

    def crm_field(self, name: str) -> str | None:
        """The CRM's field for a canonical field under the demo's policy (None: not synced for this CRM)."""
        return self.policy.field(name).crm_field(self.crm)

    # -- steps ------------------------------------------------------------------------------------------------------
    def seed(self) -> Section:
        """A realistic CRM and Genesys org: duplicates in the CRM, people on both sides, Genesys-only contacts."""
        from contact_sync.simulators.seed import generate_dataset, seed_simulators

        self.progress("Generating people", 0, 2)
        dataset = generate_dataset(self.contacts, seed=7)
        self.progress("Loading them into the simulators", 1, 2)
        with self.simulators() as (crm, genesys):
            report = seed_simulators((crm, genesys), dataset=dataset)
        self.progress("Seeded", 2, 2)
        c = report.counts
        return Section(
            "Seeded simulators",
            ["", "Count"],
            [
                [f"{self.label} accounts", str(c["accounts"])],
                [f"{self.label} contacts", str(c["salesforce_contacts"])],
                ["  of which duplicates of another contact", str(c["salesforce_duplicates"])],
                ["Genesys organizations", str(c["organizations"])],
                ["Genesys contacts", str(c["genesys_contacts"])],
                [f"  the same people as in {self.label} (noisy copies)", str(c["genesys_overlapping"])],
                ["  only in Genesys", str(c["genesys_only"])],
            ],
            [
                "Genesys copies differ the way real data does: email letter case, phone formats, nicknames; "
                f"none is linked to {self.label} yet."
            ],
        )

    def phase1_pilot(self) -> Section:
        """Phase 1: a 100-contact pilot cohort, one way."""
        from contact_sync.pipeline.cohorts import create_cohort
        from contact_sync.pipeline.services import open_services

        self.progress(f"Creating cohort {PILOT_COHORT} ({PILOT_SIZE} contacts)", 0, 2)
        with open_services() as services:
            create_cohort(services, PILOT_COHORT, PILOT_SIZE)
        self.progress(f"Running sync_one_way on {PILOT_COHORT}", 1, 2)
        report = self._run("Phase 1: pilot, one way", "one_way", PILOT_COHORT)
        members = set(self.ledger.cohort_members(PILOT_COHORT))
        linked = self.ledger.links(self.crm)
        outside = int((~linked["crm_id"].isin(members)).sum())
        return Section(
            f"Phase 1 - one way (CRM -> Genesys) on the pilot cohort {PILOT_COHORT}",
            ["", "Value"],
            [*self.run_rows(report), ["Linked contacts outside the pilot", str(outside)]],
            [
                f"Cohort {PILOT_COHORT}: {len(members)} CRM contacts picked deterministically and stored in the "
                "ledger; a cohort run reads everything but writes only its own contacts.",
                "A first sync has no last-synced value to compare with, so a field that differs on the two sides "
                "is a baseline difference, not a conflict: settled by its policy (in one-way mode the CRM's value), "
                "audited, and no alert.",
            ],
        )

    def phase2_all(self) -> Section:
        """Phase 2: every contact, one way, then the same run again (a steady-state run writes nothing)."""
        self.progress("Running sync_one_way on all contacts", 0, 2)
        report = self._run("Phase 2: all, one way", "one_way", ALL_COHORT)
        meta = self._matches_metadata()
        self.progress("Running it again (steady state)", 1, 2)
        again = self._run("Phase 2: all again", "one_way", ALL_COHORT)
        rows = self.run_rows(report)
        reasons = meta.get("review_reasons") or {}
        rows += [
            ["CRM records in a duplicate group", str(meta.get("crm_duplicate_records", "-"))],
            ["  folded into their twin (not created twice)", str(meta.get("crm_duplicates_folded", "-"))],
            ["Matched by stored link (the pilot's)", str(meta.get("matched_by_link", 0))],
            ["Linked to an existing Genesys contact on evidence", str(meta.get("linked_by_score", 0))],
            ["  proposed by email", str(meta.get("matched_by_email", 0))],
            ["  ... by phone", str(meta.get("matched_by_phone", 0))],
            ["  ... by last name + account", str(meta.get("matched_by_name_account", 0))],
            ["Pairs held for review (contact-sync matches list)", str(meta.get("held_for_review", 0))],
            *[[f"  {reason}", str(n)] for reason, n in sorted(reasons.items())],
            ["Pairs kept apart (two people, or no evidence enough)", str(meta.get("kept_apart", 0))],
            *[[f"  {reason}", str(n)] for reason, n in sorted((meta.get("kept_apart_reasons") or {}).items())],
            ["Second run right after: writes", str(sum(again["created"].values()) + sum(again["updated"].values()))],
        ]
        return Section(
            "Phase 2 - one way on all contacts",
            ["", "Value"],
            rows,
            [
                "Existing Genesys contacts were proposed by email (ignoring case), phone (E.164) or last name + "
                "account, scored on all their evidence (names with nicknames and typos, how many people share the "
                "key) and linked through externalIds instead of duplicated; colleagues on an office line or a role "
                "mailbox were kept apart, and pairs in between wait for a person in the match review queue. CRM "
                "duplicates (same key and agreeing names) create one Genesys contact and are reported."
            ],
        )

    def make_conflicting_edits(self) -> Section:
        """Edits on both sides of linked contacts, the CRM's first, Genesys's a moment later."""
        links = self.ledger.links(self.crm).sort_values("crm_id").reset_index(drop=True)
        if len(links) < 5:
            raise DemoError(f"only {len(links)} linked contacts after phase 2; the demo needs 5")
        pick = links.head(5)
        edits: list[tuple[str, str | None, dict[str, Any]]] = [
            ("first_name", "Margaret", {"firstName": "Peggy"}),
            ("phone", "(312) 248-7710", {"workPhone": {"display": "(773) 301-6642"}}),
            ("tags", "vip;renewal", {"tags": ["vip", "support"]}),
            ("email", "m.work@example.com", {"workEmail": "m.personal@example.org"}),
            ("phone", None, {"workPhone": {"display": "(415) 362-9080"}}),
        ]
        # A field the policy does not map for this CRM (Dynamics has no standard tags column) is left out.
        plans = [
            (name, {self.crm_field(name): value} if value is not None else {}, change)
            for name, value, change in edits
            if self.crm_field(name) is not None
        ]
        pick = pick.head(len(plans))
        with self.simulators() as (crm, genesys):
            for (_name, crm_change, _), link in zip(plans, pick.itertuples(), strict=True):
                if crm_change:
                    crm.edit(link.crm_id, crm_change)
            time.sleep(_SAME_TIME_GAP_S)
            for (name, crm_change, genesys_change), link in zip(plans, pick.itertuples(), strict=True):
                change = dict(genesys_change or {})
                if "tags" in change:
                    current = genesys.contact(link.genesys_id) or {}
                    change = {"customFields": {**(current.get("customFields") or {}), "tags": change.pop("tags")}}
                genesys.edit_contact(link.genesys_id, change)
                crm_text = next(iter(crm_change.values())) if crm_change else None
                raw = next(iter(genesys_change.values())) if genesys_change else None
                genesys_text = raw["display"] if isinstance(raw, dict) else _text(raw)
                self.edited.append(EditedContact(name, link.crm_id, link.genesys_id, crm_text, genesys_text))
        rows = [
            [e.crm_id, e.field, self.policy.field(e.field).conflict, _text(e.crm_edit), _text(e.genesys_edit)]
            for e in self.edited
        ]
        return Section(
            "Edits made on both sides between runs",
            ["CRM id", "Field", "Policy", f"{self.label} edit", "Genesys edit (later)"],
            rows,
            ["The last row is a Genesys-only edit: in bidirectional mode it is copied to the CRM, no conflict."],
        )

    def _current(self, edited: EditedContact) -> tuple[str, str]:
        crm_field = self.crm_field(edited.field)
        with self.simulators() as (crm, genesys):
            crm_row = crm.record(edited.crm_id) or {}
            g = genesys.contact(edited.genesys_id) or {}
        genesys_value = {
            "first_name": g.get("firstName"),
            "phone": (g.get("workPhone") or {}).get("display"),
            "tags": (g.get("customFields") or {}).get("tags"),
            "email": g.get("workEmail"),
        }[edited.field]
        return _text(crm_row.get(crm_field)), _text(genesys_value)

    def phase3_bidirectional(self) -> Section:
        """Phase 3: the bidirectional run over the edits, and each policy's outcome."""
        self.progress("Running sync_bidirectional on all contacts", 0, 1)
        report = self._run("Phase 3: bidirectional", "bidirectional", ALL_COHORT)
        found = self.ledger.conflicts(run_id=report["run_id"])
        rows = []
        for e in self.edited:
            hit = found[(found["crm_id"] == e.crm_id) & (found["field"] == e.field)]
            status = hit["status"].iloc[0] if len(hit) else None
            winner = hit["winner"].iloc[0] if len(hit) else None
            outcome = (
                "held for review"
                if status == "open"
                else f"conflict: {winner} wins"
                if len(hit)
                else "copied to the CRM (no conflict)"
            )
            crm_now, genesys_now = self._current(e)
            rows.append([e.field, str(hit["policy"].iloc[0]) if len(hit) else "-", outcome, crm_now, genesys_now])
        return Section(
            "Phase 3 - bidirectional: how each policy resolved the edits",
            ["Field", "Policy", "Outcome", f"{self.label} now", "Genesys now"],
            rows,
            [
                f"Run {report['run_id']}: {report['updated']['genesys']} Genesys and {report['updated']['crm']} CRM "
                f"updates, {report['created']['genesys']} created in Genesys, {report['conflicts']} conflicts, "
                f"{report['errors']} errors, {report['duration_s']:.1f} s. Every conflict is in the ledger with both "
                "versions and the base; the losing side was updated. (A CRM duplicate whose names no longer agree "
                "with its edited twin is a person of its own now, and is created.)"
            ],
        )

    def review_queue(self) -> Section:
        """The conflicts waiting for a person, and one decision made (take Genesys's version)."""
        queue = self.ledger.open_conflicts()
        rows = [
            [str(r.id), str(r.crm_id), str(r.field), _text(r.crm_value), _text(r.genesys_value), str(r.policy)]
            for r in queue.itertuples()
        ]
        notes = []
        if len(queue):
            first = queue.iloc[0]
            self.ledger.decide(int(first["id"]), "genesys", by="contact-sync demo")
            self.decided = next(
                (e for e in self.edited if e.crm_id == first["crm_id"] and e.field == first["field"]), None
            )
            notes.append(
                f"Decision: conflict {int(first['id'])} -> use the Genesys value "
                f"(same as `contact-sync conflicts resolve {int(first['id'])} --use genesys`)."
            )
        return Section(
            "Review queue (manual policy)", ["Id", "CRM id", "Field", self.label, "Genesys", "Policy"], rows, notes
        )

    def apply_decision(self) -> Section:
        """The next bidirectional run writes the decision to both sides."""
        self.progress("Running sync_bidirectional to apply the decision", 0, 1)
        report = self._run("Phase 3: decision applied", "bidirectional", ALL_COHORT)
        rows = self.run_rows(report)
        if self.decided is not None:
            crm_now, genesys_now = self._current(self.decided)
            rows += [
                ["Decided field", self.decided.field],
                [f"{self.label} now", crm_now],
                ["Genesys now", genesys_now],
            ]
        rows.append(["Still open in the review queue", str(len(self.ledger.open_conflicts()))])
        return Section("Decision applied by the next run", ["", "Value"], rows)

    def trace(self) -> Section:
        """Every recorded change of the decided contact, oldest first (the data `contact-sync trace` shows)."""
        from contact_sync.pipeline.trace import contact_trace

        target = self.decided or (self.edited[0] if self.edited else None)
        data = contact_trace(self.ledger, target.crm_id) if target is not None else None
        if target is None or data is None:
            return Section("Trace", ["Run"], [], ["No contact to trace."])
        rows = [
            [
                str(c["run_id"]),
                str(c["at"])[:19].replace("T", " "),
                str(c["system"]),
                str(c["field"]),
                f"{_text(c['old_value'])} -> {_text(c['new_value'])}",
                str(c["reason"]),
            ]
            for c in data["changes"]
        ]
        notes = [
            f"Linked: {link['crm_system']} {link['crm_id']} <-> Genesys {link['genesys_id']} (by {link['rule']})"
            for link in data["links"]
        ]
        notes.append(f"Open conflicts: {len(data['open_conflicts'])}. Any contact: contact-sync trace ID_OR_EMAIL")
        return Section(
            f"Trace of CRM contact {target.crm_id} (contact-sync trace {target.crm_id})",
            ["Run", "At (UTC)", "System", "Field", "Old -> new", "Reason"],
            rows,
            notes,
        )

    def end_state(self) -> Section:
        """What the services and the ledger hold now, counted from them."""
        with self.simulators() as (crm, genesys):
            crm_live = crm.count()
            genesys_total = genesys.count()
            linked_genesys = count_linked_genesys(genesys)
        links = self.ledger.links(self.crm)
        conflicts = self.ledger.conflicts()
        rows = [
            [f"{self.label} contacts", str(crm_live)],
            ["Genesys contacts", str(genesys_total)],
            [f"Genesys contacts linked to {self.label}", str(linked_genesys)],
            ["Links in the ledger", str(len(links))],
            ["Conflicts recorded", str(len(conflicts))],
            ["Open conflicts", str(int((conflicts["status"] == "open").sum()) if len(conflicts) else 0)],
            ["Dagster runs", str(self.instance.get_runs_count())],
        ]
        return Section("End state (read back from the services)", ["", "Count"], rows)


def count_linked_genesys(genesys: Any) -> int:
    """Genesys contacts carrying a CRM id in externalIds, read straight from the simulator's store."""
    import orjson

    linked, after = 0, None
    while True:
        page = genesys.store.scan("contacts", after, None, 1000)
        if not page:
            return linked
        for _, blob in page:
            if orjson.loads(blob).get("externalIds"):
                linked += 1
        after = page[-1][0]
