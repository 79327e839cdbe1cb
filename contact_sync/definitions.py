"""The Dagster code location: assembles the definitions of each concern under `contact_sync/defs/` and nothing else."""

import dagster as dg

defs = dg.Definitions()
