"""Prometheus counters and histograms in the text exposition format.

A few dozen lines of our own instead of a client library: the service exports
a handful of series and updates them on the request path, where a lock and a
dict lookup are all it should cost.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterable

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


def _labels(names: tuple[str, ...], values: tuple[str, ...], extra: str = "") -> str:
    pairs = [
        f'{name}="{value.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for name, value in zip(names, values, strict=True)
    ]
    if extra:
        pairs.append(extra)
    return "{" + ",".join(pairs) + "}" if pairs else ""


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Counter:
    def __init__(self, name: str, help_text: str, labels: tuple[str, ...] = ()):
        self.name, self.help, self.label_names = name, help_text, labels
        self._values: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        with self._lock:
            self._values[labels] = self._values.get(labels, 0.0) + amount

    def value(self, *labels: str) -> float:
        return self._values.get(labels, 0.0)

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} counter"
        with self._lock:
            items = sorted(self._values.items())
        if not items and not self.label_names:
            items = [((), 0.0)]
        for labels, value in items:
            yield f"{self.name}{_labels(self.label_names, labels)} {_number(value)}"


class Histogram:
    def __init__(
        self, name: str, help_text: str, buckets: tuple[float, ...], labels: tuple[str, ...] = ()
    ):
        self.name, self.help, self.label_names = name, help_text, labels
        self.buckets = buckets
        self._series: dict[tuple[str, ...], list[float]] = {}
        self._lock = threading.Lock()

    def observe(self, value: float, *labels: str) -> None:
        position = bisect.bisect_left(self.buckets, value)
        with self._lock:
            series = self._series.setdefault(labels, [0.0] * (len(self.buckets) + 3))
            series[position] += 1  # the last bucket slot is +Inf
            series[-2] += value
            series[-1] += 1

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} histogram"
        with self._lock:
            items = sorted((labels, list(series)) for labels, series in self._series.items())
        for labels, series in items:
            cumulative = 0.0
            bounds = [*self.buckets, None]
            for bound, count in zip(bounds, series[: len(bounds)], strict=True):
                cumulative += count
                le = 'le="+Inf"' if bound is None else f'le="{_number(bound)}"'
                names = _labels(self.label_names, labels, le)
                yield f"{self.name}_bucket{names} {_number(cumulative)}"
            yield f"{self.name}_sum{_labels(self.label_names, labels)} {_number(series[-2])}"
            yield f"{self.name}_count{_labels(self.label_names, labels)} {_number(series[-1])}"


class Gauge:
    """A value read when scraped, from a callback that returns labels and values."""

    def __init__(
        self,
        name: str,
        help_text: str,
        labels: tuple[str, ...],
        read: Callable[[], list[tuple[tuple[str, ...], float]]],
    ):
        self.name, self.help, self.label_names, self._read = name, help_text, labels, read

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} gauge"
        for labels, value in self._read():
            yield f"{self.name}{_labels(self.label_names, labels)} {_number(value)}"


class ServiceMetrics:
    """Every series the scoring service exports."""

    def __init__(self) -> None:
        self.requests = Counter(
            "ml_pipeline_requests_total",
            "HTTP requests by endpoint and status",
            ("endpoint", "status"),
        )
        self.errors = Counter(
            "ml_pipeline_request_errors_total",
            "Requests answered with a 4xx or 5xx status",
            ("endpoint", "status"),
        )
        self.latency = Histogram(
            "ml_pipeline_request_duration_seconds",
            "Time from request to response",
            LATENCY_BUCKETS,
            ("endpoint",),
        )
        self.rows = Counter("ml_pipeline_rows_scored_total", "Rows scored by the model")
        self.batch_rows = Histogram(
            "ml_pipeline_batch_rows", "Rows per predict call, after batching", BATCH_BUCKETS
        )
        self.model_loads = Counter("ml_pipeline_model_loads_total", "Model versions loaded")
        self.load_failures = Counter(
            "ml_pipeline_model_load_failures_total", "Deployed versions that failed to load"
        )
        self.log_dropped = Counter(
            "ml_pipeline_prediction_log_dropped_total",
            "Prediction log records dropped because the writer fell behind",
        )
        self._gauges: list[Gauge] = []

    def add_gauge(self, gauge: Gauge) -> None:
        self._gauges.append(gauge)

    def render(self) -> str:
        families = [
            self.requests,
            self.errors,
            self.latency,
            self.rows,
            self.batch_rows,
            self.model_loads,
            self.load_failures,
            self.log_dropped,
            *self._gauges,
        ]
        return "\n".join(line for family in families for line in family.render()) + "\n"
