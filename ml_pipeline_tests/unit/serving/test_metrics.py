"""The service's metrics: names, label escaping, read-at-scrape gauges, both formats."""

from ml_pipeline.serving.metrics import ServiceMetrics


def text_of(metrics: ServiceMetrics, accept: str | None = None) -> str:
    body, _ = metrics.render(accept)
    return body.decode()


def test_counters_render_one_series_per_label_set() -> None:
    metrics = ServiceMetrics()
    metrics.requests.labels("/predict", "200").inc()
    metrics.requests.labels("/predict", "200").inc()
    metrics.requests.labels("/predict", "422").inc()
    text = text_of(metrics)
    assert "# TYPE ml_pipeline_requests_total counter" in text
    assert 'ml_pipeline_requests_total{endpoint="/predict",status="200"} 2.0' in text
    assert 'ml_pipeline_requests_total{endpoint="/predict",status="422"} 1.0' in text
    assert metrics.value("ml_pipeline_requests_total", endpoint="/predict", status="200") == 2


def test_a_label_value_with_a_newline_quote_or_backslash_is_escaped() -> None:
    metrics = ServiceMetrics()
    metrics.errors.labels('a"b\\c\nd', "400").inc()
    text = text_of(metrics)
    assert 'endpoint="a\\"b\\\\c\\nd"' in text
    # Every line is one sample or comment: the newline never reaches the output raw.
    assert all(
        line.startswith(("#", "ml_pipeline_", "process_", "python_")) for line in text.splitlines()
    )


def test_histogram_buckets_are_cumulative_and_inclusive() -> None:
    metrics = ServiceMetrics()
    for value in (0.0005, 0.001, 0.05, 30.0):
        metrics.latency.labels("/invocations").observe(value)
    text = text_of(metrics)
    name = "ml_pipeline_request_duration_seconds"
    assert f'{name}_bucket{{endpoint="/invocations",le="0.001"}} 2.0' in text
    assert f'{name}_bucket{{endpoint="/invocations",le="0.1"}} 3.0' in text
    assert f'{name}_bucket{{endpoint="/invocations",le="+Inf"}} 4.0' in text
    assert f'{name}_count{{endpoint="/invocations"}} 4.0' in text


def test_gauges_are_read_at_scrape_time() -> None:
    metrics = ServiceMetrics()
    version = ["1"]
    metrics.add_gauge("ml_pipeline_model_info", "Model", ("version",), lambda: [((version[0],), 1)])
    assert 'ml_pipeline_model_info{version="1"} 1.0' in text_of(metrics)
    version[0] = "2"
    assert 'ml_pipeline_model_info{version="2"} 1.0' in text_of(metrics)


def test_process_metrics_and_openmetrics_on_request() -> None:
    metrics = ServiceMetrics()
    plain, plain_type = metrics.render(None)
    assert plain_type.startswith("text/plain")
    assert b"process_cpu_seconds_total" in plain or b"python_info" in plain
    body, content_type = metrics.render("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.decode().rstrip().endswith("# EOF")


def test_two_apps_in_one_process_have_separate_registries() -> None:
    first, second = ServiceMetrics(), ServiceMetrics()
    first.rows.inc(5)
    assert first.value("ml_pipeline_rows_scored_total") == 5
    assert second.value("ml_pipeline_rows_scored_total") == 0
