"""The resource every sync asset asks for: the services of one run, opened from the environment settings.

Credentials and options come from the environment (`contact_sync.settings`, `contact_sync.pipeline.config`); the
only run config is `dry_run`. Without CRM and Genesys credentials the built-in simulators are used, which
`build_services` logs as a warning and every snapshot's metadata says.
"""

import os

import dagster as dg
from pydantic import PrivateAttr

from contact_sync.pipeline.config import PipelineSettings
from contact_sync.pipeline.services import Services, build_services


class ContactSyncResource(dg.ConfigurableResource):
    """CRM adapter, Genesys connector, ledger and policy for one run (opened once per run, closed at its end)."""

    dry_run: bool = False
    """Compute and report the whole plan, write nothing anywhere (services, ledger, mirror, watermark)."""
    rate_limit: bool = True
    """Client-side Genesys rate limiting (turn off only against the simulators, e.g. for benchmarks)."""

    _services: Services | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        settings = PipelineSettings.from_env()
        self._services = build_services(settings, os.environ, rate_limit=self.rate_limit)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._services is not None:
            self._services.close()
            self._services = None

    @property
    def services(self) -> Services:
        if self._services is None:
            raise dg.DagsterInvariantViolationError("ContactSyncResource used outside a run")
        return self._services
