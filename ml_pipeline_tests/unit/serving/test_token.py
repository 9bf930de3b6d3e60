"""Where the scoring service's bearer token comes from: the environment or a file."""

import pytest

from ml_pipeline.commands.cli import main
from ml_pipeline.serving.service import TOKEN_ENV_VAR, TOKEN_FILE_ENV_VAR, token_from_environment


@pytest.fixture(autouse=True)
def no_token(monkeypatch):
    monkeypatch.delenv(TOKEN_ENV_VAR, raising=False)
    monkeypatch.delenv(TOKEN_FILE_ENV_VAR, raising=False)


def test_no_token_is_asked_for_when_neither_variable_is_set() -> None:
    assert token_from_environment() is None


def test_the_token_comes_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv(TOKEN_ENV_VAR, "s3cret-value")
    assert token_from_environment() == "s3cret-value"


def test_the_token_comes_from_a_file_without_its_newline(monkeypatch, tmp_path) -> None:
    secret = tmp_path / "token"
    secret.write_text("  from-a-file\n")
    monkeypatch.setenv(TOKEN_FILE_ENV_VAR, str(secret))
    assert token_from_environment() == "from-a-file"


def test_both_variables_set_is_refused(monkeypatch, tmp_path) -> None:
    (tmp_path / "token").write_text("a")
    monkeypatch.setenv(TOKEN_ENV_VAR, "b")
    monkeypatch.setenv(TOKEN_FILE_ENV_VAR, str(tmp_path / "token"))
    with pytest.raises(ValueError, match="not both"):
        token_from_environment()


def test_an_unreadable_token_file_is_named(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(TOKEN_FILE_ENV_VAR, str(tmp_path / "missing"))
    with pytest.raises(ValueError, match=f"{TOKEN_FILE_ENV_VAR}: cannot read .*missing"):
        token_from_environment()


def test_an_empty_token_file_is_refused(monkeypatch, tmp_path) -> None:
    (tmp_path / "token").write_text("\n")
    monkeypatch.setenv(TOKEN_FILE_ENV_VAR, str(tmp_path / "token"))
    with pytest.raises(ValueError, match="is empty"):
        token_from_environment()


def test_serve_stops_in_one_line_on_a_bad_token_file(monkeypatch, tmp_path, capsys) -> None:
    from ml_pipeline_tests.conftest import bike_document, write_config

    config = write_config(tmp_path / "project", bike_document(), migrated_store=False)
    monkeypatch.setenv(TOKEN_FILE_ENV_VAR, str(tmp_path / "missing"))
    assert main(["serve", "--config", str(config)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"error: {TOKEN_FILE_ENV_VAR}: cannot read") and "\n" not in error
