import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from alchemy_assets.format_options import FormatOptions
from alchemy_assets.ingest import ingest
from alchemy_assets.layout import DatasetLayout, LayoutError
from alchemy_assets.sampling import RefusedError, SampleError
from alchemy_assets.stage_file import stage_file
from alchemy_assets.staging import DueFile
from alchemy_assets_tests.conftest import RawWriter


def _due(layout: DatasetLayout) -> DueFile:
    (copied,) = ingest(layout).copied
    return DueFile("env0/a.csv", copied.raw, copied.bronze, copied.mtime, "new file")


def test_a_due_file_is_sampled_to_its_sample_path(
    layout: DatasetLayout, write_raw: RawWriter
) -> None:
    write_raw("env0/a.csv", b"x,y\n1,2\n3,4\n", 10.0)
    staged = stage_file(layout, _due(layout), rows=1)
    assert staged.sample_relpath == "samples/env0/a_sample.csv"
    assert (layout.root / staged.sample_relpath).read_text() == "x,y\n1,2\n"
    assert staged.bronze_size == 12 and staged.sample.rows == 1


def test_a_file_that_is_not_data_writes_no_sample_and_removes_an_older_deliverys(
    layout: DatasetLayout, write_raw: RawWriter
) -> None:
    write_raw("env0/a.csv", b"x,y\n1,2\n", 10.0)
    staged = stage_file(layout, _due(layout), rows=5)
    sample = layout.root / staged.sample_relpath
    assert sample.read_bytes() == b"x,y\n1,2\n" and staged.not_data is None
    write_raw("env0/a.csv", b"%PDF-1.7\n%\xb5\xb5\xb5\xb5\n", 20.0)  # re-delivered as a PDF
    again = stage_file(layout, _due(layout), rows=5)
    assert again.not_data is not None and again.not_data.kind == "pdf"
    assert again.not_data.first_bytes == b"%PDF-1.7\n%\xb5\xb5\xb5\xb5\n"
    assert again.sample.rows == 0 and not sample.exists()
    source = json.loads((sample.parent / ".a_sample.csv.source.json").read_text())
    assert (source["bronze"], source["mtime"]) == (again.due.bronze, 20.0)


def test_a_missing_bronze_file_fails_and_is_no_refusal_it_may_appear_yet(
    layout: DatasetLayout, write_raw: RawWriter
) -> None:
    write_raw("env0/a.csv", b"x\n1\n", 10.0)
    due = _due(layout)
    (layout.root / due.bronze).unlink()
    with pytest.raises(SampleError, match="bronze file is missing") as failed:
        stage_file(layout, due, 10)
    assert not isinstance(failed.value, RefusedError)  # e.g. a shared filesystem's lag


def test_a_rewritten_bronze_file_is_refused_and_not_sampled(
    layout: DatasetLayout, write_raw: RawWriter
) -> None:
    write_raw("env0/a.csv", b"x\n1\n", 10.0)
    due = _due(layout)
    os.utime(layout.root / due.bronze, (20.0, 20.0))
    with pytest.raises(RefusedError, match=r"mtime 20.0 differs from the manifest's 10.0") as no:
        stage_file(layout, due, 10)
    assert no.value.because.startswith("the bronze file is not the one ingested")
    assert not (layout.samples / "env0").exists()


def test_a_bronze_path_leading_outside_the_root_is_refused(
    layout: DatasetLayout, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("s\n1\n")
    (layout.bronze / "link.csv").symlink_to(secret)
    due = DueFile("env0/a.csv", "raw/env0/a.csv", "bronze/link.csv", secret.stat().st_mtime, "x")
    with pytest.raises(SampleError, match=r"^bronze/link\.csv is a symbolic link: staging never"):
        stage_file(layout, due, 10)


def test_a_fifo_in_bronze_fails_that_file_without_hanging(layout: DatasetLayout) -> None:
    fifo = layout.bronze / "pipe.csv"
    os.mkfifo(fifo)
    due = DueFile("env0/p.csv", "raw/env0/p.csv", "bronze/pipe.csv", fifo.stat().st_mtime, "x")
    with pytest.raises(SampleError, match=r"bronze/pipe\.csv: not a regular file"):
        stage_file(layout, due, 10)


def test_a_bronze_file_whose_size_differs_from_the_line_is_refused(
    layout: DatasetLayout, write_raw: RawWriter
) -> None:
    write_raw("env0/a.csv", b"x\n" + b"1\n" * 100, 10.0)
    due = _due(layout)
    bronze = layout.root / due.bronze
    bronze.write_bytes(b"x\n" + b"1\n" * 5)  # truncated, its mtime restored
    os.utime(bronze, (10.0, 10.0))
    with pytest.raises(RefusedError, match=r"12 bytes where the manifest line says 202 \(bronze"):
        stage_file(layout, replace(due, size=202), 10)


def test_a_bronze_mtime_cut_to_whole_seconds_is_the_manifests(
    layout: DatasetLayout, write_raw: RawWriter
) -> None:
    write_raw("env0/a.csv", b"x\n1\n", 10.0)
    due = replace(_due(layout), mtime=10.25)  # the raw file's finer mtime, on the line
    staged = stage_file(layout, due, 10)
    assert staged.sample.rows == 1


def test_a_raw_name_of_255_bytes_is_sampled(layout: DatasetLayout, write_raw: RawWriter) -> None:
    name = "x" * 251 + ".csv"
    write_raw(f"env0/{name}", b"v\n1\n", 10.0)
    (copied,) = ingest(layout).copied
    due = DueFile(f"env0/{name}", copied.raw, copied.bronze, copied.mtime, "new file")
    staged = stage_file(layout, due, 10)
    assert Path(staged.sample_path).read_bytes() == b"v\n1\n"
    assert all(len(p.name.encode()) <= 255 for p in Path(staged.sample_path).parent.iterdir())


def test_samples_as_a_link_to_raw_is_refused_and_raw_is_untouched(
    layout: DatasetLayout, write_raw: RawWriter
) -> None:
    write_raw("env0/a.csv", b"x\n1\n", 10.0)
    due = _due(layout)
    layout.samples.rmdir()
    layout.samples.symlink_to(layout.raw)
    with pytest.raises(LayoutError, match=r"^samples is a symbolic link: staging never follows"):
        stage_file(layout, due, 10)
    assert sorted(p.name for p in (layout.raw / "env0").iterdir()) == ["a.csv"]


def test_samples_get_the_mode_of_a_new_file_under_the_umask(
    layout: DatasetLayout, write_raw: RawWriter
) -> None:
    write_raw("env0/a.csv", b"x\n1\n", 10.0)
    due = _due(layout)
    old = os.umask(0o022)
    try:
        staged = stage_file(layout, due, 10)
    finally:
        os.umask(old)
    assert Path(staged.sample_path).stat().st_mode & 0o777 == 0o644


def test_configured_format_options_reach_the_reader_and_beat_detection(
    layout: DatasetLayout, write_raw: RawWriter
) -> None:
    write_raw("env0/a.csv", b"id,note,flag\n1,a;b,yes\n2,c;d,no\n3,e;f,yes\n", 10.0)
    due = _due(layout)
    detected = stage_file(layout, due, rows=5).sample
    assert [name for name, _ in detected.schema] == ["id", "note", "flag"]
    configured = stage_file(layout, due, rows=5, format_options=FormatOptions(delimiter=";")).sample
    assert configured.contents.head[0] == ("1,a", "b,yes")
    assert configured.metadata["dialect"]["source"] == "configured"  # type: ignore[index,call-overload]


def test_a_pipe_txt_is_staged_with_its_own_columns(
    layout: DatasetLayout, write_raw: RawWriter
) -> None:
    data = b'code|name\n10|"Energy | Oil"\n15|"Materials\nand more"\n'
    write_raw("env0/a.csv", data, 10.0)
    staged = stage_file(layout, _due(layout), rows=5)
    assert (staged.sample.rows, [n for n, _ in staged.sample.schema]) == (2, ["code", "name"])
    assert (layout.root / staged.sample_relpath).read_bytes() == data


@pytest.mark.parametrize("file_first", [True, False])
def test_a_raw_folder_named_like_a_files_sample_is_sampled_beside_that_file(
    layout: DatasetLayout, write_raw: RawWriter, file_first: bool
) -> None:
    write_raw("env0/x.csv", b"a\n1\n", 10.0)
    write_raw("env0/x_sample.csv/y.csv", b"b\n2\n", 10.0)
    dues = [DueFile(c.raw[4:], c.raw, c.bronze, c.mtime, "new file") for c in ingest(layout).copied]
    staged = {
        due.raw: stage_file(layout, due, 10)
        for due in sorted(dues, key=lambda d: d.raw, reverse=file_first)
    }
    assert staged["raw/env0/x.csv"].sample_relpath == "samples/env0/x_sample.csv"
    assert staged["raw/env0/x_sample.csv/y.csv"].sample_relpath == (
        "samples/env0/x_sample~.csv/y_sample.csv"
    )
    assert [Path(s.sample_path).read_bytes() for _, s in sorted(staged.items())] == [
        b"a\n1\n",
        b"b\n2\n",
    ]


def test_a_raw_folder_named_like_a_samples_lock_file_is_sampled_beside_that_sample(
    layout: DatasetLayout, write_raw: RawWriter
) -> None:
    write_raw("env0/x.csv", b"a\n1\n", 10.0)
    write_raw("env0/y.csv", b"b\n2\n", 10.0)
    x, y = sorted(ingest(layout).copied, key=lambda c: c.raw)
    # Ingest skips hidden names; a manifest line written by another producer may name one.
    hidden = "raw/env0/.x_sample.csv.lock/y.csv"
    for due in (
        DueFile("env0/x.csv", x.raw, x.bronze, x.mtime, "new file"),
        DueFile(hidden[4:], hidden, y.bronze, y.mtime, "new file"),
    ):
        assert Path(stage_file(layout, due, 10).sample_path).read_bytes() in (b"a\n1\n", b"b\n2\n")
    assert (layout.samples / "env0/.x_sample~.csv.lock/y_sample.csv").read_bytes() == b"b\n2\n"
