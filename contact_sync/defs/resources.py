"""The resource every sync asset asks for: the services of one run, opened from the environment settings, and the
pair's run lock, taken before the run's first step (`contact_sync.pipeline.locks`).

Credentials and options come from the environment (`contact_sync.settings`, `contact_sync.pipeline.config`); the
only run config is `dry_run`. Without CRM and Genesys credentials the built-in simulators are used, which
`build_services` logs as a warning and every snapshot's metadata says.
"""

import os

import dagster as dg
from pydantic import PrivateAttr

from contact_sync.pipeline.config import PARTITION_TAG, SYNC_JOB_NAMES
from contact_sync.pipeline.locks import claim_run_lock, pair_name
from contact_sync.pipeline.services import Services, build_services, check_configuration


class ContactSyncResource(dg.ConfigurableResource):
    """CRM adapter, Genesys connector, ledger and policy for one run (opened once per run, closed at its end)."""

    dry_run: bool = False
    """Compute and report the whole plan, write nothing anywhere (services, ledger, mirror, watermark)."""
    rate_limit: bool = True
    """Client-side Genesys rate limiting (turn off only against the simulators, e.g. for benchmarks)."""

    _services: Services | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        run = context.run
        if run is not None and run.job_name in SYNC_JOB_NAMES and not run.tags.get(PARTITION_TAG):
            # Refused before any service is opened: without this the run read both systems, then failed in
            # Dagster ("Cannot access partition_key for a non-partitioned run") at its third step.
            raise dg.Failure(
                f"{run.job_name} syncs one rollout cohort: launch it with a partition (`all` for every contact), "
                f'e.g. tags={{"{PARTITION_TAG}": "all"}} through GraphQL, or pick the partition in the Launchpad'
            )
        settings = check_configuration(os.environ)  # a bad setting or policy fails here, naming itself
        self._services = build_services(settings, os.environ, rate_limit=self.rate_limit)
        run_id = context.run.run_id if context.run is not None else None
        if run_id:
            instance = context.instance

            def run_is_over(run_id: str) -> bool:
                run = instance.get_run_by_id(run_id) if instance is not None else None
                return run is not None and run.is_finished

            try:
                waited = claim_run_lock(self._services.ledger, pair_name(), run_id, run_is_over, settings.lock_wait_s)
            except Exception:
                self._services.close()
                self._services = None
                raise
            if waited >= 1 and context.log is not None:
                context.log.info(f"waited {waited:.0f} s for the {pair_name()} run lock")

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._services is not None:
            self._services.close()
            self._services = None

    @property
    def services(self) -> Services:
        if self._services is None:
            raise dg.DagsterInvariantViolationError("ContactSyncResource used outside a run")
        return self._services
