"""The tables in docs/benchmarks.md are rendered from bench/results, never typed."""

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _renderer():
    spec = importlib.util.spec_from_file_location("bench_render", ROOT / "bench" / "render.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_rendered_table_matches_the_committed_results() -> None:
    render = _renderer()
    assert "<!-- table:quality -->" in render.DOC.read_text(encoding="utf-8")
    for doc in render.DOCS:
        document = doc.read_text(encoding="utf-8")
        assert render.render(document) == document, f"{doc.name}: run python bench/render.py"


def test_a_table_edited_by_hand_is_caught() -> None:
    render = _renderer()
    document = render.DOC.read_text(encoding="utf-8")
    tampered = document.replace(
        "<!-- /table:quality -->", "| typed | by hand |\n<!-- /table:quality -->"
    )
    assert render.render(tampered) != tampered


def test_every_result_has_its_table_and_every_table_its_result() -> None:
    render = _renderer()
    documents = [doc.read_text(encoding="utf-8") for doc in render.DOCS]
    tables = {name for text in documents for name in re.findall(r"<!-- table:(\w+) -->", text)}
    results = {path.stem for path in (ROOT / "bench" / "results").glob("*.json")}
    assert tables == results, f"tables without results: {tables - results}; " + (
        f"results without a table: {results - tables}"
    )
    assert tables <= set(render.RENDERERS)
