"""``alchemy ingest`` on an object store (ingest_objects.py), against moto's S3 server."""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alchemy_assets import ingest_objects as module
from alchemy_assets import manifest_log
from alchemy_assets.bronze_naming import bronze_relpath
from alchemy_assets.ingest import IngestError
from alchemy_assets.ingest_objects import ingest_objects
from alchemy_assets.layout import DatasetId
from alchemy_assets.manifest_line import ManifestEntry
from alchemy_assets.manifest_log import list_segments, read_whole_log
from alchemy_assets.object_layout import ObjectLayout
from alchemy_assets.object_store import StoreRoot
from alchemy_assets_tests.s3 import SECRET_KEY, FaultProxy, S3Server

WHEN = datetime(2026, 1, 18, 14, 30, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def quiet_moto() -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)


@pytest.fixture
def layout(s3_root: str) -> ObjectLayout:
    return ObjectLayout(DatasetId.parse("sp/gics/1.0"), StoreRoot.open(s3_root))


def clock() -> datetime:
    return WHEN


def put_raw(layout: ObjectLayout, relpath: str, data: bytes = b"a,b\n1,2\n") -> None:
    layout.store.put(layout.key(relpath), data)


def lines(layout: ObjectLayout) -> list[ManifestEntry]:
    return [entry for batch in read_whole_log(layout) for entry in batch.entries]


def bronze_keys(layout: ObjectLayout) -> set[str]:
    return {layout.relative(info.key) for info in layout.store.objects(layout.key("bronze") + "/")}


def pending(layout: ObjectLayout) -> list[str]:
    return [info.key for info in layout.store.objects(layout.key(module.PENDING) + "/")]


def bucket_and_key(layout: ObjectLayout, relpath: str) -> tuple[str, str]:
    bucket, _, prefix = layout.store.url.removeprefix("s3://").partition("/")
    return bucket, f"{prefix}/{layout.prefix}/{relpath}"


def test_a_new_object_is_copied_to_bronze_and_recorded_with_its_etag(
    layout: ObjectLayout,
) -> None:
    put_raw(layout, "raw/env0/sub/data.csv", b"x,y\n1,2\n")
    info = layout.store.head(layout.key("raw/env0/sub/data.csv"))

    report = ingest_objects(layout, clock=clock)

    assert report.failed == []
    [copied] = report.copied
    assert copied.bronze == "bronze/2026/01/18/143000--data.csv"
    assert copied.etag == info.etag.strip('"')
    [line] = lines(layout)
    assert (line.raw, line.bronze, line.size) == ("raw/env0/sub/data.csv", copied.bronze, 8)
    assert (line.mtime, line.etag) == (info.mtime, info.etag.strip('"'))
    assert layout.store.get(layout.key(copied.bronze)) == b"x,y\n1,2\n"
    assert [s.sequence for s in list_segments(layout)] == [0]
    assert layout.store.exists(layout.daily_segment_key("2026-01-18", 0))
    assert pending(layout) == []


def test_an_unchanged_object_is_skipped_and_a_re_put_one_is_copied_again(
    layout: ObjectLayout,
) -> None:
    put_raw(layout, "raw/env0/data.csv", b"1\n")
    ingest_objects(layout, clock=clock)

    again = ingest_objects(layout, clock=clock)
    assert (again.copied, again.unchanged) == ([], 1)

    put_raw(layout, "raw/env0/data.csv", b"2\n")  # same key, same second maybe: a new ETag
    third = ingest_objects(layout, clock=clock)
    [copied] = third.copied
    assert copied.bronze == "bronze/2026/01/18/143000-001--data.csv"
    assert [line.etag for line in lines(layout)] == [
        "b026324c6904b2a9cb4b88d6d61c81d1",
        "26ab0db90d72e28ad0ba1e22ee510510",
    ]
    assert [s.sequence for s in list_segments(layout)] == [0, 1]


def test_a_bronze_name_taken_already_gives_the_next_attempt_name(layout: ObjectLayout) -> None:
    taken = bronze_relpath("raw/env0/data.csv", WHEN, 0)
    layout.store.put(layout.key(taken), b"someone else's")
    put_raw(layout, "raw/env0/data.csv", b"mine\n")

    [copied] = ingest_objects(layout, clock=clock).copied

    assert copied.bronze == bronze_relpath("raw/env0/data.csv", WHEN, 1)
    assert layout.store.get(layout.key(taken)) == b"someone else's"
    assert layout.store.get(layout.key(copied.bronze)) == b"mine\n"


def test_objects_outside_an_env_folder_fail_alone_and_hidden_ones_are_skipped(
    layout: ObjectLayout,
) -> None:
    put_raw(layout, "raw/loose.csv")
    put_raw(layout, "raw/env0/.partial.csv")
    put_raw(layout, "raw/.tool/state.csv")
    put_raw(layout, "raw/env0/good.csv")

    report = ingest_objects(layout, clock=clock)

    assert [c.raw for c in report.copied] == ["raw/env0/good.csv"]
    [(raw, reason)] = report.failed
    assert raw == "raw/loose.csv"
    assert (
        reason
        == f"{layout.root}/raw/loose.csv: not inside an env folder (raw/<env>/...); not ingested"
    )


def test_keys_with_dot_dot_or_an_empty_segment_fail_alone(
    layout: ObjectLayout, s3_server: S3Server
) -> None:
    client = s3_server.client()
    for relpath in ("raw/env0/../evil.csv", "raw/env0//empty.csv", "raw/env0/./dot.csv"):
        bucket, key = bucket_and_key(layout, relpath)
        client.put_object(Bucket=bucket, Key=key, Body=b"x\n")
    put_raw(layout, "raw/env0/good.csv")
    put_raw(layout, "raw/env1/later.csv")

    report = ingest_objects(layout, clock=clock)

    assert sorted(c.raw for c in report.copied) == ["raw/env0/good.csv", "raw/env1/later.csv"]
    assert sorted(raw for raw, _ in report.failed) == [
        "raw/env0/../evil.csv",
        "raw/env0/./dot.csv",
        "raw/env0//empty.csv",
    ]
    for raw, reason in report.failed:
        assert reason == (
            f"{layout.root}/{raw}: the key has an empty, '.' or '..' segment; "
            "not ingested (rename the object)"
        )
    assert all(".." not in key and "//" not in key for key in bronze_keys(layout))


def test_an_object_replaced_while_copied_fails_alone_and_leaves_no_bronze(
    layout: ObjectLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    put_raw(layout, "raw/env0/moving.csv", b"old\n")
    put_raw(layout, "raw/env0/still.csv", b"still\n")
    copy = StoreRoot.copy_if_absent

    def copy_then_replace(self: StoreRoot, source: str, target: str) -> None:
        copy(self, source, target)
        if source.endswith("moving.csv"):
            self.put(source, b"new\n")

    monkeypatch.setattr(StoreRoot, "copy_if_absent", copy_then_replace)
    report = ingest_objects(layout, clock=clock)

    assert [c.raw for c in report.copied] == ["raw/env0/still.csv"]
    assert report.failed == [
        (
            "raw/env0/moving.csv",
            f"{layout.root}/raw/env0/moving.csv: changed while copied; the next ingest takes it",
        )
    ]
    assert bronze_keys(layout) == {"bronze/2026/01/18/143000--still.csv"}
    monkeypatch.setattr(StoreRoot, "copy_if_absent", copy)
    [retaken] = ingest_objects(layout, clock=clock).copied
    assert layout.store.get(layout.key(retaken.bronze)) == b"new\n"


def test_an_object_above_the_single_copy_limit_is_copied_in_parts(
    layout: ObjectLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(module, "MULTIPART_COPY_ABOVE", 1024 * 1024)
    monkeypatch.setattr(module, "PART_BYTES", 5 * 1024 * 1024)
    data = bytes(range(256)) * (12 * 1024 * 1024 // 256 + 7)
    put_raw(layout, "raw/env0/big.bin", data)

    report = ingest_objects(layout, clock=clock, checksum=True)

    assert report.failed == []
    [copied] = report.copied
    bronze = layout.store.head(layout.key(copied.bronze))
    assert bronze.etag.strip('"').endswith("-3")  # three parts: 5 + 5 + 2 MiB
    assert layout.store.get(layout.key(copied.bronze)) == data
    import hashlib

    assert lines(layout)[0].sha256 == hashlib.sha256(data).hexdigest()


def test_a_copy_in_parts_refuses_a_bronze_name_taken_and_takes_the_next(
    layout: ObjectLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(module, "MULTIPART_COPY_ABOVE", 10)
    monkeypatch.setattr(module, "PART_BYTES", 5 * 1024 * 1024)
    layout.store.put(layout.key(bronze_relpath("raw/env0/a.csv", WHEN)), b"taken")
    put_raw(layout, "raw/env0/a.csv", b"0123456789abcdef")

    [copied] = ingest_objects(layout, clock=clock).copied

    assert copied.bronze == bronze_relpath("raw/env0/a.csv", WHEN, 1)
    assert layout.store.get(layout.key(bronze_relpath("raw/env0/a.csv", WHEN))) == b"taken"


def test_two_ingests_at_once_claim_distinct_segments_and_lose_no_line(
    layout: ObjectLayout,
) -> None:
    for n in range(40):
        put_raw(layout, f"raw/env{n % 2}/file{n:02d}.csv", f"{n}\n".encode())
    start = threading.Barrier(2)

    def run() -> Any:
        start.wait()
        return ingest_objects(layout, clock=clock)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(lambda _: run(), range(2)))

    recorded = lines(layout)
    sequences = [s.sequence for s in list_segments(layout)]
    assert len(sequences) == len(set(sequences)) >= 1
    copied = [(c.raw, c.bronze) for r in reports for c in r.copied]
    assert sorted(copied) == sorted((line.raw, line.bronze) for line in recorded)
    assert len({bronze for _, bronze in copied}) == len(copied)
    assert {line.raw for line in recorded} == {f"raw/env{n % 2}/file{n:02d}.csv" for n in range(40)}
    assert {line.bronze for line in recorded} == bronze_keys(layout)
    assert all(r.failed == [] for r in reports)


class Killed(BaseException):
    """A kill in the middle of an ingest: no handler of the code under test runs."""


def test_a_run_killed_before_its_segment_leaves_no_bronze_without_a_line_after_the_next(
    layout: ObjectLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(5):
        put_raw(layout, f"raw/env0/f{n}.csv", f"{n}\n".encode())
    write_segment = manifest_log.write_segment

    def killed(*args: Any, **kwargs: Any) -> int:
        raise Killed

    monkeypatch.setattr(module, "write_segment", killed)
    with pytest.raises(Killed):
        ingest_objects(layout, clock=clock)
    assert len(bronze_keys(layout)) == 5 and lines(layout) == []
    assert len(pending(layout)) == 1
    monkeypatch.setattr(module, "write_segment", write_segment)

    # Within the lease the journal may be a live ingest's: left alone, said so.
    later = lambda: WHEN + timedelta(seconds=1)  # noqa: E731
    live = ingest_objects(layout, clock=later)
    assert len(live.copied) == 5
    assert any("younger than 0:15:00" in note for note in live.notes)
    assert len(bronze_keys(layout)) == 10

    recovered = ingest_objects(layout, clock=later, lease=timedelta(0))
    assert recovered.copied == [] and recovered.unchanged == 5
    assert recovered.notes == [
        "removed 5 bronze copies an interrupted ingest left without manifest lines"
    ]
    assert bronze_keys(layout) == {line.bronze for line in lines(layout)}
    assert pending(layout) == []


def test_a_run_killed_before_its_segment_is_recovered_and_recopied_by_recover_all(
    layout: ObjectLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    put_raw(layout, "raw/env0/f.csv", b"f\n")

    def killed(*args: Any, **kwargs: Any) -> int:
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(module, "write_segment", killed)
        with pytest.raises(Killed):
            ingest_objects(layout, clock=clock)

    report = ingest_objects(layout, clock=clock, recover_all=True)

    # The orphan took attempt 0; recovery removed it before the listing, so the copy again
    # takes the same name, now with its line.
    assert [c.bronze for c in report.copied] == ["bronze/2026/01/18/143000--f.csv"]
    assert bronze_keys(layout) == {line.bronze for line in lines(layout)}
    assert pending(layout) == []


def test_a_server_that_stops_mid_run_loses_no_line_and_the_next_run_completes(
    s3_root: str, s3_proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server stops answering (connections closed) after a third of an ingest's copies:
    the run fails in one clear line; once it is back, the next ingest (after the journal's
    lease) records every object once and leaves no bronze object without its line."""
    monkeypatch.setenv("ALCHEMY_STORE_RETRIES", "0")
    layout = ObjectLayout(DatasetId.parse("sp/gics/1.0"), StoreRoot.open(s3_root))
    for n in range(30):
        put_raw(layout, f"raw/env0/f{n:02d}.csv", f"{n}\n".encode())
    s3_proxy.drop, s3_proxy.fail_after = True, len(s3_proxy.requests) + 60
    first = ingest_objects(layout, clock=clock)
    # Every object is reported, each in one line; none is recorded as copied.
    assert first.copied == []
    assert sorted(raw for raw, _ in first.failed) == [f"raw/env0/f{n:02d}.csv" for n in range(30)]
    for _, reason in first.failed:
        assert "is the store reachable?" in reason and "\n" not in reason, reason
        assert SECRET_KEY not in reason, reason
    s3_proxy.fail_after = None  # the server is back
    # Some copies were made before it stopped; none has a line (the segment is written after
    # the copies, and could not be).
    assert bronze_keys(layout) and lines(layout) == []
    ingest_objects(layout, clock=clock, lease=timedelta(0))
    recorded = Counter(line.raw for line in lines(layout))
    assert recorded == Counter(f"raw/env0/f{n:02d}.csv" for n in range(30)), recorded
    assert bronze_keys(layout) == {line.bronze for line in lines(layout)}
    assert pending(layout) == []


def test_a_missing_bucket_stops_the_dataset_with_one_line(s3_root: str) -> None:
    store = StoreRoot.open(s3_root.replace("s3://lake-", "s3://gone-"))
    with pytest.raises(IngestError) as raised:
        ingest_objects(ObjectLayout(DatasetId.parse("sp/gics/1.0"), store), clock=clock)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"{store.url}/sp/gics/1.0/manifests/pending/: LIST failed:")
    assert message.endswith("(the bucket does not exist)")


def test_a_listing_of_more_than_one_page_is_ingested_whole(
    layout: ObjectLayout, s3_server: S3Server
) -> None:
    client = s3_server.client()
    names = [f"raw/env0/part-{n:05d}.csv" for n in range(1100)]

    def put(relpath: str) -> None:
        bucket, key = bucket_and_key(layout, relpath)
        client.put_object(Bucket=bucket, Key=key, Body=b"1\n")

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(put, names))

    report = ingest_objects(layout, clock=clock)

    assert report.failed == []
    assert sorted(c.raw for c in report.copied) == names
    assert len(list(list_segments(layout))) == 3  # groups of 512
    assert {line.raw for line in lines(layout)} == set(names)
    assert ingest_objects(layout, clock=clock).unchanged == 1100


def test_an_object_deleted_before_its_copy_fails_alone_saying_so(
    layout: ObjectLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    put_raw(layout, "raw/env0/gone.csv")
    put_raw(layout, "raw/env0/kept.csv")
    copy = StoreRoot.copy_if_absent

    def delete_then_copy(self: StoreRoot, source: str, target: str) -> None:
        if source.endswith("gone.csv"):
            self.delete(source)
        copy(self, source, target)

    monkeypatch.setattr(StoreRoot, "copy_if_absent", delete_then_copy)
    report = ingest_objects(layout, clock=clock)

    assert [c.raw for c in report.copied] == ["raw/env0/kept.csv"]
    assert report.failed == [
        ("raw/env0/gone.csv", f"{layout.root}/raw/env0/gone.csv: deleted before it was copied")
    ]
