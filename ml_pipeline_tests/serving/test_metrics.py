"""Prometheus text exposition of the service's counters and histograms."""

from ml_pipeline.serving.metrics import Counter, Gauge, Histogram, ServiceMetrics


def lines(family) -> list[str]:
    return list(family.render())


def test_counter_renders_one_series_per_label_set() -> None:
    counter = Counter("requests_total", "Requests", ("endpoint", "status"))
    counter.inc("/predict", "200")
    counter.inc("/predict", "200")
    counter.inc("/predict", "422")
    rendered = lines(counter)
    assert rendered[:2] == ["# HELP requests_total Requests", "# TYPE requests_total counter"]
    assert 'requests_total{endpoint="/predict",status="200"} 2' in rendered
    assert 'requests_total{endpoint="/predict",status="422"} 1' in rendered


def test_counter_without_labels_starts_at_zero() -> None:
    assert lines(Counter("rows_total", "Rows"))[-1] == "rows_total 0"


def test_label_values_are_escaped() -> None:
    counter = Counter("c", "c", ("path",))
    counter.inc('a"b\\c')
    assert lines(counter)[-1] == 'c{path="a\\"b\\\\c"} 1'


def test_histogram_buckets_are_cumulative_and_inclusive() -> None:
    histogram = Histogram("latency_seconds", "Latency", (0.01, 0.1), ("endpoint",))
    for value in (0.005, 0.01, 0.05, 3.0):
        histogram.observe(value, "/invocations")
    rendered = lines(histogram)
    assert 'latency_seconds_bucket{endpoint="/invocations",le="0.01"} 2' in rendered
    assert 'latency_seconds_bucket{endpoint="/invocations",le="0.1"} 3' in rendered
    assert 'latency_seconds_bucket{endpoint="/invocations",le="+Inf"} 4' in rendered
    assert 'latency_seconds_count{endpoint="/invocations"} 4' in rendered
    total = next(line for line in rendered if line.startswith("latency_seconds_sum"))
    assert abs(float(total.split()[-1]) - 3.065) < 1e-9


def test_service_metrics_include_gauges_read_at_scrape_time() -> None:
    metrics = ServiceMetrics()
    version = ["1"]
    metrics.add_gauge(Gauge("model_info", "Model", ("version",), lambda: [((version[0],), 1)]))
    assert 'model_info{version="1"} 1' in metrics.render()
    version[0] = "2"
    text = metrics.render()
    assert 'model_info{version="2"} 1' in text
    assert text.endswith("\n")
    assert "# TYPE ml_pipeline_request_duration_seconds histogram" in text
