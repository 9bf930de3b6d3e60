"""Score a CSV file with ``model.onnx``: onnxruntime, NumPy and the standard library.

``ml-pipeline edge-score MODEL.onnx FILE.csv`` (or ``python -m ml_pipeline.edge.scorer``)
prints one row per input row: the prediction and, for a classifier, each class's
probability. ``--output`` writes the same CSV atomically instead.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
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

    def score(self, columns: dict[str, list[str | None]]) -> dict[str, np.ndarray]:
        """``prediction`` per row, and ``probabilities`` (rows x classes) for a classifier."""
        outputs = self.session.run(None, model_inputs(columns, self.spec))
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


def _write(scored: dict[str, np.ndarray], spec: EdgeSpec, handle) -> None:
    writer = csv.writer(handle)
    classes = spec.classes or []
    probabilities = scored.get("probabilities")
    writer.writerow(["prediction", *(f"probability_{c}" for c in classes)])
    for row, prediction in enumerate(scored["prediction"]):
        extra = [f"{p:.9g}" for p in probabilities[row]] if probabilities is not None else []
        value = f"{prediction:.9g}" if spec.task == "regression" else str(prediction)
        writer.writerow([value, *extra])


def run(model: Path, data: Path, output: Path | None) -> int:
    edge = EdgeModel(model)
    scored = edge.score(read_columns(data))
    if output is None:
        _write(scored, edge.spec, sys.stdout)
        return 0
    handle, temporary = tempfile.mkstemp(prefix=f".{output.name}.", dir=output.parent or ".")
    try:
        with os.fdopen(handle, "w", newline="", encoding="utf-8") as out:
            _write(scored, edge.spec, out)
        os.replace(temporary, output)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    print(f"{len(scored['prediction'])} predictions written to {output}", file=sys.stderr)
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, help="model.onnx exported by a deployment")
    parser.add_argument("file", type=Path, help="CSV file with the model's input columns")
    parser.add_argument("--output", type=Path, help="write the predictions here (CSV)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="edge-score", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    return score_command(args)


def score_command(args: argparse.Namespace) -> int:
    try:
        return run(args.model, args.file, args.output)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
