"""A second, differently shaped dataset: customer churn, classification, no timestamp."""

from pathlib import Path

import numpy as np
import pandas as pd

CHURN_DATASET = {
    "landing_dir": "incoming",
    "file_pattern": "churn_*.csv",
    "target": "churned",
    "task": "classification",
    "id_columns": ["customer_id"],
}


def churn_batch(index: int, rows: int = 150) -> pd.DataFrame:
    rng = np.random.default_rng([11, index])
    plan = rng.choice(["basic", "plus", "pro"], rows, p=[0.5, 0.3, 0.2])
    contract = rng.choice(["monthly", "yearly"], rows, p=[0.6, 0.4])
    tenure = rng.integers(1, 72, rows)
    calls = rng.poisson(1.5, rows)
    charges = np.select([plan == "basic", plan == "plus"], [20, 45], 80) + rng.normal(0, 5, rows)
    risk = 1.2 * (contract == "monthly") + 0.5 * calls - 0.04 * tenure - 0.5
    churned = np.where(rng.random(rows) < 1 / (1 + np.exp(-risk)), "yes", "no")
    return pd.DataFrame(
        {
            "customer_id": [f"c{index:03d}-{i:04d}" for i in range(rows)],
            "plan": plan,
            "region": rng.choice(["north", "south", "east", "west"], rows),
            "contract": contract,
            "tenure_months": tenure,
            "monthly_charges": charges.round(2),
            "support_calls": calls,
            "churned": churned,
        }
    )


def land_churn(folder: Path, batches: int = 4) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(batches):
        path = folder / f"churn_{index:02d}.csv"
        churn_batch(index).to_csv(path, index=False)
        paths.append(path)
    return paths
