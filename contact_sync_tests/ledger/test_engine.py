"""The ledger's schema migrations, engine settings and password redaction, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from contact_sync.ledger import Ledger, LedgerError
from contact_sync.ledger.tables import VERSION_TABLE, metadata
from contact_sync.settings import LedgerSettings


def test_migrate_creates_the_schema_and_twice_is_a_no_op(ledger_url: str) -> None:
    store = Ledger(ledger_url)
    assert store.schema_revision() is None
    store.migrate()
    assert store.schema_revision() == Ledger.head_revision() == "0004"
    store.add_alert("conflicts", "kept across the second migrate")
    store.migrate()
    assert store.schema_revision() == "0004"
    assert [a.message for a in store.recent_alerts()] == ["kept across the second migrate"]
    engine = create_engine(ledger_url)
    try:
        names = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    store.dispose()
    assert {table.name for table in metadata.sorted_tables} | {VERSION_TABLE} == names


def test_migrations_build_exactly_the_tables_the_code_uses(ledger: Ledger, ledger_url: str) -> None:
    engine = create_engine(ledger_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
            differences = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    store = Ledger(f"sqlite:///{tmp_path / 'deep' / 'folder' / 'ledger.sqlite'}")
    store.migrate()
    with store._read() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 30000
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    store.dispose()
    assert (tmp_path / "deep" / "folder" / "ledger.sqlite").is_file()


def test_opened_migrates_the_configured_ledger_and_disposes_of_it(tmp_path: Path) -> None:
    settings = LedgerSettings.from_env({}, default_dir=tmp_path / "data")
    with Ledger.opened(settings.database_url) as store:
        store.set_watermark("salesforce", "2026-01-01T00:00:00+00:00")
    assert (tmp_path / "data" / "ledger.sqlite").is_file()
    with Ledger.opened(settings.database_url) as again:
        assert again.watermark("salesforce") == "2026-01-01T00:00:00+00:00"
    with pytest.raises(LedgerError), Ledger.opened("mysql://nobody@127.0.0.1/x"):
        pass


def test_password_is_hidden_in_repr_and_connection_errors(postgres_server: str) -> None:
    url = "postgresql+psycopg2://contact_sync_nobody:Sup3rSecretPw@127.0.0.1:5432/no_such_database_here"
    store = Ledger(url)
    assert "Sup3rSecretPw" not in repr(store)
    assert "***" in repr(store) and "127.0.0.1" in repr(store)
    assert "Sup3rSecretPw" not in store.url
    with pytest.raises(LedgerError) as caught:
        store.migrate()
    message = str(caught.value)
    assert "Sup3rSecretPw" not in message
    assert "\n" not in message
    assert "contact_sync_nobody" in message  # the error still says which database, without the secret


def test_unreachable_server_is_a_one_line_error_without_the_password() -> None:
    store = Ledger("postgresql+psycopg2://user:An0therSecret@127.0.0.1:1/ledger?connect_timeout=2")
    with pytest.raises(LedgerError) as caught:
        store.watermark("x")
    assert "An0therSecret" not in str(caught.value)
    assert "\n" not in str(caught.value)
    assert "127.0.0.1:1" in str(caught.value)


def test_a_malformed_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(LedgerError) as caught:
        Ledger("postgresql://user:pw-in-bad-url@host:notaport/db")
    assert "pw-in-bad-url" not in str(caught.value)
    with pytest.raises(LedgerError, match="supports sqlite and postgresql"):
        Ledger("mysql://user@host/db")
