"""The rooms of docs/architecture.md, enforced: what each part of the package imports."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from ml_pipeline.core.features import FeatureBuilder, OutlierClipper
from ml_pipeline.core.tracking import SKOPS_TRUSTED_TYPES

PACKAGE = Path(__file__).resolve().parents[1] / "ml_pipeline"
ROOMS = ("data", "model", "deploy", "monitor")
# Room -> the rooms it may import from (besides itself, the shared core modules and config).
MAY_IMPORT = {
    "data": {"monitor.reference"},
    "model": {"data", "monitor.reference"},
    "deploy": {"model", "monitor.reference"},
    "monitor": set(),
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
        assert imported.startswith(("ml_pipeline.config", "ml_pipeline.core")), (
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
            assert not imported.startswith(("dagster", "ml_pipeline.assets")), (path, imported)


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
        "ml_pipeline.core.features.OutlierClipper",
    }
    for path, expected in zip(sorted(ours), (FeatureBuilder, OutlierClipper), strict=True):
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
            "import sys, ml_pipeline.cli, ml_pipeline.execution, ml_pipeline.project,"
            " ml_pipeline.core.deploy.switch; print(' '.join(sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    heavy = {"sklearn", "great_expectations", "ml_pipeline.definitions", "ml_pipeline.assets"}
    assert not heavy & set(loaded)
