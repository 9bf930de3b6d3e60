"""Contract kinds from enough evidence: counted across files, undecided until then."""

import threading

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml_pipeline.config import DatasetConfig
from ml_pipeline.core.data.contract import (
    UNDECIDED,
    ContractError,
    create_contract,
    infer_contract,
    load_contract,
    looks_numeric,
    record_evidence,
    set_kind,
    with_evidence,
)

DATASET = DatasetConfig(
    landing_dir="x", target="price", task="regression", timestamp_column="when"
)
THRESHOLD = 0.9


def batch(depth: list, rows: int | None = None) -> pd.DataFrame:
    """A file as ``read_csv(dtype=str)`` gives it: text, and None where a cell is empty."""
    rows = rows or len(depth)
    return pd.DataFrame(
        {
            "when": ["2024-01-01"] * rows,
            "depth": depth,
            "cut": ["ideal"] * rows,
            "price": ["1"] * rows,
        }
    )


def test_a_column_empty_in_the_first_file_stays_undecided_until_its_values_arrive() -> None:
    first = infer_contract(batch([None] * 40), DATASET, THRESHOLD, "a.csv", 30, "a")
    depth = first.column("depth")
    assert depth.kind == UNDECIDED and depth.evidence is None and depth.leaning() is None
    assert "depth" not in first.kinds()
    assert first.column("cut").kind == "categorical"  # 40 values: enough
    assert first.column("when").kind == "datetime" and first.column("price").kind == "numeric"

    some = with_evidence(first, batch(["61.5"] * 20), "b", THRESHOLD, 30)
    assert some.column("depth").kind == UNDECIDED
    assert some.kinds()["depth"] == "numeric"  # read by its leaning meanwhile
    assert some.version == 1 and some.counted == ("a", "b")

    decided = with_evidence(some, batch(["62.0"] * 10 + [None] * 5), "c", THRESHOLD, 30)
    assert decided.column("depth").kind == "numeric"
    assert decided.column("depth").evidence == {
        "values": 30,
        "numbers": 30,
        "files": 2,
        "leaning": "numeric",
    }
    assert decided.version == 2 and decided.counted == ()
    assert decided.history[-1]["change"] == "depth: kind undecided -> numeric"
    assert "numeric from 30 values in 2 file(s)" in decided.history[-1]["by"]


def test_a_file_counted_once_is_not_counted_again() -> None:
    first = infer_contract(batch([None] * 3), DATASET, THRESHOLD, "a.csv", 100, "a")
    once = with_evidence(first, batch(["1"] * 5), "b", THRESHOLD, 100)
    again = with_evidence(once, batch(["1"] * 5), "b", THRESHOLD, 100)
    assert again is once and again.column("depth").evidence["values"] == 5


def test_text_values_lean_categorical_and_a_few_numbers_among_them_do_not_tip_it() -> None:
    values = ["deep"] * 15 + ["3"] * 5
    contract = infer_contract(batch(values), DATASET, THRESHOLD, "a.csv", 100, "a")
    assert contract.column("depth").kind == UNDECIDED
    assert contract.kinds()["depth"] == "categorical"
    assert contract.column("depth").evidence["numbers"] == 5


def test_undecided_columns_say_how_to_decide_them() -> None:
    contract = infer_contract(batch([None] * 3), DATASET, THRESHOLD, "a.csv", 100, "a")
    notes = contract.undecided_notes(100)
    assert len(notes) == 2  # depth (no values) and cut (3 values)
    depth = next(n for n in notes if "'depth'" in n)
    assert "0 of the 100 values" in depth and "no values yet" in depth
    assert "`ml-pipeline contract kind depth numeric|categorical`" in depth


def test_a_user_decides_a_kind_and_later_values_no_longer_count() -> None:
    contract = infer_contract(batch([None] * 3), DATASET, THRESHOLD, "a.csv", 100, "a")
    decided = set_kind(contract, DATASET, "depth", "numeric")
    assert decided.column("depth").kind == "numeric" and decided.column("depth").evidence is None
    assert decided.history[-1]["by"] == "ml-pipeline contract kind"
    confirmed = set_kind(
        infer_contract(batch(["x"] * 3), DATASET, THRESHOLD, "a.csv", 1, "a"),
        DATASET,
        "depth",
        "categorical",
    )
    assert confirmed.column("depth").evidence is None
    assert confirmed.history[-1]["change"] == "depth: kind categorical confirmed"


@pytest.mark.parametrize(
    ("column", "kind", "problem"),
    [
        ("when", "numeric", "column 'when' is the timestamp: its kind is datetime"),
        ("price", "categorical", "column 'price' is the target: its kind is numeric"),
        ("carat", "numeric", "column 'carat' is not in the contract"),
        ("depth", "text", "kind must be one of numeric, categorical, datetime, not 'text'"),
    ],
)
def test_a_kind_the_roles_or_the_contract_rule_out_is_refused(column, kind, problem) -> None:
    contract = infer_contract(batch(["1"] * 3), DATASET, THRESHOLD, "a.csv", 1, "a")
    with pytest.raises(ContractError, match=problem):
        set_kind(contract, DATASET, column, kind)


def test_ingest_runs_counting_at_once_lose_no_count(tmp_path) -> None:
    path = tmp_path / "contract.json"
    create_contract(infer_contract(batch([None] * 2), DATASET, THRESHOLD, "a", 10_000, "a"), path)
    keys = [f"file{i}" for i in range(16)]

    def count(key: str) -> None:
        record_evidence(path, batch(["1.5"] * 7), key, THRESHOLD, 10_000)

    threads = [threading.Thread(target=count, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = load_contract(path)
    assert stored.column("depth").evidence["values"] == 7 * len(keys)
    assert set(stored.counted) == {"a", *keys}


def test_counting_into_no_stored_contract_names_the_file(tmp_path) -> None:
    with pytest.raises(ContractError, match=r"contract\.json: no contract to count the values"):
        record_evidence(tmp_path / "contract.json", batch(["1"]), "a", THRESHOLD, 1)


cells = st.one_of(
    st.none(),
    st.sampled_from(["", "nan", "inf", "deep", "1e400"]),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(-(10**6), 10**6).map(str),
)


@settings(max_examples=60, deadline=None)
@given(files=st.lists(st.lists(cells, min_size=1, max_size=12), min_size=1, max_size=6))
def test_evidence_is_the_sum_of_the_files_and_leans_as_all_their_values_do(files) -> None:
    """However the values are split into files, the count and the leaning are those of
    all the values at once."""
    minimum = 10_000  # never reached: the evidence of every file stays in the contract
    contract = infer_contract(batch(files[0]), DATASET, THRESHOLD, "f0", minimum, "f0")
    for index, values in enumerate(files[1:], start=1):
        contract = with_evidence(contract, batch(values), f"f{index}", THRESHOLD, minimum)
    together = pd.Series([v for values in files for v in values], dtype=object)
    present = together.dropna()
    depth = contract.column("depth")
    assert depth.kind == UNDECIDED
    if present.empty:
        assert depth.evidence is None and depth.leaning() is None
        return
    assert depth.evidence["values"] == len(present)
    expected = "numeric" if looks_numeric(together, THRESHOLD) else "categorical"
    assert depth.leaning() == expected
