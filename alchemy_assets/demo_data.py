"""A small demo data root: two datasets with CSV, Parquet, gzip CSV, TSV and JSON Lines files,
the same file name under two envs, and the S&P GICS structure as vendors send it: a
pipe-delimited ``gics.txt`` (a quoted ``|`` and a quoted line break in its descriptions) with
a ``README.txt`` beside it. ``python -m alchemy_assets.demo_data [--reset] PATH``.

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


# Sectors and industry groups of the GICS structure (effective 2023-03-17), pipe-delimited as
# the dataset's name says; descriptions are quoted where they hold a "|" or a line break.
GICS_TXT = (
    "gics_code|sector_name|industry_group|as_of|description\n"
    "1010|Energy|Energy|2023-03-17|Oil, gas and consumable fuels; energy equipment\n"
    "1510|Materials|Materials|2023-03-17|Chemicals, construction materials, metals & mining\n"
    "2010|Industrials|Capital Goods|2023-03-17|Aerospace & defense; machinery\n"
    '2020|Industrials|Commercial & Professional Services|2023-03-17|"Services | Supplies"\n'
    "2030|Industrials|Transportation|2023-03-17|Air, marine, ground transportation\n"
    "2510|Consumer Discretionary|Automobiles & Components|2023-03-17|Automobiles\n"
    "2520|Consumer Discretionary|Consumer Durables & Apparel|2023-03-17|Household durables\n"
    "2530|Consumer Discretionary|Consumer Services|2023-03-17|Hotels, restaurants & leisure\n"
    "2550|Consumer Discretionary|Consumer Discretionary Distribution & Retail|2023-03-17|"
    '"Renamed from Retailing\non 2023-03-17"\n'
    "3010|Consumer Staples|Consumer Staples Distribution & Retail|2023-03-17|Food retail\n"
    "3020|Consumer Staples|Food, Beverage & Tobacco|2023-03-17|Beverages; food products\n"
    "3030|Consumer Staples|Household & Personal Products|2023-03-17|Personal care products\n"
    "3510|Health Care|Health Care Equipment & Services|2023-03-17|Providers & services\n"
    "3520|Health Care|Pharmaceuticals, Biotechnology & Life Sciences|2023-03-17|Biotech\n"
    "4010|Financials|Banks|2023-03-17|Banks\n"
    "4020|Financials|Financial Services|2023-03-17|Payments; capital markets\n"
    "4030|Financials|Insurance|2023-03-17|Insurance\n"
    "4510|Information Technology|Software & Services|2023-03-17|IT services; software\n"
    "4520|Information Technology|Technology Hardware & Equipment|2023-03-17|Hardware\n"
    "4530|Information Technology|Semiconductors & Semiconductor Equipment|2023-03-17|Chips\n"
    "5010|Communication Services|Telecommunication Services|2023-03-17|Telecom\n"
    "5020|Communication Services|Media & Entertainment|2023-03-17|Media; entertainment\n"
    "5510|Utilities|Utilities|2023-03-17|Electric, gas and water utilities\n"
    "6010|Real Estate|Equity Real Estate Investment Trusts (REITs)|2023-03-17|REITs\n"
    "6020|Real Estate|Real Estate Management & Development|2023-03-17|Real estate services\n"
)
README_TXT = (
    "GICS CWIQ pipe delivery\n"
    "=======================\n\n"
    "gics.txt holds the sectors and industry groups of the Global Industry Classification\n"
    "Standard, one per line, fields separated by a vertical bar. Descriptions that contain a\n"
    "bar or a line break are enclosed in double quotes. The file is UTF-8 encoded.\n"
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
    _write(gics.raw / "env0/gics.txt", GICS_TXT.encode(), _BASE_MTIME + 400)
    _write(gics.raw / "env0/README.txt", README_TXT.encode(), _BASE_MTIME + 400)
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
