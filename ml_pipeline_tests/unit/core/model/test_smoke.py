"""The smoke test's fresh process: its failures are reported, and it never outlives its block."""

import signal

import numpy as np
import pandas as pd
import pytest

from ml_pipeline.core.model.smoke import smoke_process

ROWS = pd.DataFrame({"temp": [1.0, 2.0]})


def test_a_model_folder_that_cannot_load_fails_with_the_childs_last_error(tmp_path) -> None:
    with smoke_process() as child:
        result = child.score(tmp_path / "no_model", ROWS, np.array([1.0, 2.0]), ["temp"]).result()
    assert not result.passed
    assert result.message.startswith("fresh process could not score: ")
    assert "no_model" in result.message


def test_the_child_is_killed_when_the_caller_fails_before_reading_it(tmp_path) -> None:
    with pytest.raises(RuntimeError, match="diagnostics failed"), smoke_process() as child:
        pending = child.score(tmp_path, ROWS, np.array([1.0, 2.0]), ["temp"])
        raise RuntimeError("diagnostics failed")
    assert pending._process.returncode == -signal.SIGKILL


def test_the_waiting_child_is_killed_when_the_model_never_comes() -> None:
    with pytest.raises(RuntimeError, match="refit failed"), smoke_process() as child:
        raise RuntimeError("refit failed")
    assert child._process.returncode == -signal.SIGKILL
