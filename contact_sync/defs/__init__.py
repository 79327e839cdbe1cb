"""Thin Dagster objects wiring `contact_sync.pipeline` into a code location: resources, IO manager, the sync assets,
checks, jobs, partitions, schedules and sensors."""
