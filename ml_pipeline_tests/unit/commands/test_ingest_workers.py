"""How many worker processes `ml-pipeline run` ingests landed files in."""

from hypothesis import given
from hypothesis import strategies as st

from ml_pipeline.commands.execution import ingest_workers

SMALL = 10_000  # bytes: a few hundred rows
LARGE = 100_000_000


def test_a_few_small_files_are_ingested_in_the_command_process() -> None:
    assert ingest_workers(2, [SMALL] * 8) == 1


def test_many_small_files_are_spread_over_the_configured_workers() -> None:
    assert ingest_workers(2, [SMALL] * 60) == 2
    assert ingest_workers(4, [SMALL] * 60) == 4


def test_two_large_files_get_a_worker_each() -> None:
    assert ingest_workers(2, [LARGE, LARGE]) == 2


def test_one_worker_configured_means_none_are_started() -> None:
    assert ingest_workers(1, [LARGE] * 10) == 1


def test_nothing_to_ingest_needs_no_worker() -> None:
    assert ingest_workers(2, []) == 1


@given(
    configured=st.integers(min_value=1, max_value=16),
    sizes=st.lists(st.integers(min_value=0, max_value=10**10), max_size=200),
)
def test_never_more_workers_than_configured_or_files(configured: int, sizes: list[int]) -> None:
    workers = ingest_workers(configured, sizes)
    assert 1 <= workers <= max(1, min(configured, len(sizes)))
    # More of the same work never asks for fewer workers.
    assert ingest_workers(configured, [*sizes, *sizes]) >= workers
