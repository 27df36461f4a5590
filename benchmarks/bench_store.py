"""P8: the data root on an object store beside the local disk, in the same run.

The store is moto's S3 API server (``moto_server``, a process of its own: it shares no GIL
with what is measured) on loopback; every measurement runs in a fresh process, and the
requests each one makes are counted from the server's request log. Three loads:

- **Sampling** (P1 on the store): a 100-row sample of a ~1 MB and a ~1 GB CSV and Parquet
  object (P1's files; the large ones uploaded with boto3's multipart ``upload_file``), read
  as staging reads a bronze object: one HEAD, then staging's own ``sample_object`` (ranged
  GETs pinned to its ETag through ``RangedReader``, at most ``FETCH_LIMIT`` bytes); beside
  ``read_sample`` of the same file on disk (evicted from the page cache first), and beside
  the server's own time for one ranged GET of the object's first 64 KiB (boto3, a warm
  client: the median of 5). The two samples must be the same bytes.
- **Staging** (P3 on the store): ingest, then ``alchemy stage`` of the same small files on
  the store and on disk, each on a fresh ``DAGSTER_HOME`` holding
  ``deploy/local.yaml`` (pooled SQLite event log) and checked afterwards: each partition's
  latest sample carries its manifest mtime.
- **Ingest** (P4 on the store): ``ingest_objects`` (what ``alchemy ingest`` runs on a store:
  server-side copies made put-if-absent, 8 at once, each checked by a HEAD, and the segment
  log) of 10,000 small raw objects, beside the bare loop a script would be: boto3 listing
  the raw prefix (ListObjectsV2 pages), one CopyObject per key, one PutObject of a manifest
  (run as it is and in 8 threads, as ours copies), on the same raw objects in a bucket of
  their own; and ``ingest`` of the same files on disk (what ``alchemy ingest`` runs there).
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import os
import re
import shutil
import statistics
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alchemy_assets_tests.s3 import S3Server, moto_process
from benchmarks.bench_sampling import make_files
from benchmarks.common import REPORT, ROOT, SMOKE, Targets, child, fmt_s, table

SAMPLE_SIZES = {"1 MB": 1 << 20, "4 MB": 4 << 20} if SMOKE else {"1 MB": 1 << 20, "1 GB": 1 << 30}
SAMPLE_KINDS = ("csv", "parquet")
SAMPLE_RUNS = 1 if SMOKE else 3
STAGE_FILES = int(os.environ.get("BENCH_P8_STAGE_FILES", 12 if SMOKE else 1_000))
STAGE_ROUNDS = int(os.environ.get("BENCH_P8_STAGE_ROUNDS", 1))
INGEST_OBJECTS = int(os.environ.get("BENCH_P8_INGEST_OBJECTS", 20 if SMOKE else 10_000))
INGEST_ROUNDS = int(os.environ.get("BENCH_P8_INGEST_ROUNDS", 1))
# Seconds after which a child is killed (the benchmark fails rather than hangs).
TIMEOUT = 120 if SMOKE else 1_800
# What the uploads of the small objects run in (boto3's pool holds 10 connections).
UPLOAD_THREADS = 10
DATASET = "bench/store/1"
FLOOR_BYTES = 64 * 1024
FLOOR_RUNS = 5

STORE_SAMPLE = (
    REPORT
    + """
import hashlib, sys
from alchemy_assets.object_store import StoreRoot
from alchemy_assets.stage_object import sample_object
store, key = StoreRoot.open(sys.argv[1]), sys.argv[2]
started = time.perf_counter()
info = store.head(key)
taken = sample_object(store, key, info.size, info.etag, 100)
seconds = time.perf_counter() - started
digest = int(hashlib.sha256(taken.content).hexdigest()[:12], 16)
report(seconds, rows=taken.sample.rows, bytes_read=taken.bytes_fetched, digest=digest)
"""
)

DISK_SAMPLE = (
    REPORT
    + """
import hashlib, os, sys
from pathlib import Path
path = Path(sys.argv[1])
fd = os.open(path, os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)
from alchemy_assets.sampling import read_sample
started = time.perf_counter()
sample, content = read_sample(path, 100)
seconds = time.perf_counter() - started
digest = int(hashlib.sha256(content).hexdigest()[:12], 16)
report(seconds, rows=sample.rows, bytes_read=sample.bytes_read, digest=digest)
"""
)

INGEST = (
    REPORT
    + """
import sys
from alchemy_assets.data_root import layout_of, open_root, read_all
from alchemy_assets.ingest import ingest
from alchemy_assets.ingest_objects import ingest_objects
from alchemy_assets.layout import DatasetId, DatasetLayout
root, dataset, objects = open_root(sys.argv[1]), DatasetId.parse(sys.argv[2]), int(sys.argv[3])
layout = layout_of(root, dataset)
started = time.perf_counter()
done = ingest(layout) if isinstance(layout, DatasetLayout) else ingest_objects(layout)
seconds = time.perf_counter() - started
assert not done.failed and len(done.copied) == objects, (done.failed[:3], len(done.copied))
lines = sum(len(batch.entries) for batch in read_all(layout))
assert lines == objects, f"{lines} manifest lines for {objects} raw files"
report(seconds)
"""
)

BARE_LOOP = (
    REPORT
    + """
import concurrent.futures, json, sys
import boto3
client = boto3.client("s3")
bucket, raw, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
def copy(key):
    bronze = "baseline/bronze/" + key[len(raw):]
    source = {"Bucket": bucket, "Key": key}
    answer = client.copy_object(Bucket=bucket, Key=bronze, CopySource=source)
    return json.dumps({"raw": key, "bronze": bronze,
                       "etag": answer["CopyObjectResult"]["ETag"]}) + "\\n"
started = time.perf_counter()
pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=raw)
keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
if threads == 1:
    lines = [copy(key) for key in keys]
else:
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        lines = list(pool.map(copy, keys))
client.put_object(Bucket=bucket, Key="baseline/manifest.jsonl", Body="".join(lines).encode())
report(time.perf_counter() - started, objects=len(keys))
"""
)

STAGE = (
    REPORT
    + """
import contextlib, io, os, shutil, sys
from pathlib import Path
home, root, dataset, files = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
home.mkdir()
shutil.copy(sys.argv[5], home / "dagster.yaml")
os.environ["DAGSTER_HOME"] = str(home)
import dagster as dg
from alchemy_assets.cli import main
from alchemy_assets.dagster_adapters.lookup import latest_sampled_deliveries
from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.data_root import layout_of, open_root, read_all
from alchemy_assets.layout import DatasetId
from alchemy_assets.options import StagingOptions
with contextlib.redirect_stdout(io.StringIO()):
    started = time.perf_counter()
    assert main(["stage", "--root", root]) == 0
    seconds = time.perf_counter() - started
layout = layout_of(open_root(root), DatasetId.parse(dataset))
expected = {e.env_path: e.mtime for batch in read_all(layout) for e in batch.entries}
assert len(expected) == files, f"{len(expected)} manifest lines for {files} files"
spec = DatasetSpec(layout.dataset_id, StagingOptions())
instance = dg.DagsterInstance.get()
keys = instance.get_dynamic_partitions(spec.partitions_name)
held = latest_sampled_deliveries(instance, spec.sample_key, keys)
assert {key: d.mtime for key, d in held.items()} == expected, "per-partition mtimes differ"
report(seconds, runs=len(instance.get_run_records()))
"""
)

# werkzeug's log line of a request: ``"GET /bucket/key HTTP/1.1" 200 -``, the quoted part in
# ANSI colours for some answers (206, 304, 4xx).
_REQUEST = re.compile(rb'"(?:\x1b\[[0-9;]*m)*(GET|HEAD|PUT|POST|DELETE) ')


@dataclass
class RequestLog:
    """The requests moto's log holds since the last :meth:`since` call, by method."""

    path: Path
    offset: int = 0

    def since(self) -> collections.Counter[str]:
        # werkzeug logs a request (and flushes) before it sends the answer: once a child is
        # gone, every request it made is in the log.
        with self.path.open("rb") as log:
            log.seek(self.offset)
            data = log.read()
        end = data.rfind(b"\n") + 1
        self.offset += end
        return collections.Counter(m.decode() for m in _REQUEST.findall(data[:end]))


@dataclass
class Store:
    """The server, its request log, and the variables that point a child at it."""

    server: S3Server
    log: RequestLog
    env: dict[str, str] = field(default_factory=dict)

    def run(self, code: str, *args: str) -> tuple[dict[str, float], collections.Counter[str]]:
        """``code`` in a fresh process pointed at the store; its report and its requests."""
        self.log.since()
        result = child(code, *args, env=self.env, timeout=TIMEOUT)
        return result, self.log.since()

    def bucket(self) -> str:
        return self.server.new_bucket()


@contextlib.contextmanager
def _store() -> Iterator[Store]:
    with moto_process() as server:
        assert server.log is not None
        yield Store(server, RequestLog(server.log), server.env())


def _small(i: int) -> tuple[str, bytes]:
    """Small file ``i``: its path under ``raw/`` and its bytes (P3's and P4's files)."""
    return f"env0/d{i // 1000}/f{i}.csv", f"id,value\n{i},{i * 2}\n{i + 1},{i * 3}\n".encode()


def _write_small(folder: Path, files: int) -> None:
    for i in range(files):
        relpath, data = _small(i)
        (folder / relpath).parent.mkdir(parents=True, exist_ok=True)
        (folder / relpath).write_bytes(data)
    os.sync()  # nothing dirty when the measurement starts


def _put_small(store: Store, bucket: str, prefix: str, files: int) -> None:
    client = store.server.client()

    def put(i: int) -> None:
        relpath, data = _small(i)
        client.put_object(Bucket=bucket, Key=f"{prefix}/{relpath}", Body=data)

    with concurrent.futures.ThreadPoolExecutor(UPLOAD_THREADS) as pool:
        list(pool.map(put, range(files)))


def _requests(seen: collections.Counter[str]) -> str:
    return " + ".join(f"{n} {method}" for method, n in sorted(seen.items())) or "0"


def _median(values: list[float]) -> float:
    return statistics.median(values)


# -- 1. sampling --------------------------------------------------------------------------


@dataclass
class _Sampled:
    store: list[dict[str, float]] = field(default_factory=list)
    disk: list[dict[str, float]] = field(default_factory=list)
    floor: list[float] = field(default_factory=list)
    requests: collections.Counter[str] = field(default_factory=collections.Counter)
    size: int = 0

    def median(self, side: str, name: str) -> float:
        return _median([r[name] for r in getattr(self, side)])


def _sampling(store: Store, work: Path) -> dict[tuple[str, str], _Sampled]:
    bucket = store.bucket()
    client = store.server.client()
    found: dict[tuple[str, str], _Sampled] = {}
    for label, size in SAMPLE_SIZES.items():
        name = label.replace(" ", "")
        files = make_files(work, name, size, more=False)
        for kind, path in files.items():
            if kind not in SAMPLE_KINDS:
                path.unlink()
                continue
            key = f"fp/sampling/{path.name}"
            client.upload_file(str(path), bucket, key)  # multipart above 8 MiB
            measured = found[kind, label] = _Sampled(size=path.stat().st_size)
            for _ in range(SAMPLE_RUNS):
                result, seen = store.run(STORE_SAMPLE, f"s3://{bucket}/fp", f"sampling/{path.name}")
                measured.store.append(result)
                measured.requests = seen
                measured.disk.append(child(DISK_SAMPLE, str(path), timeout=TIMEOUT))
            measured.floor = _floor(client, bucket, key)
            path.unlink()
            client.delete_object(Bucket=bucket, Key=key)
    return found


def _floor(client: Any, bucket: str, key: str) -> list[float]:
    """The server's own time for a ranged GET of ``key``'s first 64 KiB: boto3, a warm
    client in this process (idle while the children run), after one GET that is not timed."""
    ask = {"Bucket": bucket, "Key": key, "Range": f"bytes=0-{FLOOR_BYTES - 1}"}
    client.get_object(**ask)["Body"].read()
    times = []
    for _ in range(FLOOR_RUNS):
        started = time.perf_counter()
        client.get_object(**ask)["Body"].read()
        times.append(time.perf_counter() - started)
    return times


def _sampling_table(found: dict[tuple[str, str], _Sampled], targets: Targets) -> str:
    rows: list[list[object]] = []
    small, big = list(SAMPLE_SIZES)
    for kind in SAMPLE_KINDS:
        for label in SAMPLE_SIZES:
            m = found[kind, label]
            store_s, disk_s = m.median("store", "seconds"), m.median("disk", "seconds")
            rows.append(
                [
                    kind,
                    label,
                    f"{m.size / 1e6:.1f} MB",
                    fmt_s(store_s),
                    _requests(m.requests),
                    f"{m.median('store', 'bytes_read') / 1024:.0f} KiB",
                    fmt_s(disk_s),
                    f"{m.median('disk', 'bytes_read') / 1024:.0f} KiB",
                    f"{store_s / disk_s:.1f}x",
                    fmt_s(_median(m.floor)),
                ]
            )
        s, b = found[kind, small], found[kind, big]
        grown = b.median("store", "bytes_read") - s.median("store", "bytes_read")
        targets.check(
            f"{kind}: the {big} sample on the store fetches "
            f"{b.median('store', 'bytes_read') / 1024:.0f} KiB, {grown / 1024:+.0f} KiB on the "
            f"{small} one (target <= +1 MiB)",
            grown <= 1 << 20,
        )
        on_disk = b.median("disk", "bytes_read") - s.median("disk", "bytes_read")
        targets.note(
            f"{kind}: bytes fetched on the store / read on disk, same object: "
            + ", ".join(
                f"{label} {found[kind, label].median('store', 'bytes_read') / 1024:.0f} / "
                f"{found[kind, label].median('disk', 'bytes_read') / 1024:.0f} KiB"
                for label in SAMPLE_SIZES
            )
            + f" (on disk {on_disk / 1024:+.0f} KiB from {small} to {big})"
        )
        ratio = b.median("store", "seconds") / s.median("store", "seconds")
        targets.check(
            f"{kind}: the {big} sample on the store takes {ratio:.2f}x the {small} one "
            "(target <= 1.5x)",
            ratio <= 1.5,
        )
        gets = b.requests["GET"]
        targets.note(
            f"{kind}: moto's own time for one 64 KiB ranged GET is {fmt_s(_median(b.floor))} "
            f"of the {big} object, {fmt_s(_median(s.floor))} of the {small} one (it reads the "
            f"whole object to answer a range); the {big} sample's {gets} GET(s) at that time "
            f"make {fmt_s(gets * _median(b.floor))} of its {fmt_s(b.median('store', 'seconds'))}"
        )
    same = all(
        len({r["digest"] for r in m.store + m.disk}) == 1 and m.store[0]["rows"] == 100
        for m in found.values()
    )
    targets.check("every sample on the store is the same bytes as the same sample on disk", same)
    header = [
        "format",
        "size",
        "object",
        "store: sample",
        "requests",
        "bytes fetched",
        "disk: sample",
        "bytes read",
        "store / disk",
        "one 64 KiB GET (boto3)",
    ]
    return table(header, rows)


# -- 2. staging ---------------------------------------------------------------------------


def _staging(store: Store, work: Path, targets: Targets) -> str:
    instance_yaml = str(ROOT / "deploy" / "local.yaml")
    measured: dict[str, list[dict[str, float]]] = {"disk": [], "store": []}
    requests: dict[str, collections.Counter[str]] = {}
    for _ in range(STAGE_ROUNDS):
        folder = work / f"stage-{uuid.uuid4().hex[:6]}"
        _write_small(folder / "fp" / DATASET / "raw", STAGE_FILES)
        root = str(folder / "fp")
        ingest = child(INGEST, root, DATASET, str(STAGE_FILES), timeout=TIMEOUT)
        staged = child(
            STAGE,
            str(folder / "home"),
            root,
            DATASET,
            str(STAGE_FILES),
            instance_yaml,
            timeout=TIMEOUT,
        )
        measured["disk"].append({**staged, "ingest": ingest["seconds"]})
        shutil.rmtree(folder)

        bucket = store.bucket()
        _put_small(store, bucket, f"fp/{DATASET}/raw", STAGE_FILES)
        url = f"s3://{bucket}/fp"
        ingest, requests["ingest"] = store.run(INGEST, url, DATASET, str(STAGE_FILES))
        home = work / f"home-{uuid.uuid4().hex[:6]}"
        staged, requests["stage"] = store.run(
            STAGE, str(home), url, DATASET, str(STAGE_FILES), instance_yaml
        )
        measured["store"].append({**staged, "ingest": ingest["seconds"]})
        shutil.rmtree(home)

    def rate(side: str) -> float:
        return _median([STAGE_FILES / r["seconds"] for r in measured[side]])

    rows: list[list[object]] = []
    for side, label in (("disk", "local disk"), ("store", "S3 (moto)")):
        per_file = {step: f"{sum(requests[step].values()) / STAGE_FILES:.1f}" for step in requests}
        rows.append(
            [
                label,
                f"{STAGE_FILES:,}",
                fmt_s(_median([r["ingest"] for r in measured[side]])),
                fmt_s(_median([r["seconds"] for r in measured[side]])),
                f"{rate(side):.1f}",
                f"{int(measured[side][-1]['runs'])}",
                f"{per_file['ingest']} / {per_file['stage']}" if side == "store" else "-",
            ]
        )
    targets.note(
        f"staging: `alchemy stage` on the store runs at {rate('store') / rate('disk'):.2f}x "
        f"its rate on disk (measured, no target; {STAGE_ROUNDS} round(s) of disk then store, each "
        f"figure the median of its rounds); the stage's requests: {_requests(requests['stage'])}"
    )
    header = [
        "data root",
        "files",
        "ingest",
        "alchemy stage",
        "stage files/s",
        "runs",
        "requests per file (ingest / stage)",
    ]
    return table(header, rows)


# -- 3. ingest ----------------------------------------------------------------------------


def _ingest(store: Store, work: Path, targets: Targets) -> str:
    times: dict[str, list[float]] = collections.defaultdict(list)
    requests: dict[str, collections.Counter[str]] = {}
    for round_ in range(INGEST_ROUNDS):
        bucket = store.bucket()
        _put_small(store, bucket, f"fp/{DATASET}/raw", INGEST_OBJECTS)
        ours = ("ours", INGEST, f"s3://{bucket}/fp", DATASET, str(INGEST_OBJECTS))
        raw = f"fp/{DATASET}/raw/"
        loops = [
            ("bare", BARE_LOOP, bucket, raw, "1"),
            ("bare threads", BARE_LOOP, bucket, raw, "8"),
        ]
        # Ours first in even rounds, last in odd ones: neither always meets a fuller bucket.
        for name, code, *args in [ours, *loops] if round_ % 2 == 0 else [*loops, ours]:
            result, requests[name] = store.run(code, *args)
            times[name].append(result["seconds"])
            if name != "ours":
                assert int(result["objects"]) == INGEST_OBJECTS
                _delete_prefix(store, bucket, "baseline/")
        folder = work / f"ingest-{uuid.uuid4().hex[:6]}"
        _write_small(folder / "fp" / DATASET / "raw", INGEST_OBJECTS)
        disk = child(INGEST, str(folder / "fp"), DATASET, str(INGEST_OBJECTS), timeout=TIMEOUT)
        times["disk"].append(disk["seconds"])
        shutil.rmtree(folder)
    seconds = {name: _median(values) for name, values in times.items()}
    rows: list[list[object]] = []
    for name, label in (
        ("ours", "`ingest_objects` on S3 (moto)"),
        ("bare", "bare boto3 loop: list, CopyObject each, PUT a manifest"),
        ("bare threads", "the same loop in 8 threads (reference)"),
        ("disk", "`ingest` of the same files on the local disk (reference)"),
    ):
        seen = requests.get(name)
        rows.append(
            [
                label,
                f"{INGEST_OBJECTS:,}",
                fmt_s(seconds[name]),
                f"{INGEST_OBJECTS / seconds[name]:.0f}",
                f"{_requests(seen)} ({sum(seen.values()) / INGEST_OBJECTS:.2f} a file)"
                if seen
                else "-",
                f"{seconds[name] / seconds['bare']:.2f}x",
            ]
        )
    ratio = seconds["ours"] / seconds["bare"]
    targets.check(
        f"ingest: {INGEST_OBJECTS:,} objects in {ratio:.2f}x the bare boto3 loop's time "
        "(target <= 1.3x)",
        ratio <= 1.3,
    )
    targets.note(
        f"ingest: {seconds['ours'] / seconds['bare threads']:.2f}x the same loop in 8 threads; "
        f"{seconds['ours'] / seconds['disk']:.1f}x `ingest` of the files on disk "
        f"({INGEST_ROUNDS} round(s), each figure the median of its rounds)"
    )
    header = ["what", "objects", "time", "objects/s", "requests", "/ bare loop"]
    return table(header, rows)


def _delete_prefix(store: Store, bucket: str, prefix: str) -> None:
    client = store.server.client()
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})


def run(work: Path) -> tuple[str, list[str]]:
    targets = Targets("P8")
    load = os.getloadavg()[0]
    with _store() as store:
        sampling = _sampling_table(_sampling(store, work), targets)
        staging = _staging(store, work, targets)
        ingest = _ingest(store, work, targets)
    targets.note(
        f"load average {load:.1f} at the start and {os.getloadavg()[0]:.1f} at the end, on "
        f"{os.cpu_count()} cores (the server, the client and anything else running share them)"
    )
    body = (__doc__ or "").split("\n\n", 1)[1]
    parts = [
        f"### Sampling: a 100-row sample, {' and '.join(SAMPLE_SIZES)} objects\n\n{sampling}",
        f"### Staging: `alchemy stage` of {STAGE_FILES:,} small files\n\n{staging}",
        f"### Ingest: {INGEST_OBJECTS:,} small raw objects\n\n{ingest}",
    ]
    text = f"## P8 on an object store, beside the local disk\n\n{body}\n" + "\n\n".join(parts)
    return text + "\n\n" + "\n".join(targets.lines) + "\n", targets.missed
