"""Unit tests: the pure functions of ml_pipeline.core, the service in process, the edge scorer."""
