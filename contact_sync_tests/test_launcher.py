"""The launcher is the pipeline's API for running syncs: what stops a sync before it starts is its own one-line
error (no click in it), raised before any Dagster run is made."""

from __future__ import annotations

import pytest

from contact_sync.launcher import LaunchError, open_instance, run_sync
from contact_sync.pipeline.rollback import rollback_run
from contact_sync.pipeline.services import open_services


def test_a_sync_that_cannot_start_raises_a_launch_error_and_makes_no_run(cli_env: dict[str, str]) -> None:
    with pytest.raises(LaunchError, match=r"no cohort named 'nope' \(known: all\)"):
        run_sync("one_way", "nope")
    with pytest.raises(LaunchError, match="mode must be one of"):
        run_sync("sideways", "all")  # type: ignore[arg-type]
    with open_instance() as instance:
        assert instance.get_runs() == []


def test_a_broken_instance_configuration_is_one_line(cli_env: dict[str, str]) -> None:
    folder = cli_env["DAGSTER_HOME"]
    with open(f"{folder}/dagster.yaml", "w") as handle:
        handle.write("run_storage: [not, a, mapping]\n")
    with pytest.raises(LaunchError, match="cannot open the Dagster instance") as caught, open_instance():
        pass
    assert "\n" not in str(caught.value)


def test_a_run_decides_only_what_changed_and_a_full_run_decides_everything(
    sims: object, cli_env: dict[str, str]
) -> None:
    """Issue 12, item 3 through the real pipeline: the first run decides every record, a run at rest none, an edit
    its own pair (and its write lands, a dry run before it deciding the same), `full` every record again with the
    same (empty) plan."""
    people = [{"FirstName": f"Ann{i}", "LastName": f"Lee{i}", "Email": f"ann{i}@example.com"} for i in range(12)]
    ids = sims.salesforce.load_contacts(people)  # type: ignore[attr-defined]

    first = run_sync("bidirectional", "all").report
    assert first["decided"]["how"] == "full" and first["created"]["genesys"] == 12
    settling = run_sync("bidirectional", "all").report  # the contacts the first run created, seen once
    assert settling["decided"]["how"] == "incremental" and settling["updated"] == {"genesys": 0, "crm": 0}
    rest = run_sync("bidirectional", "all").report
    assert rest["decided"] == {"records": 0, "how": "incremental"}

    sims.salesforce.edit_contact(ids[3], FirstName="Annie")  # type: ignore[attr-defined]
    dry = run_sync("bidirectional", "all", dry_run=True).report
    assert dry["decided"] == {"records": 1, "how": "incremental"}
    edited = run_sync("bidirectional", "all").report
    assert edited["decided"] == {"records": 1, "how": "incremental"}, "the edited contact's pair alone"
    assert edited["updated"] == {"genesys": 1, "crm": 0}

    full = run_sync("bidirectional", "all", full=True).report
    assert full["decided"]["how"] == "full" and full["decided"]["records"] == 12
    assert "asked" in full["decided"]["why"] and full["updated"] == {"genesys": 0, "crm": 0}
    assert full["created"] == {"genesys": 0, "crm": 0}

    # A rollback writes outside any run's decision: the next run decides everything again.
    with open_services() as services:
        assert rollback_run(services, edited["run_id"]).counts()["restored"] == 1
    after = run_sync("bidirectional", "all").report
    assert after["decided"]["how"] == "full" and "no earlier decision" in after["decided"]["why"]
