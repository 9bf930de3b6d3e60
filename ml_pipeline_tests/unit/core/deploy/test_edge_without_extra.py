"""deploy.onnx where the edge extra is missing: the deployment is told why, not broken."""

import sys

from ml_pipeline.core.deploy.edge import edge_for_deployment


def test_a_missing_edge_extra_is_a_note_not_a_failure(monkeypatch) -> None:
    # None in sys.modules makes the import raise ImportError, as an absent package does.
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    outcome = edge_for_deployment(modeling=None, training=None, validation=None, warehouse=None)
    assert not outcome.published and outcome.model is None
    assert outcome.note.startswith("not published: deploy.onnx needs the edge extra")
    assert "pip install -e '.[edge]'" in outcome.note
