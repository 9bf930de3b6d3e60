"""``ml-pipeline edge-score``: the predictions of the scikit-learn model, from a process
that never imports pandas, scikit-learn or MLflow; bad files refused in one line."""

import csv
import io
import shlex
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="the edge extra is not installed")
pytest.importorskip("skl2onnx", reason="the edge extra is not installed")

from ml_pipeline.config import CandidateConfig
from ml_pipeline.core.model import training
from ml_pipeline.core.onnx_export import export_onnx
from ml_pipeline_tests.conftest import tiny_rows

# Runs the command, then fails if any library the edge must do without was imported.
IN_A_BARE_PROCESS = """
import sys
from ml_pipeline.commands.cli import main
code = main(sys.argv[1:])
heavy = sorted({"pandas", "sklearn", "mlflow", "dagster", "skl2onnx"} & set(sys.modules))
if heavy:
    print("imported: " + ", ".join(heavy), file=sys.stderr)
    code = 3
sys.exit(code)
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("edge")
    X = tiny_rows(80, seed=0)
    y = 2.0 * X["temp"] + (X["weather"] == "rain") * 5.0
    candidate = CandidateConfig(name="linear", estimator="linear")
    pipeline = training.fit_configuration(candidate, "regression", X, y, "timestamp", [], 0)
    model = folder / "model.onnx"
    model.write_bytes(export_onnx(pipeline, "regression"))
    return folder, pipeline, model


def _edge_score(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", IN_A_BARE_PROCESS, "edge-score", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_edge_score_prints_the_pipeline_predictions_without_heavy_imports(exported) -> None:
    folder, pipeline, model = exported
    rows = tiny_rows(25, seed=5)
    rows.loc[3, "temp"] = None
    rows.loc[4, "weather"] = "hail"
    rows.to_csv(folder / "rows.csv", index=False)
    done = _edge_score(model, folder / "rows.csv")
    assert done.returncode == 0, done.stderr
    printed = list(csv.DictReader(io.StringIO(done.stdout)))
    assert list(printed[0]) == ["row", "prediction", "score_error"]
    assert [line["row"] for line in printed] == [str(i) for i in range(1, 26)]
    assert all(line["score_error"] == "" for line in printed)
    values = np.array([float(line["prediction"]) for line in printed])
    np.testing.assert_allclose(values, pipeline.predict(rows), atol=1e-3)


def test_edge_score_writes_the_output_file(exported) -> None:
    folder, _pipeline, model = exported
    tiny_rows(5, seed=6).to_csv(folder / "five.csv", index=False)
    done = _edge_score(model, folder / "five.csv", "--output", folder / "out.csv")
    assert done.returncode == 0, done.stderr
    assert (folder / "out.csv").read_text().count("\n") == 6
    assert [p.name for p in folder.glob(".out.csv*")] == []


def test_a_row_the_model_cannot_read_gets_a_score_error_and_the_others_are_scored(
    exported,
) -> None:
    folder, pipeline, model = exported
    rows = tiny_rows(4, seed=8).assign(ride=["a", "b", "c", "d"])
    rows.to_csv(folder / "mixed.csv", index=False)
    text = (folder / "mixed.csv").read_text().splitlines()
    fields = text[2].split(",")
    fields[1] = "warm"  # temp of the second row
    text[2] = ",".join(fields)
    (folder / "mixed.csv").write_text("\n".join(text) + "\n")
    done = _edge_score(model, folder / "mixed.csv", "--id-column", "ride")
    assert done.returncode == 0, done.stderr
    printed = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [line["ride"] for line in printed] == ["a", "b", "c", "d"]
    assert printed[1]["prediction"] == "" and "'warm' is not a number" in printed[1]["score_error"]
    good = rows.drop(index=1)
    values = np.array([float(printed[i]["prediction"]) for i in (0, 2, 3)])
    np.testing.assert_allclose(values, pipeline.predict(good.drop(columns=["ride"])), atol=1e-3)


def test_a_timestamp_not_in_iso_8601_is_a_score_error_naming_the_format(exported) -> None:
    folder, pipeline, model = exported
    rows = tiny_rows(3, seed=9)
    rows.to_csv(folder / "stamps.csv", index=False)
    text = (folder / "stamps.csv").read_text().splitlines()
    fields = text[3].split(",")
    fields[0] = "03/01/2026 10:00"  # the third row, written month first
    text[3] = ",".join(fields)
    (folder / "stamps.csv").write_text("\n".join(text) + "\n")
    done = _edge_score(model, folder / "stamps.csv")
    assert done.returncode == 0, done.stderr
    printed = list(csv.DictReader(io.StringIO(done.stdout)))
    error = printed[2]["score_error"]
    assert "column 'timestamp': '03/01/2026 10:00' is not an ISO 8601" in error
    assert "YYYY-MM-DD" in error and printed[2]["prediction"] == ""
    values = np.array([float(printed[i]["prediction"]) for i in (0, 1)])
    np.testing.assert_allclose(values, pipeline.predict(rows.head(2)), rtol=1e-6)


def test_the_dataset_id_column_the_model_names_is_passed_through(exported, tmp_path) -> None:
    _folder, pipeline, _model = exported
    named = tmp_path / "model.onnx"
    named.write_bytes(export_onnx(pipeline, "regression", id_column="ride_id"))
    rows = tiny_rows(3, seed=10).assign(ride_id=[17, 18, 19])
    rows.to_csv(tmp_path / "rows.csv", index=False)
    done = _edge_score(named, tmp_path / "rows.csv")
    printed = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [line["ride_id"] for line in printed] == ["17", "18", "19"]
    rows.drop(columns=["ride_id"]).to_csv(tmp_path / "no_ids.csv", index=False)
    done = _edge_score(named, tmp_path / "no_ids.csv")
    assert [line["row"] for line in csv.DictReader(io.StringIO(done.stdout))] == ["1", "2", "3"]


def test_a_model_exported_with_float32_inputs_is_still_scored(exported, tmp_path) -> None:
    import onnx

    _folder, pipeline, model = exported
    # The graph as exported before it read float64: a Cast in front of the same graph.
    graph = onnx.load(str(model))
    graph.graph.input[0].type.tensor_type.elem_type = onnx.TensorProto.FLOAT
    for node in graph.graph.node:
        node.input[:] = ["numeric64" if name == "numeric" else name for name in node.input]
    cast = onnx.helper.make_node("Cast", ["numeric"], ["numeric64"], to=onnx.TensorProto.DOUBLE)
    graph.graph.node.insert(0, cast)
    old = tmp_path / "old.onnx"
    onnx.save(graph, str(old))
    tiny_rows(4, seed=11).to_csv(tmp_path / "rows.csv", index=False)
    done = _edge_score(old, tmp_path / "rows.csv")
    assert done.returncode == 0, done.stderr
    printed = list(csv.DictReader(io.StringIO(done.stdout)))
    values = np.array([float(line["prediction"]) for line in printed])
    np.testing.assert_allclose(values, pipeline.predict(tiny_rows(4, seed=11)), atol=1e-3)


def test_a_reader_that_stops_early_is_no_error(exported) -> None:
    folder, _pipeline, model = exported
    tiny_rows(5000, seed=9).to_csv(folder / "many.csv", index=False)
    command = [
        sys.executable,
        "-m",
        "ml_pipeline.edge.scorer",
        str(model),
        str(folder / "many.csv"),
    ]
    done = subprocess.run(
        f"{' '.join(map(shlex.quote, command))} | head -n 2",
        shell=True,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.stdout.count("\n") == 2 and done.stderr == ""


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("timestamp,temp\n2026-01-01,3\n", "missing required columns: weather"),
        ("timestamp,temp,weather\n2026-01-01,warm,rain\n", "no row can be scored; row 1:"),
        ("timestamp,temp,weather\n2026-01-01,3\n", "row 1 has 2 fields, the header 3"),
        ("", "empty file, no header"),
    ],
    ids=["missing-column", "text-in-number", "short-row", "empty-file"],
)
def test_a_bad_file_is_refused_in_one_line(exported, content, message) -> None:
    folder, _pipeline, model = exported
    bad = folder / "bad.csv"
    bad.write_text(content)
    done = _edge_score(model, bad)
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and message in done.stderr
    assert done.stderr.count("\n") == 1


def test_a_file_that_is_no_edge_model_is_refused(exported, tmp_path) -> None:
    folder, _pipeline, _model = exported
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"not a model")
    done = _edge_score(fake, folder / "rows.csv")
    assert done.returncode == 1 and done.stderr.startswith("error: ")
