import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alchemy_assets.manifest_line import encode_line
from alchemy_assets.manifest_reader import read_manifest
from alchemy_assets.manifest_writer import ManifestWriteError, append_line, append_lines
from alchemy_assets_tests.conftest import FIGURES

WRITERS, APPENDS = 8, 500


def _line(writer: int, seq: int, pad: int) -> bytes:
    doc = {"raw": f"raw/env{writer}/f{seq}.csv", "bronze": "bronze/x", "mtime": seq}
    doc["pad"] = "x" * pad
    return (json.dumps(doc) + "\n").encode()


def _writer(path: str, writer: int) -> None:
    rng = random.Random(writer)
    for seq in range(APPENDS):
        append_line(Path(path), _line(writer, seq, rng.choice([0, 10, 500, 5000, 70000])))


def test_an_appended_line_ends_the_file(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    append_line(path, b'{"a": 1}\n')
    append_line(path, b'{"a": 2}\n')
    assert path.read_bytes() == b'{"a": 1}\n{"a": 2}\n'


@pytest.mark.parametrize("line", [b'{"a": 1}', b'{"a": 1}\n{"b": 2}\n'])
def test_only_exactly_one_terminated_line_is_accepted(tmp_path: Path, line: bytes) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        append_line(tmp_path / "m.jsonl", line)


def test_concurrent_writers_never_tear_or_mix_lines(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(path), w)) for w in range(WRITERS)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    data = path.read_bytes()
    assert data.endswith(b"\n")
    seen: dict[int, list[int]] = {w: [] for w in range(WRITERS)}
    lines = data.split(b"\n")[:-1]
    for raw_line in lines:
        doc = json.loads(raw_line)  # every line parses: no tearing, no interleaving
        seen[int(doc["raw"].split("/")[1][3:])].append(doc["mtime"])
    assert all(seq == list(range(APPENDS)) for seq in seen.values())
    FIGURES["concurrent appends tried"] += WRITERS * APPENDS
    FIGURES["concurrent appends lost"] += WRITERS * APPENDS - len(lines)
    FIGURES["concurrent appends torn"] += 0  # json.loads above raised on any torn line


def test_a_torn_tail_is_terminated_before_the_next_line(tmp_path: Path) -> None:
    root = tmp_path
    path = tmp_path / "m.jsonl"
    first = encode_line("raw/env0/a.csv", "bronze/a.csv", 1.0)
    path.write_bytes(first + b'{"raw": "raw/env0/b.csv", "bron')
    second = encode_line("raw/env0/c.csv", "bronze/c.csv", 3.0)
    append_line(path, second)
    assert path.read_bytes() == first + b'{"raw": "raw/env0/b.csv", "bron\n' + second
    batch = read_manifest(path, root)
    assert [e.raw for e in batch.entries] == ["raw/env0/a.csv", "raw/env0/c.csv"]
    assert [(r.offset, r.reason[:12]) for r in batch.rejects] == [(len(first), "invalid JSON")]


_KILLABLE_WRITER = """
import random, sys
from pathlib import Path
from alchemy_assets.manifest_writer import append_line
path, run = Path(sys.argv[1]), int(sys.argv[2])
rng = random.Random(run)
print("ready", flush=True)
seq = 0
while True:
    pad = "x" * rng.choice([10, 1000, 100_000, 2_000_000])
    doc = '{"raw": "raw/env%d/f%d", "bronze": "bronze/x", "mtime": %d, "pad": "%s"}\\n'
    append_line(path, (doc % (run, seq, seq, pad)).encode())
    print(seq, flush=True)  # acknowledged: append_line returned
    seq += 1
"""
KILLS = 100


def test_writers_killed_mid_append_lose_no_acknowledged_line_and_never_glue_fragments(
    tmp_path: Path,
) -> None:
    path = tmp_path / "m.jsonl"
    rng = random.Random(7)
    acknowledged: set[tuple[int, int]] = set()
    for run in range(KILLS):
        proc = subprocess.Popen(
            [sys.executable, "-c", _KILLABLE_WRITER, str(path), str(run)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0.0, 0.04))
        proc.send_signal(signal.SIGKILL)
        acknowledged |= {(run, int(seq)) for seq in proc.stdout.read().split()}
        proc.stdout.close()
        proc.wait()
        append_line(path, encode_line(f"raw/after/{run}.csv", "bronze/after", 1.0))
    batch = read_manifest(path, tmp_path, max_line_bytes=4 * 1024 * 1024, max_bytes=1 << 40)
    assert batch.at_end and batch.cursor.offset == path.stat().st_size
    found = {(int(e.raw.split("/")[1][3:]), int(e.mtime)) for e in batch.entries if "env" in e.raw}
    afters = [e.raw for e in batch.entries if e.raw.startswith("raw/after/")]
    assert afters == [f"raw/after/{run}.csv" for run in range(KILLS)]  # each clean, in order
    assert acknowledged <= found
    for rejection in batch.rejects:
        assert "invalid JSON" in rejection.reason  # a fragment, alone on its line
    FIGURES["writer kills (SIGKILL mid-append)"] += KILLS
    FIGURES["killed-writer acknowledged lines lost"] += len(acknowledged - found)
    FIGURES["killed-writer torn fragments (quarantined once)"] += len(batch.rejects)


_LIMITED_WRITER = """
import resource, sys
from pathlib import Path
from alchemy_assets.manifest_writer import ManifestWriteError, append_line, append_lines
from alchemy_assets_tests.conftest import FIGURES
path = Path(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), int(sys.argv[2])))
try:
    append_line(path, b'{"pad": "' + b"x" * 4000 + b'"}\\n')
except ManifestWriteError as err:
    print(err)
    sys.exit(3)
"""


def test_a_short_write_fails_loudly_and_leaves_the_file_at_its_last_newline(
    tmp_path: Path,
) -> None:
    path = tmp_path / "m.jsonl"
    first = encode_line("raw/env0/a.csv", "bronze/a.csv", 1.0)
    path.write_bytes(first)
    result = subprocess.run(
        [sys.executable, "-c", _LIMITED_WRITER, str(path), str(len(first) + 100)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 3, result.stderr
    assert "lines not appended" in result.stdout
    assert path.read_bytes() == first


def test_a_full_disk_fails_loudly() -> None:
    with pytest.raises(ManifestWriteError, match="No space left on device"):
        append_line(Path("/dev/full"), b"{}\n")


def test_the_lock_is_released_when_a_holder_dies(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.touch()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            "fd = os.open(sys.argv[1], os.O_WRONLY)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "print('locked', flush=True)\n"
            "time.sleep(60)\n",
            str(path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    holder.stdout.close()
    append_line(path, b"{}\n")
    assert path.read_bytes() == b"{}\n"


def test_a_group_of_lines_is_appended_whole_or_not_at_all(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    first = encode_line("raw/env0/a.csv", "bronze/a.csv", 1.0)
    path.write_bytes(first)
    group = [encode_line(f"raw/env0/{i}.csv", f"bronze/{i}.csv", 2.0) for i in range(3)]
    append_lines(path, group)
    assert path.read_bytes() == first + b"".join(group)
    with pytest.raises(ValueError, match="exactly one"):
        append_lines(path, [*group, b"no newline"])
    assert path.read_bytes() == first + b"".join(group)
    append_lines(path, [])
    assert path.read_bytes() == first + b"".join(group)
