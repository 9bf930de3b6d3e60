"""Giving freed heap back to the operating system: between large steps, and for large blocks
as soon as they are freed."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import os
from collections.abc import Callable

# A full garbage collection costs about a quarter of a second in a process that has
# imported Dagster and Great Expectations, a fifth of a small file's whole ingest run. An
# ingest worker holds about 420 MiB between small files, so it collects only after files
# large enough to grow it (bench/ingest_memory_bench.py).
COLLECT_ABOVE_BYTES = 512 * 2**20

# Blocks this large get a mapping of their own, unmapped when freed (see give_back_large_blocks).
MMAP_THRESHOLD_BYTES = 128 * 2**10
MMAP_THRESHOLD_VARIABLE = "MALLOC_MMAP_THRESHOLD_"  # read by glibc when a process starts
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number, from glibc's malloc.h


def return_freed_memory(collect_above_bytes: int | None = None) -> None:
    """Hand the heap that one file's frames used back to the system.

    glibc keeps freed blocks for reuse; over many runs in one process they fragment, and a
    worker ingesting 50 files of 100,000 rows grew to 2.1 GB where one file needs 0.5 GB.
    Trimming is cheap and always done; the cyclic garbage collection that frees more
    before the trim runs only while the process is above ``collect_above_bytes``
    (``COLLECT_ABOVE_BYTES`` by default) resident.
    """
    malloc_trim = _glibc("malloc_trim")
    if malloc_trim is None:
        return
    threshold = COLLECT_ABOVE_BYTES if collect_above_bytes is None else collect_above_bytes
    if resident_bytes() >= threshold:
        gc.collect()
    malloc_trim(0)


def give_back_large_blocks() -> None:
    """Serve blocks of 128 KiB and more from mappings of their own, in this process and in
    the processes it starts from now on, so that freeing one returns it to the system.

    glibc does so at first, but raises that threshold to the size of each such block
    freed (up to 32 MiB); from then on one file's frames and one fit's trees come from
    the heap and, freed, stay resident behind whatever was allocated after them. A
    threshold set explicitly stays put.
    """
    mallopt = _glibc("mallopt")
    if mallopt is None:
        return
    if MMAP_THRESHOLD_VARIABLE in os.environ:
        return  # the user's own value, which glibc applied when this process started
    os.environ[MMAP_THRESHOLD_VARIABLE] = str(MMAP_THRESHOLD_BYTES)
    mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)


def arrow_on_system_heap() -> None:
    """Allocate this process's Arrow buffers (pandas' strings, Parquet reads) with malloc.

    pyarrow's default pool, mimalloc, keeps the pages of freed buffers for its own reuse,
    out of reach of the trim in :func:`return_freed_memory`; an ingest worker reading
    file after file of 100,000 rows peaked about 60 MiB higher with it.
    """
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())


def resident_bytes() -> int:
    """This process's resident memory (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


@functools.cache
def _glibc(function: str) -> Callable[..., int] | None:
    """A glibc function, looked up once per process; None on other C libraries."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return None
    return getattr(ctypes.CDLL(libc_name), function, None)
