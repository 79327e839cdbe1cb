"""Alerts end to end: a run with more than 10 failed records still succeeds, and the high-error and low-health
alerts reach the log, the ledger and a Slack-compatible webhook on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import dagster as dg
import pytest

from contact_sync_tests.scenarios.conftest import Scenario, digits, people


class Receiver:
    """A webhook endpoint on 127.0.0.1 that keeps every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                received.append(
                    {"path": self.path, "type": self.headers.get("Content-Type"), **json.loads(self.rfile.read(length))}
                )
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T000/B000/secret"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


# Salesforce only: the failing writes and the alerts are on the Genesys side and the ledger, the same whatever the CRM
# (the CRM is only read here); one run keeps the scenarios folder fast.
@pytest.mark.parametrize("crm_kind", ["salesforce"])
def test_more_than_10_record_errors_alert_to_the_ledger_and_the_webhook(
    scenario: Scenario, webhook: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    crm, gen = scenario.crm, scenario.sims.genesys
    ids = scenario.load_crm(people(12))
    scenario.sync()
    linked = {crm_id: c["id"] for crm_id, c in scenario.genesys_by_crm_id().items()}
    for n, crm_id in enumerate(ids):
        crm.edit(crm_id, phone=f"628-555-{2000 + n:04d}")
    gen.set_faults([{"kind": "429", "path": "/bulk/contacts/update", "retry_after": 0}])  # every update call refused
    monkeypatch.setenv("CONTACT_SYNC_ALERT_WEBHOOK", webhook.url)
    monkeypatch.setenv("CONTACT_SYNC_HEALTH_THRESHOLD", "90")

    failed = scenario.sync()  # per-record errors: the run itself succeeds

    assert failed.report["errors"] == 12 and failed.report["updated"]["genesys"] == 0
    assert all(digits(gen.contact(linked[i])["workPhone"]["display"]).startswith("415") for i in ids)
    with scenario.ledger() as ledger:
        raised = {a.kind: a for a in ledger.recent_alerts() if a.run_id == failed.run_id}
        assert ledger.run(failed.run_id).errors == 12
    assert set(raised) == {"high_errors", "low_health"}
    assert "12 records failed" in raised["high_errors"].message and raised["high_errors"].delivered
    texts = [body["text"] for body in webhook.bodies]
    assert any(t.startswith("contact-sync [high_errors]") and failed.run_id in t for t in texts)
    assert any(t.startswith("contact-sync [low_health]") for t in texts)
    assert {body["type"] for body in webhook.bodies} == {"application/json"}
    assert {body["path"] for body in webhook.bodies} == {"/services/T000/B000/secret"}
    # The checks on the report's and the health view's pages are red with the same reasons, listing the records.
    storage = scenario.instance.event_log_storage
    check = dg.AssetCheckKey(dg.AssetKey("sync_report"), "errors_within_limit")
    [record] = storage.get_asset_check_execution_history(check, limit=1)
    assert record.run_id == failed.run_id and record.status.value == "FAILED"
    evaluation = record.event.dagster_event.event_specific_data  # type: ignore[union-attr]
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert evaluation.metadata["problem"].value == "12 records failed (more than 10)"
    assert evaluation.metadata["failed_records"].value.count("\n") == 11  # one line per failed record
    check = dg.AssetCheckKey(dg.AssetKey("sync_health"), "health_above_threshold")
    [record] = storage.get_asset_check_execution_history(check, limit=1)
    assert record.run_id == failed.run_id and record.status.value == "FAILED"
    evaluation = record.event.dagster_event.event_specific_data  # type: ignore[union-attr]
    assert "below 90" in evaluation.metadata["problem"].value and failed.run_id in evaluation.metadata["low_runs"].value

    # The failed records were not marked synced: once Genesys answers again, the next run writes them.
    gen.set_faults([])
    recovered = scenario.sync()
    assert recovered.report["updated"]["genesys"] == 12 and recovered.report["errors"] == 0
    assert all(digits(gen.contact(linked[i])["workPhone"]["display"]).startswith("628") for i in ids)


# The Genesys write step is the same whatever the CRM: one CRM is enough.
@pytest.mark.parametrize("crm_kind", ["salesforce"])
def test_refused_credentials_fail_the_write_step_at_once_instead_of_retrying_it(scenario: Scenario) -> None:
    import time

    from contact_sync.launcher import run_sync

    scenario.load_crm(people(2))
    # Every create is answered 401, even with a fresh token: credentials revoked in the middle of the run.
    scenario.sims.genesys.set_faults([{"kind": "expired_token", "path": "/bulk/contacts/enrich"}])
    started = time.monotonic()
    outcome = run_sync("one_way", "all", instance=scenario.instance)
    elapsed = time.monotonic() - started

    assert not outcome.succeeded and outcome.error is not None and outcome.error.startswith("genesys_writes:")
    events = [e.dagster_event.event_type_value for e in scenario.instance.all_logs(outcome.run_id) if e.dagster_event]
    assert "STEP_UP_FOR_RETRY" not in events and events.count("STEP_FAILURE") == 1
    assert elapsed < 30  # three retries would have waited 5 + 10 + 20 s
    scenario.sims.genesys.set_faults([])
    assert scenario.sync().report["created"]["genesys"] == 2  # nothing was lost: the next run creates both
