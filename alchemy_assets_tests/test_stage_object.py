"""Staging one due file on moto's S3 server: the sample as on disk, read by bounded ranged
GETs of one version of the bronze object, written once per delivery whoever runs."""

from __future__ import annotations

import gzip
import io
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from alchemy_assets import stage_object as stage_object_module
from alchemy_assets.layout import DatasetId, LayoutError
from alchemy_assets.manifest_line import encode_line
from alchemy_assets.manifest_log import write_segment
from alchemy_assets.object_layout import ObjectLayout
from alchemy_assets.object_store import StoreRoot
from alchemy_assets.sample_errors import REWRITTEN, RefusedError, SampleError
from alchemy_assets.sampling import read_sample
from alchemy_assets.stage_file import AlreadySampledError, StagedFile, SupersededError
from alchemy_assets.stage_object import (
    CLAIM_LEASE_SECONDS,
    CLAIM_WAIT_SECONDS,
    ObjectDeliveryOrder,
    ObjectProvenance,
    read_object_provenance,
    stage_object,
    staging_object,
)
from alchemy_assets.staging import DueFile

DATASET = DatasetId.parse("sp/gics/1.0")
RAW = "raw/env0/data.csv"
SAMPLE = "samples/env0/data_sample.csv"
BRONZE = "bronze/2026/01/18/143000--data.csv"
CSV = b"id,name\n" + b"".join(b"%d,name %d\n" % (i, i) for i in range(500))


@dataclass(frozen=True)
class WatchedStore(StoreRoot):
    """The store, counting what is asked of it: bytes and requests of ranged GETs, whole GETs
    and PUTs by key; ``before_range`` runs once, before the first ranged GET."""

    counts: Counter[str] = field(default_factory=Counter, compare=False)
    puts: Counter[str] = field(default_factory=Counter, compare=False)
    whole_gets: list[str] = field(default_factory=list, compare=False)
    hooks: list[Callable[[], None]] = field(default_factory=list, compare=False)
    lock: threading.Lock = field(default_factory=threading.Lock, compare=False)

    def get_range(self, key: str, start: int, end: int, *, etag: str | None = None) -> bytes:
        with self.lock:
            hooks, self.hooks[:] = list(self.hooks), []
        for hook in hooks:
            hook()
        data = super().get_range(key, start, end, etag=etag)
        with self.lock:
            self.counts["range requests"] += 1
            self.counts["range bytes"] += len(data)
        return data

    def get(self, key: str, *, etag: str | None = None) -> bytes:
        with self.lock:
            self.whole_gets.append(key)
        return super().get(key, etag=etag)

    def put(
        self, key: str, data: bytes, *, if_absent: bool = False, etag: str | None = None
    ) -> str:
        new = super().put(key, data, if_absent=if_absent, etag=etag)
        with self.lock:
            self.puts[key] += 1
        return new


def _layout(s3_root: str) -> ObjectLayout:
    plain = StoreRoot.open(s3_root)
    return ObjectLayout(DATASET, WatchedStore(plain.url, plain.store))


def _store(layout: ObjectLayout) -> WatchedStore:
    assert isinstance(layout.store, WatchedStore)
    return layout.store


def _deliver(
    layout: ObjectLayout,
    data: bytes,
    *,
    bronze: str = BRONZE,
    raw: str = RAW,
    mtime: float = 1_768_746_600.0,
    etag: str = "raw-etag-1",
) -> DueFile:
    """Put ``data`` as bronze object ``bronze``; the due file of its manifest line."""
    layout.store.put(layout.key(bronze), data)
    return DueFile(raw[len("raw/") :], raw, bronze, mtime, "new", len(data), etag=etag)


def _sample_bytes(layout: ObjectLayout, relpath: str = SAMPLE) -> bytes | None:
    key = layout.key(relpath)
    return layout.store.get(key) if layout.store.exists(key) else None


def _keys_under(layout: ObjectLayout, folder: str) -> list[str]:
    return [info.key for info in layout.store.objects(layout.key(folder) + "/")]


def _parquet(rows: int) -> bytes:
    table = pa.table({"id": list(range(rows)), "name": [f"n{i}" for i in range(rows)]})
    out = io.BytesIO()
    pq.write_table(table, out, row_group_size=100)
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("data.csv", CSV),
        ("data.parquet", _parquet(1000)),
        ("data.csv.gz", gzip.compress(CSV)),
    ],
)
def test_the_sample_of_an_object_is_the_sample_of_the_same_bytes_on_disk(
    s3_root: str, tmp_path: Path, name: str, data: bytes
) -> None:
    on_disk = tmp_path / name
    on_disk.write_bytes(data)
    expected, expected_bytes = read_sample(on_disk, 10)
    layout = _layout(s3_root)
    due = _deliver(layout, data, bronze=f"bronze/2026/01/18/143000--{name}", raw=f"raw/env0/{name}")
    with staging_object(layout, due, 10, run_id="run-1") as staged:
        pass
    extension = name.split(".", 1)[1]
    relpath = f"samples/env0/data_sample.{extension}"
    assert staged.sample_relpath == relpath
    assert staged.sample == expected
    assert _sample_bytes(layout, relpath) == expected_bytes
    assert staged.sample_path == f"{s3_root}/sp/gics/1.0/{relpath}"
    assert staged.bronze_path == f"{s3_root}/sp/gics/1.0/{due.bronze}"
    assert staged.bronze_size == len(data)
    provenance = json.loads(
        layout.store.get(layout.key(f"samples/env0/.data_sample.{extension}.source.json"))
    )
    assert {k: provenance[k] for k in ("bronze", "mtime", "etag", "run_id")} == {
        "bronze": due.bronze,
        "mtime": due.mtime,
        "etag": "raw-etag-1",
        "run_id": "run-1",
    }
    assert "claim" not in provenance
    assert layout.key(due.bronze) not in _store(layout).whole_gets


def test_a_50_mb_object_is_sampled_with_few_small_ranged_gets_and_never_a_whole_get(
    s3_root: str,
) -> None:
    row = b"1234567890,abcdefghijklmnopqrstuvwxyz,3.14159\n"
    data = b"a,b,c\n" + row * (50 * 1024 * 1024 // len(row))
    layout = _layout(s3_root)
    due = _deliver(layout, data)
    staged = stage_object(layout, due, 100)
    counts = _store(layout).counts
    assert staged.sample.rows == 100
    assert counts["range bytes"] < 1024 * 1024
    assert counts["range requests"] <= 4
    assert layout.key(due.bronze) not in _store(layout).whole_gets


def test_a_missing_bronze_object_fails_naming_it_and_writes_nothing(s3_root: str) -> None:
    layout = _layout(s3_root)
    due = DueFile("env0/data.csv", RAW, BRONZE, 1.0, "new", 10, etag="e")
    with pytest.raises(SampleError, match=r"143000--data.csv: bronze object is missing"):
        stage_object(layout, due, 10)
    assert _keys_under(layout, "samples") == []


def test_a_bronze_object_of_another_size_than_its_line_is_refused_as_rewritten(
    s3_root: str,
) -> None:
    layout = _layout(s3_root)
    due = _deliver(layout, CSV)
    with pytest.raises(
        RefusedError, match=rf"{len(CSV)} bytes where the manifest line says 7"
    ) as err:
        stage_object(layout, DueFile(due.key, RAW, BRONZE, due.mtime, "new", 7, etag="e"), 10)
    assert err.value.because == REWRITTEN
    assert _keys_under(layout, "samples") == []


def _replace(layout: ObjectLayout, relpath: str, data: bytes) -> None:
    layout.store.put(layout.key(relpath), data)


def test_an_object_replaced_between_head_and_read_is_refused_and_no_sample_is_written(
    s3_root: str,
) -> None:
    layout = _layout(s3_root)
    due = _deliver(layout, CSV)
    replacement = CSV.replace(b"name", b"NAME")
    _store(layout).hooks.append(lambda: _replace(layout, BRONZE, replacement))
    with pytest.raises(RefusedError, match="replaced while it was sampled") as err:
        stage_object(layout, due, 10)
    assert err.value.because == REWRITTEN
    assert _sample_bytes(layout) is None
    # The claim was given back: the next attempt is not kept waiting.
    held = read_object_provenance(layout, SAMPLE)
    assert held == ObjectProvenance(None)


def test_two_runs_staging_one_delivery_at_once_take_one_sample(s3_root: str) -> None:
    layout = _layout(s3_root)
    due = _deliver(layout, CSV)
    recorded: set[tuple[str, float]] = set()
    start = threading.Barrier(2)
    outcomes: dict[str, str] = {}
    provenance = layout.key("samples/env0/.data_sample.csv.source.json")

    def others_reads() -> int:
        return _store(layout).whole_gets.count(provenance)

    def run(run_id: str) -> None:
        start.wait()
        try:
            with staging_object(
                layout,
                due,
                10,
                run_id=run_id,
                recorded=lambda d: (d.bronze, d.mtime) in recorded,
            ):
                # Recording takes until the other run has read the claim twice (at most 10 s):
                # it meets the claim, whatever the threads' timing.
                seen = others_reads()
                deadline = time.monotonic() + 10
                while others_reads() < seen + 2 and time.monotonic() < deadline:
                    time.sleep(0.01)
                recorded.add((due.bronze, due.mtime))
            outcomes[run_id] = "sampled"
        except AlreadySampledError as err:
            outcomes[run_id] = f"skipped: {err}"

    threads = [threading.Thread(target=run, args=(f"run-{i}",)) for i in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(o.split(":")[0] for o in outcomes.values()) == ["sampled", "skipped"]
    assert _store(layout).puts[layout.key(SAMPLE)] == 1
    (winner,) = [run_id for run_id, o in outcomes.items() if o == "sampled"]
    held = read_object_provenance(layout, SAMPLE)
    assert held is not None and held.held is not None
    assert held.held.run_id == winner
    assert held.claim is None
    (skipped,) = [o for o in outcomes.values() if o != "sampled"]
    assert f"sampled and recorded by run {winner}: not sampled again" in skipped


def test_a_delivery_sampled_and_recorded_is_not_sampled_again(s3_root: str) -> None:
    layout = _layout(s3_root)
    due = _deliver(layout, CSV)
    with staging_object(layout, due, 10, run_id="run-1", recorded=lambda d: True):
        pass
    with pytest.raises(AlreadySampledError, match="sampled and recorded by run run-1"):
        stage_object_with(layout, due, run_id="run-2", recorded=lambda d: True)
    # Not recorded by the instance (the run crashed before recording): sampled again.
    with staging_object(layout, due, 10, run_id="run-3", recorded=lambda d: False):
        pass
    assert _store(layout).puts[layout.key(SAMPLE)] == 2


def _log(layout: ObjectLayout, *dues: DueFile) -> None:
    lines = [encode_line(d.raw, d.bronze, d.mtime, d.size, etag=d.etag) for d in dues]
    write_segment(layout, lines, after=None, day_lines={})


def test_an_earlier_delivery_never_replaces_the_sample_of_a_later_one(s3_root: str) -> None:
    layout = _layout(s3_root)
    first = _deliver(layout, b"v\n1\n", bronze="bronze/2026/01/18/143000--data.csv")
    second = _deliver(
        layout, b"v\n2\n", bronze="bronze/2026/01/19/143000--data.csv", mtime=2e9, etag="e2"
    )
    _log(layout, first, second)
    stage_object(layout, second, 10)
    with pytest.raises(SupersededError, match=r"19/143000--data\.csv, a later manifest line"):
        stage_object(layout, first, 10)
    assert _sample_bytes(layout) == b"v\n2\n"
    held = read_object_provenance(layout, SAMPLE)
    assert held is not None and held.held is not None and held.held.bronze == second.bronze
    assert ObjectDeliveryOrder(layout).later(second.bronze, first.bronze)


def test_a_run_slow_past_its_lease_cannot_write_over_its_successors_later_sample(
    s3_root: str,
) -> None:
    layout = _layout(s3_root)
    first = _deliver(layout, b"v\n1\n", bronze="bronze/2026/01/18/143000--data.csv")
    second = _deliver(
        layout, b"v\n2\n", bronze="bronze/2026/01/19/143000--data.csv", mtime=2e9, etag="e2"
    )
    _log(layout, first, second)
    taken_over: list[StagedFile] = []
    # While the slow run reads, another run finds its claim past the lease and stages the
    # later delivery.
    _store(layout).hooks.append(
        lambda: taken_over.append(stage_object_with(layout, second, run_id="fast", lease=0.0))
    )
    with pytest.raises(SampleError, match="claim was taken over by another run"):
        stage_object_with(layout, first, run_id="slow")
    assert len(taken_over) == 1
    assert _sample_bytes(layout) == b"v\n2\n"
    held = read_object_provenance(layout, SAMPLE)
    assert held is not None and held.held is not None
    assert (held.held.bronze, held.held.run_id, held.claim) == (second.bronze, "fast", None)


def stage_object_with(
    layout: ObjectLayout,
    due: DueFile,
    *,
    run_id: str,
    recorded: Callable[[DueFile], bool] | None = None,
    lease: float = CLAIM_LEASE_SECONDS,
    wait: float = CLAIM_WAIT_SECONDS,
) -> StagedFile:
    """``due`` staged by run ``run_id``, in manifest order."""
    with staging_object(
        layout,
        due,
        10,
        run_id=run_id,
        recorded=recorded,
        order=ObjectDeliveryOrder(layout),
        lease=lease,
        wait=wait,
    ) as staged:
        return staged


def _leave_claim(layout: ObjectLayout, due: DueFile, run_id: str) -> None:
    """What a run that crashed after claiming leaves behind."""
    key = layout.key("samples/env0/.data_sample.csv.source.json")
    doc = {"bronze": None, "sample_etag": None, "claim": {"bronze": due.bronze, "run_id": run_id}}
    layout.store.put(key, json.dumps(doc).encode())


def test_a_fresh_claim_of_another_run_is_waited_for_then_fails_retryably(s3_root: str) -> None:
    layout = _layout(s3_root)
    due = _deliver(layout, CSV)
    _leave_claim(layout, due, "crashed")
    with pytest.raises(SampleError, match=r"being staged by run crashed .*taken over after 600 s"):
        stage_object_with(layout, due, run_id="run-2", wait=0.3)
    assert _sample_bytes(layout) is None


def test_a_machine_whose_clock_runs_an_hour_ahead_waits_for_a_fresh_claim(
    s3_root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its own clock says the claim is past its 600 s lease; the store's says it is seconds
    old: the claim is waited for, not taken over, and the probe that asked leaves nothing."""
    layout = _layout(s3_root)
    due = _deliver(layout, CSV)
    _leave_claim(layout, due, "live")
    monkeypatch.setattr(stage_object_module, "local_clock", lambda: time.time() + 3600)
    with pytest.raises(SampleError, match=r"being staged by run live\b.*claimed [0-9] s ago"):
        stage_object_with(layout, due, run_id="run-2", wait=0.3)
    assert _sample_bytes(layout) is None
    provenance = read_object_provenance(layout, SAMPLE)
    assert provenance is not None and provenance.claim is not None
    assert provenance.claim.run_id == "live"
    assert [k for k in _keys_under(layout, "samples") if k.endswith(".clock")] == []


def test_a_claim_past_its_lease_or_of_the_same_run_is_taken_over(s3_root: str) -> None:
    layout = _layout(s3_root)
    due = _deliver(layout, CSV)
    _leave_claim(layout, due, "crashed")
    with staging_object(layout, due, 10, run_id="run-2", lease=0.0, wait=0.0) as staged:
        assert staged.sample.rows == 10
    _leave_claim(layout, due, "run-3")
    with staging_object(layout, due, 10, run_id="run-3", wait=0.0):
        pass
    held = read_object_provenance(layout, SAMPLE)
    assert held is not None and held.held is not None
    assert (held.held.run_id, held.claim) == ("run-3", None)


@pytest.mark.parametrize(
    ("bronze", "raw", "message"),
    [
        ("bronze/../raw/env0/data.csv", RAW, "no '..', '.' or empty segment"),
        ("bronze/2026//data.csv", RAW, "no '..', '.' or empty segment"),
        (BRONZE, "raw/env0/../../x.csv", "no '..', '.' or empty segment"),
        ("raw/env0/data.csv", RAW, "not a file under bronze/"),
    ],
)
def test_a_path_outside_its_folder_is_refused_with_nothing_read_or_written(
    s3_root: str, bronze: str, raw: str, message: str
) -> None:
    layout = _layout(s3_root)
    layout.store.put(layout.key("raw/env0/data.csv"), CSV)
    due = DueFile("env0/data.csv", raw, bronze, 1.0, "new", len(CSV), etag="e")
    with pytest.raises(LayoutError, match=message):
        stage_object(layout, due, 10)
    assert [i.key for i in layout.store.objects("")] == [layout.key("raw/env0/data.csv")]
    assert _store(layout).counts["range requests"] == 0


def test_a_pdf_is_recorded_as_not_data_and_the_earlier_sample_goes(s3_root: str) -> None:
    layout = _layout(s3_root)
    stage_object(layout, _deliver(layout, CSV), 10)
    assert _sample_bytes(layout) is not None
    pdf = b"%PDF-1.7\n" + b"\x00\x01binary" * 100
    due = _deliver(layout, pdf, bronze="bronze/2026/01/19/143000--data.csv", etag="e2")
    with staging_object(layout, due, 10, run_id="run-2") as staged:
        pass
    assert staged.not_data is not None and staged.not_data.kind == "pdf"
    assert staged.sample.rows == 0
    assert _sample_bytes(layout) is None
    held = read_object_provenance(layout, SAMPLE)
    assert held is not None and held.held is not None
    assert (held.held.bronze, held.held.run_id, held.sample_etag) == (due.bronze, "run-2", None)
