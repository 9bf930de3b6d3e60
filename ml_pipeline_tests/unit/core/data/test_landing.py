import os
import time

from ml_pipeline.core.data.landing import (
    OutageFailure,
    content_digest,
    find_landed_file,
    load_forgotten,
    partition_key_for,
    plan_ingest,
    plan_retries,
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


def _failure(attempts: int, failed_at: float = 1000.0, digest: str = "d1") -> OutageFailure:
    return OutageFailure("a", digest, attempts, failed_at, "missing bucket: no such bucket")


def test_a_file_that_failed_for_an_outage_is_tried_again_on_its_backoff() -> None:
    def plan(failure: OutageFailure, now: float) -> list:
        return plan_retries([failure], {"a": "d1"}, {}, now, 60.0, 3)

    assert plan(_failure(1), now=1059) == []
    assert plan(_failure(1), now=1060) == [
        ("a", "a@d1#retry1", "try 2 of 4 after missing bucket: no such bucket")
    ]
    assert plan(_failure(2), now=1119) == []
    assert plan(_failure(2), now=1120)[0][1] == "a@d1#retry2"
    assert plan(_failure(3), now=1240)[0][2].startswith("try 4 of 4")
    assert plan(_failure(4), now=10**9) == []  # out of tries


def test_a_file_delivered_anew_or_ingested_since_is_not_retried() -> None:
    failure = _failure(1)
    assert plan_retries([failure], {"a": "d2"}, {}, 10**9, 60.0, 3) == []
    assert plan_retries([failure], {}, {}, 10**9, 60.0, 3) == []
    assert plan_retries([failure], {"a": "d1"}, {"a": "d1"}, 10**9, 60.0, 3) == []


def test_a_retry_note_says_which_try_and_is_read_back() -> None:
    from ml_pipeline.core.data.landing import retry_attempt, retry_note

    note = retry_note(3, 4, "storage unreachable: EPERM")
    assert note == "try 3 of 4 after storage unreachable: EPERM"
    assert retry_attempt(note) == 3
    assert retry_attempt(None) == 1 and retry_attempt("") == 1
