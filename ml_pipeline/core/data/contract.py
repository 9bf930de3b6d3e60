"""The schema contract: which columns a dataset has, their kinds, roles and whether required.

It comes from ``dataset.columns`` in config or, failing that, from the landed files:
a column's kind is decided once ``dataset.kind_evidence_rows`` of its values have
landed, however many files that takes, so a column empty in the first file is not
made categorical for good. Until then it is undecided, and training reads it by what
its values so far lean to. The contract is stored beside the warehouse tables. Every landed file is judged against
it before it reaches the warehouse, and training reads only its columns, so a stray or
misnamed column in one file can never change the schema of the history. Changing it is
explicit (config, or ``ml-pipeline contract``) and every change is logged in the file.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pandas as pd

from ml_pipeline.config import DatasetConfig
from ml_pipeline.core.fileio import atomic_write_text

KINDS = ("numeric", "categorical", "datetime")
# A column whose landed values are still too few to tell its kind.
UNDECIDED = "undecided"


class ContractError(ValueError):
    """The contract cannot be built, read or changed as asked; the message says why."""


@dataclass(frozen=True)
class ContractColumn:
    name: str
    kind: str
    role: str
    required: bool
    # For a kind read off the landed values: how many values, how many were numbers, in
    # how many files, and the kind they lean to. None for a kind config or a command set.
    evidence: dict[str, int | str] | None = None

    def leaning(self) -> str | None:
        """The kind training reads the column as: its own, or while undecided the kind
        its values so far lean to (None while it has no values at all)."""
        if self.kind != UNDECIDED:
            return self.kind
        return None if self.evidence is None else str(self.evidence["leaning"])


@dataclass(frozen=True)
class SchemaContract:
    columns: tuple[ContractColumn, ...]
    source: str
    version: int = 1
    history: tuple[dict[str, str], ...] = field(default_factory=tuple)
    # The partitions whose values are counted in the undecided columns' evidence, so a
    # file ingested again is not counted twice; emptied once every kind is decided.
    counted: tuple[str, ...] = ()

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
        """Each column's kind as cleaning and training read it: undecided columns by
        their leaning, and left out while they have no values."""
        leanings = {c.name: c.leaning() for c in self.columns}
        return {name: kind for name, kind in leanings.items() if kind is not None}

    def undecided(self) -> list[ContractColumn]:
        return [c for c in self.columns if c.kind == UNDECIDED]

    def wants_evidence(self, key: str) -> bool:
        return bool(self.undecided()) and key not in self.counted

    def undecided_notes(self, evidence_rows: int) -> list[str]:
        """One line per undecided column: what training does with it, and how to decide."""
        notes = []
        for column in self.undecided():
            seen = int(column.evidence["values"]) if column.evidence else 0
            read = f"read as {column.leaning()} for now" if seen else "no values yet"
            notes.append(
                f"column {column.name!r}: kind undecided ({seen} of the {evidence_rows} values "
                f"that decide it have landed; {read}); to decide now: "
                f"`ml-pipeline contract kind {column.name} numeric|categorical`"
            )
        return notes

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
                counted=tuple(raw.get("counted", [])),
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


def _count_values(values: pd.Series) -> tuple[int, int]:
    """How many values a column holds, and how many of them are numbers."""
    present = values.dropna()
    return len(present), int(pd.to_numeric(present, errors="coerce").notna().sum())


def _counted(
    contract: SchemaContract, frame: pd.DataFrame, key: str, threshold: float, minimum: int
) -> tuple[SchemaContract, list[str]]:
    """``contract`` with ``frame``'s values added to its undecided columns' evidence, and
    a line for each column that now has ``minimum`` values and so its kind."""
    columns, decided = [], []
    for column in contract.columns:
        if column.kind != UNDECIDED or column.name not in frame.columns:
            columns.append(column)
            continue
        before = column.evidence or {"values": 0, "numbers": 0, "files": 0}
        values, numbers = _count_values(frame[column.name])
        values += int(before["values"])
        numbers += int(before["numbers"])
        files = int(before["files"]) + 1
        if values == 0:
            columns.append(column)
            continue
        leaning = "numeric" if numbers >= threshold * values else "categorical"
        evidence = {"values": values, "numbers": numbers, "files": files, "leaning": leaning}
        kind = leaning if values >= minimum else UNDECIDED
        if kind != UNDECIDED:
            decided.append(f"{column.name}: {kind} from {values} values in {files} file(s)")
        columns.append(replace(column, kind=kind, evidence=evidence))
    updated = replace(contract, columns=tuple(columns))
    counted = (*contract.counted, key) if updated.undecided() else ()
    return replace(updated, counted=counted), decided


def infer_contract(
    frame: pd.DataFrame,
    dataset: DatasetConfig,
    threshold: float,
    source: str,
    minimum: int = 1,
    key: str | None = None,
) -> SchemaContract:
    """The contract a first file implies: its columns, roles by config, kinds by config or
    role, else by what the values say once there are ``minimum`` of them.

    A column with fewer values stays undecided, its values counted as evidence (under
    ``key``, the partition). A classification target whose values are all numbers stays
    numeric, so whole-number labels stay numbers.
    """
    columns = []
    for name in frame.columns:
        kind = _role_kind(dataset, name) or dataset.column_types.get(name) or UNDECIDED
        columns.append(_column(dataset, name, kind, None))
    skeleton = SchemaContract(columns=tuple(columns), source=f"inferred from {source}")
    return _counted(skeleton, frame, key or source, threshold, minimum)[0]


def with_evidence(
    contract: SchemaContract, frame: pd.DataFrame, key: str, threshold: float, minimum: int
) -> SchemaContract:
    """``contract`` with partition ``key``'s values counted; columns that reach
    ``minimum`` values are decided, logged as the next version."""
    if not contract.wants_evidence(key):
        return contract
    updated, decided = _counted(contract, frame, key, threshold, minimum)
    if not decided:
        return updated
    return evolve(contract, updated, f"landed values: {'; '.join(decided)}")


@contextlib.contextmanager
def contract_lock(path: Path) -> Iterator[None]:
    """Held while the stored contract is read, changed and written: ingest runs of
    several files count values at once, and a command may change a kind meanwhile."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def record_evidence(
    path: Path, frame: pd.DataFrame, key: str, threshold: float, minimum: int
) -> SchemaContract:
    """Count partition ``key``'s values into the stored contract and store it."""
    with contract_lock(path):
        stored = load_contract(path)
        if stored is None:
            raise ContractError(f"{path}: no contract to count the values of {key} into")
        updated = with_evidence(stored, frame, key, threshold, minimum)
        if updated != stored:
            save_contract(updated, path)
        return updated


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


def evolve(
    contract: SchemaContract, updated: SchemaContract, by: str, also: tuple[str, ...] = ()
) -> SchemaContract:
    """``updated`` as the next version of ``contract``, with the change logged (``also``:
    changes that no column's fields show)."""
    lines = [*changes(contract, updated), *also]
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


def set_kind(
    contract: SchemaContract, dataset: DatasetConfig, name: str, kind: str
) -> SchemaContract:
    """``contract`` with column ``name`` of ``kind``, decided by the user: no later file's
    values change it, and training reads every partition's values as that kind."""
    column = contract.column(name)
    if column is None:
        raise ContractError(
            f"column {name!r} is not in the contract: {', '.join(contract.names())}"
        )
    if kind not in KINDS:
        raise ContractError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    fixed = _role_kind(dataset, name)
    if fixed is not None and fixed != kind:
        raise ContractError(f"column {name!r} is the {column.role}: its kind is {fixed}")
    changed = replace(column, kind=kind, evidence=None)
    columns = tuple(changed if c.name == name else c for c in contract.columns)
    updated = replace(contract, columns=columns)
    if not updated.undecided():
        updated = replace(updated, counted=())
    # Confirming an inferred kind is a decision too: the values no longer speak for it.
    confirmed = (f"{name}: kind {kind} confirmed",) if column.kind == kind else ()
    return evolve(contract, updated, "ml-pipeline contract kind", confirmed)


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
