"""The rooms of docs/architecture.md, enforced: what each part of the package imports."""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ml_pipeline.core.features import FeatureBuilder, Float32, OutlierClipper
from ml_pipeline.core.tracking import SKOPS_TRUSTED_TYPES

PACKAGE = Path(__file__).resolve().parents[2] / "ml_pipeline"
ROOMS = ("data", "model", "deploy", "monitor")
# The two top-level modules everything below may import; they import nothing of core.
LEAVES = ("ml_pipeline.config", "ml_pipeline.locations")
# Room -> the rooms it may import from (besides itself, the shared core modules and config).
MAY_IMPORT = {
    "data": {"monitor.reference"},
    "model": {"data", "monitor.reference"},
    "deploy": {"model", "monitor.reference"},
    # The champion's live performance is measured as the gate measures a holdout.
    "monitor": {"model.bootstrap", "model.evaluation"},
    "shared": set(),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from ml_pipeline.core.model import gate` imports the module gate.
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def _room(module: str) -> str | None:
    """data/model/deploy/monitor for modules in a room, "shared" for other core modules."""
    parts = module.split(".")
    if parts[:2] != ["ml_pipeline", "core"] or len(parts) < 3:
        return None
    return parts[2] if parts[2] in ROOMS else "shared"


def _core_modules() -> list[Path]:
    return sorted((PACKAGE / "core").rglob("*.py"))


@pytest.mark.parametrize("path", _core_modules(), ids=lambda p: _module_name(p))
def test_core_modules_import_only_what_their_room_may(path: Path) -> None:
    module = _module_name(path)
    room = _room(module) or "shared"
    allowed = MAY_IMPORT[room]
    for imported in _imports(path):
        assert not imported.startswith("dagster"), f"{module} imports {imported}"
        if not imported.startswith("ml_pipeline"):
            continue
        assert imported.startswith((*LEAVES, "ml_pipeline.core")), (
            f"{module} imports {imported}, outside core"
        )
        target = _room(imported)
        if target in (None, "shared", room):
            continue
        rest = imported.split(".", 2)[2]
        assert target in allowed or any(rest.startswith(a) for a in allowed), (
            f"{module} ({room}) imports {imported} ({target})"
        )


def test_the_serving_side_never_imports_dagster_or_the_assets() -> None:
    for path in sorted((PACKAGE / "serving").rglob("*.py")):
        for imported in _imports(path):
            assert not imported.startswith(("dagster", "ml_pipeline.defs.assets")), (path, imported)


def test_the_feature_code_shipped_inside_models_imports_nothing_of_the_package() -> None:
    # Every exported model carries a copy of this one file: it must stand alone.
    imported = _imports(PACKAGE / "core" / "features.py")
    assert not {name for name in imported if name.startswith("ml_pipeline")}


def test_exported_models_name_only_the_stable_feature_path() -> None:
    # Champions exported before a reorganisation still load after it: the only types of
    # this package inside a saved pipeline are the feature module's, at its fixed path.
    ours = {name for name in SKOPS_TRUSTED_TYPES if name.startswith("ml_pipeline")}
    assert ours == {
        "ml_pipeline.core.features.FeatureBuilder",
        "ml_pipeline.core.features.Float32",
        "ml_pipeline.core.features.OutlierClipper",
    }
    shipped = (FeatureBuilder, Float32, OutlierClipper)
    for path, expected in zip(sorted(ours), shipped, strict=True):
        module, _, name = path.rpartition(".")
        assert getattr(importlib.import_module(module), name) is expected


def test_the_code_location_module_is_where_dagster_is_told_it_is() -> None:
    pyproject = (PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8")
    workspace = (PACKAGE.parent / "workspace.yaml").read_text(encoding="utf-8")
    assert 'module_name = "ml_pipeline.definitions"' in pyproject
    assert "ml_pipeline.definitions" in workspace
    assert callable(importlib.import_module("ml_pipeline.definitions").defs)


def test_the_main_process_of_a_run_leaves_training_imports_to_training() -> None:
    # `ml-pipeline run` ingests beside two worker processes after recovery; scikit-learn
    # and the asset modules in its main process would count against the ingest's memory.
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, ml_pipeline.commands.cli, ml_pipeline.commands.execution,"
            " ml_pipeline.commands.project, ml_pipeline.core.deploy.switch;"
            " print(' '.join(sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    heavy = {"sklearn", "great_expectations", "ml_pipeline.definitions", "ml_pipeline.defs.assets"}
    assert not heavy & set(loaded)


# The package's top-level rooms -> what else of the package they may import.
TOP_ROOMS = {
    "runtime": {"core", "config"},
    "defs": {"core", "config", "runtime"},
    "serving": {"core", "config"},
    "edge": {"core.edge_features"},
}


def _top_modules(room: str) -> list[Path]:
    return sorted((PACKAGE / room).rglob("*.py"))


@pytest.mark.parametrize(
    "path",
    [path for room in TOP_ROOMS for path in _top_modules(room)],
    ids=lambda p: _module_name(p),
)
def test_top_level_rooms_import_only_what_they_may(path: Path) -> None:
    module = _module_name(path)
    room = module.split(".")[1]
    allowed = {f"ml_pipeline.{name}" for name in TOP_ROOMS[room] | {room}}
    for imported in _imports(path):
        if imported.startswith("ml_pipeline"):
            assert imported.startswith(tuple(allowed)), f"{module} ({room}) imports {imported}"


def test_config_imports_only_the_locations_leaf_and_the_leaf_nothing() -> None:
    # Config is read by every room; an arrow from it back into core would be a cycle.
    config = {name for name in _imports(PACKAGE / "config.py") if name.startswith("ml_pipeline")}
    assert config <= {"ml_pipeline", "ml_pipeline.locations", "ml_pipeline.locations.StoragePath"}
    leaf = {name for name in _imports(PACKAGE / "locations.py") if name.startswith("ml_pipeline")}
    assert not leaf


def test_core_takes_config_sections_never_the_whole_config() -> None:
    # A core function sees the sections it reads (ModelingConfig is the model stage's),
    # so what it depends on is in its signature.
    for path in _core_modules():
        assert "PipelineConfig" not in path.read_text(encoding="utf-8"), _module_name(path)


def test_config_and_core_never_import_the_rooms_above_them() -> None:
    above = tuple(f"ml_pipeline.{room}" for room in ("defs", "commands", "runtime", "serving"))
    for path in [PACKAGE / "config.py", *_core_modules()]:
        for imported in _imports(path):
            assert not imported.startswith(above), f"{_module_name(path)} imports {imported}"


def _documented_rooms() -> dict[str, str]:
    """docs/architecture.md's rooms table: each room's folder -> the modules it lists."""
    doc = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    rows = {}
    for line in doc.splitlines():
        cells = line.split("|")
        first = cells[1].strip() if len(cells) > 3 else ""
        if first.startswith("`") or first == "top level":
            rows[first] = cells[2]
    return rows


def test_the_architecture_doc_lists_every_module_in_its_room() -> None:
    rows = _documented_rooms()
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "__init__.py" or "templates" in path.parts:
            continue
        folder = path.parent.relative_to(PACKAGE).as_posix()
        if folder == ".":
            key = "top level"
        elif folder == "core":
            key = "`core/` shared"
        else:
            key = f"`{folder}/`"
        row = next((text for cell, text in rows.items() if cell.startswith(key)), None)
        assert row is not None, f"docs/architecture.md has no row for {key}"
        assert re.search(rf"\b{path.stem}\b", row), f"{key} row does not list {path.stem}"


def test_benchmarks_import_helpers_never_test_modules() -> None:
    for path in sorted((PACKAGE.parent / "bench").glob("*.py")):
        for imported in _imports(path):
            last = imported.split(".")[-1]
            assert not (imported.startswith("ml_pipeline_tests") and last.startswith("test_")), (
                f"{path.name} imports the test module {imported}"
            )
            assert last != "conftest", f"{path.name} imports {imported}"
