"""Named points where a test can make the process die as an OOM kill would.

``ML_PIPELINE_CRASH_AT=<point>`` in the environment makes the process send itself
SIGKILL on reaching that point: no cleanup, no ``finally``, no exit handler, exactly as
the kernel would end it. Unset (always, outside the crash tests), it costs one lookup.

Points: ``ingest`` (raw batch written, the rest of the partition not), ``search``
(a candidate tuned, MLflow runs open), ``validation`` (holdout metrics half logged),
``registered`` (version registered and exported, alias not moved), ``promoted``
(alias moved, ``current`` not switched) and ``hot_swap`` (the scoring service has
loaded a new version and not swapped it in).
"""

import os
import signal

CRASH_ENV = "ML_PIPELINE_CRASH_AT"


def crash_point(name: str) -> None:
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
