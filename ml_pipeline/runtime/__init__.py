"""The project's Dagster instance: its folder and dagster.yaml, the run launcher that
records each run's process, the runs whose process died, and the history read back."""
