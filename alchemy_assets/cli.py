"""``alchemy``: the command line of the platform (prod-side ingest, staging without a daemon)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from alchemy_assets.ingest import ingest
from alchemy_assets.layout import DatasetId, DatasetLayout, LayoutError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A command-line argument or setting that cannot be used; the message says which."""


def _root(args: argparse.Namespace) -> Path:
    root = args.root or os.environ.get("FP_PREFIX")
    if not root:
        raise UsageError("no data root: pass --root PATH or set FP_PREFIX")
    path = Path(root)
    if not path.is_dir():
        raise UsageError(f"data root {path} is not a directory")
    return path


def _dataset_ids(texts: Sequence[str]) -> list[DatasetId]:
    try:
        return [DatasetId.parse(text) for text in texts]
    except LayoutError as err:
        raise UsageError(str(err)) from None


def _cmd_ingest(args: argparse.Namespace) -> int:
    root = _root(args)
    status = EXIT_OK
    for dataset_id in _dataset_ids(args.datasets):
        layout = DatasetLayout.under(root, dataset_id)
        if not layout.raw.is_dir():
            print(f"{dataset_id}: FAILED: no raw folder at {layout.raw}", file=sys.stderr)
            status = EXIT_FAILED
            continue
        report = ingest(layout)
        print(
            f"{dataset_id}: {len(report.copied)} copied, {report.unchanged} unchanged, "
            f"{len(report.failed)} failed"
        )
        for copied in report.copied:
            if args.verbose:
                print(f"  copied {copied.raw} -> {copied.bronze}")
        for raw, reason in report.failed:
            print(f"  FAILED {raw}: {reason}", file=sys.stderr)
        if report.quarantined:
            print(
                f"  {len(report.quarantined)} bad manifest line(s) ignored, first: "
                f"{report.quarantined[0]}",
                file=sys.stderr,
            )
        if report.failed:
            status = EXIT_FAILED
    return status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alchemy",
        description=(
            "Data-landing platform on Dagster. 'ingest' is the prod side: it copies new or "
            "changed raw files of a dataset into its immutable bronze layer and appends one "
            "line per file to manifests/processed.jsonl."
        ),
        epilog="A dataset root is {FP_PREFIX}/{vendor}/{dataset}/{version}.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ingest_parser = sub.add_parser(
        "ingest",
        help="copy new or changed raw files into bronze and append their manifest lines",
        description=(
            "Scan raw/env*/ of each dataset, copy every file that is new or whose mtime "
            "differs from its last manifest line into bronze/YYYY/MM/DD/HHMMSS--NAME "
            "(temp file, fsync, rename; mtime kept), then append "
            '{"raw", "bronze", "mtime"} to manifests/processed.jsonl and '
            "manifests/processed_YYYY-MM-DD.jsonl. Running it again with nothing changed "
            "appends nothing. Exits 1 naming each file that failed."
        ),
    )
    ingest_parser.add_argument(
        "datasets", nargs="+", metavar="VENDOR/DATASET/VERSION", help="dataset(s) to ingest"
    )
    _add_root(ingest_parser)
    ingest_parser.add_argument("-v", "--verbose", action="store_true", help="list each file copied")
    ingest_parser.set_defaults(handler=_cmd_ingest)
    return parser


def _add_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--root",
        metavar="PATH",
        help="data root holding {vendor}/{dataset}/{version}; overrides FP_PREFIX",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``alchemy`` command; return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except UsageError as err:
        parser.exit(EXIT_USAGE, f"alchemy {args.command}: error: {err}\n")
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
