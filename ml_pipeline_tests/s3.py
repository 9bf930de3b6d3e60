"""An S3 emulator for the shared-storage tests: moto's server, a real HTTP endpoint
speaking the S3 protocol, run as a child process (no real S3 can be reached here)."""

import contextlib
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

from ml_pipeline_tests.servers import free_port, running, wait_for_http

# moto accepts any credentials; s3fs and boto3 in this process and in every child read
# these from the environment, as they would read real ones.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "emulator",
    "AWS_SECRET_ACCESS_KEY": "emulator",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@contextlib.contextmanager
def s3_emulator(log_folder: Path) -> Iterator[str]:
    """The emulator's endpoint URL, with the credentials set for the block."""
    port = free_port()
    log = log_folder / "moto.log"
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    saved = {name: os.environ.get(name) for name in CREDENTIALS}
    os.environ.update(CREDENTIALS)
    try:
        with running(command, log) as process:
            endpoint = f"http://127.0.0.1:{port}"
            wait_for_http(f"{endpoint}/moto-api/", process, log, timeout=60)
            yield endpoint
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def new_bucket(endpoint: str) -> str:
    """A fresh bucket's name, created on the emulator."""
    import s3fs

    name = f"ml-pipeline-{uuid.uuid4().hex[:10]}"
    s3fs.S3FileSystem(endpoint_url=endpoint).mkdir(name)
    return name
