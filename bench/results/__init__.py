"""Benchmark results as data: each benchmark writes ``bench/results/<name>.json``.

The tables in ``docs/benchmarks.md`` are rendered from these files by
``bench/render.py``; a test fails when the document and the data disagree.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
from pathlib import Path

FOLDER = Path(__file__).resolve().parent


def machine() -> dict[str, object]:
    memory = 0
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        memory = int(meminfo.read_text().split()[1]) // 2**20  # KiB -> GiB
    return {
        "cpus": os.cpu_count(),
        "memory_gib": memory,
        "python": platform.python_version(),
        "system": platform.system(),
        "date": dt.date.today().isoformat(),
    }


def checked_out_commit() -> str:
    """The commit of the code a benchmark ran, for its results to name."""
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=FOLDER, check=True, capture_output=True, text=True
    ).stdout.strip()


def write_result(name: str, data: dict[str, object]) -> Path:
    path = FOLDER / f"{name}.json"
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    temporary.replace(path)
    return path


def read_result(name: str) -> dict[str, object] | None:
    path = FOLDER / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
