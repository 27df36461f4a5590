"""A small demo data root: two datasets with CSV, Parquet, gzip CSV, TSV and JSON Lines files,
and the same file name under two envs. ``python -m alchemy_assets.demo_data [--reset] PATH``.

The demo writes only into a folder of its own: PATH must be missing, empty, or already hold
the demo's ``.alchemy-demo`` marker, so a real data root (an exported ``FP_PREFIX``) is
refused rather than overwritten. The files are written once: the marker then says so, and
later runs keep them as they are (a person's edits to the raw files included); ``--reset``
deletes everything in PATH and writes them again.
"""

from __future__ import annotations

import gzip
import os
import shutil
import sys
from pathlib import Path

import polars as pl

from alchemy_assets.layout import DatasetId, DatasetLayout

DATASETS = (DatasetId("sp", "gics_cwiq_pipe", "1.0"), DatasetId("acme", "prices", "2"))
_BASE_MTIME = 1737200000.0
MARKER = ".alchemy-demo"
# The marker's text once every demo file is written (empty while they are being written).
COMPLETE = "complete\n"


class DemoRootError(ValueError):
    """A folder the demo will not write into; the message says why."""


def _claim(fp_prefix: Path) -> None:
    if fp_prefix.is_dir() and not (fp_prefix / MARKER).exists() and any(fp_prefix.iterdir()):
        raise DemoRootError(
            f"{fp_prefix} is not empty and holds no {MARKER} marker: "
            "the demo writes only into its own folder (a demo folder made before the marker "
            "existed: remove it and run again)"
        )
    fp_prefix.mkdir(parents=True, exist_ok=True)
    (fp_prefix / MARKER).touch()


def _frame(rows: int, seed: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": list(range(rows)),
            "ticker": [f"T{(i * 7 + seed) % 97:03d}" for i in range(rows)],
            "price": [round(10 + ((i * 13 + seed) % 1000) / 10, 2) for i in range(rows)],
            "sector": [["energy", "tech", "health", "retail"][(i + seed) % 4] for i in range(rows)],
        }
    )


def _write(path: Path, data: bytes, mtime: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))


def make_demo(fp_prefix: Path, rows: int = 500) -> list[DatasetLayout]:
    """Write the demo raw files under ``fp_prefix`` (the demo's own earlier files are replaced);
    the marker then says the demo is complete.

    Raises :class:`DemoRootError` for a folder that holds anything but an earlier demo.
    """
    _claim(fp_prefix)
    gics = DatasetLayout.under(fp_prefix, DATASETS[0])
    prices = DatasetLayout.under(fp_prefix, DATASETS[1])
    for layout in (gics, prices):
        layout.ensure()
    _write(gics.raw / "env0/data.csv", _frame(rows, 0).write_csv().encode(), _BASE_MTIME)
    _write(gics.raw / "env1/data.csv", _frame(rows, 1).write_csv().encode(), _BASE_MTIME + 5)
    parquet = gics.raw / "env1/file.parquet"
    parquet.parent.mkdir(parents=True, exist_ok=True)
    _frame(rows, 2).write_parquet(parquet)
    os.utime(parquet, (_BASE_MTIME + 100, _BASE_MTIME + 100))
    gz = gzip.compress(_frame(rows, 3).write_csv().encode(), mtime=0)
    _write(gics.raw / "env0/history/prices.csv.gz", gz, _BASE_MTIME + 200)
    tsv = _frame(rows, 4).write_csv(separator="\t").encode()
    _write(prices.raw / "env0/daily.tsv", tsv, _BASE_MTIME + 300)
    _write(prices.raw / "env0/ticks.jsonl", _frame(rows, 5).write_ndjson().encode(), _BASE_MTIME)
    (fp_prefix / MARKER).write_text(COMPLETE)
    return [gics, prices]


def demo_written(fp_prefix: Path) -> bool:
    """Whether ``fp_prefix`` holds a complete demo written earlier."""
    try:
        return (fp_prefix / MARKER).read_text() == COMPLETE
    except OSError:
        return False


def reset_demo(fp_prefix: Path, rows: int = 500) -> list[DatasetLayout]:
    """Delete everything in the demo folder ``fp_prefix`` and write the demo again.

    Raises :class:`DemoRootError` for a folder without the demo's marker.
    """
    if fp_prefix.exists() and not (fp_prefix / MARKER).exists():
        raise DemoRootError(
            f"{fp_prefix} holds no {MARKER} marker: not a demo folder, nothing deleted"
        )
    if fp_prefix.is_dir():
        for child in fp_prefix.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    return make_demo(fp_prefix, rows)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    reset = args[:1] == ["--reset"]
    paths = args[1:] if reset else args
    if len(paths) != 1 or paths[0].startswith("-"):
        print("usage: python -m alchemy_assets.demo_data [--reset] FP_PREFIX", file=sys.stderr)
        return 2
    fp_prefix = Path(paths[0])
    try:
        if reset:
            layouts = reset_demo(fp_prefix)
        elif demo_written(fp_prefix):
            print(
                f"demo data kept as it is at {fp_prefix} (your edits too): "
                "`make demo-reset` starts over"
            )
            return 0
        else:
            layouts = make_demo(fp_prefix)
    except DemoRootError as err:
        print(f"demo_data: {err}", file=sys.stderr)
        return 2
    for layout in layouts:
        print(f"demo dataset {layout.dataset_id} at {layout.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
