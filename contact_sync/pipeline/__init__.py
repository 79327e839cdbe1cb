"""The steps of a sync run that touch connectors and the ledger, as plain functions (no Dagster): the Dagster assets,
the CLI, the benchmarks and the tests all use them. connectors -> canonical frames -> sync logic -> plans -> connectors.
"""
