"""The Dagster code location: assembles the definitions of each concern under `contact_sync/defs/` and nothing else."""

import dagster as dg

from contact_sync.crms import crm_plugin
from contact_sync.defs.io_managers import ContactSyncIOManager
from contact_sync.defs.resources import sync_resources
from contact_sync.defs.sync.assets import DRY_RUN_REPORT, SYNC_ASSETS, for_crm
from contact_sync.defs.sync.checks import SYNC_CHECKS
from contact_sync.defs.sync.jobs import SYNC_JOBS
from contact_sync.defs.sync.schedules import SYNC_SCHEDULES
from contact_sync.defs.sync.sensors import SYNC_SENSORS
from contact_sync.defs.trace.jobs import trace_contact
from contact_sync.pipeline.services import check_configuration

# A bad setting or policy file stops the code location from loading, with its one-line reason in the UI, instead
# of failing every run later.
settings = check_configuration()

defs = dg.Definitions(
    assets=[*for_crm(SYNC_ASSETS, crm_plugin(settings.crm).asset_kind), DRY_RUN_REPORT],
    asset_checks=SYNC_CHECKS,
    jobs=[*SYNC_JOBS.values(), trace_contact],
    schedules=SYNC_SCHEDULES,
    sensors=SYNC_SENSORS,
    resources={**sync_resources(settings), "io_manager": ContactSyncIOManager()},
)
