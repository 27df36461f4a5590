import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from alchemy_assets.atomic_copy import (
    CopyError,
    copy_new_file,
    copy_to_temp,
    discard,
    make_durable,
    publish,
)


def _source(tmp_path: Path, data: bytes = b"a,b\n1,2\n", mtime: float = 1737200000.25) -> Path:
    src = tmp_path / "src.csv"
    src.write_bytes(data)
    os.utime(src, (mtime, mtime))
    return src


def test_a_copy_keeps_the_bytes_and_the_mtime(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    src = _source(tmp_path, data)
    target = copy_new_file(src, lambda i: tmp_path / "out" / f"{i}.csv")
    assert target == tmp_path / "out" / "0.csv"
    assert target.read_bytes() == data
    assert target.stat().st_mtime == src.stat().st_mtime == 1737200000.25
    assert sorted(p.name for p in target.parent.iterdir()) == ["0.csv"]


def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    src = _source(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "0.csv").write_bytes(b"older")
    target = copy_new_file(src, lambda i: out / f"{i}.csv")
    assert target == out / "1.csv"
    assert (out / "0.csv").read_bytes() == b"older"


def test_a_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(CopyError, match="not a regular file"):
        copy_new_file(fifo, lambda i: tmp_path / "out" / f"{i}")
    assert list((tmp_path / "out").iterdir()) == []


def test_a_symlink_source_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "link.csv"
    link.symlink_to(_source(tmp_path))
    with pytest.raises(OSError):
        copy_new_file(link, lambda i: tmp_path / "out" / f"{i}")


def test_names_outside_the_first_folder_are_refused_and_no_temp_file_stays(
    tmp_path: Path,
) -> None:
    src = _source(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "0").write_bytes(b"taken")
    with pytest.raises(CopyError, match="not in the folder of the first name"):
        copy_new_file(src, lambda i: tmp_path / ("out" if i == 0 else "elsewhere") / f"{i}")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0"]


def _names(folder: Path, index: int) -> Callable[[int], Path]:
    return lambda attempt: folder / f"{index}-{attempt}.csv"


def test_a_batch_of_temp_copies_is_made_durable_then_published(tmp_path: Path) -> None:
    sources = []
    for i in range(20):
        src = tmp_path / f"s{i}.csv"
        src.write_bytes(b"x" * i)
        os.utime(src, (float(i), float(i)))
        sources.append(src)
    out = tmp_path / "out"
    staged = [copy_to_temp(src, _names(out, i)) for i, src in enumerate(sources)]
    assert [p.name for p in out.iterdir() if not p.name.startswith(".")] == []  # not published
    make_durable(staged)
    targets = [publish(s) for s in staged]
    assert [t.name for t in targets] == [f"{i}-0.csv" for i in range(20)]
    assert [t.stat().st_mtime for t in targets] == [float(i) for i in range(20)]
    assert sorted(p.name for p in out.iterdir()) == sorted(t.name for t in targets)


def test_a_discarded_temp_copy_leaves_nothing(tmp_path: Path) -> None:
    staged = copy_to_temp(_source(tmp_path), lambda n: tmp_path / "out" / f"{n}.csv")
    discard(staged)
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o644, 0o755, 0o444])
def test_a_copy_keeps_the_sources_permission_bits_whatever_the_umask(
    tmp_path: Path, mode: int
) -> None:
    src = _source(tmp_path)
    src.chmod(mode)
    old_umask = os.umask(0o077)
    try:
        target = copy_new_file(src, lambda i: tmp_path / "out" / f"{i}.csv")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(target.stat().st_mode) == mode


def test_a_staged_copy_carries_the_sources_own_mtime(tmp_path: Path) -> None:
    src = _source(tmp_path)
    os.utime(src, ns=(1_737_200_000_123_456_789, 1_737_200_000_123_456_789))
    staged = copy_to_temp(src, lambda i: tmp_path / "out" / f"{i}.csv")
    discard(staged)
    assert (staged.mtime, staged.size) == (src.stat().st_mtime, 8)


def test_the_temp_name_does_not_grow_with_the_final_name(tmp_path: Path) -> None:
    src = _source(tmp_path)
    name = "n" * 255
    target = copy_new_file(src, lambda i: tmp_path / "out" / (name if i == 0 else f"{i}"))
    assert target.name == name
