"""Whether a sync has anything to do, asked cheaply: each side is probed for a change after the watermark the last
sync stored (the CRM's in the ledger, Genesys's in its mirror), without reading records or moving a watermark.

The stored watermarks are the only cursor, so a change made while a run reads or writes lies after them and the next
probe finds it: nothing is lost. A run's own writes lie after them too, so a run that wrote is followed by one more,
cheap run that finds nothing to do. The CRM is asked first; Genesys only when the CRM had nothing. A Genesys full read
that is due (the only read that sees Genesys deletes) is a reason to run without any call.

Connections are kept between probes in one process (`ProbeServices`): a fresh login per probe would double its cost.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from contact_sync.connectors.http import ConnectorError
from contact_sync.crms import crm_plugin
from contact_sync.pipeline.config import PipelineSettings
from contact_sync.pipeline.genesys_snapshot import GenesysMirror, full_read_reason, mirror_basis
from contact_sync.pipeline.services import SERVICE_PREFIXES, Services, build_services
from contact_sync.pipeline.snapshots import watermark_name

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChangeProbe:
    """What one probe found. A run is due when `reasons` is not empty."""

    reasons: list[str] = field(default_factory=list)
    """Why a run is due: which side changed, or that the Genesys full read is due."""
    not_probed: str | None = None
    """Why nothing was asked (no completed sync yet)."""
    errors: list[str] = field(default_factory=list)
    """A side that could not be asked (each error in one line, secrets redacted)."""
    api_calls: dict[str, int] = field(default_factory=dict)
    """The calls the probe made, per system (token calls included)."""

    @property
    def run_due(self) -> bool:
        return bool(self.reasons)

    @property
    def total_calls(self) -> int:
        return sum(self.api_calls.values())


def _calls(services: Services) -> dict[str, int]:
    totals: dict[str, int] = {}
    for name, count in services.api_calls().items():
        system = name.split(" ", 1)[0]
        totals[system] = totals.get(system, 0) + count
    return totals


def probe_changes(services: Services, now: datetime | None = None) -> ChangeProbe:
    """Ask the CRM, then Genesys, whether anything changed since the last sync (see the module docstring)."""
    settings, crm = services.settings, services.crm
    label = crm_plugin(crm.kind).label
    crm_mark = services.ledger.watermark(watermark_name(crm.kind))
    mirror = GenesysMirror(settings.data_dir)
    try:
        state = mirror.load_state()
    except (OSError, ValueError, TypeError):
        state = None
    if crm_mark is None or state is None or state.watermark is None:
        return ChangeProbe(
            not_probed="no sync has completed yet (no stored watermark): start the first sync by hand, a first "
            "load reads every contact"
        )
    before = _calls(services)
    reasons: list[str] = []
    errors: list[str] = []
    try:
        if crm.has_changes(crm_mark):
            reasons.append(f"{label} contacts changed after {crm_mark}")
    except (ConnectorError, ValueError) as exc:
        errors.append(f"{label} could not be asked: {exc}")
    if not reasons and settings.genesys_full_read_h > 0:
        # At 0 every run reads everything anyway: only a change is a reason to run.
        due = full_read_reason(state, mirror_basis(services.genesys_adapter), settings, now or datetime.now(UTC))
        if due is not None:
            reasons.append(f"the Genesys full read is due ({due})")
    if not reasons:
        try:
            if services.genesys.has_changes(state.watermark, timeout_s=min(settings.genesys_export_timeout_s, 30.0)):
                reasons.append(f"Genesys contacts changed at or after {state.watermark}")
        except (ConnectorError, ValueError) as exc:
            errors.append(f"Genesys could not be asked: {exc}")
    after = _calls(services)
    spent = {system: after.get(system, 0) - before.get(system, 0) for system in after}
    return ChangeProbe(reasons=reasons, errors=errors, api_calls={k: v for k, v in spent.items() if v})


class ProbeServices:
    """The services probes use, opened once per process and configuration and kept open between probes (so OAuth
    tokens and sessions are reused); dropped after a probe that failed, so the next one starts afresh."""

    def __init__(self) -> None:
        self._key: str | None = None
        self._services: Services | None = None

    @staticmethod
    def _fingerprint(env: Mapping[str, str]) -> str:
        relevant = sorted((k, v) for k, v in env.items() if k.startswith((*SERVICE_PREFIXES, "CONTACT_SYNC_")))
        return hashlib.sha256(repr(relevant).encode()).hexdigest()

    def get(self, settings: PipelineSettings, env: Mapping[str, str] | None = None) -> Services:
        env = dict(os.environ if env is None else env)
        key = self._fingerprint(env)
        if self._services is None or key != self._key:
            self.close()
            self._services = build_services(settings, env)
            self._key = key
        return self._services

    def close(self) -> None:
        if self._services is not None:
            try:
                self._services.close()
            except Exception as exc:  # a connection already gone must not stop the next probe
                log.warning("closing the probe's connections failed: %s", exc)
        self._services, self._key = None, None


PROBE_SERVICES = ProbeServices()
"""This process's probe connections (the Dagster code server keeps them between sensor ticks)."""
