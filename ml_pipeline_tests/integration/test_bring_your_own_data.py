"""Real datasets pointed at by config alone, scored as a client would score them.

Each dataset is landed as batches, the config holds only a ``dataset`` section, and
``ml-pipeline run`` trains and deploys. The withheld newest 20% is then scored through
``mlflow.pyfunc.load_model`` on the DataFrame exactly as ``read_csv`` returns it (gaps,
whole numbers as int64, codes as numbers), and must score within 0.01 of a default
HistGradientBoosting model trained on the same raw landed rows.
"""

import json

import mlflow.pyfunc
import pandas as pd
import pytest
import yaml
from sklearn.metrics import f1_score, r2_score

from ml_pipeline_tests.corpus import CORPUS, dataset_section, land, reference_score
from ml_pipeline_tests.integration.test_cli import cli

pytestmark = pytest.mark.slow

TOLERANCE = 0.01


@pytest.mark.parametrize("dataset", CORPUS, ids=[d.name for d in CORPUS])
def test_a_real_dataset_from_config_alone_scores_like_the_reference(dataset, tmp_path) -> None:
    withheld_path = tmp_path / "withheld.csv"
    landed = land(dataset, tmp_path / "landing", withheld_path)
    section = dataset_section(dataset)
    config = tmp_path / "pipeline.yaml"
    config.write_text(yaml.safe_dump({"dataset": section}), encoding="utf-8")

    done = cli("run", "--json", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["champion"]["version"] == "1", summary

    withheld = pd.read_csv(withheld_path)
    model = mlflow.pyfunc.load_model(summary["artifact_path"])
    predicted = model.predict(withheld.drop(columns=[dataset.target]))
    truth = withheld[dataset.target]
    if dataset.task == "regression":
        score = r2_score(truth, predicted)
    else:
        assert pd.Series(predicted).dtype.kind == truth.dtype.kind  # labels keep their type
        score = f1_score(truth, predicted, average="macro")
    reference = reference_score(dataset, landed, withheld)
    print(f"corpus {dataset.name}: {dataset.metric} pipeline={score:.4f} reference={reference:.4f}")
    assert score >= reference - TOLERANCE
