import pandas as pd

from ml_pipeline.core.data.warehouse import Warehouse


def filled(tmp_path, partitions=4, rows=500) -> Warehouse:
    warehouse = Warehouse(tmp_path)
    for p in range(partitions):
        warehouse.write("t", f"p{p}", pd.DataFrame({"v": range(p * rows, (p + 1) * rows)}))
    return warehouse


def test_write_leaves_only_the_partition_file(tmp_path) -> None:
    warehouse = filled(tmp_path, partitions=1)
    assert [p.name for p in (tmp_path / "t").iterdir()] == ["p0.parquet"]
    assert warehouse.partitions("t") == ["p0"]
    assert warehouse.row_count("t", "p0") == 500


def test_sample_is_bounded_spread_and_repeatable(tmp_path) -> None:
    warehouse = filled(tmp_path)
    keys = warehouse.partitions("t")
    sample = warehouse.sample("t", keys, max_rows=400, seed=1)
    assert len(sample) <= 400 and len(sample) > 300
    assert (sample.v // 500).nunique() == 4
    pd.testing.assert_frame_equal(sample, warehouse.sample("t", keys, max_rows=400, seed=1))


def test_sample_applies_the_row_filter(tmp_path) -> None:
    warehouse = filled(tmp_path)
    sample = warehouse.sample(
        "t", warehouse.partitions("t"), max_rows=10_000, seed=1, row_filter=lambda f: f.v % 2 == 0
    )
    assert len(sample) == 1000 and (sample.v % 2 == 0).all()


def test_sample_fills_the_cap_from_the_filtered_population(tmp_path) -> None:
    warehouse = filled(tmp_path)
    keys = warehouse.partitions("t")
    tenth = lambda f: f.v % 10 == 0  # noqa: E731
    without = warehouse.sample("t", keys, max_rows=100, seed=1, row_filter=tenth)
    filled_up = warehouse.sample("t", keys, max_rows=100, seed=1, row_filter=tenth, population=200)
    assert len(without) < 40
    assert 80 < len(filled_up) <= 100 and (filled_up.v % 10 == 0).all()


def test_missing_partition_is_named(tmp_path) -> None:
    warehouse = filled(tmp_path, partitions=1)
    try:
        warehouse.read("t", "nope")
    except FileNotFoundError as error:
        assert "'nope'" in str(error)
    else:
        raise AssertionError("expected FileNotFoundError")
