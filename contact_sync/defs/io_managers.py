"""Where asset values live between steps: DataFrames as Parquet (millions of rows), snapshots as a folder of Parquet
files, anything else (plans, match results, write summaries) pickled.

Files go under `<data_dir>/dagster_io/runs/<run id>/<asset key>/p=<cohort>`: each run writes its own values, so two
runs (of different CRM/Genesys pairs sharing a data folder, or of different cohorts) never read or overwrite each
other's. A step reads its inputs from the run that produced them (its own run, or the parent run of a re-execution);
an input produced by no run of this job (an asset materialized alone) is found through `latest/<asset key>/p=<cohort>
.json`, which names the newest run that wrote it. Every file is written beside its place and renamed into it, so a
reader never sees half a value. Run folders older than `keep_hours` that no `latest` pointer names are removed.
"""

import json
import os
import pickle
import shutil
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import dagster as dg
import pandas as pd

from contact_sync.pipeline.config import PipelineSettings
from contact_sync.pipeline.snapshots import Snapshot

SNAPSHOT_FRAMES = ("contacts", "stamps", "rejected", "organizations")
LOCAL_RUN = "local"
"""The run folder of values handled outside a Dagster run (direct calls in tests and scripts)."""


class ContactSyncIOManager(dg.ConfigurableIOManager):
    """Parquet for frames and snapshots, pickle for the rest, one folder per run (see the module docstring)."""

    base_dir: str | None = None
    """Root folder; default `<CONTACT_SYNC_DATA_DIR>/dagster_io`."""
    keep_hours: float = 24.0
    """How long a run's values are kept for re-execution after the run (the newest value of each asset always is)."""

    def _root(self) -> Path:
        return Path(self.base_dir) if self.base_dir else PipelineSettings.from_env().data_dir / "dagster_io"

    @staticmethod
    def _parts(context: dg.OutputContext | dg.InputContext) -> list[str]:
        parts = list(context.asset_key.path)
        if context.has_asset_partitions:
            # A cohort name is never a path: percent-encoded and prefixed, "../x" or ".." stays one file name.
            parts.append("p=" + quote(context.asset_partition_key, safe=""))
        return parts

    def _run_folder(self, run_id: str) -> Path:
        return self._root() / "runs" / quote(run_id, safe="")

    def _pointer(self, parts: list[str]) -> Path:
        return self._root().joinpath("latest", *parts).with_suffix(".json")

    def _path(self, context: dg.OutputContext | dg.InputContext, run_id: str | None = None) -> Path:
        if run_id is None:
            run_id = _output_run_id(context) if isinstance(context, dg.OutputContext) else self._input_run_id(context)
        return self._run_folder(run_id).joinpath(*self._parts(context))

    def _input_run_id(self, context: dg.InputContext) -> str:
        upstream = _output_run_id(context.upstream_output) if context.upstream_output is not None else None
        if upstream not in (None, LOCAL_RUN):
            return upstream  # type: ignore[return-value]
        pointer = self._pointer(self._parts(context))
        if pointer.is_file():
            return str(json.loads(pointer.read_text())["run_id"])
        return upstream or LOCAL_RUN

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        run_id = _output_run_id(context)
        path = self._path(context, run_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        shutil.rmtree(scratch, ignore_errors=True)
        if isinstance(obj, Snapshot):
            scratch.mkdir()
            for name in SNAPSHOT_FRAMES:
                getattr(obj, name).to_parquet(scratch / f"{name}.parquet", index=False)
            (scratch / "snapshot.json").write_text(json.dumps({"system": obj.system, "info": obj.info}, default=str))
            target = path
        elif isinstance(obj, pd.DataFrame):
            obj.to_parquet(scratch, index=False)
            target = path.with_suffix(".parquet")
        else:
            scratch.write_bytes(pickle.dumps(obj))
            target = path.with_suffix(".pickle")
        for old in (path, path.with_suffix(".parquet"), path.with_suffix(".pickle")):
            # A retried step of this run replaces its own earlier value; no other run writes here.
            if old.is_dir():
                shutil.rmtree(old)
            else:
                old.unlink(missing_ok=True)
        os.replace(scratch, target)
        _write_atomically(self._pointer(self._parts(context)), json.dumps({"run_id": run_id}))
        self._prune(keep=run_id)

    def load_input(self, context: dg.InputContext) -> Any:
        path = self._path(context)
        if (path / "snapshot.json").is_file():
            head = json.loads((path / "snapshot.json").read_text())
            frames = {name: pd.read_parquet(path / f"{name}.parquet") for name in SNAPSHOT_FRAMES}
            return Snapshot(system=head["system"], info=head["info"], **frames)
        if path.with_suffix(".parquet").is_file():
            return pd.read_parquet(path.with_suffix(".parquet"))
        if path.with_suffix(".pickle").is_file():
            return pickle.loads(path.with_suffix(".pickle").read_bytes())
        raise FileNotFoundError(f"no stored value for {context.asset_key.to_user_string()} at {path}")

    def _prune(self, keep: str) -> None:
        """Remove run folders older than `keep_hours` that no `latest` pointer names (never `keep`'s own)."""
        runs = self._root() / "runs"
        cutoff = time.time() - self.keep_hours * 3600
        old = [f for f in runs.iterdir() if f.is_dir() and f.name != quote(keep, safe="") and _mtime(f) < cutoff]
        if not old:
            return
        named = {
            quote(str(json.loads(p.read_text()).get("run_id")), safe="")
            for p in (self._root() / "latest").rglob("*.json")
            if p.is_file()
        }
        for folder in old:
            if folder.name not in named:
                shutil.rmtree(folder, ignore_errors=True)


def _output_run_id(context: dg.OutputContext) -> str:
    try:
        return context.run_id
    except dg.DagsterInvariantViolationError:
        return LOCAL_RUN  # an output context built without a run (tests, scripts)


def _mtime(folder: Path) -> float:
    try:
        return folder.stat().st_mtime
    except OSError:
        return time.time()


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    scratch.write_text(text)
    os.replace(scratch, path)
