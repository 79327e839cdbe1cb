"""Alembic environment for the ledger: runs on the connection `Ledger.migrate()` hands over in `config.attributes`,
or, from the `alembic` command line, on `CONTACT_SYNC_DATABASE_URL`."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection

from contact_sync.ledger.tables import VERSION_TABLE, metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.config.get_main_option("sqlalchemy.url") or os.environ.get("CONTACT_SYNC_DATABASE_URL")
    if not url:
        raise SystemExit("set CONTACT_SYNC_DATABASE_URL to the ledger's SQLAlchemy URL")
    engine = create_engine(url)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()
