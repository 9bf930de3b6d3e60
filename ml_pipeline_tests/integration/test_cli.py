"""The ml-pipeline command as a user runs it, in a subprocess."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from ml_pipeline_tests.conftest import bike_document, write_config


def cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ml_pipeline.commands.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_config_error_is_one_line_and_exit_code_2(tmp_path) -> None:
    document = bike_document()
    document["dataset"]["task"] = "ranking"
    path = write_config(tmp_path, document)
    done = cli("check-config", "--config", str(path), cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "dataset.task" in lines[0] and str(path) in lines[0]


def test_check_config_validates_expectation_names(tmp_path) -> None:
    document = bike_document(
        quality={
            "expectations": [
                {
                    "table": "cleaned_data",
                    "type": "expect_column_to_be_lovely",
                    "kwargs": {"column": "temp"},
                }
            ]
        }
    )
    (tmp_path / "landing").mkdir()
    done = cli("check-config", "--config", str(write_config(tmp_path, document)), cwd=tmp_path)
    assert done.returncode == 2
    assert "quality.expectations: expectation expect_column_to_be_lovely" in done.stderr


def test_config_comes_from_the_environment_when_no_flag(tmp_path) -> None:
    path = write_config(tmp_path / "somewhere", bike_document())
    (tmp_path / "somewhere" / "landing").mkdir()
    done = cli("check-config", cwd=tmp_path, env={"ML_PIPELINE_CONFIG": str(path)})
    assert done.returncode == 0 and "valid (regression on target 'count'" in done.stdout


def test_demo_data_skips_the_names_already_landed_and_says_so(tmp_path) -> None:
    path = write_config(tmp_path, bike_document())
    assert cli("demo-data", "--batches", "2", "--config", str(path), cwd=tmp_path).returncode == 0
    landed = tmp_path / "landing" / "bikes_2024-01-01.csv"
    landed.write_text("mine")
    second = landed.with_name("bikes_2024-01-02.csv")
    second.unlink()
    again = cli("demo-data", "--batches", "2", "--config", str(path), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "skipped 1 batch file(s) already in" in again.stdout
    assert "bikes_2024-01-01.csv" in again.stdout and "wrote 1 batch files" in again.stdout
    assert landed.read_text() == "mine" and second.is_file()
    skipped = cli("demo-data", "--if-empty", "--config", str(path), cwd=tmp_path)
    assert skipped.returncode == 0 and "already has landed files" in skipped.stdout


@pytest.mark.slow
def test_run_json_on_the_project_instance(tmp_path, monkeypatch) -> None:
    path = write_config(tmp_path, bike_document(), migrated_store=False)
    assert cli("demo-data", "--batches", "6", "--config", str(path), cwd=tmp_path).returncode == 0
    (tmp_path / "landing" / "broken.csv").write_bytes(b"")
    done = cli("run", "--json", "--config", str(path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert len(summary["partitions"]["ingested"]) == 6
    [failure] = summary["partitions"]["failed"]
    assert failure["partition"] == "broken" and "broken.csv" in failure["error"]
    assert "\n" not in failure["error"]
    assert summary["rows"]["cleaned_data"] > 0
    assert summary["champion"]["version"] == "1"
    assert set(summary["champion"]["metrics"]) == {"rmse", "mae", "r2"}
    assert Path(summary["artifact_path"]) == tmp_path / "data" / "deploy" / "current"
    assert (tmp_path / "data" / "mlflow" / "mlflow.db").is_file()
    # The folder the README says to drop files to score into is there, made by the run.
    assert (tmp_path / "data" / "scoring").is_dir()

    again = cli("run", "--config", str(path), cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "nothing new: champion v1 kept (0 new partition(s)" in again.stdout
    assert "candidates" not in again.stdout
    history = cli("history", "--json", "--config", str(path), cwd=tmp_path)
    assert history.returncode == 0, history.stderr[-2000:]
    [decision] = json.loads(history.stdout)
    assert (decision["decision"], decision["version"]) == ("promoted", "1")
    assert decision["metrics"] == summary["champion"]["metrics"]
    # A script reading --json learns which champion serves even when nothing was trained.
    quiet = json.loads(cli("run", "--json", "--config", str(path), cwd=tmp_path).stdout)
    assert quiet["training"] is None and quiet["not_retrained"].startswith("nothing new")
    assert quiet["champion"] == {**summary["champion"], "promoted": False}
    assert quiet["artifact_path"] == summary["artifact_path"]

    home = tmp_path / "data" / "dagster_home"
    assert "telemetry" in (home / "dagster.yaml").read_text()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        jobs = [run.job_name for run in instance.get_runs()]
    assert jobs.count("ingest_job") == 7 and jobs.count("training_job") == 1
    # The CLI's runs print to its terminal; none started Dagster's output capture.
    assert not list(home.glob("storage/**/compute_logs"))


def test_a_misspelled_target_stops_run_and_moves_no_file(tmp_path) -> None:
    document = bike_document()
    path = write_config(tmp_path, document)
    assert cli("demo-data", "--batches", "3", "--config", str(path), cwd=tmp_path).returncode == 0
    document["dataset"]["target"] = "cnt"
    path = write_config(tmp_path, document)
    landed = sorted((tmp_path / "landing").iterdir())
    for command in ("run", "check-config"):
        done = cli(command, "--config", str(path), cwd=tmp_path)
        assert done.returncode == 2
        [line] = done.stderr.strip().splitlines()
        assert line.startswith(f"config error: {path}: dataset.target: 'cnt' is not a column")
        assert "(did you mean 'count'?)" in line
    assert sorted((tmp_path / "landing").iterdir()) == landed
    assert not (tmp_path / "data" / "quarantine").exists()


def test_a_missing_landing_folder_is_named_by_run_and_check_config(tmp_path) -> None:
    path = write_config(tmp_path, bike_document())
    for command in ("run", "check-config"):
        done = cli(command, "--config", str(path), cwd=tmp_path)
        assert done.returncode == 2
        assert f"the landing folder {tmp_path / 'landing'} does not exist" in done.stderr


def test_contract_show_add_and_drop_are_logged(tmp_path) -> None:
    import pandas as pd

    from ml_pipeline.config import load_config
    from ml_pipeline.core.data.contract import infer_contract, save_contract

    path = write_config(tmp_path, bike_document())
    config = load_config(path)
    first = pd.DataFrame({"timestamp": ["2024-01-01"], "temp": ["1.5"], "count": ["3"]})
    save_contract(infer_contract(first, config.dataset, 0.9, "first.csv"), config.contract_path)
    added = cli(
        "contract", "add", "humidity", "--kind", "numeric", "--config", str(path), cwd=tmp_path
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "contract version 2: added humidity (numeric, feature)"
    dropped = cli("contract", "drop", "temp", "--config", str(path), cwd=tmp_path)
    assert dropped.stdout.strip() == "contract version 3: removed temp"
    shown = json.loads(cli("contract", "show", "--config", str(path), cwd=tmp_path).stdout)
    assert [c["name"] for c in shown["columns"]] == ["timestamp", "count", "humidity"]
    assert [h["by"] for h in shown["history"]] == ["ml-pipeline contract add"] * 1 + [
        "ml-pipeline contract drop"
    ]
    unknown = cli("contract", "drop", "nope", "--config", str(path), cwd=tmp_path)
    assert unknown.returncode == 1 and "column 'nope' is not in the contract" in unknown.stderr


def test_contract_kind_decides_an_undecided_column(tmp_path) -> None:
    import pandas as pd

    from ml_pipeline.config import load_config
    from ml_pipeline.core.data.contract import infer_contract, save_contract

    path = write_config(tmp_path, bike_document())
    config = load_config(path)
    first = pd.DataFrame(
        {"timestamp": ["2024-01-01"], "temp": [None], "note": ["x"], "count": ["3"]}
    )
    save_contract(
        infer_contract(first, config.dataset, 0.9, "first.csv", minimum=100, key="first"),
        config.contract_path,
    )
    decided = cli("contract", "kind", "temp", "numeric", "--config", str(path), cwd=tmp_path)
    assert decided.returncode == 0, decided.stderr
    assert decided.stdout.strip() == "contract version 2: temp: kind undecided -> numeric"
    shown = json.loads(cli("contract", "show", "--config", str(path), cwd=tmp_path).stdout)
    temp = next(c for c in shown["columns"] if c["name"] == "temp")
    assert temp["kind"] == "numeric" and temp["evidence"] is None
    assert shown["counted"] == ["first"]  # note is still undecided
    refused = cli("contract", "kind", "count", "categorical", "--config", str(path), cwd=tmp_path)
    assert refused.returncode == 1
    assert "column 'count' is the target: its kind is numeric" in refused.stderr


def test_contract_declared_in_config_is_changed_there(tmp_path) -> None:
    document = bike_document()
    document["dataset"]["columns"] = {"count": "numeric", "temp": "numeric"}
    path = write_config(tmp_path, document)
    shown = cli("contract", "show", "--config", str(path), cwd=tmp_path)
    assert json.loads(shown.stdout)["source"] == "config (dataset.columns)"
    refused = cli("contract", "add", "x", "--kind", "numeric", "--config", str(path), cwd=tmp_path)
    assert refused.returncode == 2 and "change it there" in refused.stderr


def test_approve_and_reject_refuse_a_version_that_awaits_nothing(tmp_path) -> None:
    path = write_config(tmp_path, bike_document(promotion={"approval": "manual"}))
    for verb in ("approve", "reject"):
        done = cli(verb, "9", "--config", str(path), cwd=tmp_path)
        assert done.returncode == 1, (verb, done.stdout, done.stderr)
        assert "version 9 is not awaiting approval (none is)" in done.stderr
    empty = cli("history", "--config", str(path), cwd=tmp_path)
    assert empty.returncode == 0 and empty.stdout.strip() == "no promotion decision yet"


def test_forget_refuses_an_unknown_partition(tmp_path) -> None:
    path = write_config(tmp_path, bike_document())
    done = cli("forget", "nope", "--config", str(path), cwd=tmp_path)
    assert done.returncode == 1 and "partition 'nope' is not registered" in done.stderr


def test_a_second_command_is_refused_naming_the_one_holding_the_project(tmp_path) -> None:
    import signal

    from ml_pipeline.config import load_config
    from ml_pipeline_tests.conftest import land_demo_bikes
    from ml_pipeline_tests.unit.core.test_ownership import HOLD

    path = write_config(tmp_path, bike_document())
    config = land_demo_bikes(load_config(path))
    lock = config.data_dir / "ml-pipeline.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(lock)], stdout=subprocess.PIPE, start_new_session=True
    )
    try:
        assert holder.stdout.readline() == b"held\n"
        for command in (["run"], ["forget", "x"], ["rollback"], ["doctor", "--fix"]):
            done = cli(*command, "--config", str(path), cwd=tmp_path)
            assert done.returncode == 3, (command, done.stderr)
            assert f"`ml-pipeline run` (process {holder.pid} on host" in done.stderr
            assert "is working on this project" in done.stderr
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
    assert not (config.data_dir / "warehouse").exists(), "the refused run ingested"


def test_doctor_reports_each_check_and_exits_1_on_a_problem(tmp_path) -> None:
    path = write_config(tmp_path, bike_document())
    done = cli("doctor", "--config", str(path), cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(":")[0].split(maxsplit=1)[1] for line in lines] == [
        "config",
        "landing",
        "disk",
        "dagster instance",
        "mlflow store",
        "deployment",
    ]
    assert lines[1].startswith("PROBLEM landing:") and "does not exist" in lines[1]
    assert lines[5].startswith("ok      deployment: no champion yet")


def test_the_program_exits_with_its_commands_status_and_skips_the_last_collection(
    monkeypatch,
) -> None:
    import gc
    from importlib.metadata import entry_points

    from ml_pipeline.commands import cli

    (program,) = entry_points(group="console_scripts", name="ml-pipeline")
    assert program.value == "ml_pipeline.commands.cli:command"
    monkeypatch.setattr(cli, "main", lambda: 3)
    frozen_before = gc.get_freeze_count()
    try:
        with pytest.raises(SystemExit) as exited:
            cli.command()
        assert exited.value.code == 3
        assert gc.get_freeze_count() > frozen_before
    finally:
        gc.unfreeze()  # the test process goes on collecting as before


def test_labels_are_copied_once_never_over_another_file_and_never_moved(tmp_path) -> None:
    path = write_config(tmp_path, bike_document())
    handed = tmp_path / "late.csv"
    handed.write_text("record_id,count\n1,10\n2,\n3,12\n")
    first = cli("labels", str(handed), "--config", str(path), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "2 of 3 row(s) usable; copied to" in first.stdout
    assert "1 row(s) lack an id or a value" in first.stderr
    again = cli("labels", str(handed), "--config", str(path), cwd=tmp_path)
    assert "already there as" in again.stdout
    handed.write_text("record_id,count\n4,40\n")
    other = cli("labels", str(handed), "--config", str(path), cwd=tmp_path)
    assert other.returncode == 0, other.stderr
    kept = sorted(p.name for p in (tmp_path / "data" / "labels").iterdir())
    assert len(kept) == 2 and "late.csv" in kept
    assert handed.read_text() == "record_id,count\n4,40\n"


def test_a_labels_file_without_the_id_column_is_refused_naming_it(tmp_path) -> None:
    path = write_config(tmp_path, bike_document())
    handed = tmp_path / "late.csv"
    handed.write_text("id,count\n1,10\n")
    done = cli("labels", str(handed), "--config", str(path), cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "error: late.csv: no 'record_id' column (a labels file holds 'record_id' and 'count')"
    )
    assert not (tmp_path / "data" / "labels").exists()
