"""``alchemy``: the command line of the platform (prod-side ingest, staging without a daemon)."""

from __future__ import annotations

import argparse
import contextlib
import difflib
import fcntl
import importlib.metadata
import json
import multiprocessing
import os
import sys
import tempfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import dagster as dg
from tqdm import tqdm

from alchemy_assets.dagster_adapters.component import project_component
from alchemy_assets.dagster_adapters.datasets import BrokenDataset, build_defs, discover
from alchemy_assets.dagster_adapters.resources import AlchemyRoot
from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.dagster_adapters.stage_runner import StageReport, stage_dataset
from alchemy_assets.dagster_adapters.status_lookup import dataset_status, sensor_cursors
from alchemy_assets.data_root import (
    DataRoot,
    RootError,
    layout_of,
    load_options,
    open_root,
    root_text,
)
from alchemy_assets.ingest import IngestError, ingest
from alchemy_assets.ingest_objects import ingest_objects
from alchemy_assets.layout import DatasetId, LayoutError
from alchemy_assets.object_layout import ObjectLayout, datasets_with_raw
from alchemy_assets.object_store import StoreError, StoreRoot
from alchemy_assets.options import OptionsError
from alchemy_assets.status import format_status, status_document

PACKAGE = "alchemy_assets"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
QUARANTINE_SHOWN = 10


class UsageError(Exception):
    """A command-line argument or setting that cannot be used; the message says which."""


def _root(args: argparse.Namespace) -> DataRoot:
    root = args.root or os.environ.get("FP_PREFIX")
    if not root:
        raise UsageError("no data root: pass --root PATH (or s3://bucket/prefix) or set FP_PREFIX")
    try:
        return open_root(root)
    except RootError as err:
        raise UsageError(str(err)) from None


def _dataset_ids(texts: Sequence[str]) -> list[DatasetId]:
    try:
        return [DatasetId.parse(text) for text in texts]
    except LayoutError as err:
        raise UsageError(str(err)) from None


def _unknown_dataset(
    dataset_id: DatasetId, missing: str, known: Iterable[DatasetId], hint: str = ""
) -> UsageError:
    """A dataset named on the command line that is not there, with the closest known name."""
    close = difflib.get_close_matches(str(dataset_id), sorted(map(str, known)), n=1)
    if close:
        return UsageError(f"dataset {dataset_id}: {missing}: did you mean {close[0]}?")
    return UsageError(f"dataset {dataset_id}: {missing}{hint}")


def _datasets_with_raw(root: DataRoot) -> list[DatasetId]:
    if isinstance(root, StoreRoot):
        return datasets_with_raw(root)
    found = []
    for raw in root.glob("*/*/*/raw"):
        with contextlib.suppress(LayoutError):  # a folder name that is no dataset id
            found.append(DatasetId.parse(raw.parent.relative_to(root).as_posix()))
    return found


def _cmd_ingest(args: argparse.Namespace) -> int:
    root = _root(args)
    layouts = [layout_of(root, i) for i in _dataset_ids(args.datasets)]
    try:
        with_raw = _datasets_with_raw(root) if isinstance(root, StoreRoot) else None
    except StoreError as err:
        raise UsageError(str(err)) from None
    for layout in layouts:  # every name checked before anything is copied
        missing = (
            layout.dataset_id not in with_raw
            if with_raw is not None
            else not Path(layout.raw).is_dir()
        )
        if missing:
            raise _unknown_dataset(
                layout.dataset_id,
                f"no raw folder at {layout.raw}",
                with_raw if with_raw is not None else _datasets_with_raw(root),
            )
    status = EXIT_OK
    component = project_component(root_text(root))
    for layout in layouts:
        dataset_id = layout.dataset_id
        try:
            options = load_options(component.options_of(dataset_id), layout)
            checksum = options.compare == "checksum"
            if isinstance(layout, ObjectLayout):
                report = ingest_objects(layout, checksum=checksum)
            else:
                report = ingest(layout, checksum=checksum)
        except (IngestError, OptionsError) as err:
            print(f"{dataset_id}: FAILED: {err}", file=sys.stderr)
            status = EXIT_FAILED
            continue
        print(
            f"{dataset_id}: {len(report.copied)} copied, {report.unchanged} unchanged, "
            f"{len(report.failed)} failed"
        )
        for copied in report.copied:
            if args.verbose:
                print(f"  copied {copied.raw} -> {copied.bronze}")
        for note in report.notes:
            print(f"  note: {note}", file=sys.stderr)
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


def _instance() -> dg.DagsterInstance:
    """The Dagster instance of ``DAGSTER_HOME``, once the folder is known to be usable (Dagster
    itself answers a relative, missing or read-only folder with a stack trace)."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        raise UsageError(
            "DAGSTER_HOME is not set: set it to the absolute path of a writable folder, the "
            "Dagster instance where samples are recorded"
        )
    if not os.path.isabs(home):
        raise UsageError(
            f"DAGSTER_HOME {home!r} is a relative path: set it to an absolute path, "
            f"e.g. {os.path.abspath(home)}"
        )
    if not os.path.isdir(home):
        raise UsageError(
            f"DAGSTER_HOME {home} is not a directory: create it (mkdir -p {home}) or set "
            "DAGSTER_HOME to the Dagster instance's folder"
        )
    try:
        with tempfile.TemporaryFile(dir=home):
            pass
    except OSError as err:
        raise UsageError(
            f"DAGSTER_HOME {home} is not writable ({err.strerror}): make it writable for "
            "this user or set DAGSTER_HOME to a writable folder"
        ) from None
    # Dagster creates a fresh SQLite instance's tables without a lock: two processes starting
    # on a new DAGSTER_HOME at once could both try, and one failed with "table ... already
    # exists". Whoever comes first creates them while holding a lock on the folder.
    fd = os.open(home, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        instance = dg.DagsterInstance.get()  # creates every storage's tables
    finally:
        os.close(fd)
    return instance


def _stage_specs(
    root: DataRoot, texts: Sequence[str]
) -> tuple[list[DatasetSpec], list[BrokenDataset]]:
    """The datasets under ``root`` with the options the code location gives them (the
    project's ``defs/datasets/defs.yaml``, then each ``alchemy.toml``)."""
    try:
        found = discover(root, project_component(root_text(root)).options_of)
    except StoreError as err:
        raise UsageError(str(err)) from None
    if not texts:
        if not found.specs and not found.broken:
            raise UsageError(f"no dataset with a manifest under {root_text(root)}")
        return found.specs, found.broken
    by_id = {spec.dataset_id: spec for spec in found.specs}
    broken_by_id = {i: dataset for dataset in found.broken for i in dataset.dataset_ids}
    chosen: list[DatasetSpec] = []
    chosen_broken: list[BrokenDataset] = []
    for dataset_id in _dataset_ids(texts):
        if dataset_id in by_id:
            chosen.append(by_id[dataset_id])
        elif dataset_id in broken_by_id:
            if broken_by_id[dataset_id] not in chosen_broken:
                chosen_broken.append(broken_by_id[dataset_id])
        else:
            raise _unknown_dataset(
                dataset_id,
                f"no manifest at {layout_of(root, dataset_id).manifest}",
                [*by_id, *broken_by_id],
                " (run 'alchemy ingest' first)",
            )
    return chosen, chosen_broken


def _report_broken(broken: list[BrokenDataset]) -> int:
    """Name each dataset that could not be loaded, with the reason; the exit status."""
    for dataset in broken:
        for dataset_id in dataset.dataset_ids:
            print(f"{dataset_id}: FAILED: {dataset.reason}", file=sys.stderr)
    return EXIT_FAILED if broken else EXIT_OK


def _cmd_stage(args: argparse.Namespace) -> int:
    root = _root(args)
    specs, broken = _stage_specs(root, args.datasets)
    status = EXIT_OK
    if args.jobs > 1 and len(specs) > 1:
        _instance()  # a new DAGSTER_HOME's tables are created once, before the workers start
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(min(args.jobs, len(specs)), mp_context=context) as pool:
            roots = [root_text(root)] * len(specs)
            reports = pool.map(_stage_in_worker, roots, map(str, _ids(specs)))
            for spec, report in zip(specs, reports, strict=True):
                status = max(status, _print_stage_report(spec, report))
        return max(status, _report_broken(broken))
    instance = _instance()
    defs = build_defs(specs, AlchemyRoot(fp_prefix=root_text(root)))
    for spec in specs:
        report = _stage_one(instance, defs, root, spec)
        status = max(status, _print_stage_report(spec, report))
    return max(status, _report_broken(broken))


def _ids(specs: Sequence[DatasetSpec]) -> list[DatasetId]:
    return [spec.dataset_id for spec in specs]


def _stage_one(
    instance: dg.DagsterInstance,
    defs: dg.Definitions,
    root: DataRoot,
    spec: DatasetSpec,
    show_progress: bool = True,
) -> StageReport:
    layout = layout_of(root, spec.dataset_id)
    shown = None if show_progress else True  # tqdm: None = only on a terminal, True = never
    with tqdm(desc=str(spec.dataset_id), unit="file", disable=shown, leave=False) as bar:

        def progress(done: int, total: int, bar: tqdm[None] = bar) -> None:
            bar.total = total
            bar.update(done - bar.n)

        return stage_dataset(instance, defs.resolve_job_def(spec.job_name), spec, layout, progress)


def _stage_in_worker(root_url: str, dataset: str) -> StageReport:
    """Stage one dataset in a worker process of ``alchemy stage --jobs``."""
    root = open_root(root_url)
    (spec,), _ = _stage_specs(root, [dataset])
    defs = build_defs([spec], AlchemyRoot(fp_prefix=root_url))
    with _instance() as instance:
        return _stage_one(instance, defs, root, spec, show_progress=False)


def _print_stage_report(spec: DatasetSpec, report: StageReport) -> int:
    print(
        f"{spec.dataset_id}: {report.new_partitions} new partitions, "
        f"{report.sampled} sampled, "
        + (f"{report.not_data} not data, " if report.not_data else "")
        + f"{report.unchanged} unchanged, "
        f"{len(report.failed)} failed, {len(report.quarantined)} quarantined lines",
        flush=True,
    )
    for note in report.notes:
        print(f"  note: {note}", file=sys.stderr)
    for key, reason in sorted(report.failed.items()):
        print(f"  FAILED {key}: {reason}", file=sys.stderr)
    for error in report.errors:
        print(f"  unexpected failure in {error}", file=sys.stderr)
    for rejection in report.quarantined[:QUARANTINE_SHOWN]:
        print(f"  quarantined {rejection}", file=sys.stderr)
    if len(report.quarantined) > QUARANTINE_SHOWN:
        more = len(report.quarantined) - QUARANTINE_SHOWN
        print(f"  ... and {more} more quarantined line(s)", file=sys.stderr)
    return EXIT_FAILED if report.failed else EXIT_OK


def _cmd_status(args: argparse.Namespace) -> int:
    root = _root(args)
    specs, broken = _stage_specs(root, args.datasets)
    status = EXIT_OK
    statuses = []
    with _instance() as instance:
        sensors = sensor_cursors(instance)
        for spec in specs:
            layout = layout_of(root, spec.dataset_id)
            try:
                statuses.append(dataset_status(instance, spec, layout, sensors))
            except OSError as err:  # an unreadable manifest: report it, go on with the rest
                print(f"{spec.dataset_id}: FAILED: {err}", file=sys.stderr)
                status = EXIT_FAILED
    if args.json:
        print(json.dumps(status_document(root_text(root), statuses), indent=2))
    else:
        print("\n\n".join(format_status(status) for status in statuses))
    return max(status, _report_broken(broken))


STATUS_DESCRIPTION = """\
Report, per dataset, how far staging is, from the manifest (read once) and the Dagster
instance of DAGSTER_HOME (batched queries; nothing is recorded, though Dagster may
refresh its partition-status cache, as the UI does):

  files        distinct raw files named by valid manifest lines; partitions: the
               dataset's partitions in the instance
  sampled      files with a sample at any mtime = up to date + stale
  up to date   the latest sample holds the delivery of the file's latest manifest line
               (its mtime, and its size and checksum where both record them)
  stale        sampled, but another delivery (a re-delivery, or a restatement that kept
               its mtime, not sampled yet)
  unsampled    files with no sample (files = up to date + stale + unsampled)
  not data     files recorded as not sampled, because they are not data (a PDF, an
               image, a README, a binary), with their kind; not failed, not retried
  failed       partitions whose latest sample attempt failed (with the reason) and that
               have no sample recorded since
  backlog      complete manifest lines (and bytes) after the cursor of whichever of the
               sensor and 'alchemy stage' has read the furthest; the whole manifest if
               neither has run. Each one's own backlog is shown too
  quarantined  bad lines in the manifest, and the last 5 of them (file:offset: reason)
  left behind  runs of 'alchemy stage' that never finished and whose process is not
               running (shown when there is one): run id, state, since when, why. Gone
               (a process of this host): the next 'alchemy stage' marks it failed. Not
               judged: a process of another host, or none recorded

--json prints one document: {"version": 1, "root", "datasets": [{"dataset",
"manifest": {"path", "lines", "bytes"}, "files", "partitions", "sampled",
"up_to_date", "stale", "unsampled", "failed", "backlog": {"lines", "bytes", "cursor"},
"cursors": {"sensor", "stage"}, "quarantined": {"lines", "last"}, "examples":
{"stale", "unsampled", "failed"}, "left_behind": [{"run_id", "status", "since",
"gone", "reason"}]}]}; examples hold the first 10 keys (failed: key -> reason).
Exits 0; 1 when a dataset could not be read or loaded (a bad alchemy.toml, a folder-name
clash; named on stderr, the others are still reported); 2 for a usage error (DAGSTER_HOME
unset, relative, missing or not writable, too).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alchemy",
        description=(
            "Data-landing platform on Dagster. 'ingest' is the prod side: it copies new or "
            "changed raw files of a dataset into its immutable bronze layer and appends one "
            "line per file to manifests/processed.jsonl; 'stage' samples the first rows of "
            "every new or changed bronze file and records it in the Dagster instance; 'status' "
            "reports per dataset what is sampled, stale, failed, left in the backlog and "
            "quarantined."
        ),
        epilog=(
            "A dataset root is {FP_PREFIX}/{vendor}/{dataset}/{version}. Exit status, every "
            "command: 0 done; 1 something failed while working (a file not copied or sampled, "
            "a dataset that could not be read or loaded: named on stderr, the others go on); "
            "2 a usage error, found before any work: a bad argument, a dataset that is not "
            "under the root (with the closest name that is), an unusable data root or "
            "DAGSTER_HOME."
        ),
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {importlib.metadata.version(PACKAGE)}"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ingest_parser = sub.add_parser(
        "ingest",
        help="copy new or changed raw files into bronze and append their manifest lines",
        description=(
            "Scan raw/env*/ of each dataset, copy every file that is new or whose mtime "
            "differs from its last manifest line into bronze/YYYY/MM/DD/HHMMSS--NAME "
            "(temp file, fsync, link; raw mtime and permission bits kept), then append "
            '{"raw", "bronze", "mtime", "size"} to manifests/processed.jsonl and '
            "manifests/processed_YYYY-MM-DD.jsonl. Running it again with nothing changed "
            "appends nothing. Exits 1 naming each file that failed; 2, copying nothing, when "
            "a dataset has no raw folder under the root."
        ),
    )
    ingest_parser.add_argument(
        "datasets", nargs="+", metavar="VENDOR/DATASET/VERSION", help="dataset(s) to ingest"
    )
    _add_root(ingest_parser)
    ingest_parser.add_argument("-v", "--verbose", action="store_true", help="list each file copied")
    ingest_parser.set_defaults(handler=_cmd_ingest)

    stage_parser = sub.add_parser(
        "stage",
        help="one staging cycle without a daemon: sample every new or changed file",
        description=(
            "Read the manifest lines each dataset's stage cursor has not read, add a Dagster "
            "partition per new raw file and sample every file whose manifest mtime differs "
            "from its latest sample (the sensor's decision), recording the materializations "
            "in the Dagster instance of DAGSTER_HOME. Runs until the manifests are drained. "
            "Exits 1 naming each partition that failed and each dataset that could not be "
            "loaded (a bad alchemy.toml, a folder-name clash); 2, staging nothing, when a "
            "dataset has no manifest under the root. Run twice, it samples nothing the second "
            "time. Runs of the dataset that a killed 'alchemy stage' of this host left "
            "unfinished are first marked failed, and their concurrency slots freed."
        ),
    )
    stage_parser.add_argument(
        "datasets",
        nargs="*",
        metavar="VENDOR/DATASET/VERSION",
        help="dataset(s) to stage (default: every dataset with a manifest under the root)",
    )
    _add_root(stage_parser)
    stage_parser.add_argument(
        "-j",
        "--jobs",
        type=_jobs,
        default=1,
        metavar="N",
        help="stage up to N datasets at once, each in a process of its own (default 1; "
        "pays only with more datasets than one and more cores than one)",
    )
    stage_parser.set_defaults(handler=_cmd_stage)

    status_parser = sub.add_parser(
        "status",
        help="per dataset: files, sampled, stale, unsampled, failed, backlog, quarantined",
        description=STATUS_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    status_parser.add_argument(
        "datasets",
        nargs="*",
        metavar="VENDOR/DATASET/VERSION",
        help="dataset(s) to report (default: every dataset with a manifest under the root)",
    )
    _add_root(status_parser)
    status_parser.add_argument("--json", action="store_true", help="print one JSON document")
    status_parser.set_defaults(handler=_cmd_status)
    return parser


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"must be from 1 to 64, got {value}")
    return value


def _add_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--root",
        metavar="PATH",
        help="data root holding {vendor}/{dataset}/{version}: a folder or "
        "s3://bucket/prefix (gs://, az://); overrides FP_PREFIX",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``alchemy`` command; return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except UsageError as err:
        parser.exit(EXIT_USAGE, f"alchemy {args.command}: error: {err}\n")
    except StoreError as err:  # the store failed mid-work (unreachable, credentials, bucket)
        print(f"alchemy {args.command}: FAILED: {err}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
