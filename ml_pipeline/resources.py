"""Small Dagster resources over the project's own storage and MLflow modules."""

from pathlib import Path

import dagster as dg

from ml_pipeline.config import PipelineConfig, load_config
from ml_pipeline.core.ownership import current_owner
from ml_pipeline.core.tracking import MlflowStore
from ml_pipeline.core.warehouse import Warehouse


class PipelineSettings(dg.ConfigurableResource):
    """The validated ``pipeline.yaml``; assets read dataset and policy settings from it."""

    config_path: str

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Every asset reads its settings, so every run records here which process
        # executes it: a run whose process dies can then be found and ended.
        run, instance = context.dagster_run, context.instance
        if run is not None and instance is not None:
            instance.add_run_tags(run.run_id, current_owner().tags())

    def load(self) -> PipelineConfig:
        return load_config(self.config_path)


class WarehouseResource(dg.ConfigurableResource):
    """Parquet-per-partition tables under ``root``."""

    root: str

    def get(self) -> Warehouse:
        return Warehouse(Path(self.root))


class MlflowResource(dg.ConfigurableResource):
    """The MLflow tracking server or embedded store, and the registered model's name."""

    tracking_uri: str
    experiment: str
    registered_model: str
    artifact_root: str | None = None

    def get(self) -> MlflowStore:
        return MlflowStore(
            tracking_uri=self.tracking_uri,
            experiment=self.experiment,
            registered_model=self.registered_model,
            artifact_root=Path(self.artifact_root) if self.artifact_root else None,
        )


def resources_for(config: PipelineConfig) -> dict[str, dg.ConfigurableResource]:
    return {
        "settings": PipelineSettings(config_path=str(config.source_path)),
        "warehouse": WarehouseResource(root=str(config.warehouse_dir)),
        "mlflow": MlflowResource(
            tracking_uri=config.mlflow_tracking_uri,
            experiment=config.mlflow.experiment,
            registered_model=config.mlflow.registered_model,
            artifact_root=str(config.mlflow_artifact_root),
        ),
    }
