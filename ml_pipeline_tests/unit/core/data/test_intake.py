"""Every bad landed file named in the data-quality issue, one test each."""

import gzip
import os

import pandas as pd
import pytest

from ml_pipeline.config import DatasetConfig
from ml_pipeline.core.data.contract import infer_contract, set_kind
from ml_pipeline.core.data.intake import (
    LandingFileError,
    conform_to_contract,
    quarantine,
    read_landed_file,
)
from ml_pipeline.core.data.landing import partition_key_for, scan_landing

DATASET = DatasetConfig(landing_dir="x", target="y", task="regression", id_columns=["id"])
GOOD = "id,temp,kind,y\n1,20.5,a,3\n2,21.0,b,4\n3,19.5,a,5\n"


def contract(**extra_columns):
    """The contract a first file with id, temp, kind and y (and ``extra_columns``) implies."""
    first = {"id": ["1"], "temp": ["20.0"], "kind": ["a"], "y": ["1"], **extra_columns}
    return infer_contract(pd.DataFrame(first), DATASET, 0.9, "first.csv")


def take_in(path, held_to=None, dataset=DATASET):
    intake = read_landed_file(path, dataset)
    return conform_to_contract(path, intake, held_to, 0.9) if held_to is not None else intake


def land(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def refused(path, held_to=None, dataset=DATASET) -> str:
    with pytest.raises(LandingFileError) as raised:
        take_in(path, held_to, dataset)
    message = str(raised.value)
    assert message.startswith(f"{path.name}: ") and "\n" not in message
    return message


def test_good_file_comes_in_without_warnings(tmp_path) -> None:
    intake = take_in(land(tmp_path, "ok.csv", GOOD), contract())
    assert len(intake.frame) == 3 and intake.warnings == []


def test_csv_columns_are_read_as_text_and_parquet_keeps_types(tmp_path) -> None:
    csv = take_in(land(tmp_path, "ok.csv", "y,temp\n1,2.5\n2,\n")).frame
    assert csv["temp"].tolist()[0] == "2.5" and pd.isna(csv["temp"][1])
    path = tmp_path / "ok.parquet"
    pd.DataFrame({"y": [1, 2], "temp": [2.5, None]}).to_parquet(path)
    assert take_in(path).frame["y"].tolist() == [1, 2]


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


def test_columns_the_contract_lacks_are_ignored_and_reported(tmp_path) -> None:
    path = land(tmp_path, "extra.csv", "kind,surprise,y,temp,id\n1,x,3,20,a\n")
    intake = take_in(path, contract())
    assert list(intake.frame.columns) == ["id", "temp", "kind", "y"]
    assert intake.ignored == ["surprise"]
    assert intake.warnings[0].startswith("columns not in the schema contract, left out: surprise")


def test_an_optional_column_may_be_missing_and_comes_back_empty(tmp_path) -> None:
    intake = take_in(land(tmp_path, "noid.csv", "temp,kind,y\n20,a,3\n"), contract())
    assert list(intake.frame.columns) == ["id", "temp", "kind", "y"]
    assert intake.frame["id"].isna().all()


def test_a_repeated_header_name_is_refused_not_renamed(tmp_path) -> None:
    message = refused(land(tmp_path, "dup.csv", "id,temp,kind,temp,y\n1,20,a,21,3\n"))
    assert "the header names column 'temp' twice" in message


def test_header_names_differing_only_by_case_or_spacing_are_refused(tmp_path) -> None:
    message = refused(land(tmp_path, "case.csv", "id,temp,kind, Temp ,y\n1,20,a,21,3\n"))
    assert "columns 'temp' and ' Temp ', which differ only by case or whitespace" in message


def test_a_column_named_like_the_contracts_but_for_case_is_refused(tmp_path) -> None:
    message = refused(land(tmp_path, "case.csv", "id,Temp,kind,y\n1,20,a,3\n"), contract())
    assert "column 'Temp' differs from the contract's 'temp' only by case or whitespace" in message


def test_mostly_unparseable_timestamps_are_refused(tmp_path) -> None:
    dataset = DATASET.model_copy(update={"timestamp_column": "when"})
    held_to = infer_contract(
        pd.DataFrame({"when": ["2024-01-01"], "temp": ["1"], "y": ["1"]}), dataset, 0.9, "first"
    )
    path = land(tmp_path, "when.csv", "when,temp,y\nsoon,1,2\nlater,2,3\n2024-01-02,3,4\n")
    message = refused(path, held_to, dataset)
    assert "column 'when' should be datetime but 67% of its values are not (e.g. 'soon')" in message


def test_text_in_a_numeric_column(tmp_path) -> None:
    message = refused(
        land(tmp_path, "text.csv", "id,temp,kind,y\n1,warm,a,3\n2,cold,b,4\n3,20,a,5\n"),
        contract(),
    )
    assert "column 'temp' should be numeric but 67% of its values are not (e.g. 'warm')" in message
    # The kind came from one value of an earlier file: it may be the contract that is wrong.
    assert "if that kind is wrong: `ml-pipeline contract kind temp categorical`" in message


def test_text_in_a_numeric_column_the_config_declared_points_at_the_config(tmp_path) -> None:
    from ml_pipeline.core.data.contract import contract_from_config

    declared = DatasetConfig(
        landing_dir="x",
        target="y",
        task="regression",
        columns={"temp": "numeric", "kind": "categorical", "y": "numeric"},
    )
    message = refused(
        land(tmp_path, "text.csv", "id,temp,kind,y\n1,warm,a,3\n2,cold,b,4\n3,20,a,5\n"),
        contract_from_config(declared),
    )
    assert message.endswith("if that kind is wrong, change dataset.columns")


def test_an_undecided_column_takes_any_values(tmp_path) -> None:
    held_to = infer_contract(
        pd.DataFrame({"id": ["1"], "temp": [None], "kind": ["a"], "y": ["1"]}),
        DATASET,
        0.9,
        "first.csv",
        minimum=100,
    )
    assert held_to.column("temp").kind == "undecided"
    intake = take_in(land(tmp_path, "words.csv", "id,temp,kind,y\n1,warm,a,3\n2,cold,b,4\n"), held_to)
    assert intake.frame["temp"].tolist() == ["warm", "cold"]


def test_numbers_in_a_column_made_categorical_by_earlier_values_are_doubted(tmp_path) -> None:
    held_to = contract(temp=["mild"])  # one word decided it
    rows = "".join(f"{i},{20 + i / 10},a,{i}\n" for i in range(25))
    intake = take_in(land(tmp_path, "numbers.csv", "id,temp,kind,y\n" + rows), held_to)
    assert (
        "column 'temp' holds only numbers here (25 values), but the contract made it "
        "categorical from 1 earlier values; if it is numeric: "
        "`ml-pipeline contract kind temp numeric`"
    ) in intake.warnings
    # A few numbers say nothing yet, and a kind the user set is never doubted.
    few = take_in(land(tmp_path, "few.csv", "id,temp,kind,y\n1,20,a,1\n"), held_to)
    assert not any("holds only numbers" in w for w in few.warnings)
    chosen = set_kind(held_to, DATASET, "temp", "categorical")
    codes = take_in(land(tmp_path, "codes.csv", "id,temp,kind,y\n" + rows), chosen)
    assert not any("holds only numbers" in w for w in codes.warnings)


def test_a_few_mistyped_numbers_are_left_to_cleaning(tmp_path) -> None:
    rows = "".join(f"{i},{20 + i},a,{i}\n" for i in range(20)) + "21,21;5,a,3\n"
    intake = take_in(land(tmp_path, "few.csv", "id,temp,kind,y\n" + rows), contract())
    assert len(intake.frame) == 21


def test_non_utf8_bytes(tmp_path) -> None:
    content = "id,temp,kind,y\n1,20,caf\u00e9,3\n".encode("latin-1")
    assert "not utf-8 text" in refused(land(tmp_path, "latin.csv", content))


def test_a_configured_latin1_encoding_is_honoured(tmp_path) -> None:
    content = "id,temp,kind,y\n1,20,caf\u00e9,3\n".encode("latin-1")
    dataset = DATASET.model_copy(update={"encoding": "latin-1"})
    assert (
        take_in(land(tmp_path, "latin.csv", content), dataset=dataset).frame["kind"][0]
        == "caf\u00e9"
    )


def test_utf8_with_a_byte_order_mark_keeps_its_first_column_name(tmp_path) -> None:
    intake = take_in(land(tmp_path, "bom.csv", "\ufeff" + GOOD), contract())
    assert list(intake.frame.columns) == ["id", "temp", "kind", "y"] and len(intake.frame) == 3


def test_gzip_csv_in_another_encoding_is_read(tmp_path) -> None:
    content = gzip.compress("id,temp,kind,y\n1,20,caf\u00e9,3\n".encode("latin-1"))
    dataset = DATASET.model_copy(update={"encoding": "latin-1"})
    intake = take_in(land(tmp_path, "packed.csv.gz", content), dataset=dataset)
    assert intake.frame["kind"][0] == "caf\u00e9"


def test_truncated_last_line_is_dropped_and_reported(tmp_path) -> None:
    path = land(tmp_path, "cut.csv", GOOD + "4,22")
    intake = take_in(path, contract())
    assert intake.frame["id"].tolist() == ["1", "2", "3"]
    assert intake.warnings == [
        "last line is truncated (2 of 4 fields, no final newline); dropped it"
    ]


def test_all_null_column_is_reported(tmp_path) -> None:
    path = land(tmp_path, "nulls.csv", "id,temp,kind,y\n1,,a,3\n2,,b,4\n")
    intake = take_in(path, contract())
    assert intake.warnings == ["columns with no values at all: temp"]


def test_all_null_target_is_refused(tmp_path) -> None:
    assert "target column 'y' has no values" in refused(
        land(tmp_path, "notarget.csv", "id,temp,kind,y\n1,2,a,\n2,3,b,\n")
    )


def test_parquet_with_a_different_schema(tmp_path) -> None:
    path = tmp_path / "other.parquet"
    pd.DataFrame({"id": [1], "pressure": [1.0], "y": [2.0]}).to_parquet(path)
    message = refused(path, contract())
    assert "missing columns temp, kind (required by the schema contract)" in message


def test_gzip_named_csv(tmp_path) -> None:
    message = refused(land(tmp_path, "packed.csv", gzip.compress(GOOD.encode())))
    assert "gzip-compressed data in a file named .csv" in message


def test_binary_named_csv(tmp_path) -> None:
    message = refused(land(tmp_path, "blob.csv", bytes(range(256)) * 4))
    assert "binary data (NUL bytes)" in message


def test_real_gzip_csv_is_read(tmp_path) -> None:
    path = land(tmp_path, "packed.csv.gz", gzip.compress(GOOD.encode()))
    assert len(take_in(path, contract()).frame) == 3


@pytest.mark.parametrize("name", ["my batch.csv", "données 2024.csv", "batch..2024...csv"])
def test_awkward_file_names_are_read(tmp_path, name) -> None:
    path = land(tmp_path, name, GOOD)
    assert len(take_in(path, contract()).frame) == 3
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
