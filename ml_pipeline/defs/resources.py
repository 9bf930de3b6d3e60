"""Small Dagster resources over the project's own storage and MLflow modules."""

import functools
import hashlib
import json
import pickle
from pathlib import Path
from typing import Any

import dagster as dg

from ml_pipeline.config import PipelineConfig, parse_config
from ml_pipeline.core.data.warehouse import Warehouse
from ml_pipeline.core.names import CONFIG_DIGEST_TAG
from ml_pipeline.core.ownership import current_owner
from ml_pipeline.core.storage import location, options_of
from ml_pipeline.core.tracking import MlflowStore


@functools.lru_cache(maxsize=4)
def _parsed(snapshot: str, config_path: str) -> PipelineConfig:
    """A snapshot parsed once per process: every step of a run, and every asset of an
    in-process run, reads the same frozen config."""
    return parse_config(json.loads(snapshot), Path(config_path))


class PipelineSettings(dg.ConfigurableResource):
    """The validated ``pipeline.yaml`` as it was when the definitions were loaded.

    ``snapshot`` holds every setting, so every step of a run reads the same config, the
    one the sensors and schedules of that code location decided with; editing the file
    takes effect at the next load (``Reload`` in the UI, or the next CLI command). The
    run records the snapshot's digest as a tag, and its resource config shows it whole.
    """

    config_path: str
    snapshot: str

    @classmethod
    def of(cls, config: PipelineConfig) -> "PipelineSettings":
        return cls(
            config_path=str(config.source_path),
            snapshot=json.dumps(config.model_dump(mode="json"), sort_keys=True),
        )

    def digest(self) -> str:
        return hashlib.sha256(self.snapshot.encode()).hexdigest()[:12]

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Every asset reads its settings, so every run records here which process
        # executes it (a run whose process dies can then be found and ended) and which
        # config it ran with.
        run, instance = context.dagster_run, context.instance
        if run is None or instance is None:
            return
        tags = {CONFIG_DIGEST_TAG: self.digest()}
        # A Celery worker runs one step, not the run: its death is the broker's to
        # handle (the task goes back to the queue), not a sign that the run is gone.
        if json.loads(self.snapshot)["dagster"]["executor"] == "in_process":
            tags.update(current_owner().tags())
        instance.add_run_tags(run.run_id, tags)

    def load(self) -> PipelineConfig:
        return _parsed(self.snapshot, self.config_path)


class WarehouseResource(dg.ConfigurableResource):
    """Parquet-per-partition tables under ``root``, a folder or an fsspec URL."""

    root: str
    storage_options: dict[str, Any] = {}

    def get(self) -> Warehouse:
        return Warehouse(location(self.root, self.storage_options))


class _PickledOutputs(dg.UPathIOManager):
    extension = ".pickle"

    def dump_to_path(self, context: dg.OutputContext, obj: Any, path) -> None:
        # One request to an object store, so a reader never sees half a pickle.
        path.write_bytes(pickle.dumps(obj, pickle.HIGHEST_PROTOCOL))

    def load_from_path(self, context: dg.InputContext, path) -> Any:
        return pickle.loads(path.read_bytes())


class SharedOutputsIOManager(dg.ConfigurableIOManagerFactory):
    """Step outputs on shared storage, so that a step on one worker machine reads what a
    step on another returned (Dagster's default keeps them in the instance's folder)."""

    base: str
    storage_options: dict[str, Any] = {}

    def create_io_manager(self, context) -> dg.UPathIOManager:
        return _PickledOutputs(base_path=location(self.base, self.storage_options))


class MlflowResource(dg.ConfigurableResource):
    """The MLflow tracking server or embedded store, and the registered model's name."""

    tracking_uri: str
    experiment: str
    registered_model: str
    artifact_root: str | None = None
    ui_url: str | None = None

    @classmethod
    def of(cls, config: PipelineConfig) -> "MlflowResource":
        """The one way from config to the MLflow store, for assets and commands alike."""
        return cls(
            tracking_uri=config.mlflow_tracking_uri,
            experiment=config.mlflow.experiment,
            registered_model=config.mlflow.registered_model,
            artifact_root=(
                str(config.mlflow_artifact_root) if config.mlflow_artifact_root else None
            ),
            ui_url=config.mlflow_ui_url,
        )

    def get(self) -> MlflowStore:
        return MlflowStore(
            tracking_uri=self.tracking_uri,
            experiment=self.experiment,
            registered_model=self.registered_model,
            artifact_root=Path(self.artifact_root) if self.artifact_root else None,
            ui_url=self.ui_url,
        )


def mlflow_store(config: PipelineConfig) -> MlflowStore:
    """The project's MLflow store, for a command or a sensor that needs no other resource."""
    return MlflowResource.of(config).get()


def resources_for(config: PipelineConfig) -> dict[str, Any]:
    resources: dict[str, Any] = {
        "settings": PipelineSettings.of(config),
        "warehouse": WarehouseResource(
            root=str(config.warehouse_dir), storage_options=options_of(config.warehouse_dir)
        ),
        "mlflow": MlflowResource.of(config),
    }
    outputs = config.step_outputs_dir
    if outputs is not None:
        resources["io_manager"] = SharedOutputsIOManager(
            base=str(outputs), storage_options=options_of(outputs)
        )
    return resources
