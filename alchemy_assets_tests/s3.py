"""An S3 API server on loopback for the object store tests: moto's server mode.

moto speaks S3's HTTP API, including ``If-None-Match`` / ``If-Match`` on PutObject and
CompleteMultipartUpload, ranged GETs and paginated listing; it stands in for S3, MinIO or
Ceph. One server per test process (``ThreadedMotoServer`` on a free port); each test gets a
bucket of its own and the ``AWS_*`` variables that point obstore, boto3 and any child
process at it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ACCESS_KEY = "alchemy-test-key"
SECRET_KEY = "alchemy-test-secret"
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server:
    """A running moto server: its endpoint URL."""

    endpoint: str

    def env(self) -> dict[str, str]:
        """The variables a client needs to reach it (obstore, boto3, child processes)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ALLOW_HTTP": "true",
        }

    def client(self) -> Any:
        """A boto3 client of the server (the tests' independent view of a bucket)."""
        import boto3  # type: ignore[import-untyped]

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )

    def new_bucket(self) -> str:
        name = f"lake-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name


@contextmanager
def running_server() -> Iterator[S3Server]:
    """moto's ``ThreadedMotoServer`` on 127.0.0.1 and a free port, stopped afterwards."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield S3Server(f"http://{host}:{port}")
    finally:
        server.stop()


def upload_tree(server: S3Server, bucket: str, prefix: str, folder: Path) -> int:
    """Put every file under ``folder`` at ``prefix/<relative path>``; return how many."""
    client = server.client()
    count = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        key = f"{prefix.strip('/')}/{path.relative_to(folder).as_posix()}".lstrip("/")
        client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        count += 1
    return count


def set_env(server: S3Server) -> dict[str, str | None]:
    """Point this process at ``server``; returns what to restore."""
    previous = {name: os.environ.get(name) for name in server.env()}
    os.environ.update(server.env())
    return previous
