"""Concurrent requests coalesced into one predict call, each answered with its own rows."""

import asyncio
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from ml_pipeline.serving.batching import MicroBatcher
from ml_pipeline.serving.inputs import InputSchema, RequestError, Rows
from ml_pipeline.serving.model import ServedModel

SCHEMA = InputSchema.from_signature([{"name": "x", "type": "double"}], None)


def linear_model(slope: float, version: str) -> ServedModel:
    x = np.arange(10, dtype="float64").reshape(-1, 1)
    fitted = LinearRegression().fit(pd.DataFrame({"x": x[:, 0]}), slope * x[:, 0])
    return ServedModel(
        name="line",
        version=version,
        path=Path("."),
        pipeline=fitted,
        schema=SCHEMA,
        card={},
        loaded_at="now",
    )


def rows(*values: float) -> Rows:
    return Rows(len(values), {"x": list(values)})


async def score_concurrently(batcher: MicroBatcher, jobs) -> list:
    batcher.start()
    try:
        return await asyncio.gather(
            *(batcher.score(model, part) for model, part in jobs), return_exceptions=True
        )
    finally:
        await batcher.stop()


def test_concurrent_requests_share_predict_calls_and_get_their_own_rows() -> None:
    batch_sizes: list[int] = []
    batcher = MicroBatcher(max_rows=1000, on_batch=batch_sizes.append)
    double = linear_model(2.0, "1")
    jobs = [(double, rows(float(i), float(i) + 0.5)) for i in range(20)]
    results = asyncio.run(score_concurrently(batcher, jobs))
    for i, result in enumerate(results):
        assert result.predictions == pytest.approx([2.0 * i, 2.0 * i + 1.0])
    assert sum(batch_sizes) == 40
    assert len(batch_sizes) < 20


def test_batches_respect_the_row_limit() -> None:
    batch_sizes: list[int] = []
    batcher = MicroBatcher(max_rows=4, on_batch=batch_sizes.append)
    model = linear_model(1.0, "1")
    asyncio.run(score_concurrently(batcher, [(model, rows(1.0, 2.0)) for _ in range(6)]))
    assert max(batch_sizes) <= 4
    assert sum(batch_sizes) == 12


def test_requests_checked_against_different_models_are_never_mixed() -> None:
    old, new = linear_model(2.0, "1"), linear_model(3.0, "2")
    jobs = [(old if i % 2 else new, rows(1.0)) for i in range(10)]
    results = asyncio.run(score_concurrently(MicroBatcher(max_rows=100), jobs))
    for i, result in enumerate(results):
        assert result.predictions == pytest.approx([2.0 if i % 2 else 3.0])


def test_a_request_the_model_cannot_score_fails_alone() -> None:
    model = linear_model(2.0, "1")
    jobs = [(model, rows(1.0)), (model, rows(float("nan"))), (model, rows(4.0))]
    first, bad, last = asyncio.run(score_concurrently(MicroBatcher(max_rows=100), jobs))
    assert first.predictions == pytest.approx([2.0])
    assert last.predictions == pytest.approx([8.0])
    assert isinstance(bad, RequestError) and bad.status == 422
    assert "could not score" in bad.message


def test_a_lone_client_never_waits_for_company() -> None:
    async def sequential() -> list[float]:
        batcher = MicroBatcher(max_rows=100, wait_seconds=5.0)
        batcher.start()
        try:
            model = linear_model(1.0, "1")
            results = []
            for value in (1.0, 2.0, 3.0):
                scored = await asyncio.wait_for(batcher.score(model, rows(value)), timeout=2.0)
                results.extend(scored.predictions)
            return results
        finally:
            await batcher.stop()

    assert asyncio.run(sequential()) == pytest.approx([1.0, 2.0, 3.0])


def test_classifiers_answer_with_labels_and_class_probabilities() -> None:
    x = pd.DataFrame({"x": [0.0, 1.0, 2.0, 8.0, 9.0, 10.0]})
    fitted = LogisticRegression().fit(x, ["no", "no", "no", "yes", "yes", "yes"])
    model = ServedModel(
        name="churn",
        version="1",
        path=Path("."),
        pipeline=fitted,
        schema=SCHEMA,
        card={},
        loaded_at="now",
        classes=list(fitted.classes_),
    )
    scored = model.score(rows(0.5, 9.5))
    assert scored.predictions == ["no", "yes"]
    assert [set(p) for p in scored.probabilities] == [{"no", "yes"}] * 2
    assert scored.probabilities[0]["no"] > 0.5 > scored.probabilities[1]["no"]
    assert sum(scored.probabilities[1].values()) == pytest.approx(1.0)
