"""The schema contract: which columns a dataset has, their kinds, roles and whether required.

It comes from ``dataset.columns`` in config or, failing that, from the first ingested
file, and it is stored beside the warehouse tables. Every landed file is judged against
it before it reaches the warehouse, and training reads only its columns, so a stray or
misnamed column in one file can never change the schema of the history. Changing it is
explicit (config, or ``ml-pipeline contract``) and every change is logged in the file.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pandas as pd

from ml_pipeline.config import DatasetConfig
from ml_pipeline.core.fileio import atomic_write_text

KINDS = ("numeric", "categorical", "datetime")


class ContractError(ValueError):
    """The contract cannot be built, read or changed as asked; the message says why."""


@dataclass(frozen=True)
class ContractColumn:
    name: str
    kind: str
    role: str
    required: bool


@dataclass(frozen=True)
class SchemaContract:
    columns: tuple[ContractColumn, ...]
    source: str
    version: int = 1
    history: tuple[dict[str, str], ...] = field(default_factory=tuple)

    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    def column(self, name: str) -> ContractColumn | None:
        return next((c for c in self.columns if c.name == name), None)

    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def inputs(self) -> list[str]:
        """Every column but the target: what a scoring client sends."""
        return [c.name for c in self.columns if c.role != "target"]

    def kinds(self) -> dict[str, str]:
        return {c.name: c.kind for c in self.columns}

    def target(self) -> ContractColumn:
        return next(c for c in self.columns if c.role == "target")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str, where: str = "contract") -> SchemaContract:
        try:
            raw = json.loads(text)
            return cls(
                columns=tuple(ContractColumn(**c) for c in raw["columns"]),
                source=str(raw["source"]),
                version=int(raw["version"]),
                history=tuple(raw.get("history", [])),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise ContractError(f"{where}: not a readable schema contract: {error}") from None

    def describe(self) -> list[dict[str, object]]:
        return [asdict(c) for c in self.columns]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _default_required(role: str) -> bool:
    return role in ("feature", "timestamp", "target")


def _column(dataset: DatasetConfig, name: str, kind: str, required: bool | None) -> ContractColumn:
    role = dataset.role_of(name)
    return ContractColumn(
        name, kind, role, _default_required(role) if required is None else required
    )


def _role_kind(dataset: DatasetConfig, name: str) -> str | None:
    """The kind a column's role fixes, if it does."""
    if name == dataset.timestamp_column:
        return "datetime"
    if name == dataset.target and dataset.task == "regression":
        return "numeric"
    if name in dataset.id_columns:
        return "categorical"
    return None


def contract_from_config(dataset: DatasetConfig) -> SchemaContract | None:
    """The contract ``dataset.columns`` declares, with the role columns it leaves out."""
    if not dataset.columns:
        return None
    columns = [
        _column(dataset, name, spec.type, spec.required) for name, spec in dataset.columns.items()
    ]
    listed = set(dataset.columns)
    for name in [dataset.timestamp_column, *dataset.id_columns, *dataset.drop_columns]:
        if name and name not in listed:
            columns.append(_column(dataset, name, _role_kind(dataset, name) or "categorical", None))
    return SchemaContract(columns=tuple(columns), source="config (dataset.columns)")


def looks_numeric(values: pd.Series, threshold: float) -> bool:
    present = values.dropna()
    if present.empty:
        return False
    return bool(pd.to_numeric(present, errors="coerce").notna().mean() >= threshold)


def infer_contract(
    frame: pd.DataFrame, dataset: DatasetConfig, threshold: float, source: str
) -> SchemaContract:
    """The contract a first file implies: its columns, kinds by what they hold, roles by config.

    ``dataset.column_types`` overrides what the values suggest. A classification target
    whose values are all numbers stays numeric, so whole-number labels stay numbers.
    """
    columns = []
    for name in frame.columns:
        kind = _role_kind(dataset, name) or dataset.column_types.get(name)
        if kind is None:
            kind = "numeric" if looks_numeric(frame[name], threshold) else "categorical"
        columns.append(_column(dataset, name, kind, None))
    return SchemaContract(columns=tuple(columns), source=f"inferred from {source}")


def with_config_roles(contract: SchemaContract, dataset: DatasetConfig) -> SchemaContract:
    """The stored contract with the roles config gives now (roles live in config)."""
    columns = []
    for column in contract.columns:
        role = dataset.role_of(column.name)
        if role == column.role:
            columns.append(column)
            continue
        kind = _role_kind(dataset, column.name) or column.kind
        columns.append(replace(column, role=role, kind=kind, required=_default_required(role)))
    return replace(contract, columns=tuple(columns))


def changes(before: SchemaContract, after: SchemaContract) -> list[str]:
    """What differs between two contracts, one sentence per column."""
    old = {c.name: c for c in before.columns}
    new = {c.name: c for c in after.columns}
    lines = [f"added {n} ({new[n].kind}, {new[n].role})" for n in new if n not in old]
    lines += [f"removed {n}" for n in old if n not in new]
    for name in new.keys() & old.keys():
        a, b = old[name], new[name]
        for attribute in ("kind", "role", "required"):
            if getattr(a, attribute) != getattr(b, attribute):
                lines.append(
                    f"{name}: {attribute} {getattr(a, attribute)} -> {getattr(b, attribute)}"
                )
    return sorted(lines)


def evolve(contract: SchemaContract, updated: SchemaContract, by: str) -> SchemaContract:
    """``updated`` as the next version of ``contract``, with the change logged."""
    lines = changes(contract, updated)
    if not lines:
        return contract
    entry = {
        "version": str(contract.version + 1),
        "time": _now(),
        "by": by,
        "change": "; ".join(lines),
    }
    return replace(
        updated,
        source=contract.source,
        version=contract.version + 1,
        history=(*contract.history, entry),
    )


def add_column(
    contract: SchemaContract, dataset: DatasetConfig, name: str, kind: str, required: bool
) -> SchemaContract:
    if contract.column(name) is not None:
        raise ContractError(f"column {name!r} is already in the contract")
    if kind not in KINDS:
        raise ContractError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    added = replace(
        contract,
        columns=(*contract.columns, ContractColumn(name, kind, dataset.role_of(name), required)),
    )
    return evolve(contract, added, "ml-pipeline contract add")


def drop_column(contract: SchemaContract, name: str) -> SchemaContract:
    column = contract.column(name)
    if column is None:
        raise ContractError(
            f"column {name!r} is not in the contract: {', '.join(contract.names())}"
        )
    if column.role in ("target", "timestamp"):
        raise ContractError(
            f"column {name!r} is the {column.role}; change dataset.{column.role} first"
        )
    kept = replace(contract, columns=tuple(c for c in contract.columns if c.name != name))
    return evolve(contract, kept, "ml-pipeline contract drop")


def load_contract(path: Path) -> SchemaContract | None:
    if not path.is_file():
        return None
    return SchemaContract.from_json(path.read_text(encoding="utf-8"), str(path))


def save_contract(contract: SchemaContract, path: Path) -> Path:
    return atomic_write_text(contract.to_json(), path)


def create_contract(contract: SchemaContract, path: Path) -> SchemaContract:
    """Store ``contract`` unless one exists already; return whichever is stored.

    Ingest runs of the first files may run at once: a hard link publishes the file only
    if the name is free, so the first to arrive wins and the others adopt its contract.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(temporary, 0o644)  # mkstemp makes it private; the contract is not
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(contract.to_json())
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
    stored = load_contract(path)
    assert stored is not None
    return stored


def resolve_contract(path: Path, dataset: DatasetConfig) -> SchemaContract | None:
    """The contract in force: config's when it declares one, else the stored one.

    Roles always follow config. When config changes a column's role or declares other
    columns, the stored contract becomes its next version, so what changed and when
    stays on record.
    """
    stored = load_contract(path)
    declared = contract_from_config(dataset)
    if stored is None:
        return create_contract(declared, path) if declared is not None else None
    wanted = declared if declared is not None else with_config_roles(stored, dataset)
    updated = evolve(stored, wanted, "config")
    if updated is not stored:
        save_contract(updated, path)
    return updated
