"""Alembic migrations of the ledger schema, shipped with the package and run by `Ledger.migrate()`."""
