"""One sync per CRM/Genesys pair, however it starts (CLI, UI, schedule, sensor, GraphQL): a lock row in the ledger
that a run takes before its first step and gives back after its last. The ledger's conditional write makes the
claim atomic, so two runs started at the same moment never both write; the loser waits a bounded time, then fails
in one line. A holder whose run is over or whose process is gone (a crash, kill -9, a reboot) is taken over, so a
dead run never blocks the next one; the lease bounds the wait for a holder on another machine."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from contact_sync.ledger import Ledger
from contact_sync.pipeline.config import DEFAULT_LOCK_WAIT_S

LEASE_S: Final = 6 * 3600.0
"""How long a claim lasts without its process being seen alive (only a holder on another machine waits it out)."""
"""How long a run waits for the pair's lock before it fails (CONTACT_SYNC_LOCK_WAIT_S)."""
POLL_S: Final = 1.0


class RunLockError(RuntimeError):
    """The pair is being synced by another run for longer than this run may wait."""


def pair_name() -> str:
    """The CRM/Genesys pair this code location syncs (one pair per code location), the name of its lock."""
    return f"{(os.environ.get('CONTACT_SYNC_CRM') or 'salesforce').strip().lower()}-genesys"


def this_process() -> str:
    """The owner name of a lock taken here: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def process_is_gone(owner: str) -> bool:
    """True when ``owner`` (``host:pid``) is a process of this machine that no longer runs (or is a zombie)."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return False


def holder_is_gone(lock: dict[str, Any], run_is_over: Callable[[str], bool]) -> bool:
    """Whether the lock's holder can be taken over: its run is over (failed, succeeded, canceled, unknown to the
    instance) or its process on this machine is gone."""
    return run_is_over(str(lock["run_id"])) or process_is_gone(str(lock["owner"]))


def claim_run_lock(
    ledger: Ledger,
    pair: str,
    run_id: str,
    run_is_over: Callable[[str], bool],
    wait_s: float = DEFAULT_LOCK_WAIT_S,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Take (or renew) the pair's lock for ``run_id``; returns the seconds waited. Raises `RunLockError` when
    another live run still holds it after ``wait_s``."""
    started = time.monotonic()
    owner = this_process()
    while True:
        lock = ledger.claim_lock(pair, run_id, owner, LEASE_S)
        if lock["run_id"] != run_id and holder_is_gone(lock, run_is_over):
            lock = ledger.claim_lock(pair, run_id, owner, LEASE_S, steal_from=str(lock["run_id"]))
        if lock["run_id"] == run_id:
            return time.monotonic() - started
        waited = time.monotonic() - started
        if waited >= wait_s:
            since = lock["acquired_at"].isoformat(timespec="seconds") if lock.get("acquired_at") else "?"
            raise RunLockError(
                f"another sync of {pair} is in progress (run {lock['run_id']}, process {lock['owner']}, since "
                f"{since}); waited {waited:.0f} s (CONTACT_SYNC_LOCK_WAIT_S)"
            )
        sleep(POLL_S)


def release_run_lock(ledger: Ledger, pair: str, run_id: str) -> bool:
    """Give the pair's lock back if ``run_id`` holds it."""
    return ledger.release_lock(pair, run_id)
