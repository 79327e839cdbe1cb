"""The sync's Dagster objects: snapshot, matching, reconciliation, write and report assets, and their automation."""
