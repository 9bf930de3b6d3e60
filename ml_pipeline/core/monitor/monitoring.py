"""What the scoring service saw: request volume, latency, errors and input drift."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml_pipeline.core.monitor.reference import DriftReport, ReferenceProfile, drift


@dataclass
class MonitoringReport:
    start: dt.datetime
    end: dt.datetime
    requests: int
    rejected: int
    rows_scored: int
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    by_hour: pd.DataFrame
    by_version: dict[str, int]
    sampled_rows: int
    drift: DriftReport | None
    # Why drift was not measured, when it was not: read instead of a zero.
    drift_unmeasured: str | None = None

    def error_share(self) -> float | None:
        """Rejected requests over all requests; None when there were none."""
        return self.rejected / self.requests if self.requests else None

    def figures(self) -> dict[str, object]:
        """The report's plain figures, each present only when it was measured.

        Without requests there is no latency or error rate, and without a reference or
        inputs no drift: a zero would read as a perfect result, so a sentence says why.
        """
        found: dict[str, object] = {
            "requests": self.requests,
            "rows_scored": self.rows_scored,
            "sampled_input_rows": self.sampled_rows,
        }
        if self.requests:
            found["rejected_share"] = round(self.error_share(), 4)
            found["latency_p50_ms"] = round(self.latency_p50_ms, 2)
            found["latency_p99_ms"] = round(self.latency_p99_ms, 2)
        else:
            found["latency"] = "no requests in the window"
        if self.drift is None:
            found["input_drift"] = self.drift_unmeasured
        else:
            found["input_drift_overall_psi"] = round(self.drift.overall, 4)
            found["shifted_columns"] = ", ".join(self.drift.shifted()) or "none"
        return found


def sampled_inputs(log: pd.DataFrame, max_rows: int) -> pd.DataFrame:
    """Up to ``max_rows`` of the input rows the service kept, the most recent first."""
    columns: dict[str, list[object]] = {}
    taken = 0
    texts = log["inputs"].dropna().to_list()
    for text in reversed(texts):
        sample = json.loads(text)
        count = len(next(iter(sample.values()), []))
        for name, values in sample.items():
            # A column one request left out (an optional one) is null for its rows.
            columns.setdefault(name, [None] * taken).extend(values)
        taken += count
        for values in columns.values():
            values.extend([None] * (taken - len(values)))
        if taken >= max_rows:
            break
    return pd.DataFrame(columns)


def _by_hour(log: pd.DataFrame) -> pd.DataFrame:
    if log.empty:
        return pd.DataFrame(columns=["hour", "requests", "rejected", "rows", "p99_ms"])
    hours = log["time"].dt.floor("h")
    scored = log["status"] == 200
    grouped = log.assign(hour=hours, scored_rows=log["rows"].where(scored, 0), bad=~scored)
    table = grouped.groupby("hour").agg(
        requests=("status", "size"),
        rejected=("bad", "sum"),
        rows=("scored_rows", "sum"),
        p99_ms=("latency_ms", lambda v: float(np.percentile(v, 99))),
    )
    return table.reset_index()


def summarize(
    log: pd.DataFrame,
    reference: ReferenceProfile | None,
    start: dt.datetime,
    end: dt.datetime,
    max_drift_rows: int = 50_000,
) -> MonitoringReport:
    """Summarise prediction log records; drift is measured on the latest sampled inputs."""
    scored = log[log["status"] == 200]
    latencies = log["latency_ms"].to_numpy(dtype="float64")
    inputs = sampled_inputs(scored, max_drift_rows)
    unmeasured = None
    if reference is None:
        unmeasured = "not measured: no reference profile (no champion deployed yet)"
    elif not len(inputs):
        unmeasured = "not measured: no scored inputs in the window"
    return MonitoringReport(
        start=start,
        end=end,
        requests=len(log),
        rejected=int((log["status"] != 200).sum()),
        rows_scored=int(scored["rows"].sum()),
        latency_p50_ms=float(np.percentile(latencies, 50)) if latencies.size else None,
        latency_p99_ms=float(np.percentile(latencies, 99)) if latencies.size else None,
        by_hour=_by_hour(log),
        by_version={
            str(version): int(count)
            for version, count in scored["model_version"].value_counts().items()
        },
        sampled_rows=len(inputs),
        drift=drift(inputs, reference) if unmeasured is None else None,
        drift_unmeasured=unmeasured,
    )
