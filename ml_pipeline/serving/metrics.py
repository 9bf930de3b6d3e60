"""The scoring service's Prometheus metrics, on ``prometheus_client``.

One registry per app, so two apps in one process (tests, or a server that mounts the
service twice) never share or double-register series. The library escapes label
values, exposes the process's CPU, memory and file descriptors, and answers in the
OpenMetrics format when the scraper asks for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)

Readings = Callable[[], list[tuple[tuple[str, ...], float]]]


class _ReadAtScrape(Collector):
    """A gauge whose label sets and values are read from a callback at each scrape."""

    def __init__(self, name: str, help_text: str, labels: tuple[str, ...], read: Readings):
        self._name, self._help, self._labels, self._read = name, help_text, labels, read

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(self._name, self._help, labels=list(self._labels))
        for values, value in self._read():
            family.add_metric(list(values), value)
        yield family


class ServiceMetrics:
    """Every series the scoring service exports, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        for collector in (ProcessCollector, PlatformCollector, GCCollector):
            collector(registry=registry)
        self.requests = Counter(
            "ml_pipeline_requests_total",
            "HTTP requests by endpoint and status",
            ("endpoint", "status"),
            registry=registry,
        )
        self.errors = Counter(
            "ml_pipeline_request_errors_total",
            "Requests answered with a 4xx or 5xx status",
            ("endpoint", "status"),
            registry=registry,
        )
        self.latency = Histogram(
            "ml_pipeline_request_duration_seconds",
            "Time from request to response",
            ("endpoint",),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.rows = Counter(
            "ml_pipeline_rows_scored_total", "Rows scored by the model", registry=registry
        )
        self.batch_rows = Histogram(
            "ml_pipeline_batch_rows",
            "Rows per predict call, after batching",
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.model_loads = Counter(
            "ml_pipeline_model_loads_total", "Model versions loaded", registry=registry
        )
        self.load_failures = Counter(
            "ml_pipeline_model_load_failures_total",
            "Deployed versions that failed to load",
            registry=registry,
        )
        self.log_dropped = Counter(
            "ml_pipeline_prediction_log_dropped_total",
            "Prediction log records dropped because the writer fell behind",
            registry=registry,
        )

    def add_gauge(self, name: str, help_text: str, labels: tuple[str, ...], read: Readings) -> None:
        self.registry.register(_ReadAtScrape(name, help_text, labels, read))

    def value(self, sample: str, **labels: str) -> float:
        """One sample's current value (0 when it has none yet)."""
        return self.registry.get_sample_value(sample, labels) or 0.0

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """The exposition for a scraper's Accept header, and its content type."""
        encode, content_type = choose_encoder(accept or "")
        return encode(self.registry), content_type
