"""The working folder's `.env`, loaded before any command as `dagster dev` loads it, so a command run in a folder
(the demo's, a project's) uses the same data folder, ledger and Dagster home as the UI started there; and the warning
for a run whose Dagster home a UI started in this folder would not show."""

from __future__ import annotations

import os
from pathlib import Path

from dotenv import dotenv_values


def load_folder_env(folder: Path | None = None) -> list[str]:
    """Set the variables of `<folder>/.env` (default: the working folder) in this process; the names set.

    As in `dagster dev`, a value in the file takes precedence over the same variable already in the environment,
    so the CLI and the UI in one folder never disagree about DAGSTER_HOME. Entries without a value are ignored."""
    path = (folder or Path.cwd()) / ".env"
    if not path.is_file():
        return []
    values = {k: v for k, v in dotenv_values(path).items() if v is not None}
    os.environ.update(values)
    return sorted(values)


def home_warning(home: Path, folder: Path | None = None) -> str | None:
    """Why a `dagster dev` started in `folder` would not show runs that go to `home`, or None.

    Without DAGSTER_HOME, `dagster dev` uses a temporary instance that is deleted when it exits (configured by a
    `dagster.yaml` in the folder, if any), so it never shows the CLI's runs in its fallback home."""
    folder = folder or Path.cwd()
    if (os.environ.get("DAGSTER_HOME") or "").strip():
        return None
    project = [name for name in ("workspace.yaml", "dagster.yaml") if (folder / name).is_file()]
    if not project:
        return None
    return (
        f"DAGSTER_HOME is not set: this run goes to the Dagster instance in {home}, which a `dagster dev` started "
        f"in this folder ({', '.join(project)}) does not show (it uses a temporary instance). "
        f"Set DAGSTER_HOME={home} here, or in this folder's .env, for both."
    )
