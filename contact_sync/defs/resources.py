"""The sync's resources: `contact_sync`, the run's session (its services opened once from the environment settings,
and the pair's run lock taken before the run's first step, `contact_sync.pipeline.locks`), and one resource per system
it holds, `crm`, `genesys` and `ledger`, so each asset names the systems it talks to and the UI shows them.

Credentials and options come from the environment (`contact_sync.settings`, `contact_sync.pipeline.config`); the
only run config is `dry_run`. The deployment (CONTACT_SYNC_DEPLOYMENT: live, simulated or auto) is chosen when the
code location loads and written in each system resource's description; a simulated run is also logged as a warning
by `build_services` and said in every snapshot's metadata.
"""

import os
from collections.abc import Mapping
from typing import Any

import dagster as dg
from pydantic import PrivateAttr

from contact_sync.crms import crm_plugin
from contact_sync.pipeline.config import PARTITION_TAG, SYNC_JOB_NAMES, PipelineSettings
from contact_sync.pipeline.locks import claim_run_lock, pair_name
from contact_sync.pipeline.services import Services, build_services, check_configuration, uses_simulators


class ContactSyncResource(dg.ConfigurableResource):
    """CRM adapter, Genesys connector, ledger and policy for one run (opened once per run, closed at its end)."""

    dry_run: bool = False
    """Compute and report the whole plan, write nothing anywhere (services, ledger, mirror, watermark)."""
    full_genesys_read: bool = False
    """Read every Genesys contact this run (a full read, which also finds contacts deleted in Genesys) instead of
    only those changed since the last run."""
    full_decision: bool = False
    """Decide every record of the cohort this run, not only those that can have changed since its last decision
    (for comparison and repair; the incremental plan is the full plan)."""
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


def _system_resource(name: str, description: str) -> dg.ResourceDefinition:
    """One of the session's systems as a resource of its own (the same object for every asset of a run: function
    resources depending on `contact_sync` share its one setup, where nested Pythonic resources would open it again)."""

    def system(context: dg.InitResourceContext) -> Any:
        return getattr(context.resources.contact_sync.services, name)

    return dg.ResourceDefinition(resource_fn=system, required_resource_keys={"contact_sync"}, description=description)


def sync_resources(settings: PipelineSettings, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The session and its three systems, described for the configured CRM and deployment."""
    env = os.environ if env is None else env
    label = crm_plugin(settings.crm).label
    where = "the built-in simulator" if uses_simulators(settings, env) else "the live service"
    return {
        "contact_sync": ContactSyncResource(),
        "crm": _system_resource("crm", f"{label} ({where}): contacts and accounts, read and written in batches"),
        "genesys": _system_resource("genesys_adapter", f"Genesys Cloud external contacts and organizations ({where})"),
        "ledger": _system_resource(
            "ledger", f"The sync ledger ({settings.database_url.split(':', 1)[0]}): links, base values, audit, runs"
        ),
    }
