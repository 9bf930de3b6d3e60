"""Six demo days cleaned into a warehouse, and the project's MLflow store."""

import pytest

from ml_pipeline.config import load_config
from ml_pipeline.core import names
from ml_pipeline.core.data.cleaning import clean_batch
from ml_pipeline.core.data.demo_data import DemoSpec, generate_batch
from ml_pipeline.core.data.feature_table import build_feature_table
from ml_pipeline.core.data.warehouse import Warehouse
from ml_pipeline.defs.resources import mlflow_store
from ml_pipeline_tests.conftest import bike_document, write_config


@pytest.fixture
def trained_setup(tmp_path):
    config = load_config(write_config(tmp_path, bike_document()))
    warehouse = Warehouse(config.warehouse_dir)
    ignored = [*config.dataset.id_columns, *config.dataset.drop_columns]
    for index in range(6):
        raw, _ = generate_batch(DemoSpec(), index)
        cleaned, _ = clean_batch(raw, config.dataset, config.cleaning)
        table = build_feature_table(cleaned, "count", "timestamp", ignored)
        warehouse.write(names.FEATURES, f"day{index}", table)
    store = mlflow_store(config)
    return config, warehouse, store


def train_on_every_partition(config, warehouse: Warehouse, store):
    """A challenger trained on every feature partition, under the contract they give."""
    from ml_pipeline.core.model.challenger import train_challenger, training_contract

    keys = warehouse.partitions(names.FEATURES)
    contract = training_contract(config.modeling, warehouse, keys)
    return train_challenger(warehouse, keys, config.modeling, store, {}, contract)
