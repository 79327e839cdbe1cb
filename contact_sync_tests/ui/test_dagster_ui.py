"""The Dagster UI, checked in a real browser: after the demo's runs, `dagster-webserver` serves the project's
workspace on loopback and headless Chromium (Debian's package, driven by Playwright) loads the asset graph, the
`sync_report` asset with its metadata, the rollout partitions, a run's logs, the `sync_health` view, the plan's field
lineage, a `trace_contact` run and the conflict preview. Screenshots go to the test's tmp folder."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WORKSPACE = Path(__file__).resolve().parents[2] / "workspace.yaml"
PAGE_TIMEOUT_MS = 30_000
SYNC_ASSETS = (
    "crm_contacts",
    "genesys_contacts",
    "contact_matches",
    "reconciliation",
    "genesys_writes",
    "crm_writes",
    "conflict_report",
    "sync_report",
)


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium; its absence skips (with the reason) outside CI and fails in CI, whose script installs it."""
    if not CHROMIUM.is_file():
        message = f"{CHROMIUM} is not installed (Debian package `chromium`; .ci/run installs it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def webserver(chromium: Path, demo_run: tuple[Path, str], tmp_path: Path) -> Iterator[str]:
    """`dagster-webserver` on a free loopback port with the project's workspace.yaml, started in the demo folder as
    the demo says: DAGSTER_HOME and the rest come from the folder's .env alone. Yields its base URL once it answers."""
    folder = demo_run[0]
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SALESFORCE_", "GENESYS_", "CONTACT_SYNC_")) and k != "DAGSTER_HOME"
    }
    script = Path(sys.executable).with_name("dagster-webserver")
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "dagster_webserver"]
    log = (tmp_path / "webserver.log").open("wb")
    process = subprocess.Popen(
        [*command, "-h", "127.0.0.1", "-p", str(port), "-w", str(WORKSPACE)],
        cwd=folder,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the code server it starts is stopped with it
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                pytest.fail(f"dagster-webserver exited: {(tmp_path / 'webserver.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/server_info", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("dagster-webserver did not answer within 90 s")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
        log.close()


def show_markdown(page: Any, key: str) -> str:
    """The markdown of the metadata entry `key` as shown: in its "[Show Markdown]" dialog, or in the row when the UI
    shows it inline (a short one)."""
    row = page.locator("tr", has=page.get_by_text(key, exact=True)).first
    row.scroll_into_view_if_needed()
    link = row.get_by_text("[Show Markdown]")
    if not link.count():
        return str(row.inner_text())
    link.click()
    dialog = page.get_by_role("dialog").last
    dialog.wait_for(state="visible")
    text = str(dialog.inner_text())
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    return text


def trace_run(folder: Path, query: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A `trace_contact` run of `query` in the demo's instance, as an operator launches it; its run id."""
    from dotenv import dotenv_values

    from contact_sync.definitions import defs

    for key, value in dotenv_values(folder / ".env").items():
        monkeypatch.setenv(key, str(value))
    instance = dg.DagsterInstance.from_config(str(folder / "dagster_home"))
    try:
        result = defs.resolve_job_def("trace_contact").execute_in_process(
            instance=instance, run_config={"ops": {"trace_one_contact": {"config": {"query": query}}}}
        )
    finally:
        instance.dispose()
    return result.run_id


def see(page: Any, *texts: str) -> None:
    """Wait until each text is visible on the page, as a person would read it."""
    for text in texts:
        page.get_by_text(text, exact=True).first.wait_for(state="visible", timeout=PAGE_TIMEOUT_MS)


def test_the_ui_shows_the_demo_runs(
    chromium: Path, demo_run: tuple[Path, str], webserver: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from playwright.sync_api import sync_playwright

    instance = dg.DagsterInstance.from_config(str(demo_run[0] / "dagster_home"))
    try:
        runs = instance.get_runs()  # newest first
        event = instance.get_latest_materialization_event(dg.AssetKey("sync_report"))
    finally:
        instance.dispose()
    assert event is not None and event.asset_materialization is not None
    stored = {k: v.value for k, v in event.asset_materialization.metadata.items()}
    pilot = next(r for r in runs if r.tags.get("dagster/partition") == "pilot-001")
    decided = "0035g0000000004AAA"  # the demo's contact whose email conflict a person decided
    traced = trace_run(demo_run[0], decided, monkeypatch)
    last = runs[0]
    shots = tmp_path / "screenshots"
    shots.mkdir()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(PAGE_TIMEOUT_MS)

            # The global lineage: the four asset groups. Dagster greets a first visit with a newsletter dialog.
            page.goto(f"{webserver}/asset-groups")
            see(page, "Global asset lineage")
            skip = page.get_by_role("button", name="Skip")
            skip.wait_for(state="visible")
            skip.click()
            see(page, "snapshots", "sync", "writes", "reports")
            page.screenshot(path=shots / "1-lineage.png")

            # The sync group's graph: every asset of the pipeline, the Pandera check passing, both cohorts.
            page.goto(f"{webserver}/locations/contact_sync/asset-groups/sync")
            see(page, *SYNC_ASSETS, "1 / 1 Passed", "2 partitions")
            page.screenshot(path=shots / "2-asset-graph.png")

            # sync_report: the latest run's report as metadata.
            page.goto(f"{webserver}/assets/sync_report")
            see(page, "Latest materialization", "Metadata", "health_score", "created_genesys", "simulated_services")
            see(page, last.run_id, "bidirectional")
            page.screenshot(path=shots / "3-sync-report.png")
            # The figures shown are the ones the run stored (a row reads: key, timestamp, value).
            for key in ("updated_crm", "updated_genesys", "conflicts", "health_score"):
                row = page.locator("tr", has=page.get_by_text(key, exact=True)).first
                row.scroll_into_view_if_needed()
                assert row.inner_text().split()[-1] == str(stored[key]), (key, row.inner_text())
            page.screenshot(path=shots / "3b-sync-report-figures.png")

            # The rollout partitions of the reconciliation.
            page.goto(f"{webserver}/assets/reconciliation?view=partitions")
            see(page, "Materialized (2)", "Missing (0)", "pilot-001", "all")
            page.get_by_text("pilot-001", exact=True).first.click()
            page.get_by_text(pilot.run_id[:8]).first.wait_for(state="visible")
            page.screenshot(path=shots / "4-partitions.png")

            # The pilot run's logs.
            page.goto(f"{webserver}/runs/{pilot.run_id}")
            see(page, "Success", "partition: pilot-001", "RUN_SUCCESS")
            page.get_by_text('Finished execution of run for "sync_one_way".').wait_for(state="visible")
            page.screenshot(path=shots / "5-run-logs.png")

            # The health view: every real run of the demo in a table, the score against its threshold, a green check.
            page.goto(f"{webserver}/assets/sync_health")
            see(page, "Latest materialization", "health_score", "health_threshold", "runs", "run_score")
            for run in runs:
                see(page, run.run_id)
            page.screenshot(path=shots / "6-sync-health.png", full_page=True)
            page.goto(f"{webserver}/assets/sync_health?view=checks")
            see(page, "health_above_threshold")
            page.get_by_text("Passed").first.wait_for(state="visible")

            # Where Phone goes: the plan's field lineage, as the reconciliation's latest materialization shows it.
            page.goto(f"{webserver}/assets/reconciliation")
            see(page, "Latest materialization", "field_lineage")
            lineage = show_markdown(page, "field_lineage")
            assert "Phone → crm_contacts.phone → reconciliation → genesys_writes.workPhone" in lineage, lineage
            assert "workPhone → genesys_contacts.phone → reconciliation → crm_writes.Phone" in lineage, lineage
            page.screenshot(path=shots / "7-field-lineage.png")

            # A trace_contact run: the contact's history with its decided email, whole, in the run's output.
            page.goto(f"{webserver}/runs/{traced}")
            see(page, "Success", "RUN_SUCCESS")
            trace = show_markdown(page, "trace")
            assert f"Changes of {decided}" in trace and "m.work@example.com" in trace, trace
            assert "m.personal@example.org" in trace and "decision" in trace, trace
            page.screenshot(path=shots / "8-trace-run.png")

            # The conflict preview of the last run: both versions and the decision, not cut off.
            page.goto(f"{webserver}/assets/conflict_report")
            see(page, "Latest materialization", "preview")
            preview = show_markdown(page, "preview")
            assert "m.work@example.com" in preview and "m.personal@example.org" in preview, preview
            page.screenshot(path=shots / "9-conflict-preview.png")
        finally:
            browser.close()
    assert sorted(p.name for p in shots.iterdir()) == [
        "1-lineage.png",
        "2-asset-graph.png",
        "3-sync-report.png",
        "3b-sync-report-figures.png",
        "4-partitions.png",
        "5-run-logs.png",
        "6-sync-health.png",
        "7-field-lineage.png",
        "8-trace-run.png",
        "9-conflict-preview.png",
    ]
