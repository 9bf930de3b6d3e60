"""Every bad landed file named in the data-quality issue, one test each."""

import gzip
import os

import pandas as pd
import pytest

from ml_pipeline.config import DatasetConfig
from ml_pipeline.core.intake import LandingFileError, quarantine, read_landed_file
from ml_pipeline.core.landing import partition_key_for, scan_landing
from ml_pipeline.core.reference import build_reference

DATASET = DatasetConfig(landing_dir="x", target="y", task="regression", id_columns=["id"])
GOOD = "id,temp,kind,y\n1,20.5,a,3\n2,21.0,b,4\n3,19.5,a,5\n"


def reference():
    frame = pd.DataFrame({"id": ["1", "2"], "temp": [20.0, 21.0], "kind": ["a", "b"], "y": [1, 2]})
    return build_reference(frame, "y", ["id"], None, ["temp", "kind"])


def land(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def refused(path, ref=None) -> str:
    with pytest.raises(LandingFileError) as raised:
        read_landed_file(path, DATASET, ref)
    message = str(raised.value)
    assert message.startswith(f"{path.name}: ") and "\n" not in message
    return message


def test_good_file_comes_in_without_warnings(tmp_path) -> None:
    intake = read_landed_file(land(tmp_path, "ok.csv", GOOD), DATASET, reference())
    assert len(intake.frame) == 3 and intake.warnings == []


def test_csv_columns_are_read_as_text_and_parquet_keeps_types(tmp_path) -> None:
    csv = read_landed_file(land(tmp_path, "ok.csv", "y,temp\n1,2.5\n2,\n"), DATASET, None).frame
    assert csv["temp"].tolist()[0] == "2.5" and pd.isna(csv["temp"][1])
    path = tmp_path / "ok.parquet"
    pd.DataFrame({"y": [1, 2], "temp": [2.5, None]}).to_parquet(path)
    assert read_landed_file(path, DATASET, None).frame["y"].tolist() == [1, 2]


def test_unreadable_parquet(tmp_path) -> None:
    assert "not a readable Parquet file" in refused(land(tmp_path, "bad.parquet", b"not parquet"))


def test_zero_byte_file(tmp_path) -> None:
    assert "empty file (0 bytes)" in refused(land(tmp_path, "zero.csv", b""))


def test_header_only_file(tmp_path) -> None:
    assert "no data rows (header only)" in refused(land(tmp_path, "h.csv", "id,temp,kind,y\n"))


def test_wrong_delimiter(tmp_path) -> None:
    message = refused(land(tmp_path, "semi.csv", GOOD.replace(",", ";")))
    assert "missing target column 'y'" in message and "separated by ';'" in message


def test_missing_target_column(tmp_path) -> None:
    message = refused(land(tmp_path, "notarget.csv", "id,temp,kind\n1,2,a\n"))
    assert "missing target column 'y'" in message


def test_unknown_extra_columns_are_accepted_and_reported(tmp_path) -> None:
    path = land(tmp_path, "extra.csv", "id,temp,kind,y,surprise\n1,20,a,3,x\n")
    intake = read_landed_file(path, DATASET, reference())
    assert "surprise" in intake.frame.columns
    assert intake.warnings == ["unknown extra columns surprise: kept, not used by the model"]


def test_text_in_a_numeric_column(tmp_path) -> None:
    message = refused(
        land(tmp_path, "text.csv", "id,temp,kind,y\n1,warm,a,3\n2,cold,b,4\n3,20,a,5\n"),
        reference(),
    )
    assert "column 'temp' should be numeric but 67% of its values are text (e.g. 'warm')" in message


def test_a_few_mistyped_numbers_are_left_to_cleaning(tmp_path) -> None:
    rows = "".join(f"{i},{20 + i},a,{i}\n" for i in range(20)) + "21,21;5,a,3\n"
    intake = read_landed_file(
        land(tmp_path, "few.csv", "id,temp,kind,y\n" + rows), DATASET, reference()
    )
    assert len(intake.frame) == 21


def test_non_utf8_bytes(tmp_path) -> None:
    content = "id,temp,kind,y\n1,20,caf\u00e9,3\n".encode("latin-1")
    assert "not utf-8 text" in refused(land(tmp_path, "latin.csv", content))


def test_truncated_last_line_is_dropped_and_reported(tmp_path) -> None:
    path = land(tmp_path, "cut.csv", GOOD + "4,22")
    intake = read_landed_file(path, DATASET, reference())
    assert intake.frame["id"].tolist() == ["1", "2", "3"]
    assert intake.warnings == [
        "last line is truncated (2 of 4 fields, no final newline); dropped it"
    ]


def test_all_null_column_is_reported(tmp_path) -> None:
    path = land(tmp_path, "nulls.csv", "id,temp,kind,y\n1,,a,3\n2,,b,4\n")
    intake = read_landed_file(path, DATASET, reference())
    assert intake.warnings == ["columns with no values at all: temp"]


def test_all_null_target_is_refused(tmp_path) -> None:
    assert "target column 'y' has no values" in refused(
        land(tmp_path, "notarget.csv", "id,temp,kind,y\n1,2,a,\n2,3,b,\n")
    )


def test_parquet_with_a_different_schema(tmp_path) -> None:
    path = tmp_path / "other.parquet"
    pd.DataFrame({"id": [1], "pressure": [1.0], "y": [2.0]}).to_parquet(path)
    message = refused(path, reference())
    assert "missing columns temp, kind (expected by the schema)" in message


def test_gzip_named_csv(tmp_path) -> None:
    message = refused(land(tmp_path, "packed.csv", gzip.compress(GOOD.encode())))
    assert "gzip-compressed data in a file named .csv" in message


def test_binary_named_csv(tmp_path) -> None:
    message = refused(land(tmp_path, "blob.csv", bytes(range(256)) * 4))
    assert "binary data (NUL bytes)" in message


def test_real_gzip_csv_is_read(tmp_path) -> None:
    path = land(tmp_path, "packed.csv.gz", gzip.compress(GOOD.encode()))
    assert len(read_landed_file(path, DATASET, reference()).frame) == 3


@pytest.mark.parametrize("name", ["my batch.csv", "données 2024.csv", "batch..2024...csv"])
def test_awkward_file_names_are_read(tmp_path, name) -> None:
    path = land(tmp_path, name, GOOD)
    assert len(read_landed_file(path, DATASET, reference()).frame) == 3
    [found] = scan_landing(tmp_path, ["*.csv"])
    assert found.partition_key == partition_key_for(name)


def test_file_still_being_written_is_not_picked_up(tmp_path) -> None:
    land(tmp_path, "growing.csv", GOOD)
    assert scan_landing(tmp_path, ["*.csv"], settle_seconds=60) == []
    assert (
        len(
            scan_landing(
                tmp_path,
                ["*.csv"],
                settle_seconds=60,
                now=os.path.getmtime(tmp_path / "growing.csv") + 61,
            )
        )
        == 1
    )


def test_very_large_file_is_refused_before_reading(tmp_path) -> None:
    path = tmp_path / "huge.csv"
    with path.open("wb") as handle:  # sparse: one gigabyte that takes no disk space
        handle.truncate(1024**3)
    message = refused(path)
    assert "1024 MB is over the 512 MB limit (dataset.max_file_mb)" in message


def test_quarantine_moves_with_a_reason_and_keeps_earlier_ones(tmp_path) -> None:
    landing, quarantined = tmp_path / "landing", tmp_path / "quarantine"
    landing.mkdir()
    first = quarantine(land(landing, "bad.csv", "one"), quarantined, "bad.csv: broken", "bad")
    second = quarantine(land(landing, "bad.csv", "two"), quarantined, "bad.csv: broken", "bad")
    assert list(landing.iterdir()) == []
    assert first.read_text() == "one" and second.read_text() == "two" and first != second
    reason = (quarantined / "bad.csv.reason.txt").read_text()
    assert "reason: bad.csv: broken" in reason and "partition: bad" in reason
