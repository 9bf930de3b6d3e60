"""The search on a real Dask cluster (separate worker processes on this machine)."""

import socket

import numpy as np
import pandas as pd
import pytest

from ml_pipeline.config import CandidateConfig, load_config
from ml_pipeline.core import names
from ml_pipeline.core.model import training
from ml_pipeline.core.model.challenger import train_challenger, training_contract

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as local,
        distributed.Client(local, set_as_default=False) as observer,
    ):
        yield local.scheduler_address, observer


def fits_seen_by(observer, run) -> tuple[object, int]:
    """Runs ``run`` and counts the tasks the cluster's workers finished meanwhile."""
    with distributed.get_task_stream(client=observer) as stream:
        result = run()
    return result, len(stream.data)


def regression_data(n: int = 400) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(1)
    X = pd.DataFrame(
        {
            "ts": pd.date_range("2024-01-01", periods=n, freq="h"),
            "a": rng.normal(size=n),
            "c": rng.choice(["x", "y", "z"], n),
        }
    )
    return X, 3 * X["a"] + (X["c"] == "x") * 2 + rng.normal(0, 0.3, n)


def tune(n_jobs: int) -> training.CandidateResult:
    X, y = regression_data()
    return training.tune_candidate(
        CandidateConfig(
            name="forest",
            estimator="random_forest",
            params={"n_estimators": 30},
            search={"max_depth": [3, 6, None], "min_samples_leaf": [1, 5]},
        ),
        "regression",
        X,
        y,
        metric="rmse",
        timestamp_column="ts",
        ignored_columns=[],
        folds=3,
        iterations=4,
        n_jobs=n_jobs,
        seed=0,
    )


def test_the_cluster_runs_every_fit_and_finds_what_local_processes_find(cluster) -> None:
    address, observer = cluster
    with training.search_workers(2) as width:
        local = tune(width)

    def on_cluster() -> training.CandidateResult:
        with training.search_workers(2, address) as width:
            assert width == 2
            return tune(width)

    remote, tasks = fits_seen_by(observer, on_cluster)

    assert remote.params == local.params
    assert remote.cv_score == pytest.approx(local.cv_score, rel=1e-12)
    assert remote.tried == local.tried == 4
    # Four settings times three folds, each fit and scored on a worker.
    assert tasks >= 4 * 3


def test_training_config_sends_the_search_to_the_cluster(cluster, trained_setup) -> None:
    address, observer = cluster
    config, warehouse, store = trained_setup
    config = config.model_copy(
        update={"training": config.training.model_copy(update={"dask_scheduler": address})}
    )
    keys = warehouse.partitions(names.FEATURES)
    contract = training_contract(config.modeling, warehouse, keys)

    outcome, tasks = fits_seen_by(
        observer, lambda: train_challenger(warehouse, keys, config.modeling, store, {}, contract)
    )

    assert tasks >= len(config.training.candidates) * config.training.cv_folds
    assert store.client().get_run(outcome.mlflow_run_id).info.status == "FINISHED"


def test_an_unreachable_scheduler_is_named_in_one_line() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    with (
        pytest.raises(ConnectionError, match=f"training.dask_scheduler: .*{address}"),
        training.search_workers(2, address, connect_seconds=2),
    ):
        pass


def test_a_scheduler_address_without_a_protocol_is_a_config_error(tmp_path) -> None:
    from ml_pipeline_tests.conftest import bike_document, write_config

    document = bike_document()
    document.setdefault("training", {})["dask_scheduler"] = "scheduler-host:8786"
    with pytest.raises(ValueError, match="dask_scheduler"):
        load_config(write_config(tmp_path, document))
