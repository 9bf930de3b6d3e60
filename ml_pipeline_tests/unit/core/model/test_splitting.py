import pandas as pd

from ml_pipeline.core.data.warehouse import Warehouse
from ml_pipeline.core.model.splitting import count_holdout_rows, holdout_mask, plan_holdout


def test_time_holdout_is_the_latest_rows(tmp_path) -> None:
    warehouse = Warehouse(tmp_path)
    for day in range(1, 6):
        stamps = pd.date_range(f"2024-01-0{day}", periods=24, freq="h")
        warehouse.write("f", f"d{day}", pd.DataFrame({"ts": stamps, "v": range(24)}))
    spec = plan_holdout(warehouse, "f", warehouse.partitions("f"), 0.2, "ts", [])
    everything = pd.concat(
        frame for _, frame in warehouse.iter_frames("f", warehouse.partitions("f"))
    )
    mask = holdout_mask(everything, spec)
    assert abs(mask.mean() - 0.2) < 0.02
    assert everything.ts[mask].min() > everything.ts[~mask].max()
    assert count_holdout_rows(warehouse, "f", warehouse.partitions("f"), spec) == mask.sum()


def test_hash_holdout_is_stable_per_row() -> None:
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(4000)]})
    spec = plan_holdout(Warehouse(None), "unused", [], 0.25, None, ["id"])
    mask = holdout_mask(frame, spec)
    assert abs(mask.mean() - 0.25) < 0.03
    shuffled = frame.sample(frac=1, random_state=3)
    assert holdout_mask(shuffled, spec).equals(mask.loc[shuffled.index])
