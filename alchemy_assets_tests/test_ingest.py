import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alchemy_assets.ingest import IngestError, ingest, last_entries
from alchemy_assets.layout import DatasetId, DatasetLayout
from alchemy_assets_tests.conftest import FIGURES, RawWriter

WHEN = datetime(2026, 1, 18, 14, 30, 0, tzinfo=UTC)


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_new_files_are_copied_to_bronze_and_recorded(
    layout: DatasetLayout, write_raw: RawWriter
) -> None:
    write_raw("env0/data.csv", b"a,b\n1,2\n", 1737200000.5)
    write_raw("env1/file.parquet", b"PAR1", 1737200100.0)
    report = ingest(layout, clock=lambda: WHEN)
    assert (report.unchanged, report.failed) == (0, [])
    assert _lines(layout.manifest) == [
        {
            "raw": "raw/env0/data.csv",
            "bronze": "bronze/2026/01/18/143000--data.csv",
            "mtime": 1737200000.5,
            "size": 8,
        },
        {
            "raw": "raw/env1/file.parquet",
            "bronze": "bronze/2026/01/18/143000--file.parquet",
            "mtime": 1737200100.0,
            "size": 4,
        },
    ]
    assert layout.daily_manifest("2026-01-18").read_bytes() == layout.manifest.read_bytes()
    bronze = layout.root / "bronze/2026/01/18/143000--data.csv"
    assert bronze.read_bytes() == b"a,b\n1,2\n"
    assert bronze.stat().st_mtime == 1737200000.5


def test_running_twice_with_nothing_changed_appends_nothing(
    layout: DatasetLayout, write_raw: RawWriter
) -> None:
    write_raw("env0/data.csv", b"x\n", 1.0)
    ingest(layout, clock=lambda: WHEN)
    before = layout.manifest.read_bytes()
    again = ingest(layout, clock=lambda: WHEN)
    assert (len(again.copied), again.unchanged) == (0, 1)
    assert layout.manifest.read_bytes() == before


def test_a_changed_mtime_is_copied_again_to_a_new_bronze_file(
    layout: DatasetLayout, write_raw: RawWriter
) -> None:
    write_raw("env0/data.csv", b"v1\n", 1.0)
    ingest(layout, clock=lambda: WHEN)
    write_raw("env0/data.csv", b"v2\n", 2.0)
    report = ingest(layout, clock=lambda: WHEN)
    assert [(c.raw, c.bronze, c.mtime) for c in report.copied] == [
        ("raw/env0/data.csv", "bronze/2026/01/18/143000-001--data.csv", 2.0)
    ]
    assert (layout.root / "bronze/2026/01/18/143000--data.csv").read_bytes() == b"v1\n"
    assert {raw: e.mtime for raw, e in last_entries(layout)[0].items()} == {
        "raw/env0/data.csv": 2.0
    }


def test_a_restatement_that_keeps_its_mtime_but_not_its_size_is_copied_again(
    layout: DatasetLayout, write_raw: RawWriter
) -> None:
    """What rsync -t, cp -p, unzip and tar x leave: new content, the business date's mtime."""
    write_raw("env0/prices.csv", b"day,px\n1,10\n2,11\n", 1737200000.0)
    ingest(layout, clock=lambda: WHEN)
    write_raw("env0/prices.csv", b"day,px\n1,10\n2,11\n3,12\n", 1737200000.0)
    report = ingest(layout, clock=lambda: WHEN)
    assert (report.unchanged, [(c.raw, c.size) for c in report.copied]) == (
        0,
        [("raw/env0/prices.csv", 22)],
    )
    assert [line["size"] for line in _lines(layout.manifest)] == [17, 22]


def test_a_line_without_a_size_is_compared_by_mtime_alone(
    layout: DatasetLayout, write_raw: RawWriter
) -> None:
    """Lines of other writers carry no size: the mtime-only rule holds for them."""
    write_raw("env0/data.csv", b"v1\n", 1.0)
    (layout.root / "bronze").mkdir(exist_ok=True)
    (layout.root / "bronze/old--data.csv").write_bytes(b"v1\n")
    layout.manifests.mkdir(parents=True, exist_ok=True)
    layout.manifest.write_text(
        json.dumps({"raw": "raw/env0/data.csv", "bronze": "bronze/old--data.csv", "mtime": 1.0})
        + "\n"
    )
    write_raw("env0/data.csv", b"v1 longer\n", 1.0)
    report = ingest(layout, clock=lambda: WHEN)
    assert (len(report.copied), report.unchanged) == (0, 1)


def test_by_checksum_a_rewrite_with_the_same_size_and_mtime_is_copied_again(
    layout: DatasetLayout, write_raw: RawWriter
) -> None:
    write_raw("env0/data.csv", b"a,b\n1,2\n", 5.0)
    first = ingest(layout, clock=lambda: WHEN, checksum=True)
    digest = hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    assert [c.sha256 for c in first.copied] == [digest]
    again = ingest(layout, clock=lambda: WHEN, checksum=True)
    assert (len(again.copied), again.unchanged) == (0, 1)
    write_raw("env0/data.csv", b"a,b\n1,3\n", 5.0)
    assert ingest(layout, clock=lambda: WHEN).unchanged == 1  # the quick check cannot tell
    restated = ingest(layout, clock=lambda: WHEN, checksum=True)
    assert [c.sha256 for c in restated.copied] == [hashlib.sha256(b"a,b\n1,3\n").hexdigest()]
    assert [line.get("sha256") for line in _lines(layout.manifest)] == [
        digest,
        restated.copied[0].sha256,
    ]


def test_by_checksum_a_line_without_one_is_compared_with_its_bronze_copy(
    layout: DatasetLayout, write_raw: RawWriter
) -> None:
    """Switching a dataset to checksums copies nothing again that did not change."""
    write_raw("env0/same.csv", b"x\n", 5.0)
    write_raw("env0/rewritten.csv", b"y\n", 5.0)
    ingest(layout, clock=lambda: WHEN)
    write_raw("env0/rewritten.csv", b"z\n", 5.0)
    report = ingest(layout, clock=lambda: WHEN, checksum=True)
    assert ([c.raw for c in report.copied], report.unchanged) == (["raw/env0/rewritten.csv"], 1)


def test_the_same_name_under_two_envs_in_one_second_gets_two_bronze_files(
    layout: DatasetLayout, write_raw: RawWriter
) -> None:
    write_raw("env0/data.csv", b"zero\n", 1.0)
    write_raw("env1/data.csv", b"one\n", 1.0)
    report = ingest(layout, clock=lambda: WHEN)
    assert [c.bronze for c in report.copied] == [
        "bronze/2026/01/18/143000--data.csv",
        "bronze/2026/01/18/143000-001--data.csv",
    ]
    assert [(layout.root / c.bronze).read_bytes() for c in report.copied] == [b"zero\n", b"one\n"]


def test_hidden_files_are_left_for_later_and_sub_folders_are_walked(
    layout: DatasetLayout, write_raw: RawWriter
) -> None:
    write_raw("env0/.data.csv.partial", b"x", 1.0)
    write_raw("env0/2026/q1/data.csv", b"x", 1.0)
    report = ingest(layout, clock=lambda: WHEN)
    assert [c.raw for c in report.copied] == ["raw/env0/2026/q1/data.csv"]


def test_a_bad_raw_file_fails_alone_and_the_others_go_on(
    layout: DatasetLayout, write_raw: RawWriter, tmp_path: Path
) -> None:
    write_raw("env0/a.csv", b"a\n", 1.0)
    os.mkfifo(layout.raw / "env0" / "b.fifo")
    outside = tmp_path / "secret.csv"
    outside.write_bytes(b"secret")
    (layout.raw / "env0" / "c.csv").symlink_to(outside)
    write_raw("env0/d.csv", b"d\n", 1.0)
    report = ingest(layout, clock=lambda: WHEN)
    assert [c.raw for c in report.copied] == ["raw/env0/a.csv", "raw/env0/d.csv"]
    assert [(raw, reason.split(": ")[-1]) for raw, reason in report.failed] == [
        ("raw/env0/b.fifo", "not a regular file"),
        ("raw/env0/c.csv", "a symlink; only regular files are ingested"),
    ]
    assert b"secret" not in b"".join(p.read_bytes() for p in layout.bronze.rglob("*.csv"))


def test_bad_manifest_lines_are_reported_and_do_not_stop_ingest(
    layout: DatasetLayout, write_raw: RawWriter
) -> None:
    layout.manifest.write_bytes(b"garbage\n")
    write_raw("env0/a.csv", b"a\n", 1.0)
    report = ingest(layout, clock=lambda: WHEN)
    assert [c.raw for c in report.copied] == ["raw/env0/a.csv"]
    assert [(r.offset, r.reason[:12]) for r in report.quarantined] == [(0, "invalid JSON")]


_LIMITED_INGEST = """
import resource, sys
from pathlib import Path
from alchemy_assets.ingest import ingest
from alchemy_assets.layout import DatasetId, DatasetLayout
resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))
report = ingest(DatasetLayout.under(Path(sys.argv[1]), DatasetId.parse("sp/gics_cwiq_pipe/1.0")))
print(len(report.copied), [raw for raw, _ in report.failed], [r[1] for r in report.failed])
"""


def _leftovers(layout: DatasetLayout) -> list[str]:
    return [p.name for p in layout.root.rglob(".*.tmp")]


def test_a_file_size_limit_fails_that_file_loudly_and_leaves_no_temp_file(
    fp_prefix: Path, layout: DatasetLayout, write_raw: RawWriter
) -> None:
    write_raw("env0/big.csv", b"x" * 3_000_000, 1.0)
    write_raw("env0/small.csv", b"a\n1\n", 2.0)
    result = subprocess.run(
        [sys.executable, "-c", _LIMITED_INGEST, str(fp_prefix)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.startswith("1 ['raw/env0/big.csv'] ["), result.stdout
    assert "File too large" in result.stdout
    assert [e["raw"] for e in _lines(layout.manifest)] == ["raw/env0/small.csv"]
    assert _leftovers(layout) == []
    FIGURES["short writes (RLIMIT_FSIZE) failed loudly"] += 1


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs, where this machine allows mounting one."""
    mount_point = tmp_path / "small_disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def test_a_full_disk_fails_the_copy_and_appends_no_line(small_disk: Path) -> None:
    layout = DatasetLayout.under(small_disk, DatasetId.parse("sp/full/1"))
    layout.ensure()
    (layout.raw / "env0").mkdir()
    (layout.raw / "env0" / "a.csv").write_bytes(b"a\n1\n")
    (layout.raw / "env0" / "z.csv").write_bytes(b"x" * 1_200_000)  # the copy cannot fit
    report = ingest(layout, clock=lambda: WHEN)
    assert [c.raw for c in report.copied] == ["raw/env0/a.csv"]
    assert [raw for raw, _ in report.failed] == ["raw/env0/z.csv"]
    assert "No space left on device" in report.failed[0][1]
    assert [e["raw"] for e in _lines(layout.manifest)] == ["raw/env0/a.csv"]
    assert _leftovers(layout) == []
    FIGURES["disk-full copies failed loudly (tmpfs)"] += 1


def test_more_files_than_one_group_commit_are_all_copied_in_order(
    layout: DatasetLayout, write_raw: RawWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("alchemy_assets.ingest.BATCH_FILES", 4)
    for i in range(10):
        write_raw(f"env0/f{i:02d}.csv", b"a\n%d\n" % i, float(i))
    report = ingest(layout, clock=lambda: WHEN)
    assert [c.raw for c in report.copied] == [f"raw/env0/f{i:02d}.csv" for i in range(10)]
    assert [e["raw"] for e in _lines(layout.manifest)] == [c.raw for c in report.copied]
    assert layout.daily_manifest("2026-01-18").read_bytes() == layout.manifest.read_bytes()
    assert [(layout.root / c.bronze).read_bytes() for c in report.copied] == [
        b"a\n%d\n" % i for i in range(10)
    ]


@pytest.fixture
def one_second_bronze(layout: DatasetLayout) -> Iterator[Path]:
    """``bronze/`` on an ext4 file system with 1-second timestamps (128-byte inodes), where
    this machine allows a loop mount; ``raw/`` stays on a file system with nanoseconds."""
    mkfs = shutil.which("mkfs.ext4") or "/usr/sbin/mkfs.ext4"
    image = layout.root.parent / "one_second.img"
    with image.open("wb") as handle:
        handle.truncate(16 * 1024 * 1024)
    made = subprocess.run(
        [mkfs, "-q", "-F", "-I", "128", str(image)], capture_output=True, text=True, check=False
    )
    if made.returncode != 0:
        pytest.skip(f"cannot make an ext4 image here: {made.stderr.strip()}")
    mounted = subprocess.run(
        ["mount", "-o", "loop", str(image), str(layout.bronze)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot loop-mount a file system here: {mounted.stderr.strip()}")
    try:
        yield layout.bronze
    finally:
        subprocess.run(["umount", str(layout.bronze)], check=True)


def _bronze_files(layout: DatasetLayout) -> list[str]:
    return sorted(
        layout.relative(p)
        for p in layout.bronze.rglob("*")
        if p.is_file() and "lost+found" not in p.parts
    )


def test_bronze_with_one_second_timestamps_copies_nothing_when_nothing_changed(
    layout: DatasetLayout, write_raw: RawWriter, one_second_bronze: Path
) -> None:
    stamps = [1_737_200_000_123_456_789, 1_737_200_100_999_999_999]
    for name, ns in zip(("a.csv", "b.csv"), stamps, strict=True):
        os.utime(write_raw(f"env0/{name}", b"x\n", 0.0), ns=(ns, ns))
    assert len(ingest(layout, clock=lambda: WHEN).copied) == 2
    again = ingest(layout, clock=lambda: WHEN)
    assert (len(again.copied), again.unchanged, again.failed) == (0, 2, [])
    raw_mtimes = [(layout.raw / "env0" / n).stat().st_mtime for n in ("a.csv", "b.csv")]
    assert [e["mtime"] for e in _lines(layout.manifest)] == raw_mtimes
    # The bronze copy keeps the mtime as far as its file system can: whole seconds here.
    assert [(layout.root / e["bronze"]).stat().st_mtime for e in _lines(layout.manifest)] == [  # type: ignore[operator]
        1737200000.0,
        1737200100.0,
    ]
    assert len(_bronze_files(layout)) == 2


_FAILING_APPEND = """
import resource, sys
from pathlib import Path
from alchemy_assets.ingest import ingest
from alchemy_assets.layout import DatasetId, DatasetLayout
layout = DatasetLayout.under(Path(sys.argv[1]), DatasetId.parse("sp/gics_cwiq_pipe/1.0"))
limit = layout.manifest.stat().st_size + 40  # room for the copies, not for their lines
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
report = ingest(layout)
print(len(report.copied), *sorted({reason.split(": ", 1)[1][:11] for _, reason in report.failed}))
"""


def test_a_failed_manifest_append_leaves_no_bronze_file_unrecorded(
    fp_prefix: Path, layout: DatasetLayout, write_raw: RawWriter
) -> None:
    history = [
        {"raw": f"raw/old/{i}.csv", "bronze": f"bronze/old/{i}.csv", "mtime": 1.0}
        for i in range(20)
    ]
    layout.manifest.write_text("".join(json.dumps(doc) + "\n" for doc in history))
    write_raw("env0/a.csv", b"a\n", 1.0)
    write_raw("env0/b.csv", b"b\n", 2.0)
    for _ in range(3):
        result = subprocess.run(
            [sys.executable, "-c", _FAILING_APPEND, str(fp_prefix)],
            capture_output=True,
            text=True,
            check=True,
        )
        assert result.stdout == "0 short write\n", result.stdout + result.stderr
        assert _bronze_files(layout) == []
        assert _leftovers(layout) == []
    report = ingest(layout, clock=lambda: WHEN)
    assert [c.raw for c in report.copied] == ["raw/env0/a.csv", "raw/env0/b.csv"]
    assert _bronze_files(layout) == sorted(e["bronze"] for e in _lines(layout.manifest)[20:])  # type: ignore[type-var]


_KILLED_BEFORE_APPEND = """
import os, signal, sys
from pathlib import Path
import alchemy_assets.ingest as ingest_module
from alchemy_assets.layout import DatasetId, DatasetLayout
def killed(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)  # after the group's copies are published
ingest_module.append_lines = killed
dataset = DatasetId.parse("sp/gics_cwiq_pipe/1.0")
ingest_module.ingest(DatasetLayout.under(Path(sys.argv[1]), dataset))
"""


def test_an_ingest_killed_between_publishing_and_appending_leaves_no_copy_unrecorded(
    fp_prefix: Path, layout: DatasetLayout, write_raw: RawWriter
) -> None:
    write_raw("env0/a.csv", b"a\n", 1.0)
    write_raw("env0/b.csv", b"b\n", 2.0)
    for _ in range(2):
        killed = subprocess.run(
            [sys.executable, "-c", _KILLED_BEFORE_APPEND, str(fp_prefix)], timeout=120
        )
        assert killed.returncode == -9
    # Each killed run published both copies (the second under collision names, if in the
    # same second); no line names them.
    assert len(_bronze_files(layout)) >= 2 and not layout.manifest.exists()
    report = ingest(layout, clock=lambda: WHEN)
    assert [c.raw for c in report.copied] == ["raw/env0/a.csv", "raw/env0/b.csv"]
    assert _bronze_files(layout) == sorted(e["bronze"] for e in _lines(layout.manifest))  # type: ignore[type-var]
    assert not (layout.manifests / ".ingest.pending.json").exists()
    FIGURES["ingests killed before the append, bronze copies left unrecorded"] += len(
        _bronze_files(layout)
    ) - len(_lines(layout.manifest))


_KILLED_MID_COPY = """
import os, signal, sys
from pathlib import Path
import alchemy_assets.atomic_copy as atomic_copy
from alchemy_assets.ingest import ingest
from alchemy_assets.layout import DatasetId, DatasetLayout
copies = 0
def killed(src_fd, dst_fd, size):
    global copies
    copies += 1
    if copies < int(sys.argv[2]):
        return real(src_fd, dst_fd, size)
    os.write(dst_fd, b"half a vendor fi")
    os.kill(os.getpid(), signal.SIGKILL)  # mid-copy, earlier copies staged, none published
real, atomic_copy._copy_bytes = atomic_copy._copy_bytes, killed
ingest(DatasetLayout.under(Path(sys.argv[1]), DatasetId.parse("sp/gics_cwiq_pipe/1.0")))
"""


def test_an_ingest_killed_mid_copy_leaves_no_temp_file_after_the_next_ingest(
    fp_prefix: Path, layout: DatasetLayout, write_raw: RawWriter
) -> None:
    for name in ("a", "b", "c"):
        write_raw(f"env0/{name}.csv", name.encode() * 1000 + b"\n", 1.0)
    # Killed in the first copy, then in the third with two copies staged, none published;
    # the second ingest removed the first one's temp copy before it began.
    for nth_copy in (1, 3):
        killed = subprocess.run(
            [sys.executable, "-c", _KILLED_MID_COPY, str(fp_prefix), str(nth_copy)], timeout=120
        )
        assert killed.returncode == -9
        assert len(_leftovers(layout)) == nth_copy and not layout.manifest.exists()
    report = ingest(layout, clock=lambda: WHEN)
    assert [c.raw for c in report.copied] == ["raw/env0/a.csv", "raw/env0/b.csv", "raw/env0/c.csv"]
    assert report.notes == ["removed 3 temp copies left by an interrupted ingest"]
    assert _leftovers(layout) == []
    assert _bronze_files(layout) == sorted(e["bronze"] for e in _lines(layout.manifest))  # type: ignore[type-var]
    assert not (layout.manifests / ".ingest.folders.json").exists()
    FIGURES["ingests killed mid-copy, temp copies left after the next ingest"] += len(
        _leftovers(layout)
    )


def test_bronze_copies_keep_the_raw_files_permission_bits(
    layout: DatasetLayout, write_raw: RawWriter
) -> None:
    modes = {"private.csv": 0o600, "shared.csv": 0o644, "group.csv": 0o640, "ro.csv": 0o444}
    for name, mode in modes.items():
        write_raw(f"env0/{name}", b"x\n", 1.0).chmod(mode)
    old_umask = os.umask(0o077)
    try:
        report = ingest(layout, clock=lambda: WHEN)
    finally:
        os.umask(old_umask)
    assert {
        c.raw.rsplit("/", 1)[1]: stat.S_IMODE((layout.root / c.bronze).stat().st_mode)
        for c in report.copied
    } == modes


def test_a_file_name_that_is_not_utf8_fails_alone_and_is_never_copied(
    layout: DatasetLayout, write_raw: RawWriter
) -> None:
    write_raw("env0/a.csv", b"a\n", 1.0)
    write_raw(os.fsdecode(b"env0/caf\xe9.csv"), b"c\n", 1.0)
    write_raw("env0/z.csv", b"z\n", 1.0)
    for run in range(2):
        report = ingest(layout, clock=lambda: WHEN)
        assert [c.raw for c in report.copied] == (
            [] if run else ["raw/env0/a.csv", "raw/env0/z.csv"]
        )
        assert report.failed == [
            (
                "raw/env0/caf\\xe9.csv",
                f"{layout.raw}/env0/caf\\xe9.csv: the name is not valid UTF-8 (byte 0xe9); "
                "rename the file to ingest it",
            )
        ]
    assert [e["raw"] for e in _lines(layout.manifest)] == ["raw/env0/a.csv", "raw/env0/z.csv"]
    assert len(_bronze_files(layout)) == 2


def test_every_name_the_file_system_accepts_is_ingested(
    layout: DatasetLayout, write_raw: RawWriter
) -> None:
    names = ["a" * (length - 4) + ".csv" for length in (200, 233, 234, 247, 248, 250, 255)] + [
        "é" * 124 + "xx.csv",
        "a" * 246 + "-b.csv.gz",
    ]
    for name in names:
        write_raw(f"env0/{name}", b"x\n", 1.0)
    report = ingest(layout, clock=lambda: WHEN)
    assert report.failed == []
    assert sorted(c.raw for c in report.copied) == sorted(f"raw/env0/{n}" for n in names)
    bronze_names = [c.bronze.rsplit("/", 1)[1] for c in report.copied]
    assert len(set(bronze_names)) == len(names)
    for copied, bronze_name in zip(report.copied, bronze_names, strict=True):
        raw_name = copied.raw.rsplit("/", 1)[1]
        assert len(bronze_name.encode()) <= 255
        assert bronze_name.startswith("143000--")
        if len(raw_name.encode()) <= 247:
            assert bronze_name == f"143000--{raw_name}"
        else:
            assert bronze_name.endswith(".csv.gz" if raw_name.endswith(".gz") else ".csv")
    again = ingest(layout, clock=lambda: WHEN)
    assert (len(again.copied), again.unchanged) == (0, len(names))


def test_each_line_records_the_bronze_files_size(
    layout: DatasetLayout, write_raw: RawWriter
) -> None:
    write_raw("env0/a.csv", b"a,b\n1,2\n", 1.0)
    write_raw("env0/empty.csv", b"", 2.0)
    ingest(layout, clock=lambda: WHEN)
    assert [(e["raw"], e["size"]) for e in _lines(layout.manifest)] == [
        ("raw/env0/a.csv", 8),
        ("raw/env0/empty.csv", 0),
    ]


def test_a_lock_file_that_cannot_be_created_fails_the_dataset_with_its_path(
    layout: DatasetLayout, write_raw: RawWriter
) -> None:
    write_raw("env0/a.csv", b"a\n", 1.0)
    (layout.manifests / ".ingest.lock").mkdir()
    with pytest.raises(IngestError) as raised:
        ingest(layout, clock=lambda: WHEN)
    assert str(raised.value) == (
        f"cannot create the lock file {layout.manifests}/.ingest.lock: Is a directory"
    )
    assert _bronze_files(layout) == []


def test_symlinked_folders_and_files_outside_an_env_folder_are_reported(
    layout: DatasetLayout, write_raw: RawWriter, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "secret.csv").write_bytes(b"secret\n")
    write_raw("env0/a.csv", b"a\n", 1.0)
    (layout.raw / "env1").symlink_to(outside)
    (layout.raw / "env0" / "linked").symlink_to(outside)
    (layout.raw / "notes.txt").write_bytes(b"n\n")
    (layout.raw / ".hidden").write_bytes(b"h\n")
    report = ingest(layout, clock=lambda: WHEN)
    assert [c.raw for c in report.copied] == ["raw/env0/a.csv"]
    assert report.failed == [
        ("raw/env0/linked", f"{layout.raw}/env0/linked: a symlinked folder; it is not followed"),
        ("raw/env1", f"{layout.raw}/env1: a symlinked folder; it is not followed"),
        (
            "raw/notes.txt",
            f"{layout.raw}/notes.txt: not inside an env folder (raw/<env>/...); not ingested",
        ),
    ]
