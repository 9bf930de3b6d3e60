"""The smoke test's fresh process: its failures are reported, and it never outlives its block."""

import signal

import numpy as np
import pandas as pd
import pytest

from ml_pipeline.core.model.smoke import started_smoke_test

ROWS = pd.DataFrame({"temp": [1.0, 2.0]})


def test_a_model_folder_that_cannot_load_fails_with_the_childs_last_error(tmp_path) -> None:
    with started_smoke_test(tmp_path / "no_model", ROWS, np.array([1.0, 2.0]), ["temp"]) as child:
        result = child.result()
    assert not result.passed
    assert result.message.startswith("fresh process could not score: ")
    assert "no_model" in result.message


def test_the_child_is_killed_when_the_caller_fails_before_reading_it(tmp_path) -> None:
    with (
        pytest.raises(RuntimeError, match="diagnostics failed"),
        started_smoke_test(tmp_path, ROWS, np.array([1.0, 2.0]), ["temp"]) as pending,
    ):
        raise RuntimeError("diagnostics failed")
    assert pending._process.returncode == -signal.SIGKILL
