"""Shared storage on an S3 emulator (moto's server over HTTP; no real S3 is reachable
here): the warehouse, atomic writes, the deploy folder and the prediction log behave on
``s3://`` as they do on a local folder."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from ml_pipeline.core import storage
from ml_pipeline.core.data.warehouse import Warehouse
from ml_pipeline.core.deploy import deploy_folder
from ml_pipeline.core.fileio import atomic_path
from ml_pipeline.core.monitor.prediction_log import (
    LoggedRequest,
    read_prediction_log,
    write_records,
)


def _frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(size=rows),
            "gap": np.where(rng.random(rows) < 0.2, np.nan, 1.0),
            "kind": rng.choice(["a", "b", None], rows),
        }
    )


def _objects(root) -> list[str]:
    prefix = root.path.rstrip("/") + "/"
    return sorted(path.removeprefix(prefix) for path in root.fs.find(root.path))


def test_a_url_is_remote_and_a_folder_stays_a_path(tmp_path, s3_endpoint) -> None:
    assert not storage.is_remote(storage.location(tmp_path))
    assert storage.location(f"file://{tmp_path}") == tmp_path
    remote = storage.location("s3://bucket/prefix", {"endpoint_url": s3_endpoint})
    assert storage.is_remote(remote)
    assert storage.options_of(remote) == {"endpoint_url": s3_endpoint}


def test_warehouse_on_s3_reads_back_what_a_local_one_does(tmp_path, s3_root) -> None:
    local, remote = Warehouse(tmp_path / "warehouse"), Warehouse(s3_root / "warehouse")
    frames = {"2026-01-01": _frame(300, 1), "2026-01-02": _frame(200, 2)}
    for key, frame in frames.items():
        local.write("cleaned", key, frame)
        remote.write("cleaned", key, frame)
    assert remote.partitions("cleaned") == local.partitions("cleaned") == sorted(frames)
    for key, frame in frames.items():
        pd.testing.assert_frame_equal(remote.read("cleaned", key), frame)
        assert remote.row_count("cleaned", key) == len(frame)
        assert remote.columns("cleaned", key) == ["x", "gap", "kind"]
    assert list(remote.read("cleaned", "2026-01-01", ["kind", "added"]).columns) == [
        "kind",
        "added",
    ]
    keys = sorted(frames)
    pd.testing.assert_frame_equal(
        remote.sample("cleaned", keys, 250, seed=7), local.sample("cleaned", keys, 250, seed=7)
    )
    assert remote.drop("cleaned", "2026-01-01") is True
    assert remote.drop("cleaned", "2026-01-01") is False
    assert remote.partitions("cleaned") == ["2026-01-02"]
    with pytest.raises(FileNotFoundError, match="2026-01-01"):
        remote.read("cleaned", "2026-01-01")


def test_a_failed_write_to_s3_leaves_the_old_object(s3_root) -> None:
    target = s3_root / "tables" / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert _objects(s3_root) == ["tables/out.txt"]
    with atomic_path(target) as temporary:
        temporary.write_text("new")
    assert target.read_text() == "new"


def _export(local_source, deploy, name: str, text: str) -> None:
    (local_source / name).mkdir(parents=True)
    (local_source / name / "MLmodel").write_text(text)
    (local_source / name / "model").mkdir()
    (local_source / name / "model" / "weights.bin").write_bytes(b"\x00\x01")
    storage.upload_folder(local_source / name, deploy / name)


def test_deploy_folder_on_s3_serves_only_complete_versions(tmp_path, s3_root) -> None:
    deploy, cache = s3_root / "deploy", tmp_path / "cache"
    assert deploy_folder.current_name(deploy) is None
    assert deploy_folder.fetch_current(deploy, cache) is None
    _export(tmp_path / "built", deploy, "v1", "one")
    assert deploy_folder.is_complete(deploy / "v1")
    deploy_folder.point_current(deploy, deploy / "v1")
    assert (deploy / "current").read_text() == "v1\n"
    assert deploy_folder.current_name(deploy) == "v1"
    served = deploy_folder.fetch_current(deploy, cache)
    assert served == cache / "v1"
    assert (served / "MLmodel").read_text() == "one"
    assert (served / "model" / "weights.bin").read_bytes() == b"\x00\x01"
    assert not (served / storage.COMPLETE_MARKER).exists()


def test_an_interrupted_upload_is_never_served(tmp_path, s3_root) -> None:
    deploy, cache = s3_root / "deploy", tmp_path / "cache"
    # A process killed mid-upload: files are there, the marker sent last is not.
    (deploy / "v2" / "MLmodel").write_text("half")
    assert not deploy_folder.is_complete(deploy / "v2")
    deploy_folder.point_current(deploy, deploy / "v2")
    with pytest.raises(FileNotFoundError, match="no complete upload"):
        deploy_folder.fetch_current(deploy, cache)
    assert not (cache / "v2").exists()


def test_a_pointer_that_leaves_the_deploy_folder_is_refused(s3_root) -> None:
    deploy = s3_root / "deploy"
    storage.write_bytes(deploy / "current", b"../../elsewhere\n")
    with pytest.raises(deploy_folder.DeployFolderError, match="not a v<N> export"):
        deploy_folder.current_name(deploy)


def test_prediction_log_on_s3_reads_back_by_day(s3_root) -> None:
    folder = s3_root / "predictions"
    start = dt.datetime(2026, 11, 20, 23, 59, tzinfo=dt.UTC)
    for minutes in (0, 2):
        write_records(
            [
                LoggedRequest(start + dt.timedelta(minutes=minutes), "/predict", "3", 200, 1, 4.0),
                LoggedRequest(
                    start + dt.timedelta(minutes=minutes, seconds=1),
                    "/predict",
                    "3",
                    422,
                    1,
                    1.0,
                    error="bad",
                ),
            ],
            folder,
        )
    days = sorted({path.split("/")[-2] for path in _objects(s3_root)})
    assert days == ["date=2026-11-20", "date=2026-11-21"]
    log = read_prediction_log(folder, start, start + dt.timedelta(hours=1))
    assert len(log) == 4 and log["status"].tolist() == [200, 422, 200, 422]
