"""What logging one model to MLflow costs, with requirements inferred or listed.

    python bench/model_logging_bench.py [--repeats 5]

Fits the project's HistGradientBoosting pipeline on 1,000 synthetic rows, then logs it
the way a training run does (skops, signature, input example, the feature code) to a
sqlite MLflow store, alternating between MLflow's requirement inference (it loads the
model in a new process and lists what that process imported) and the project's pinned
list. Writes ``bench/results/model_logging.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.results import machine, write_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import mlflow
    import mlflow.sklearn

    from ml_pipeline.config import CandidateConfig
    from ml_pipeline.core import tracking
    from ml_pipeline.core.model.training import build_pipeline
    from ml_pipeline_tests.frames import labelled_frame as data

    X, y = data("regression", 1000)
    candidate = CandidateConfig(name="hgb", estimator="hist_gradient_boosting")
    model = build_pipeline(candidate, "regression", X, "ts", ["id"], 0).fit(X, y)
    signature = tracking.signature_for(X, model.predict(X.head(50)), ["id"])
    example = tracking.as_landed(X.head(5))
    seconds: dict[str, list[float]] = {"inferred": [], "listed": []}
    with tempfile.TemporaryDirectory(prefix="model-logging-bench-") as scratch:
        store = tracking.MlflowStore(
            f"sqlite:///{scratch}/mlflow.db", "e", "m", Path(scratch) / "artifacts"
        )
        experiment = store.activate()
        for _ in range(args.repeats):
            for side, requirements in (("inferred", None), ("listed", "pinned")):
                with (
                    mlflow.start_run(experiment_id=experiment),
                    tempfile.TemporaryDirectory() as code,
                ):
                    started = time.perf_counter()
                    mlflow.sklearn.log_model(
                        model,
                        name="model",
                        signature=signature,
                        input_example=example,
                        serialization_format="skops",
                        skops_trusted_types=tracking.SKOPS_TRUSTED_TYPES,
                        code_paths=[str(tracking._shippable_feature_code(Path(code)))],
                        pip_requirements=tracking.model_requirements() if requirements else None,
                    )
                    seconds[side].append(round(time.perf_counter() - started, 2))
    write_result(
        "model_logging",
        {
            "machine": machine(),
            "command": f"python bench/model_logging_bench.py --repeats {args.repeats}",
            "sides": [
                {"requirements": side, "seconds": values, "median": statistics.median(values)}
                for side, values in seconds.items()
            ],
        },
    )


if __name__ == "__main__":
    main()
