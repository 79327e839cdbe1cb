"""Connecting to the ledger's database safely: engine settings per dialect, password redaction, and Alembic upgrades.

SQLite gets WAL and a busy timeout because Dagster runs (several processes) and the CLI may use one file at once;
write transactions on SQLite start with BEGIN IMMEDIATE so two writers queue on the busy timeout instead of failing
when a read lock cannot be upgraded.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Connection, Engine, create_engine, event, exc, make_url, text

from contact_sync.ledger.errors import LedgerError
from contact_sync.ledger.tables import VERSION_TABLE

MIGRATIONS = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Any constant works: it names the PostgreSQL advisory lock that makes concurrent `migrate()` calls queue.
MIGRATION_LOCK_KEY = 0x636F6E74616374  # "contact"


def parse_url(url: str | URL) -> URL:
    """The SQLAlchemy URL, or a LedgerError that does not echo the text (it may hold a password)."""
    if isinstance(url, URL):
        return url
    try:
        return make_url(url)
    except (exc.ArgumentError, ValueError):
        raise LedgerError("the ledger database URL is not a SQLAlchemy URL (e.g. postgresql://user@host/db)") from None


def redacted(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def redact_message(message: str, url: URL) -> str:
    """`message` cut to its first line, with the URL's password (raw or URL-quoted) replaced by ***."""
    line = message.strip().splitlines()[0] if message.strip() else message
    if url.password:
        for form in {str(url.password), quote(str(url.password), safe="")}:
            line = line.replace(form, "***")
    return line


def ledger_error(error: BaseException, url: URL, doing: str) -> LedgerError:
    """A one-line LedgerError for a database error, naming the database without its password."""
    original = getattr(error, "orig", None) or error
    return LedgerError(f"ledger at {redacted(url)}: {doing} failed: {redact_message(str(original), url)}")


def build_engine(url: URL) -> Engine:
    """An engine for the ledger: pre-ping pooled connections; SQLite in WAL mode with a busy timeout."""
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, pool_pre_ping=True, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy's "begin" event below decide how transactions start (pysqlite's own BEGIN is deferred
            # and late, which breaks both atomic batches and writer queuing).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection: Connection) -> None:
            immediate = connection.get_execution_options().get("ledger_write", False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True)


@contextmanager
def write_connection(engine: Engine) -> Iterator[Connection]:
    """A connection with an open write transaction, committed when the block ends and rolled back on error."""
    with engine.connect() as connection:
        connection = connection.execution_options(ledger_write=True)
        with connection.begin():
            yield connection


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision; a no-op when it is already there. Concurrent callers queue."""
    with write_connection(engine) as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        if current_revision(connection) == head_revision():
            return
        command.upgrade(alembic_config(connection), "head")
