"""The demo on an object store: an S3 API server on loopback holding the demo's data.

``python -m alchemy_assets.demo_store [--port 9000] [--bucket demo] -- COMMAND [ARG ...]``
(``make demo-s3`` runs ``dg dev`` this way) starts moto's S3 server (``moto[server]``, the
dev extra: it stands in for S3, MinIO or Ceph) on 127.0.0.1, creates the bucket, writes the
demo's raw files (:mod:`alchemy_assets.demo_data`) as objects under ``s3://BUCKET/fp``,
ingests them there (segment log, server-side bronze copies), then runs COMMAND with
``FP_PREFIX=s3://BUCKET/fp`` and the ``AWS_*`` variables that reach the server. When COMMAND
ends (one Ctrl-C, or SIGTERM, which is passed on), the server stops; its objects live in
memory only, so each start is a fresh demo.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from alchemy_assets.demo_data import make_demo
from alchemy_assets.ingest_objects import ingest_objects
from alchemy_assets.object_layout import ObjectLayout
from alchemy_assets.object_store import StoreRoot

DEMO_KEY = "demo-access-key"
DEMO_SECRET = "demo-secret-key"  # moto accepts any credentials


def store_env(endpoint: str, bucket: str) -> dict[str, str]:
    """The variables that point the platform (and any AWS client) at the demo's server."""
    return {
        "FP_PREFIX": f"s3://{bucket}/fp",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": DEMO_KEY,
        "AWS_SECRET_ACCESS_KEY": DEMO_SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
    }


def fill(endpoint: str, bucket: str) -> list[str]:
    """Create ``bucket``, put the demo's raw files in it and ingest them; one line per dataset."""
    import boto3

    env = store_env(endpoint, bucket)
    os.environ.update(env)
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket=bucket)
    store = StoreRoot.open(env["FP_PREFIX"])
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        for local in make_demo(Path(tmp)):
            for path in sorted(p for p in local.raw.rglob("*") if p.is_file()):
                relpath = path.relative_to(local.root).as_posix()
                store.put(f"{local.dataset_id}/{relpath}", path.read_bytes())
            report = ingest_objects(ObjectLayout(local.dataset_id, store))
            lines.append(
                f"demo dataset {local.dataset_id} at {store.location(str(local.dataset_id))}: "
                f"{len(report.copied)} copied to bronze, {len(report.failed)} failed"
            )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alchemy_assets.demo_store")
    parser.add_argument("--port", type=int, default=9000, help="the S3 server's port (9000)")
    parser.add_argument("--bucket", default="demo", help="the demo's bucket (demo)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARG ...]")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command: pass -- COMMAND [ARG ...]")
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        print("demo_store: moto is not installed (`make install` installs it)", file=sys.stderr)
        return 2
    server: Any = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{args.port}"
        for line in fill(endpoint, args.bucket):
            print(line, flush=True)
        print(f"S3 API server (moto) at {endpoint}, FP_PREFIX=s3://{args.bucket}/fp", flush=True)
        child = subprocess.Popen(command, env={**os.environ, **store_env(endpoint, args.bucket)})

        def forward(signum: int, _frame: FrameType | None) -> None:
            child.send_signal(signum)

        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGHUP, forward)
        while True:
            try:
                return child.wait()
            except KeyboardInterrupt:  # the terminal's Ctrl-C reached the child too
                continue
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
