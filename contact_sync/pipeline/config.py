"""The pipeline's own settings, read from the environment: which CRM, which policy file, default mode and cohort, the
data folder, the ledger database, alerting. Connector credentials are read by `contact_sync.settings`."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, get_args

from contact_sync.settings import LedgerSettings, Secret, SettingsError
from contact_sync.sync.policy import Mode

DEFAULT_DATA_DIR: Final = ".contact_sync"
DEFAULT_HEALTH_THRESHOLD: Final = 70.0
DEFAULT_LOCK_WAIT_S: Final = 120.0
DEPLOYMENTS: Final = ("auto", "simulated", "live")
GENESYS_READS: Final = ("export", "scan")
DEFAULT_GENESYS_FULL_READ_H: Final = 24.0
DEFAULT_GENESYS_EXPORT_TIMEOUT_S: Final = 600.0
DEFAULT_CHANGE_PROBE_S: Final = 45.0
CHANGE_PROBE_RANGE_S: Final = (30.0, 60.0)
PARTITION_TAG: Final = "dagster/partition"
"""The run tag naming a run's cohort (its partition key)."""


def job_name(mode: str) -> str:
    """The Dagster job that syncs in `mode` (`sync_one_way`, `sync_bidirectional`)."""
    return f"sync_{mode}"


SYNC_JOB_NAMES: Final = frozenset(job_name(mode) for mode in get_args(Mode))
ALL_COHORT: Final = "all"


@dataclass(frozen=True)
class PipelineSettings:
    """Everything a run needs to know besides the services' credentials."""

    crm: str = "salesforce"
    """CONTACT_SYNC_CRM: which CRM adapter to build (see `contact_sync.crms.CRM_PLUGIN_MODULES`)."""
    policy_path: str | None = None
    """CONTACT_SYNC_POLICY: the policy YAML; None = the shipped default."""
    mode: Mode = "one_way"
    """CONTACT_SYNC_MODE: the mode scheduled runs use."""
    cohort: str = ALL_COHORT
    """CONTACT_SYNC_COHORT: the cohort scheduled runs sync."""
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    """CONTACT_SYNC_DATA_DIR: CRM mirror, simulator state and the default SQLite ledger live here."""
    database_url: str = ""
    """CONTACT_SYNC_DATABASE_URL: the ledger; default SQLite file in the data folder."""
    alert_webhook: Secret | None = None
    """CONTACT_SYNC_ALERT_WEBHOOK: Slack-compatible incoming webhook URL (a secret: it is never logged)."""
    health_threshold: float = DEFAULT_HEALTH_THRESHOLD
    """CONTACT_SYNC_HEALTH_THRESHOLD: alert when the health score drops below this."""
    lock_wait_s: float = DEFAULT_LOCK_WAIT_S
    """CONTACT_SYNC_LOCK_WAIT_S: how long a run waits for its CRM/Genesys pair's run lock (0 to 86400)."""
    deployment: str = "auto"
    """CONTACT_SYNC_DEPLOYMENT: `live` (the real services; missing credentials are an error, never a fallback),
    `simulated` (the built-in simulators, whatever credentials are set) or `auto` (simulators only when neither the
    CRM nor Genesys has credentials)."""
    genesys_read: str = "export"
    """CONTACT_SYNC_GENESYS_READ: `export` (the Genesys mirror refreshed from contacts exports of what changed, a
    full read on the cadence below) or `scan` (every run scans every contact, as before exports)."""
    genesys_full_read_h: float = DEFAULT_GENESYS_FULL_READ_H
    """CONTACT_SYNC_GENESYS_FULL_READ_H: hours between full Genesys reads, the only reads that see deletes (0: every
    run)."""
    genesys_export_timeout_s: float = DEFAULT_GENESYS_EXPORT_TIMEOUT_S
    """CONTACT_SYNC_GENESYS_EXPORT_TIMEOUT_S: how long a run waits for a Genesys export before it scans instead."""
    change_probe_s: float = DEFAULT_CHANGE_PROBE_S
    """CONTACT_SYNC_CHANGE_PROBE_S: seconds between the change-triggered sensor's probes (30 to 60)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PipelineSettings:
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = (env.get(name) or "").strip()
            return value or None

        mode = get("CONTACT_SYNC_MODE") or "one_way"
        if mode not in get_args(Mode):
            raise SettingsError(f"CONTACT_SYNC_MODE must be one of {', '.join(get_args(Mode))}, got {mode!r}")
        policy = get("CONTACT_SYNC_POLICY")
        if policy is not None and not Path(policy).is_file():
            raise SettingsError(f"CONTACT_SYNC_POLICY names no file: {policy!r}")
        threshold_raw = get("CONTACT_SYNC_HEALTH_THRESHOLD") or str(DEFAULT_HEALTH_THRESHOLD)
        try:
            threshold = float(threshold_raw)
        except ValueError:
            raise SettingsError(f"CONTACT_SYNC_HEALTH_THRESHOLD must be a number, got {threshold_raw!r}") from None
        webhook = get("CONTACT_SYNC_ALERT_WEBHOOK")
        if webhook is not None and not webhook.startswith(("http://", "https://")):
            raise SettingsError("CONTACT_SYNC_ALERT_WEBHOOK must be an http(s) URL")
        lock_wait_raw = get("CONTACT_SYNC_LOCK_WAIT_S") or str(DEFAULT_LOCK_WAIT_S)
        try:
            lock_wait_s = float(lock_wait_raw)
        except ValueError:
            lock_wait_s = -1.0
        if not 0 <= lock_wait_s <= 86_400:
            raise SettingsError(
                f"CONTACT_SYNC_LOCK_WAIT_S must be a number of seconds from 0 to 86400, not {lock_wait_raw!r}"
            )
        deployment = (get("CONTACT_SYNC_DEPLOYMENT") or "auto").lower()
        if deployment not in DEPLOYMENTS:
            raise SettingsError(f"CONTACT_SYNC_DEPLOYMENT must be one of {', '.join(DEPLOYMENTS)}, got {deployment!r}")
        data_dir = Path(get("CONTACT_SYNC_DATA_DIR") or DEFAULT_DATA_DIR)
        genesys_read = (get("CONTACT_SYNC_GENESYS_READ") or "export").lower()
        if genesys_read not in GENESYS_READS:
            raise SettingsError(
                f"CONTACT_SYNC_GENESYS_READ must be one of {', '.join(GENESYS_READS)}, got {genesys_read!r}"
            )
        probe_raw = get("CONTACT_SYNC_CHANGE_PROBE_S") or str(DEFAULT_CHANGE_PROBE_S)
        try:
            change_probe_s = float(probe_raw)
        except ValueError:
            change_probe_s = -1.0
        if not CHANGE_PROBE_RANGE_S[0] <= change_probe_s <= CHANGE_PROBE_RANGE_S[1]:
            low, high = CHANGE_PROBE_RANGE_S
            raise SettingsError(
                f"CONTACT_SYNC_CHANGE_PROBE_S must be a number from {low:g} to {high:g}, not {probe_raw!r}"
            )
        return cls(
            crm=(get("CONTACT_SYNC_CRM") or "salesforce").lower(),
            policy_path=policy,
            mode=mode,  # type: ignore[arg-type]
            cohort=get("CONTACT_SYNC_COHORT") or ALL_COHORT,
            data_dir=data_dir,
            database_url=LedgerSettings.from_env(env, default_dir=data_dir).database_url,
            alert_webhook=Secret(webhook) if webhook else None,
            health_threshold=threshold,
            lock_wait_s=lock_wait_s,
            deployment=deployment,
            genesys_read=genesys_read,
            genesys_full_read_h=_number(get, "CONTACT_SYNC_GENESYS_FULL_READ_H", DEFAULT_GENESYS_FULL_READ_H, 8760),
            genesys_export_timeout_s=_number(
                get, "CONTACT_SYNC_GENESYS_EXPORT_TIMEOUT_S", DEFAULT_GENESYS_EXPORT_TIMEOUT_S, 86_400
            ),
            change_probe_s=change_probe_s,
        )


def _number(get: Callable[[str], str | None], name: str, default: float, most: float) -> float:
    raw = get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= most:
        raise SettingsError(f"{name} must be a number from 0 to {most:g}, not {raw!r}")
    return value
