"""The Dagster code location: assembles the definitions of each concern under `contact_sync/defs/` and nothing else."""

import dagster as dg

from contact_sync.crms import crm_plugin
from contact_sync.defs.io_managers import ContactSyncIOManager
from contact_sync.defs.resources import sync_resources
from contact_sync.defs.sync.assets import DRY_RUN_REPORT, SYNC_ASSETS, for_crm
from contact_sync.defs.sync.checks import SYNC_CHECKS
from contact_sync.defs.sync.jobs import SYNC_JOBS
from contact_sync.defs.sync.lineage import source_specs, with_column_lineage
from contact_sync.defs.sync.schedules import SYNC_SCHEDULES
from contact_sync.defs.sync.sensors import SYNC_SENSORS
from contact_sync.defs.trace.jobs import trace_contact
from contact_sync.pipeline.services import check_configuration
from contact_sync.sync.policy import load_policy

# A bad setting or policy file stops the code location from loading, with its one-line reason in the UI, instead
# of failing every run later.
settings = check_configuration()
policy = load_policy(settings.policy_path)
plugin = crm_plugin(settings.crm)

defs = dg.Definitions(
    assets=[
        *with_column_lineage(for_crm(SYNC_ASSETS, plugin.asset_kind), policy, plugin),
        *source_specs(policy, plugin),
        DRY_RUN_REPORT,
    ],
    asset_checks=SYNC_CHECKS,
    jobs=[*SYNC_JOBS.values(), trace_contact],
    schedules=SYNC_SCHEDULES,
    sensors=SYNC_SENSORS,
    resources={**sync_resources(settings), "io_manager": ContactSyncIOManager()},
)
