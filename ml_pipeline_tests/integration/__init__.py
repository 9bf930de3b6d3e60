"""Integration tests: the asset graph materialized on an ephemeral instance, the CLI,
the config, the benchmarks doc."""
