"""MLflow tracking, the model registry, and the exported champion artifact.

MLflow is imported inside the functions: importing it costs seconds, and the
Dagster code location should load without paying for it.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ml_pipeline.core.names import (
    DAGSTER_RUN_TAG,
    FEATURES,
    HOLDOUT_CUTOFF_TAG,
    MLFLOW_RUN_ID_TAG,
    MODEL_FINGERPRINT_TAG,
    PREVIOUS_CHAMPION_TAG,
    REFIT_TAG,
    ROLLED_BACK_TAG,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.models import ModelSignature

# Types skops must be told to trust when loading a pipeline that core/model/training.py
# builds; everything else in them is on skops' default list. A test keeps this exact.
# The one type of this package is the reason ml_pipeline.core.features never moves.
SKOPS_TRUSTED_TYPES = [
    # HistGradientBoosting's own category encoder validates numbers with a partial of
    # check_array; trusting partial admits nothing else, as its function must be trusted too.
    "functools.partial",
    "ml_pipeline.core.features.FeatureBuilder",
    "ml_pipeline.core.features.OutlierClipper",
    "ml_pipeline.core.features.Float32",
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
    "sklearn.utils.validation.check_array",
]

CHAMPION_ALIAS = "champion"
# Under manual approval, the version that passed the gate and waits for a person.
CANDIDATE_ALIAS = "candidate"


@dataclass(frozen=True)
class MlflowStore:
    tracking_uri: str
    experiment: str
    registered_model: str
    artifact_root: Path | None = None
    # The MLflow UI's address, for links to runs and versions; None: no links.
    ui_url: str | None = None

    def run_url(self, run_id: str) -> str | None:
        if self.ui_url is None:
            return None
        experiment = self.client().get_run(run_id).info.experiment_id
        return f"{self.ui_url}/#/experiments/{experiment}/runs/{run_id}"

    def version_url(self, version: str) -> str | None:
        if self.ui_url is None:
            return None
        return f"{self.ui_url}/#/models/{self.registered_model}/versions/{version}"

    def activate(self) -> str:
        """Point the MLflow client at this store and return the experiment id."""
        import mlflow

        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        if self.tracking_uri.startswith("sqlite:///"):
            Path(self.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(
                parents=True, exist_ok=True
            )
        inherited = os.environ.get("MLFLOW_TRACKING_URI")
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        # MLflow also exports the URI to the environment, for subprocesses; every process
        # of ours reads it from its config, and a leaked variable would point another
        # project's processes (a `dagster dev` started from here) at this store.
        if inherited is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = inherited
        found = mlflow.get_experiment_by_name(self.experiment)
        if found is not None:
            return found.experiment_id
        location = self.artifact_root.resolve().as_uri() if self.artifact_root else None
        return mlflow.create_experiment(self.experiment, artifact_location=location)

    def client(self) -> MlflowClient:
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def champion(self) -> ModelVersion | None:
        return self.aliased(CHAMPION_ALIAS)

    def candidate(self) -> ModelVersion | None:
        """The version awaiting a person's approval, if any."""
        return self.aliased(CANDIDATE_ALIAS)

    def aliased(self, alias: str) -> ModelVersion | None:
        from mlflow.exceptions import MlflowException

        try:
            return self.client().get_model_version_by_alias(self.registered_model, alias)
        except MlflowException as error:
            if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None
            raise

    def champion_scores(self) -> tuple[str, dict[str, float], dict[str, float]] | None:
        """The champion's version with the holdout and trivial-baseline scores its gate
        logged; None when there is no champion."""
        champion = self.champion()
        if champion is None:
            return None
        metrics = self.client().get_run(champion.run_id).data.metrics

        def scores(prefix: str) -> dict[str, float]:
            return {k.removeprefix(prefix): v for k, v in metrics.items() if k.startswith(prefix)}

        return str(champion.version), scores("holdout_"), scores("baseline_")

    def holdout_score(self, version: str, metric: str) -> float | None:
        """The holdout ``metric`` the version's gate logged, if it logged one."""
        client = self.client()
        registered = client.get_model_version(self.registered_model, version)
        return client.get_run(registered.run_id).data.metrics.get(f"holdout_{metric}")

    def trained_on(self, version: str) -> dict[str, str]:
        """Each feature partition the version's training read, with its content digest
        (the training run's MLflow dataset inputs)."""
        client = self.client()
        registered = client.get_model_version(self.registered_model, version)
        run = client.get_run(registered.tags.get(MLFLOW_RUN_ID_TAG) or registered.run_id)
        prefix = f"{FEATURES}/"
        return {
            given.dataset.name.removeprefix(prefix): given.dataset.digest
            for given in run.inputs.dataset_inputs
            if given.dataset.name.startswith(prefix)
        }

    def champion_holdout_cutoff(self) -> str | None:
        """Where the champion's time holdout began, if it had one and never trained on it.

        A refit champion saw its holdout too; the gate then compares on rows of later
        partitions instead, and the challenger's holdout need not move.
        """
        champion = self.champion()
        if champion is None or champion.tags.get(REFIT_TAG) == "true":
            return None
        return champion.tags.get(HOLDOUT_CUTOFF_TAG)

    def all_versions(self) -> list[ModelVersion]:
        """Every registered version of the model; none before the first registration."""
        from mlflow.exceptions import MlflowException

        try:
            return list(self.client().search_model_versions(f"name='{self.registered_model}'"))
        except MlflowException as error:
            if error.error_code == "RESOURCE_DOES_NOT_EXIST":
                return []
            raise

    def versions_by_run(self) -> dict[str, str]:
        """Training run id -> the version registered from it."""
        return {v.run_id: str(v.version) for v in self.all_versions() if v.run_id}

    def rolled_back(self) -> dict[str, tuple[str, str]]:
        """Model fingerprint -> (version, when) of every version a rollback moved away from."""
        return {
            version.tags[MODEL_FINGERPRINT_TAG]: (
                str(version.version),
                version.tags[ROLLED_BACK_TAG],
            )
            for version in self.all_versions()
            if ROLLED_BACK_TAG in version.tags and MODEL_FINGERPRINT_TAG in version.tags
        }

    def load_version(self, version: str) -> object:
        return load_sklearn_model(f"models:/{self.registered_model}/{version}")

    def register(self, model_uri: str, tags: dict[str, str]) -> str:
        """Register ``model_uri`` and return its version (MLflow mixes int and str)."""
        import mlflow

        return str(mlflow.register_model(model_uri, self.registered_model, tags=tags).version)

    def promote(self, version: str) -> str | None:
        """Make ``version`` the champion; return the version it replaces."""
        client = self.client()
        previous = self.champion()
        previous_version = str(previous.version) if previous is not None else None
        if previous_version is not None and previous_version != version:
            client.set_model_version_tag(
                self.registered_model, version, PREVIOUS_CHAMPION_TAG, previous_version
            )
        client.set_registered_model_alias(self.registered_model, CHAMPION_ALIAS, version)
        return previous_version

    def registered_run_ids(self) -> set[str]:
        """The training runs behind every registered version of the model."""
        return set(self.versions_by_run())

    def running_runs(self) -> dict[str, str]:
        """The experiment's MLflow runs still marked RUNNING, each with the Dagster run
        that started it ("" when untagged)."""
        runs = self.client().search_runs(
            [self.activate()], "attributes.status = 'RUNNING'", max_results=1000
        )
        return {run.info.run_id: run.data.tags.get(DAGSTER_RUN_TAG, "") for run in runs}

    def latest_finished_run(self, tag: str, value: str) -> tuple[str, int, dict[str, str]] | None:
        """(run id, start time in ms, tags) of the newest finished run tagged tag=value."""
        found = self.client().search_runs(
            [self.activate()],
            f"tags.`{tag}` = '{value}' and attributes.status = 'FINISHED'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        if not found:
            return None
        run = found[0]
        return run.info.run_id, run.info.start_time, dict(run.data.tags)

    def end_as_killed(self, run_id: str) -> None:
        self.client().set_terminated(run_id, status="KILLED")

    def version(self, version: str) -> ModelVersion:
        return self.client().get_model_version(self.registered_model, version)

    def point_alias(self, version: str) -> None:
        self.client().set_registered_model_alias(self.registered_model, CHAMPION_ALIAS, version)


def as_landed(X: pd.DataFrame) -> pd.DataFrame:
    """``X`` with timestamps as text, the way CSV files and JSON requests carry them."""
    datetimes = [c for c in X.columns if pd.api.types.is_datetime64_any_dtype(X[c])]
    if not datetimes:
        return X
    converted = X.copy()
    for column in datetimes:
        converted[column] = X[column].dt.strftime("%Y-%m-%d %H:%M:%S").astype(object)
    return converted


def signature_for(
    X: pd.DataFrame, predictions: object, optional_columns: list[str]
) -> ModelSignature:
    """The raw landing columns (without the target) as the model's input schema.

    Every column is declared ``any``: MLflow refuses int64 input for a ``double``
    column and float64 for a ``long`` one, yet a client's ``read_csv`` gives one or the
    other depending on whether a column has a gap. The model's feature step checks
    types itself (numbers must parse, anything else is a category, timestamps are
    parsed), so nothing is lost. Identifier and leakage columns are optional: callers
    may send landed rows as they are, or leave out columns unknown at prediction time.
    """
    from mlflow.models import infer_signature
    from mlflow.types.schema import AnyType, ColSpec, Schema

    inferred = infer_signature(as_landed(X.head(50)), predictions)
    inferred.inputs = Schema(
        [ColSpec(AnyType(), name, required=name not in optional_columns) for name in X.columns]
    )
    return inferred


def _shippable_feature_code(into: Path) -> Path:
    """A minimal copy of the package with just the feature code the model imports."""
    import ml_pipeline.core.features as features

    package = into / "ml_pipeline"
    (package / "core").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "core" / "__init__.py").write_text("")
    shutil.copy2(features.__file__, package / "core" / "features.py")
    return package


@contextmanager
def _import_path_kept() -> Iterator[None]:
    """``sys.path`` as it was before: MLflow puts a model's shipped code folder first on
    it at each load (logging loads the model to check its input example) and leaves it
    there. A process that spawns workers afterwards hands them that path, and they import
    this package from the model's partial copy of it, which lacks nearly everything.
    Loaded classes stay bound, so the path can go."""
    saved = list(sys.path)
    try:
        yield
    finally:
        sys.path[:] = saved


def load_sklearn_model(uri: str) -> Any:
    """The scikit-learn pipeline logged at ``uri``, with ``sys.path`` left as it was."""
    import mlflow.sklearn

    with _import_path_kept():
        return mlflow.sklearn.load_model(uri)


# What a logged model needs to load and predict (its feature code ships with it).
MODEL_REQUIREMENTS = ("mlflow", "scikit-learn", "skops", "numpy", "pandas", "scipy")


def model_requirements() -> list[str]:
    """``MODEL_REQUIREMENTS`` pinned to the installed versions the model was trained with.

    Listed rather than inferred: MLflow's inference loads the model in a new process
    (seconds for each logged model) and lists whatever that process imported, this
    project included, which is no installable requirement.
    """
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in MODEL_REQUIREMENTS]


def log_sklearn_model(
    model: object,
    signature: ModelSignature,
    input_example: pd.DataFrame,
    name: str = "model",
) -> str:
    """Log ``model`` to the active run with skops and the feature code; return its URI."""
    import mlflow.sklearn

    with tempfile.TemporaryDirectory() as scratch, _import_path_kept():
        info = mlflow.sklearn.log_model(
            model,
            name=name,
            signature=signature,
            input_example=input_example,
            serialization_format="skops",
            skops_trusted_types=SKOPS_TRUSTED_TYPES,
            code_paths=[str(_shippable_feature_code(Path(scratch)))],
            pip_requirements=model_requirements(),
        )
    return info.model_uri


# MLflow refuses tag values longer than this.
MAX_TAG_CHARS = 5000


# Datasets per log_inputs call: a year of hourly partitions goes in a few requests.
INPUTS_PER_CALL = 1000


def _dataset_source(uri: str) -> object:
    """MLflow's source for a stored partition: its registered kind for the URL's scheme
    (s3, gs, ...), else a local path (which an unknown scheme is recorded as)."""
    from mlflow.data.dataset_source_registry import get_dataset_source_from_json
    from mlflow.exceptions import MlflowException

    described = json.dumps({"uri": uri})
    scheme = uri.split("://", 1)[0] if "://" in uri else "local"
    try:
        return get_dataset_source_from_json(described, source_type=scheme)
    except MlflowException:
        return get_dataset_source_from_json(described, source_type="local")


def log_training_inputs(table: str, partitions: list[tuple[str, str, str, int]]) -> None:
    """Each partition a training read, as an MLflow dataset input of the active run:
    named ``table/key``, with its content digest, where it is stored, and its rows (in the
    ``rows`` tag). MLflow's lineage: the run page lists them, and ``mlflow.data`` reads
    them back."""
    import mlflow
    from mlflow.data.meta_dataset import MetaDataset

    for start in range(0, len(partitions), INPUTS_PER_CALL):
        chunk = partitions[start : start + INPUTS_PER_CALL]
        mlflow.log_inputs(
            datasets=[
                MetaDataset(_dataset_source(uri), name=f"{table}/{key}", digest=digest)
                for key, uri, digest, _rows in chunk
            ],
            contexts=["training"] * len(chunk),
            tags_list=[{"rows": str(rows)} for *_, rows in chunk],
        )


def tag_value(text: str) -> str:
    """``text`` cut to what MLflow stores as a tag; where it matters, the full text is
    logged as an artifact too (the model card lists every partition)."""
    return text[:MAX_TAG_CHARS]


def run_text(store: MlflowStore, run_id: str, artifact: str) -> str | None:
    """A text artifact of a run; None only when the run never logged it.

    A logged artifact that cannot be read is an error, not an absence: the callers would
    otherwise go on with another version's card, reference or partition list.
    """
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    folder = posixpath.dirname(artifact) or None
    logged = {item.path for item in store.client().list_artifacts(run_id, folder)}
    if artifact not in logged:
        return None
    try:
        return mlflow.artifacts.load_text(f"runs:/{run_id}/{artifact}")
    except (MlflowException, OSError) as error:
        raise RuntimeError(
            f"run {run_id} logged {artifact} but it cannot be read: {error}"
        ) from error
