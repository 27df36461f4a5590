"""An S3 API server on loopback for the object store tests: moto's server mode.

moto speaks S3's HTTP API, including ``If-None-Match`` / ``If-Match`` on PutObject and
CompleteMultipartUpload, ranged GETs and paginated listing; it stands in for S3, MinIO or
Ceph. One server per test process (``ThreadedMotoServer`` on a free port); each test gets a
bucket of its own and the ``AWS_*`` variables that point obstore, boto3 and any child
process at it.
"""

from __future__ import annotations

import http.client
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ACCESS_KEY = "alchemy-test-key"
SECRET_KEY = "alchemy-test-secret"
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server:
    """A running moto server: its endpoint URL, and for :func:`moto_process` the file its
    request log goes to (one line per request: what a benchmark counts requests from)."""

    endpoint: str
    log: Path | None = None

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
        import boto3

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

    # werkzeug (moto's HTTP server) logs every request on stderr at INFO.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
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


# -- Faults: a port nothing listens on, a proxy that answers 503 SlowDown, moto with auth. --


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed: connecting is refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message>"
    b"<RequestId>alchemy-fault</RequestId></Error>"
)
# Headers that belong to one hop, not to the request or answer forwarded.
_HOP_HEADERS = frozenset(
    ("connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade")
)


@dataclass
class FaultProxy:
    """An HTTP proxy on loopback in front of an S3 server that answers S3's throttling
    response (503 SlowDown) instead of forwarding: to the first ``fail_first`` requests, to
    every request from the ``fail_after``-th on, and to every request whose path holds
    ``fail_key`` (while ``failing`` is true); with ``drop``, it closes the connection
    unanswered instead, as a server that stopped.

    ``requests`` records each request as (method, path with query), failed or forwarded;
    ``answered`` each forwarded request's path and the bytes of its answer's body.
    """

    upstream: str
    fail_first: int = 0
    fail_key: str | None = None
    fail_after: int | None = None
    drop: bool = False
    failing: bool = True
    requests: list[tuple[str, str]] = field(default_factory=list)
    answered: list[tuple[str, int]] = field(default_factory=list)
    failed: int = 0
    endpoint: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def should_fail(self, path: str) -> bool:
        """Record the request; whether to answer it with 503 SlowDown."""
        with self._lock:
            index = len(self.requests)
            fail = self.failing and (
                index < self.fail_first
                or (self.fail_after is not None and index >= self.fail_after)
                or (self.fail_key is not None and self.fail_key in urllib.parse.unquote(path))
            )
            self.failed += fail
            return fail

    def record(self, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((method, path))

    def count(self, method: str, fragment: str = "") -> int:
        """How many ``method`` requests had ``fragment`` in their (unquoted) path, the query
        left out: the requests of the objects whose key holds it."""
        with self._lock:
            return sum(1 for m, p in self.requests if m == method and _path_holds(p, fragment))

    def bytes_of(self, fragment: str) -> int:
        """The bytes answered to requests whose (unquoted) path, the query left out, holds
        ``fragment``: what a client fetched of those objects."""
        with self._lock:
            return sum(size for p, size in self.answered if _path_holds(p, fragment))

    def listings(self) -> int:
        """How many list requests (pages of ListObjectsV2) were made."""
        with self._lock:
            return sum(1 for m, p in self.requests if m == "GET" and "list-type=2" in p)

    def env(self) -> dict[str, str]:
        """:meth:`S3Server.env` with the proxy as the endpoint."""
        return {**S3Server(self.upstream).env(), "AWS_ENDPOINT_URL": self.endpoint}


def _path_holds(path: str, fragment: str) -> bool:
    """Whether a request's path, unquoted and without its query, holds ``fragment``."""
    return fragment in urllib.parse.unquote(path.partition("?")[0])


def _proxy_handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    target = urllib.parse.urlsplit(proxy.upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return  # no request log on stderr

        def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
            self.send_response(status)
            head = self.command == "HEAD"  # its Content-Length is the object's: kept
            for name, value in headers:
                if name.lower() not in _HOP_HEADERS and (head or name.lower() != "content-length"):
                    self.send_header(name, value)
            if not head:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            fail = proxy.should_fail(self.path)
            proxy.record(self.command, self.path)
            if fail and proxy.drop:  # a server that stopped: the connection closes, unanswered
                self.close_connection = True
                return
            if fail:
                self._answer(503, [("Content-Type", "application/xml")], SLOW_DOWN)
                return
            conn = http.client.HTTPConnection(target.hostname or "", target.port, timeout=60)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                answer = conn.getresponse()
                data = answer.read()
                with proxy._lock:
                    proxy.answered.append((self.path, len(data)))
                self._answer(answer.status, answer.getheaders(), data)
            finally:
                conn.close()

        def do_GET(self) -> None:  # http.server's method names
            self._forward()

        def do_PUT(self) -> None:
            self._forward()

        def do_POST(self) -> None:
            self._forward()

        def do_HEAD(self) -> None:
            self._forward()

        def do_DELETE(self) -> None:
            self._forward()

    return Handler


@contextmanager
def fault_proxy(
    upstream: S3Server, *, fail_first: int = 0, fail_key: str | None = None
) -> Iterator[FaultProxy]:
    """A :class:`FaultProxy` in front of ``upstream`` on a free loopback port, stopped after."""
    proxy = FaultProxy(upstream.endpoint, fail_first=fail_first, fail_key=fail_key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _proxy_handler(proxy))
    server.daemon_threads = True
    proxy.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="fault-proxy", daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _wait_for_port(port: int, child: subprocess.Popen[bytes], log: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if child.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(
                f"moto_server exited with {child.returncode} before listening:\n{tail}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto_server did not listen on port {port} within {seconds} s")


@contextmanager
def moto_process(env: dict[str, str] | None = None) -> Iterator[S3Server]:
    """moto's server as a child process (``moto_server -H 127.0.0.1 -p PORT``) with the extra
    variables ``env``: e.g. ``INITIAL_NO_AUTH_ACTION_COUNT=0``, with which moto checks each
    request's access key and signature as S3 does. It needs no network (moto is a Python
    package); its request log goes to a temporary file (:attr:`S3Server.log`, deleted when
    it stops), shown only if it fails to start."""
    port = closed_port()
    command = [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    with tempfile.TemporaryDirectory(prefix="moto-") as folder:
        log = Path(folder) / "moto_server.log"
        with log.open("wb") as sink:
            child = subprocess.Popen(
                command,
                env={**os.environ, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait_for_port(port, child, log, 60)
            yield S3Server(f"http://127.0.0.1:{port}", log)
        finally:
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
