"""Where asset values live between steps: DataFrames as Parquet (millions of rows), snapshots as a folder of Parquet
files, anything else (plans, match results, write summaries) pickled. Files go under `<data_dir>/dagster_io/`,
one path per asset key and partition."""

import json
import pickle
from pathlib import Path
from typing import Any
from urllib.parse import quote

import dagster as dg
import pandas as pd

from contact_sync.pipeline.config import PipelineSettings
from contact_sync.pipeline.snapshots import Snapshot

SNAPSHOT_FRAMES = ("contacts", "stamps", "rejected", "organizations")


class ContactSyncIOManager(dg.ConfigurableIOManager):
    """Parquet for frames and snapshots, pickle for the rest (see the module docstring)."""

    base_dir: str | None = None
    """Root folder; default `<CONTACT_SYNC_DATA_DIR>/dagster_io`."""

    def _root(self) -> Path:
        return Path(self.base_dir) if self.base_dir else PipelineSettings.from_env().data_dir / "dagster_io"

    def _path(self, context: dg.OutputContext | dg.InputContext) -> Path:
        parts = list(context.asset_key.path)
        if context.has_asset_partitions:
            # A cohort name is never a path: percent-encoded and prefixed, "../x" or ".." stays one file name.
            parts.append("p=" + quote(context.asset_partition_key, safe=""))
        return self._root().joinpath(*parts)

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        path = self._path(context)
        path.parent.mkdir(parents=True, exist_ok=True)
        for old in (path.with_suffix(".parquet"), path.with_suffix(".pickle")):
            old.unlink(missing_ok=True)
        if isinstance(obj, Snapshot):
            path.mkdir(exist_ok=True)
            for name in SNAPSHOT_FRAMES:
                getattr(obj, name).to_parquet(path / f"{name}.parquet", index=False)
            (path / "snapshot.json").write_text(json.dumps({"system": obj.system, "info": obj.info}, default=str))
        elif isinstance(obj, pd.DataFrame):
            obj.to_parquet(path.with_suffix(".parquet"), index=False)
        else:
            path.with_suffix(".pickle").write_bytes(pickle.dumps(obj))

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
