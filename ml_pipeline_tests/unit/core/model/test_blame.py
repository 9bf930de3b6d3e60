"""A fit that fails on data names the partitions behind it, and training goes on without them."""

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from ml_pipeline.config import load_config
from ml_pipeline.core import names
from ml_pipeline.core.model import blame
from ml_pipeline.core.model.challenger import train_challenger, training_contract
from ml_pipeline.core.model.training import CandidateError
from ml_pipeline.core.names import DAGSTER_RUN_TAG
from ml_pipeline.defs.resources import mlflow_store
from ml_pipeline_tests.conftest import FAST_TRAINING, bike_document, write_config

KEYS = [f"p{i:02d}" for i in range(13)]


def probe_failing_on(bad: set[str], alone_fails: frozenset[str] = frozenset()):
    """A fit that fails whenever a ``bad`` partition is in it, and on ``alone_fails``
    partitions' rows alone (a single class, say); it counts its calls."""
    calls = []

    def probe(keys: list[str]) -> str | None:
        calls.append(list(keys))
        if bad & set(keys):
            return f"bad rows in {sorted(bad & set(keys))[0]}"
        if len(keys) == 1 and keys[0] in alone_fails:
            return "one class only"
        return None

    return probe, calls


@pytest.mark.parametrize("culprit", [KEYS[0], KEYS[6], KEYS[-1]])
def test_bisection_names_the_one_bad_partition_in_few_fits(culprit: str) -> None:
    probe, calls = probe_failing_on({culprit})
    found = blame.bisect(KEYS, probe)
    assert found.partitions == {culprit: f"bad rows in {culprit}"}
    assert len(calls) <= 2 * np.ceil(np.log2(len(KEYS))) + 3


def test_two_bad_partitions_are_both_named() -> None:
    probe, _ = probe_failing_on({"p03", "p11"})
    assert set(blame.bisect(KEYS, probe).partitions) == {"p03", "p11"}


def test_a_partition_that_fails_only_alone_is_cleared_once_the_culprit_is_found() -> None:
    probe, _ = probe_failing_on({"p09"}, alone_fails=frozenset({"p00"}))
    assert set(blame.bisect(KEYS, probe).partitions) == {"p09"}


def test_a_fault_of_several_partitions_together_blames_none() -> None:
    def probe(keys: list[str]) -> str | None:
        return "collinear" if {"p02", "p10"} <= set(keys) else None

    found = blame.bisect(KEYS, probe)
    assert found.partitions == {}
    assert found.unresolved == "the fault needs rows of several partitions together"


def test_a_fit_that_does_not_fail_again_blames_none() -> None:
    found = blame.bisect(KEYS, lambda keys: None)
    assert found.partitions == {} and "succeeded" in found.unresolved


def test_more_bad_partitions_than_the_limit_blame_none() -> None:
    probe, _ = probe_failing_on(set(KEYS[:5]))
    found = blame.bisect(KEYS, probe, limit=3)
    assert found.partitions == {} and found.unresolved.startswith("the fit still fails without")


SENTINEL = 7777.0


@pytest.fixture
def ridge_that_fails_on_a_sentinel(monkeypatch):
    """Every real fault known to break a fit (infinities, numbers beyond float32) is now
    read as missing before any fit, so none is left to land: this stands in for the next
    one, a fit that raises on a row whose target is the sentinel."""
    real_fit = Ridge.fit

    def fit(self, X, y, *args, **kwargs):
        if np.any(np.asarray(y) == SENTINEL):
            raise ValueError("the solver diverged on these rows")
        return real_fit(self, X, y, *args, **kwargs)

    monkeypatch.setattr(Ridge, "fit", fit)


def test_a_failing_fit_names_its_partition_and_later_runs_leave_it_out(
    trained_setup, tmp_path, ridge_that_fails_on_a_sentinel
) -> None:
    _, warehouse, _ = trained_setup
    linear_only = {**FAST_TRAINING, "candidates": FAST_TRAINING["candidates"][:1]}
    document = bike_document(training={**linear_only, "reference_model": False})
    config = load_config(write_config(tmp_path / "linear", document))
    store = mlflow_store(config)
    keys = warehouse.partitions(names.FEATURES)
    contract = training_contract(config.modeling, warehouse, keys)
    poisoned = warehouse.read(names.FEATURES, "day3")
    poisoned.loc[poisoned.index[::4], "count"] = SENTINEL
    warehouse.write(names.FEATURES, "day3", poisoned)

    first = train_challenger(
        warehouse, keys, config.modeling, store, {DAGSTER_RUN_TAG: "r1"}, contract
    )

    assert "day3" not in first.partitions and len(first.partitions) == len(keys) - 1
    assert first.excluded["day3"].startswith("a fit failed on its rows, so it is left out")
    assert "the solver diverged on these rows" in first.excluded["day3"]
    later = train_challenger(warehouse, keys, config.modeling, store, {}, contract)
    assert "day3" not in later.partitions
    assert later.excluded["day3"].startswith("a fit failed on its rows (training run r1)")

    poisoned.loc[poisoned["count"] == SENTINEL, "count"] = 5.0  # the file was fixed
    warehouse.write(names.FEATURES, "day3", poisoned)
    fixed = train_challenger(warehouse, keys, config.modeling, store, {}, contract)
    assert "day3" in fixed.partitions and not fixed.excluded


def test_a_fault_no_partition_explains_fails_the_run_saying_so(
    trained_setup, tmp_path, ridge_that_fails_on_a_sentinel
) -> None:
    _, warehouse, _ = trained_setup
    document = bike_document(
        training={**FAST_TRAINING, "candidates": FAST_TRAINING["candidates"][:1]}
        | {"reference_model": False}
    )
    config = load_config(write_config(tmp_path / "linear", document))
    store = mlflow_store(config)
    keys = warehouse.partitions(names.FEATURES)
    for key in keys:
        frame = warehouse.read(names.FEATURES, key)
        frame.loc[frame.index[:3], "count"] = SENTINEL
        warehouse.write(names.FEATURES, key, frame)
    contract = training_contract(config.modeling, warehouse, keys)

    with pytest.raises(CandidateError, match="no partition is to blame: the fit still fails"):
        train_challenger(warehouse, keys, config.modeling, store, {}, contract)
    assert not blame.known_faults(warehouse)
