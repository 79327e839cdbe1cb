"""The trace's Dagster objects: the `trace_contact` job, "where did this value go?" answered in the UI."""
