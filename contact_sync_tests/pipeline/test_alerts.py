"""Alert thresholds and delivery to the log, the ledger and a Slack-compatible webhook."""

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from contact_sync.ledger import Ledger
from contact_sync.pipeline.alerts import Alert, health_alert, run_alerts, send_alerts
from contact_sync.settings import Secret

REPORT = {"run_id": "r-1", "status": "success", "mode": "one_way", "cohort": "all", "errors": 0, "duration_s": 1.0}


def test_thresholds_are_the_guides() -> None:
    assert run_alerts(REPORT) == []
    assert run_alerts({**REPORT, "errors": 10}) == []
    assert [a.kind for a in run_alerts({**REPORT, "errors": 11})] == ["high_errors"]
    assert run_alerts({**REPORT, "duration_s": 300}) == []
    assert [a.kind for a in run_alerts({**REPORT, "duration_s": 301})] == ["slow_run"]
    assert [a.kind for a in run_alerts({**REPORT, "status": "failure"})] == ["run_failed"]
    # Conflicts alert when some wait for a person, or when unusually many were settled by policy.
    assert run_alerts({**REPORT, "conflicts": 2, "baseline_differences": 2739}) == []
    held = run_alerts({**REPORT, "conflicts": 2, "conflicts_held": 1})
    assert [a.kind for a in held] == ["conflicts"] and "1 conflict(s) wait for a person" in held[0].message
    assert [a.kind for a in run_alerts({**REPORT, "conflicts": 11, "decided": {"records": 100}})] == ["conflicts"]
    assert run_alerts({**REPORT, "conflicts": 100, "decided": {"records": 10_000}}) == []
    assert [a.kind for a in run_alerts({**REPORT, "conflicts": 101, "decided": {"records": 10_000}})] == ["conflicts"]
    assert health_alert(None, 70) is None and health_alert(70.0, 70) is None
    low = health_alert(69.5, 70, "r-1")
    assert low is not None and low.kind == "low_health" and "69.5" in low.message


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, object]]] = []
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[str]:
    _Hook.received = []
    _Hook.status = 200
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/services/T000/B000/very-secret-token"
    finally:
        server.shutdown()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Ledger]:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    ledger.migrate()
    yield ledger
    ledger.dispose()


def test_alerts_reach_the_log_the_ledger_and_the_webhook(
    store: Ledger, webhook: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    [alert_id] = send_alerts([Alert("high_errors", "run r-1: 12 records failed", "r-1")], store, Secret(webhook))
    assert _Hook.received == [{"text": "contact-sync [high_errors] run r-1: 12 records failed"}]
    [stored] = store.recent_alerts()
    assert stored.id == alert_id and stored.delivered and stored.kind == "high_errors"
    assert "12 records failed" in caplog.text


def test_a_failing_webhook_is_logged_without_its_url_and_the_alert_kept_undelivered(
    store: Ledger, webhook: str, caplog: pytest.LogCaptureFixture
) -> None:
    _Hook.status = 500
    caplog.set_level(logging.WARNING)
    send_alerts([Alert("slow_run", "run r-2 took 400 s", "r-2")], store, Secret(webhook))
    [stored] = store.recent_alerts()
    assert not stored.delivered
    assert "alert webhook failed" in caplog.text and "very-secret-token" not in caplog.text
