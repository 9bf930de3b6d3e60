"""Wall time and peak memory of a command and every process it starts.

Peak RSS is the largest sum, over the command and all its descendants (the search's
worker processes included), of their resident memory, sampled every 50 ms from /proc
(Linux only). The sum counts a page once per process that maps it: the shared libraries
every Python process loads, and the whole parent again in a child forked to run another
program, until it does. Peak PSS (proportional set size) splits each shared page among
the processes that share it, so its sum is the memory the tree really holds; it is
sampled once a second, as reading it is far more expensive.
"""

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Measurement:
    seconds: float
    peak_rss_bytes: int
    returncode: int
    stdout: str
    # (Unix time, RSS, PSS or None) of the tree at every sample, to place the peak in time.
    samples: list[tuple[float, int, int | None]] = field(default_factory=list)
    started_at: float = 0.0  # Unix time of the start, to place the command's own records

    @property
    def peak_pss_mib(self) -> float:
        return max((pss for _, _, pss in self.samples if pss is not None), default=0) / 2**20

    def peak_between(self, start: float, end: float, proportional: bool = False) -> int:
        """The largest sampled tree RSS (or PSS) between two Unix times."""
        column = 2 if proportional else 1
        return max(
            (
                sample[column]
                for sample in self.samples
                if start <= sample[0] <= end and sample[column] is not None
            ),
            default=0,
        )

    @property
    def peak_rss_mib(self) -> float:
        return self.peak_rss_bytes / 2**20


PAGE = os.sysconf("SC_PAGE_SIZE")
PSS_EVERY = 20  # samples: once a second at the default 50 ms interval


def tree_total(root: int, value: Callable[[Path, list[str]], float]) -> float:
    """``value(entry, fields)`` summed over ``root`` and its descendants, from one pass
    over /proc; ``fields`` are those of ``/proc/<pid>/stat`` after the command name."""
    parents, stats = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The command name may hold spaces and parentheses; fields follow the last ")".
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        stats[int(entry.name)] = fields
        parents[int(entry.name)] = int(fields[1])
    tree, frontier = {root}, [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        tree.update(children)
        frontier = children
    total = 0.0
    for pid in tree & stats.keys():
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            total += value(Path(f"/proc/{pid}"), stats[pid])  # gone since the pass: 0
    return total


def _resident_bytes(entry: Path, fields: list[str]) -> int:
    return int((entry / "statm").read_text().split()[1]) * PAGE


def _proportional_bytes(entry: Path, fields: list[str]) -> int:
    for line in (entry / "smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return 0


def tree_rss(root: int) -> int:
    """Resident bytes of ``root`` and its descendants."""
    return int(tree_total(root, _resident_bytes))


def tree_pss(root: int) -> int:
    """Proportional set size of ``root`` and its descendants."""
    return int(tree_total(root, _proportional_bytes))


def _default_signals() -> None:
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, signal.SIG_DFL)


def measure(
    command: list[str], log: Path, env: dict[str, str] | None = None, interval: float = 0.05
) -> Measurement:
    """Run ``command`` to the end in its own process group, which is always killed after.

    Its standard error goes to ``log``; its standard output is returned.
    """
    out_path = log.with_suffix(".out")
    with out_path.open("wb") as out, log.open("wb") as err:
        started, started_at = time.perf_counter(), time.time()
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=err,
            env={**os.environ, **(env or {})},
            start_new_session=True,
            preexec_fn=_default_signals,
        )
        samples = []
        try:
            while process.poll() is None:
                # Reading a large process's PSS costs the kernel about 13 ms (its page
                # tables): every 20th sample, so the sampler does not slow what it measures.
                pss = tree_pss(process.pid) if len(samples) % PSS_EVERY == 0 else None
                samples.append((time.time(), tree_rss(process.pid), pss))
                time.sleep(interval)
            seconds = time.perf_counter() - started
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    peak = max((rss for _, rss, _ in samples), default=0)
    return Measurement(seconds, peak, process.returncode, out_path.read_text(), samples, started_at)


def in_fresh_process(script: str, argument: str, flag: str = "--one") -> dict:
    """Run ``script --one ARGUMENT`` (or another ``flag``) in a new interpreter and return
    the JSON it prints last: a measurement with nothing imported or cached from the one
    before."""
    import json
    import sys

    done = subprocess.run(
        [sys.executable, script, flag, argument], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1])
    return json.loads(done.stdout.strip().splitlines()[-1])


def trained_demo_project(root: Path, **sections: dict) -> Path:
    """A project under ``root`` from the repository's ``pipeline.yaml`` (``sections``
    replaced), with 20 demo days landed and ``ml-pipeline run`` done; its config path."""
    import sys

    import yaml

    repository = Path(__file__).resolve().parents[1]
    document = yaml.safe_load((repository / "pipeline.yaml").read_text())
    document["dataset"]["landing_dir"] = "landing"
    document["storage"] = {"data_dir": "data"}
    document.update(sections)
    config = root / "pipeline.yaml"
    config.write_text(yaml.safe_dump(document))
    cli = str(Path(sys.executable).parent / "ml-pipeline")
    for command in (
        [cli, "demo-data", "--batches", "20", "--config", str(config)],
        [cli, "run", "--config", str(config)],
    ):
        subprocess.run(command, check=True, capture_output=True, text=True)
    return config
