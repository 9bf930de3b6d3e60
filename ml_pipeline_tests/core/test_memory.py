import gc

import pytest

from ml_pipeline.core import memory

pytestmark = pytest.mark.skipif(
    memory._glibc_malloc_trim() is None, reason="needs glibc's malloc_trim"
)


@pytest.fixture
def collections(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = gc.collect
    monkeypatch.setattr(gc, "collect", lambda *args: calls.append(1) or real(*args))
    return calls


def test_a_process_below_the_threshold_is_trimmed_without_a_collection(collections) -> None:
    memory.return_freed_memory(collect_above_bytes=memory.resident_bytes() + 2**30)
    assert collections == []


def test_a_process_above_the_threshold_collects_before_trimming(collections) -> None:
    memory.return_freed_memory(collect_above_bytes=0)
    assert collections == [1]


def test_resident_bytes_is_this_process() -> None:
    held = bytearray(64 * 2**20)
    assert memory.resident_bytes() > len(held)
