"""What Dagster loads: assets, partitions, jobs, sensors, schedules, resources, the
executor and the retry policy; thin wrappers over ``ml_pipeline.core``, composed once in
``ml_pipeline.definitions``."""
