import os
import time

from ml_pipeline.core.data.landing import (
    content_digest,
    find_landed_file,
    load_forgotten,
    partition_key_for,
    plan_ingest,
    remember_forgotten,
    scan_landing,
)

SAFE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def test_plain_names_keep_their_stem() -> None:
    assert partition_key_for("bikes_2024-01-01.csv") == "bikes_2024-01-01"
    assert partition_key_for("part.7.parquet") == "part.7"
    assert partition_key_for("x.csv.gz") == "x"


def test_unsafe_names_become_safe_and_distinct() -> None:
    names = ["my file.csv", "my_file.csv", "données.csv", "..evil..name.csv", "a/../b.csv"]
    keys = [partition_key_for(name) for name in names]
    assert len(set(keys)) == len(keys)
    for key in keys:
        assert set(key) <= SAFE
        assert ".." not in key
        assert not key.startswith(".")


def land(folder, name, text="a,b\n1,2\n", age=10.0):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))
    return path


def test_scan_skips_hidden_temporary_unmatched_and_unsettled(tmp_path) -> None:
    land(tmp_path, "good.csv")
    land(tmp_path, "good.parquet")
    land(tmp_path, ".hidden.csv")
    land(tmp_path, "copying.csv.part")
    land(tmp_path, "notes.txt")
    land(tmp_path, "fresh.csv", age=0)
    (tmp_path / "folder.csv").mkdir()
    found = scan_landing(tmp_path, ["*.csv", "*.parquet"], settle_seconds=5)
    assert [f.path.name for f in found] == ["good.csv", "good.parquet"]


def test_missing_landing_folder_is_empty(tmp_path) -> None:
    assert scan_landing(tmp_path / "absent", ["*.csv"]) == []


def test_find_landed_file_by_key(tmp_path) -> None:
    path = land(tmp_path, "my batch.csv")
    assert find_landed_file(tmp_path, ["*.csv"], partition_key_for("my batch.csv")) == path


def test_plan_ingest_requests_each_content_once(tmp_path) -> None:
    land(tmp_path, "a.csv")
    land(tmp_path, "b.csv")
    first = plan_ingest(scan_landing(tmp_path, ["*.csv"]), set(), {})
    assert first.new_partitions == ["a", "b"]
    assert [key for key, _ in first.runs] == ["a", "b"]

    again = plan_ingest(scan_landing(tmp_path, ["*.csv"]), {"a", "b"}, first.digests)
    assert again.new_partitions == [] and again.runs == []

    land(tmp_path, "a.csv", text="a,b\n1,2\n")  # touched, same content
    touched = plan_ingest(scan_landing(tmp_path, ["*.csv"]), {"a", "b"}, first.digests)
    assert touched.runs == []

    land(tmp_path, "a.csv", text="a,b\n3,4\n")  # re-delivered with new content
    changed = plan_ingest(scan_landing(tmp_path, ["*.csv"]), {"a", "b"}, first.digests)
    assert [key for key, _ in changed.runs] == ["a"]
    assert changed.runs[0][1] != first.runs[0][1]


def test_plan_ingest_reports_name_conflicts(tmp_path) -> None:
    land(tmp_path, "x.csv")
    land(tmp_path, "x.parquet")
    plan = plan_ingest(scan_landing(tmp_path, ["*.csv", "*.parquet"]), set(), {})
    assert plan.runs == [] and plan.new_partitions == []
    assert plan.conflicts == ["x: x.csv, x.parquet"]


def test_plan_ingest_skips_contents_ingested_elsewhere(tmp_path) -> None:
    land(tmp_path, "a.csv")
    land(tmp_path, "b.csv")
    files = scan_landing(tmp_path, ["*.csv"])
    digest_a = plan_ingest(files, set(), {}).digests["a"][2]
    plan = plan_ingest(files, {"a", "b"}, {}, ingested={"a": digest_a, "b": "old-content"})
    assert [key for key, _ in plan.runs] == ["b"]


def test_a_forgotten_file_is_left_alone_until_new_content_arrives(tmp_path) -> None:
    landing, register = tmp_path / "landing", tmp_path / "quarantine" / "forgotten.json"
    landing.mkdir()
    path = land(landing, "a.csv")
    land(landing, "b.csv")
    remember_forgotten(register, "a", "a.csv", content_digest(path))
    forgotten = load_forgotten(register)
    plan = plan_ingest(scan_landing(landing, ["*.csv"]), set(), {}, forgotten=forgotten)
    assert plan.new_partitions == ["b"] and [k for k, _ in plan.runs] == ["b"]
    assert plan.forgotten == ["a"]
    land(landing, "a.csv", text="a,b\n9,9\n")  # a new delivery under the same name
    plan = plan_ingest(scan_landing(landing, ["*.csv"]), {"b"}, plan.digests, forgotten=forgotten)
    assert [k for k, _ in plan.runs] == ["a"] and plan.forgotten == []
