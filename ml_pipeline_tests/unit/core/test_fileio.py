import os
import stat

import pandas as pd
import pytest

from ml_pipeline.core.fileio import (
    atomic_directory,
    atomic_path,
    atomic_symlink,
    atomic_write_frame,
)


def test_atomic_path_keeps_the_old_file_when_writing_fails(tmp_path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_directory_appears_whole_or_not_at_all(tmp_path) -> None:
    target = tmp_path / "v1"
    with pytest.raises(RuntimeError), atomic_directory(target) as building:
        (building / "part").write_text("x")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    with atomic_directory(target) as building:
        (building / "MLmodel").write_text("x")
    assert (target / "MLmodel").is_file()
    with pytest.raises(FileExistsError):
        atomic_directory(target).__enter__()


def test_atomic_symlink_switches_target(tmp_path) -> None:
    (tmp_path / "v1").mkdir()
    (tmp_path / "v2").mkdir()
    atomic_symlink(tmp_path / "current", "v1")
    atomic_symlink(tmp_path / "current", "v2")
    assert (tmp_path / "current").resolve() == (tmp_path / "v2").resolve()


def test_atomic_write_frame_writes_csv_and_parquet(tmp_path) -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", None]})
    csv = pd.read_csv(atomic_write_frame(frame, tmp_path / "f.csv"))
    assert csv["a"].tolist() == [1, 2] and pd.isna(csv["b"][1])
    parquet = pd.read_parquet(atomic_write_frame(frame, tmp_path / "f.parquet"))
    assert parquet["a"].tolist() == [1, 2]
    with pytest.raises(ValueError, match="unsupported file type"):
        atomic_write_frame(frame, tmp_path / "f.json")


def test_published_files_and_folders_get_ordinary_permissions(tmp_path) -> None:
    umask = os.umask(0o022)
    try:
        written = atomic_write_frame(pd.DataFrame({"a": [1]}), tmp_path / "f.csv")
        with atomic_directory(tmp_path / "d"):
            pass
    finally:
        os.umask(umask)
    assert stat.S_IMODE(written.stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755
