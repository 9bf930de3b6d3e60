"""A run reads the config once, as it was when the definitions were loaded."""

import dagster as dg

from ml_pipeline.config import PipelineConfig
from ml_pipeline.core.names import CONFIG_DIGEST_TAG
from ml_pipeline.defs.assets.monitoring import prediction_monitoring
from ml_pipeline.defs.resources import resources_for


def test_the_snapshot_is_the_validated_config(bike_config: PipelineConfig) -> None:
    settings = resources_for(bike_config)["settings"]
    assert settings.load() == bike_config
    assert settings.load().source_path == bike_config.source_path


def test_editing_the_file_during_a_run_does_not_reach_it(bike_config: PipelineConfig) -> None:
    resources = resources_for(bike_config)
    bike_config.source_path.write_text("dataset: [half-written", encoding="utf-8")
    instance = dg.DagsterInstance.ephemeral()

    result = dg.materialize([prediction_monitoring], resources=resources, instance=instance)

    assert result.success
    run = instance.get_run_by_id(result.run_id)
    assert run.tags[CONFIG_DIGEST_TAG] == resources["settings"].digest()


def test_a_changed_setting_changes_the_digest(bike_config: PipelineConfig) -> None:
    changed = bike_config.model_copy(
        update={"training": bike_config.training.model_copy(update={"cv_folds": 5})}
    )
    first = resources_for(bike_config)["settings"].digest()
    assert resources_for(changed)["settings"].digest() != first
