"""The pair's run lock on SQLite and on the real PostgreSQL server: atomic claims, re-entry, release, take-over of a
holder whose run is over or whose process is gone, and the bounded wait."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from contact_sync.ledger import Ledger
from contact_sync.pipeline.config import PipelineSettings
from contact_sync.pipeline.locks import (
    RunLockError,
    claim_run_lock,
    process_is_gone,
    release_run_lock,
    this_process,
)
from contact_sync.settings import SettingsError

PAIR = "salesforce-genesys"


def never_over(_: str) -> bool:
    return False


def test_one_claim_wins_and_the_holder_may_renew(ledger: Ledger) -> None:
    assert claim_run_lock(ledger, PAIR, "run-a", never_over, wait_s=0) < 1
    assert claim_run_lock(ledger, PAIR, "run-a", never_over, wait_s=0) < 1  # re-entrant (each step renews)
    with pytest.raises(RunLockError, match="another sync of salesforce-genesys is in progress \\(run run-a"):
        claim_run_lock(ledger, PAIR, "run-b", never_over, wait_s=0)
    assert claim_run_lock(ledger, "dynamics-genesys", "run-b", never_over, wait_s=0) < 1  # another pair
    assert not release_run_lock(ledger, PAIR, "run-b")  # not its lock
    assert release_run_lock(ledger, PAIR, "run-a")
    assert claim_run_lock(ledger, PAIR, "run-b", never_over, wait_s=0) < 1
    assert ledger.lock(PAIR)["run_id"] == "run-b"


def test_concurrent_claims_never_both_win(ledger: Ledger) -> None:
    winners: list[str] = []
    errors: list[BaseException] = []

    def claim(run_id: str) -> None:
        try:
            claim_run_lock(ledger, PAIR, run_id, never_over, wait_s=0)
            winners.append(run_id)
        except RunLockError:
            pass
        except BaseException as exc:  # any other error must fail the test, not vanish in the thread
            errors.append(exc)

    threads = [threading.Thread(target=claim, args=(f"run-{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert len(winners) == 1 and ledger.lock(PAIR)["run_id"] == winners[0]


def test_a_holder_whose_run_is_over_or_whose_process_is_gone_is_taken_over(ledger: Ledger) -> None:
    claim_run_lock(ledger, PAIR, "failed-run", never_over, wait_s=0)
    assert claim_run_lock(ledger, PAIR, "next-run", lambda run_id: run_id == "failed-run", wait_s=0) < 1
    # A holder killed with -9: its pid no longer runs on this machine.
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead_owner = this_process().rsplit(":", 1)[0] + f":{child.pid}"
    ledger.claim_lock(PAIR, "killed-run", dead_owner, 3600, steal_from="next-run")
    assert ledger.lock(PAIR)["run_id"] == "killed-run"
    assert not process_is_gone(dead_owner)
    child.kill()
    child.wait()
    assert process_is_gone(dead_owner)
    claim_run_lock(ledger, PAIR, "after-crash", never_over, wait_s=0)
    assert ledger.lock(PAIR)["run_id"] == "after-crash"


def test_the_loser_waits_a_bounded_time_then_fails_in_one_line(ledger: Ledger) -> None:
    claim_run_lock(ledger, PAIR, "long-run", never_over, wait_s=0)
    naps: list[float] = []
    with pytest.raises(RunLockError) as refused:
        claim_run_lock(ledger, PAIR, "second", never_over, wait_s=2.5, sleep=lambda s: naps.append(s) or _nap(s))
    assert len(naps) >= 2 and "\n" not in str(refused.value) and "CONTACT_SYNC_LOCK_WAIT_S" in str(refused.value)
    # Once the holder is done, a waiting run gets the lock.
    release_run_lock(ledger, PAIR, "long-run")
    assert claim_run_lock(ledger, PAIR, "second", never_over, wait_s=5) < 5


def _nap(seconds: float) -> None:
    import time

    time.sleep(min(seconds, 1.0))


def test_lock_wait_setting() -> None:
    assert PipelineSettings.from_env({}).lock_wait_s == 120.0
    assert PipelineSettings.from_env({"CONTACT_SYNC_LOCK_WAIT_S": "5"}).lock_wait_s == 5.0
    for bad in ("soon", "-1", "90000"):
        with pytest.raises(SettingsError, match="CONTACT_SYNC_LOCK_WAIT_S"):
            PipelineSettings.from_env({"CONTACT_SYNC_LOCK_WAIT_S": bad})
