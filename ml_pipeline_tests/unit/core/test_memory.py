import gc
import os
import subprocess
import sys

import pytest

from ml_pipeline.core import memory

pytestmark = pytest.mark.skipif(
    memory._glibc("malloc_trim") is None, reason="needs glibc's malloc_trim"
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


def test_arrow_buffers_move_to_the_heap_that_trimming_returns() -> None:
    # In a child process: the memory pool is global to the process that sets it.
    script = (
        "import pandas as pd, pyarrow as pa\n"
        "from ml_pipeline.core import memory\n"
        "memory.arrow_on_system_heap()\n"
        "before = pa.system_memory_pool().bytes_allocated()\n"
        "text = pd.Series([str(i) for i in range(100_000)], dtype='str')\n"
        "print(pa.default_memory_pool().backend_name,"
        " pa.system_memory_pool().bytes_allocated() > before)\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    assert shown == ["system", "True"]


@pytest.mark.parametrize("given_back", [True, False], ids=["set", "glibc default"])
def test_a_large_block_gets_a_mapping_of_its_own_once_large_blocks_are_given_back(
    given_back: bool,
) -> None:
    # Freeing an 8 MiB block raises glibc's own threshold above 4 MiB: without the fixed
    # one, the 4 MiB block comes from the heap, where freeing it need not release it.
    # mallinfo2's hblkhd counts the bytes held in blocks with a mapping of their own.
    script = (
        "import ctypes, os\n"
        "from ml_pipeline.core import memory\n"
        "names = 'arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost'\n"
        "class Info(ctypes.Structure):\n"
        "    _fields_ = [(name, ctypes.c_size_t) for name in names.split()]\n"
        "mallinfo2 = ctypes.CDLL(None).mallinfo2\n"
        "mallinfo2.restype = Info\n"
        f"if {given_back}: memory.give_back_large_blocks()\n"
        "block = bytearray(b'x') * (8 << 20)\n"
        "del block\n"
        "block = bytearray(b'x') * (4 << 20)\n"
        "print(mallinfo2().hblkhd >= 4 << 20, os.environ.get(memory.MMAP_THRESHOLD_VARIABLE))\n"
    )
    # Any malloc setting in the environment fixes glibc's threshold too; Dask's nanny puts
    # MALLOC_TRIM_THRESHOLD_ in the environment of the process that starts it (a test's).
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"
    }
    shown = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env
    ).stdout.split()
    expected = [str(given_back), str(memory.MMAP_THRESHOLD_BYTES) if given_back else "None"]
    assert shown == expected
