"""The project's partitionings: every landed file, and every file to score, is one.

Assets, jobs, sensors, the CLI's runs and ``forget`` all add, list or delete these
partitions; defining them apart from any asset module lets each import only this.
"""

import dagster as dg

from ml_pipeline.core import names

landed_files = dg.DynamicPartitionsDefinition(name=names.LANDED_FILES)
scoring_files = dg.DynamicPartitionsDefinition(name=names.SCORING_FILES)
