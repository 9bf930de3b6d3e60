"""Score a CSV file with ``model.onnx``: onnxruntime, NumPy and the standard library.

``ml-pipeline edge-score MODEL.onnx FILE.csv`` (or ``python -m ml_pipeline.edge.scorer``)
prints one row per input row, in batch scoring's column names: the row's id (the
``--id-column``, else the dataset's id column the model names when the file holds it)
or its number (``row``, from 1), ``prediction`` and, for a classifier,
``probability__<class>`` per class, then ``score_error``. A row the model cannot read
(text in a number column, a timestamp not in ISO 8601) gets its reason there and no
prediction; the other rows are scored. ``--output`` writes the same CSV atomically.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ml_pipeline.core.edge_features import SPEC_KEY, EdgeSpec, model_inputs


class EdgeModel:
    """An exported model and the feature spec it carries."""

    def __init__(self, path: str | os.PathLike[str]):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # One thread each: an edge device scores one request at a time.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        try:
            self.session = onnxruntime.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:
            # onnxruntime's own exception types; one line naming the file is what helps.
            reason = str(error).splitlines()[0].rsplit(":", 1)[-1].strip()
            raise ValueError(f"{path}: not a loadable ONNX model ({reason})") from None
        metadata = self.session.get_modelmeta().custom_metadata_map
        if SPEC_KEY not in metadata:
            raise ValueError(f"{path}: not an ml_pipeline edge model (no {SPEC_KEY} metadata)")
        self.spec = EdgeSpec.from_json(metadata[SPEC_KEY])
        # Models exported before the graph read float64 take float32.
        numeric = next(i for i in self.session.get_inputs() if i.name == "numeric")
        self.numeric_dtype = np.float64 if numeric.type == "tensor(double)" else np.float32

    def score(
        self, columns: dict[str, list[str | None]], errors: list[str | None] | None = None
    ) -> dict[str, np.ndarray]:
        """``prediction`` per row, and ``probabilities`` (rows x classes) for a classifier.

        With ``errors``, rows the model cannot read are named there and scored on their
        readable cells only; the caller does not report those predictions."""
        inputs = model_inputs(columns, self.spec, errors)
        inputs["numeric"] = inputs["numeric"].astype(self.numeric_dtype, copy=False)
        outputs = self.session.run(None, inputs)
        if self.spec.task == "regression":
            return {"prediction": outputs[0].reshape(-1)}
        return {"prediction": outputs[0], "probabilities": outputs[1]}


def read_columns(path: Path) -> dict[str, list[str | None]]:
    """A CSV file's columns as text (a byte-order mark is dropped)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise ValueError(f"{path}: empty file, no header") from None
        rows = list(reader)
    width = len(header)
    short = next((i for i, row in enumerate(rows) if len(row) != width), None)
    if short is not None:
        raise ValueError(
            f"{path}: row {short + 1} has {len(rows[short])} fields, the header {width}"
        )
    return {name: [row[i] for row in rows] for i, name in enumerate(header)}


# Batch scoring's names (core/deploy/batch_scoring), kept here so the edge imports none
# of its pandas and MLflow.
PREDICTION = "prediction"
PROBABILITY_PREFIX = "probability__"
SCORE_ERROR = "score_error"
ROW_NUMBER = "row"


@dataclass(frozen=True)
class Scores:
    ids: list[str]
    id_name: str
    scored: dict[str, np.ndarray]
    errors: list[str | None]


def score_file(edge: EdgeModel, data: Path, id_column: str | None) -> Scores:
    """Every row of ``data``: its id, and its scores or why it has none."""
    columns = read_columns(data)
    rows = len(next(iter(columns.values()), []))
    if id_column is not None and id_column not in columns:
        raise ValueError(f"{data}: no id column {id_column!r} (--id-column)")
    if id_column is None and edge.spec.id_column in columns:
        id_column = edge.spec.id_column
    ids = columns[id_column] if id_column else [str(row) for row in range(1, rows + 1)]
    errors: list[str | None] = [None] * rows
    scored = edge.score(columns, errors)
    if rows and all(errors):
        raise ValueError(f"{data}: no row can be scored; row 1: {errors[0]}")
    return Scores([i or "" for i in ids], id_column or ROW_NUMBER, scored, errors)


def _write(scores: Scores, spec: EdgeSpec, handle) -> None:
    writer = csv.writer(handle)
    classes = spec.classes or []
    probabilities = scores.scored.get("probabilities")
    writer.writerow(
        [scores.id_name, PREDICTION, *(f"{PROBABILITY_PREFIX}{c}" for c in classes), SCORE_ERROR]
    )
    for row, prediction in enumerate(scores.scored["prediction"]):
        error = scores.errors[row]
        if error is not None:
            writer.writerow([scores.ids[row], "", *("" for _ in classes), error])
            continue
        extra = [f"{p:.9g}" for p in probabilities[row]] if probabilities is not None else []
        value = f"{prediction:.9g}" if spec.task == "regression" else str(prediction)
        writer.writerow([scores.ids[row], value, *extra, ""])


def run(model: Path, data: Path, output: Path | None, id_column: str | None = None) -> int:
    edge = EdgeModel(model)
    scores = score_file(edge, data, id_column)
    if output is None:
        _write(scores, edge.spec, sys.stdout)
        sys.stdout.flush()
        return 0
    handle, temporary = tempfile.mkstemp(prefix=f".{output.name}.", dir=output.parent or ".")
    try:
        with os.fdopen(handle, "w", newline="", encoding="utf-8") as out:
            _write(scores, edge.spec, out)
        os.replace(temporary, output)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    unscored = sum(1 for error in scores.errors if error)
    print(
        f"{len(scores.errors) - unscored} predictions written to {output}"
        + (f"; {unscored} row(s) could not be scored (score_error)" if unscored else ""),
        file=sys.stderr,
    )
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, help="model.onnx exported by a deployment")
    parser.add_argument("file", type=Path, help="CSV file with the model's input columns")
    parser.add_argument("--output", type=Path, help="write the predictions here (CSV)")
    parser.add_argument(
        "--id-column",
        help="a column of the file to pass through (default: the dataset's id column the "
        "model names, when the file holds it, else the row number)",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="edge-score", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    return score_command(args)


def score_command(args: argparse.Namespace) -> int:
    try:
        return run(args.model, args.file, args.output, args.id_column)
    except BrokenPipeError:
        # The reader (`head`, say) has all it wanted: no error, and none at exit either.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
