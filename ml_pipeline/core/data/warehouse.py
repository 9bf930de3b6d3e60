"""An embedded warehouse: one Parquet file per table partition.

Each partition is its own file, written to a temporary name and renamed into
place, so concurrent partition runs never contend for a lock and a killed run
leaves either the old file or the new one. Readers go partition by partition,
which bounds memory by the largest partition plus the sample being drawn. The root
may be an fsspec URL (``ml_pipeline.core.storage``): each partition is then one object.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ml_pipeline.core.fileio import atomic_path
from ml_pipeline.core.storage import StoragePath, readable

RowFilter = Callable[[pd.DataFrame], "pd.Series[bool]"]


@dataclass(frozen=True)
class Warehouse:
    root: StoragePath

    def path(self, table: str, partition_key: str) -> StoragePath:
        return self.root / table / f"{partition_key}.parquet"

    def write(self, table: str, partition_key: str, frame: pd.DataFrame) -> StoragePath:
        target = self.path(table, partition_key)
        with atomic_path(target) as temporary:
            frame.to_parquet(temporary, index=False)
        return target

    def drop(self, table: str, partition_key: str) -> bool:
        """Remove a derived partition (never a landed file); True if one was there."""
        try:
            self.path(table, partition_key).unlink()
        except FileNotFoundError:
            return False
        return True

    def exists(self, table: str, partition_key: str) -> bool:
        return self.path(table, partition_key).is_file()

    def read(
        self, table: str, partition_key: str, columns: list[str] | None = None
    ) -> pd.DataFrame:
        """The partition, or its ``columns``; one it lacks (added to the contract after it
        was written) comes back empty."""
        path = self.path(table, partition_key)
        if not path.is_file():
            raise FileNotFoundError(f"{table}: partition {partition_key!r} is not in the warehouse")
        with readable(path) as source:
            if columns is None:
                return pd.read_parquet(source)
            present = set(pq.read_schema(source).names)
            frame = pd.read_parquet(source, columns=[c for c in columns if c in present])
        return frame if len(frame.columns) == len(columns) else frame.reindex(columns=columns)

    def schema(self, table: str, partition_key: str) -> pa.Schema:
        with readable(self.path(table, partition_key)) as source:
            return pq.read_schema(source)

    def footer(self, table: str, partition_key: str) -> pq.FileMetaData:
        """The partition's Parquet footer: its schema, row groups and their statistics,
        read without its rows."""
        with readable(self.path(table, partition_key)) as source:
            return pq.read_metadata(source)

    def partitions(self, table: str) -> list[str]:
        folder = self.root / table
        if not folder.is_dir():
            return []
        return sorted(
            path.stem for path in folder.glob("*.parquet") if not path.name.startswith(".")
        )

    def row_count(self, table: str, partition_key: str) -> int:
        with readable(self.path(table, partition_key)) as source:
            return pq.ParquetFile(source).metadata.num_rows

    def columns(self, table: str, partition_key: str) -> list[str]:
        return list(self.schema(table, partition_key).names)

    def iter_frames(
        self, table: str, partition_keys: list[str], columns: list[str] | None = None
    ) -> Iterator[tuple[str, pd.DataFrame]]:
        for key in partition_keys:
            yield key, self.read(table, key, columns)

    def sample(
        self,
        table: str,
        partition_keys: list[str],
        max_rows: int,
        seed: int,
        row_filter: RowFilter | None = None,
        columns: list[str] | None = None,
        population: int | None = None,
        kinds: dict[str, str] | None = None,
    ) -> pd.DataFrame:
        """At most ``max_rows`` rows drawn evenly from the partitions, one partition in memory.

        Each row is kept with the same probability, from a generator seeded by the
        partition key, so a partition contributes the same rows whatever else is in
        the warehouse (for a given overall sampling rate). ``population`` is how many
        rows ``row_filter`` keeps, when known: the rate is then ``max_rows`` of those
        rather than of every row, so a filter keeping a fifth still fills the sample.
        ``kinds`` (the contract's) are how columns are read, whatever kind a partition
        stored them as.
        """
        total = sum(self.row_count(table, key) for key in partition_keys)
        if total == 0:
            return pd.DataFrame(columns=columns or [])
        rate = min(1.0, max_rows / max(1, population if population is not None else total))
        pieces = []
        for key, frame in self.iter_frames(table, partition_keys, columns):
            if row_filter is not None:
                frame = frame[row_filter(frame).to_numpy()]
            if rate < 1.0:
                draws = np.random.default_rng([seed, zlib.crc32(key.encode())]).random(len(frame))
                frame = frame[draws < rate]
            pieces.append(frame)
        non_empty = [piece for piece in pieces if len(piece)]
        combined = pd.concat(non_empty, ignore_index=True) if non_empty else pieces[0].iloc[:0]
        if len(combined) > max_rows:
            combined = combined.sample(n=max_rows, random_state=seed).sort_index()
        if kinds:
            # Here, not at the top: scikit-learn would load into every command's process.
            from ml_pipeline.core.features import as_kinds

            combined = as_kinds(combined, kinds)
        return combined.reset_index(drop=True)
