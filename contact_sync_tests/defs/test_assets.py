"""What the sync assets tell the Dagster UI before any run: the reconciliation asset's column schema, every column
named and described (from the Pandera model `ReconciliationRow`)."""

from __future__ import annotations

from contact_sync.defs.sync.assets import reconciliation
from contact_sync.sync.plan import RECONCILIATION_COLUMNS


def test_the_reconciliation_schema_describes_every_column() -> None:
    spec = next(iter(reconciliation.specs))
    schema = spec.metadata["dagster/column_schema"]
    described = {column.name: column.description for column in schema.columns}
    assert set(described) == set(RECONCILIATION_COLUMNS)
    assert all(text and len(text) > 20 for text in described.values()), described
    assert "baseline" in described["changed_on"] and "held" in described["winner"]
