"""The schema contract: inferred or declared, roles from config, every change logged."""

import json

import pandas as pd
import pytest

from ml_pipeline.config import DatasetConfig
from ml_pipeline.core.data.contract import (
    ContractError,
    add_column,
    contract_from_config,
    create_contract,
    drop_column,
    infer_contract,
    load_contract,
    resolve_contract,
)

DATASET = DatasetConfig(
    landing_dir="x",
    target="label",
    task="classification",
    timestamp_column="when",
    id_columns=["id"],
    drop_columns=["refund"],
    column_types={"zip": "categorical"},
)
FIRST = pd.DataFrame(
    {
        "id": ["1", "2"],
        "when": ["2024-01-01", "2024-01-02"],
        "zip": ["01234", "99999"],
        "temp": ["20.5", None],
        "kind": ["a", "b"],
        "refund": ["0", "5"],
        "label": ["0", "1"],
    }
)


def kinds_roles(contract) -> dict:
    return {c.name: (c.kind, c.role, c.required) for c in contract.columns}


def test_a_first_file_implies_kinds_by_values_and_roles_by_config() -> None:
    contract = infer_contract(FIRST, DATASET, 0.9, "a.csv")
    assert contract.source == "inferred from a.csv" and contract.version == 1
    assert kinds_roles(contract) == {
        "id": ("categorical", "id", False),
        "when": ("datetime", "timestamp", True),
        "zip": ("categorical", "feature", True),
        "temp": ("numeric", "feature", True),
        "kind": ("categorical", "feature", True),
        "refund": ("numeric", "drop", False),
        "label": ("numeric", "target", True),
    }


def test_text_class_labels_stay_categorical() -> None:
    contract = infer_contract(FIRST.assign(label=["yes", "no"]), DATASET, 0.9, "a.csv")
    assert contract.target().kind == "categorical"


def test_config_declares_a_contract_with_roles_and_shorthand_kinds() -> None:
    dataset = DatasetConfig(
        landing_dir="x",
        target="y",
        task="regression",
        columns={"y": "numeric", "temp": "numeric", "shop": {"type": "categorical", "role": "id"}},
    )
    assert dataset.id_columns == ["shop"]
    contract = contract_from_config(dataset)
    assert kinds_roles(contract) == {
        "y": ("numeric", "target", True),
        "temp": ("numeric", "feature", True),
        "shop": ("categorical", "id", False),
    }


def test_the_first_writer_wins_when_two_runs_infer_at_once(tmp_path) -> None:
    path = tmp_path / "contract.json"
    first = create_contract(infer_contract(FIRST, DATASET, 0.9, "a.csv"), path)
    second = create_contract(infer_contract(FIRST.drop(columns="kind"), DATASET, 0.9, "b"), path)
    assert first == second and second.source == "inferred from a.csv"
    assert [p.name for p in tmp_path.iterdir()] == ["contract.json"]


def test_adding_and_dropping_columns_is_versioned_and_logged(tmp_path) -> None:
    contract = infer_contract(FIRST, DATASET, 0.9, "a.csv")
    added = add_column(contract, DATASET, "humidity", "numeric", required=False)
    assert added.version == 2 and added.column("humidity").required is False
    assert added.history[-1]["change"] == "added humidity (numeric, feature)"
    assert added.history[-1]["by"] == "ml-pipeline contract add"
    dropped = drop_column(added, "kind")
    assert dropped.version == 3 and "kind" not in dropped.names()
    assert [h["change"] for h in dropped.history] == [
        "added humidity (numeric, feature)",
        "removed kind",
    ]
    with pytest.raises(ContractError, match="already in the contract"):
        add_column(dropped, DATASET, "temp", "numeric", required=True)
    with pytest.raises(ContractError, match="is the target"):
        drop_column(dropped, "label")


def test_a_role_changed_in_config_becomes_the_next_logged_version(tmp_path) -> None:
    path = tmp_path / "contract.json"
    create_contract(infer_contract(FIRST, DATASET, 0.9, "a.csv"), path)
    assert resolve_contract(path, DATASET).version == 1
    as_id = DATASET.model_copy(update={"id_columns": ["id", "zip"]})
    resolved = resolve_contract(path, as_id)
    assert resolved.column("zip").role == "id" and resolved.column("zip").required is False
    stored = load_contract(path)
    assert stored == resolved and stored.version == 2
    assert stored.history[-1]["change"] == "zip: required True -> False; zip: role feature -> id"


def test_an_unreadable_contract_names_its_file(tmp_path) -> None:
    path = tmp_path / "contract.json"
    path.write_text(json.dumps({"columns": "nope"}))
    with pytest.raises(ContractError, match=r"contract\.json: not a readable schema contract"):
        load_contract(path)
