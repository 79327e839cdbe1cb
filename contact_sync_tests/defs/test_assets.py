"""What the sync assets tell the Dagster UI before any run: the reconciliation asset's column schema, every column
named and described (from the Pandera model `ReconciliationRow`)."""

from __future__ import annotations

import dagster as dg
import pytest

from contact_sync.defs.sync.assets import reconciliation
from contact_sync.pipeline.writes import WriteSummary
from contact_sync.sync.plan import RECONCILIATION_COLUMNS


def test_the_reconciliation_schema_describes_every_column() -> None:
    spec = next(iter(reconciliation.specs))
    schema = spec.metadata["dagster/column_schema"]
    described = {column.name: column.description for column in schema.columns}
    assert set(described) == set(RECONCILIATION_COLUMNS)
    assert all(text and len(text) > 20 for text in described.values()), described
    assert "baseline" in described["changed_on"] and "held" in described["winner"]


def test_a_write_step_is_retried_only_while_a_service_keeps_failing() -> None:
    from contact_sync.connectors.http import AuthError, RetriesExhausted
    from contact_sync.defs.sync.assets import _retried_when_transient

    def service_down() -> WriteSummary:
        raise RetriesExhausted("Genesys answered 503 five times", status=503)

    def credentials_refused() -> WriteSummary:
        raise AuthError("Genesys refused a fresh token", status=401)

    warnings: list[str] = []
    for retry_number, wait in ((0, 5.0), (2, 20.0)):
        with pytest.raises(dg.RetryRequested) as retry:
            _retried_when_transient(service_down, retry_number, warnings.append)
        assert (retry.value.max_retries, retry.value.seconds_to_wait) == (3, wait)
    assert warnings[-1] == "a service is still failing (Genesys answered 503 five times); retrying the step in 20 s"
    with pytest.raises(AuthError):  # not retried: it would only be refused again
        _retried_when_transient(credentials_refused, 0, warnings.append)
    assert _retried_when_transient(lambda: WriteSummary(system="genesys", created=2), 0, warnings.append).created == 2
    assert len(warnings) == 2
