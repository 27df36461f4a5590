import argparse
import errno
import fcntl
import gzip
import importlib.metadata
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from alchemy_assets.cli import build_parser, main
from alchemy_assets.confined import aux_name
from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.layout import DatasetId, DatasetLayout
from alchemy_assets_tests.conftest import RawWriter, sampled_mtimes

README = Path(__file__).resolve().parent.parent / "README.md"


def test_ingest_prints_a_summary_and_exits_zero(
    fp_prefix: Path, layout: DatasetLayout, write_raw: RawWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    write_raw("env0/data.csv", b"a\n1\n", 1.0)
    assert main(["ingest", "sp/gics_cwiq_pipe/1.0", "--root", str(fp_prefix)]) == 0
    assert capsys.readouterr().out == "sp/gics_cwiq_pipe/1.0: 1 copied, 0 unchanged, 0 failed\n"
    assert main(["ingest", "sp/gics_cwiq_pipe/1.0", "--root", str(fp_prefix)]) == 0
    assert capsys.readouterr().out == "sp/gics_cwiq_pipe/1.0: 0 copied, 1 unchanged, 0 failed\n"


def test_fp_prefix_is_the_default_root(
    fp_prefix: Path,
    layout: DatasetLayout,
    write_raw: RawWriter,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_raw("env0/data.csv", b"a\n", 1.0)
    monkeypatch.setenv("FP_PREFIX", str(fp_prefix))
    assert main(["ingest", "sp/gics_cwiq_pipe/1.0"]) == 0
    assert "1 copied" in capsys.readouterr().out


def test_a_relative_root_is_taken_from_the_current_directory(
    fp_prefix: Path,
    layout: DatasetLayout,
    write_raw: RawWriter,
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_raw("env0/data.csv", b"a\n1\n", 1.0)
    monkeypatch.chdir(fp_prefix.parent)
    assert main(["ingest", "sp/gics_cwiq_pipe/1.0", "--root", fp_prefix.name]) == 0
    assert capsys.readouterr().out == "sp/gics_cwiq_pipe/1.0: 1 copied, 0 unchanged, 0 failed\n"
    assert main(["stage", "--root", fp_prefix.name]) == 0
    assert "1 sampled" in capsys.readouterr().out
    assert (layout.samples / "env0" / "data_sample.csv").read_text() == "a\n1\n"


def test_ingest_exits_one_naming_each_file_that_failed(
    fp_prefix: Path, layout: DatasetLayout, write_raw: RawWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    write_raw("env0/ok.csv", b"a\n", 1.0)
    os.mkfifo(layout.raw / "env0" / "pipe.csv")
    assert main(["ingest", "sp/gics_cwiq_pipe/1.0", "--root", str(fp_prefix)]) == 1
    captured = capsys.readouterr()
    assert captured.out == "sp/gics_cwiq_pipe/1.0: 1 copied, 0 unchanged, 1 failed\n"
    assert f"  FAILED raw/env0/pipe.csv: {layout.raw}/env0/pipe.csv: not a regular file" in (
        captured.err
    )


def test_a_dataset_without_raw_folder_is_a_usage_error_and_nothing_is_copied(
    fp_prefix: Path, layout: DatasetLayout, write_raw: RawWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    write_raw("env0/a.csv", b"a\n", 1.0)
    with pytest.raises(SystemExit) as exit_info:
        main(["ingest", "sp/gics_cwiq_pipe/1.0", "no/such/1", "--root", str(fp_prefix)])
    assert exit_info.value.code == 2
    assert capsys.readouterr() == (
        "",
        f"alchemy ingest: error: dataset no/such/1: no raw folder at {fp_prefix}/no/such/1/raw\n",
    )
    assert not layout.manifest.exists()


@pytest.mark.parametrize("command", ["ingest", "stage", "status"])
def test_a_misspelt_dataset_exits_two_from_every_command_with_the_closest_name(
    command: str,
    fp_prefix: Path,
    layout: DatasetLayout,
    write_raw: RawWriter,
    instance: dg.DagsterInstance,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_raw("env0/a.csv", b"a\n", 1.0)
    assert main(["ingest", "sp/gics_cwiq_pipe/1.0", "--root", str(fp_prefix)]) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main([command, "sp/gics_cwiq_pipe/1.1", "--root", str(fp_prefix)])
    assert exit_info.value.code == 2
    missing = {
        "ingest": f"no raw folder at {fp_prefix}/sp/gics_cwiq_pipe/1.1/raw",
        "stage": f"no manifest at {fp_prefix}/sp/gics_cwiq_pipe/1.1/manifests/processed.jsonl",
    }
    missing["status"] = missing["stage"]
    assert capsys.readouterr().err == (
        f"alchemy {command}: error: dataset sp/gics_cwiq_pipe/1.1: {missing[command]}: "
        "did you mean sp/gics_cwiq_pipe/1.0?\n"
    )


def test_a_dataset_with_no_close_name_gets_no_suggestion(
    fp_prefix: Path,
    layout: DatasetLayout,
    instance: dg.DagsterInstance,
    capsys: pytest.CaptureFixture[str],
) -> None:
    layout.manifest.touch()
    with pytest.raises(SystemExit):
        main(["stage", "acme/prices/2", "--root", str(fp_prefix)])
    assert capsys.readouterr().err == (
        f"alchemy stage: error: dataset acme/prices/2: no manifest at "
        f"{fp_prefix}/acme/prices/2/manifests/processed.jsonl (run 'alchemy ingest' first)\n"
    )


def test_version_prints_the_package_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "alchemy_assets.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout == f"alchemy {importlib.metadata.version('alchemy_assets')}\n"
    assert result.stdout == "alchemy 0.1.0\n"


def test_the_help_states_the_exit_status_rule(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert (
        "Exit status, every command: 0 done; 1 something failed while working (a file not "
        "copied or sampled, a dataset that could not be read or loaded: named on stderr, the "
        "others go on); 2 a usage error, found before any work: a bad argument, a dataset "
        "that is not under the root (with the closest name that is), an unusable data root "
        "or DAGSTER_HOME."
    ) in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["ingest", "sp/gics"],
            "alchemy ingest: error: no data root: pass --root PATH (or s3://bucket/prefix) or set",
        ),
        (
            ["ingest", "sp/gics", "--root", "."],
            "alchemy ingest: error: dataset 'sp/gics': expected VENDOR/DATASET/VERSION",
        ),
        (["ingest", "a/b/c", "--root", "/no/such/dir"], "data root /no/such/dir is not a dir"),
        (["stage", "--jobs", "0"], "argument -j/--jobs: must be from 1 to 64, got 0"),
        (["stage", "--jobs", "two"], "argument -j/--jobs: not a whole number: 'two'"),
    ],
)
def test_bad_arguments_exit_two_with_a_clear_message(
    argv: list[str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("FP_PREFIX", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_the_console_script_explains_itself() -> None:
    for argv in (["--help"], ["ingest", "--help"], ["stage", "--help"], ["status", "--help"]):
        result = subprocess.run(
            [sys.executable, "-m", "alchemy_assets.cli", *argv],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert "usage: alchemy" in result.stdout
    assert "VENDOR/DATASET/VERSION" in result.stdout
    assert "--root PATH" in result.stdout


def _commands() -> list[str]:
    # argparse has no public way to list sub-commands; its actions are the one source.
    (subparsers,) = [
        a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    ]
    return list(subparsers.choices)


@pytest.mark.parametrize("name", _commands())
def test_every_command_is_documented_in_the_readme(name: str) -> None:
    assert f"alchemy {name}" in README.read_text()


def _sample_meta(instance: dg.DagsterInstance, spec: DatasetSpec, key: str) -> dict[str, object]:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=spec.sample_key, asset_partitions=[key]), limit=5
    ).records
    return {
        "count": len(records),
        "mtime": records[0].asset_materialization.metadata["mtime"].value  # type: ignore[union-attr]
        if records
        else None,
    }


def test_ingest_stage_change_ingest_stage_resamples_exactly_the_changed_file(
    fp_prefix: Path,
    layout: DatasetLayout,
    write_raw: RawWriter,
    instance: dg.DagsterInstance,
    spec: DatasetSpec,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_raw("env0/data.csv", b"a,b\n1,2\n", 1000.0)
    write_raw("env1/data.csv", b"a,b\n3,4\n", 1000.0)
    write_raw("env1/more.csv.gz", gzip.compress(b"x\n1\n"), 1000.0)
    root = ["--root", str(fp_prefix)]
    assert main(["ingest", "sp/gics_cwiq_pipe/1.0", *root]) == 0
    assert main(["stage", *root]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "sp/gics_cwiq_pipe/1.0: 3 new partitions, 3 sampled, 0 unchanged, 0 failed, "
        "0 quarantined lines"
    )
    assert main(["stage", "sp/gics_cwiq_pipe/1.0", *root]) == 0
    assert "0 new partitions, 0 sampled" in capsys.readouterr().out
    write_raw("env1/data.csv", b"a,b\n5,6\n", 2000.0)
    assert main(["ingest", "sp/gics_cwiq_pipe/1.0", *root]) == 0
    assert main(["stage", *root]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "sp/gics_cwiq_pipe/1.0: 0 new partitions, 1 sampled, 0 unchanged, 0 failed, "
        "0 quarantined lines"
    )
    assert _sample_meta(instance, spec, "env1/data.csv") == {"count": 2, "mtime": 2000.0}
    assert _sample_meta(instance, spec, "env0/data.csv") == {"count": 1, "mtime": 1000.0}
    assert (layout.samples / "env1" / "data_sample.csv").read_text() == "a,b\n5,6\n"
    assert gzip.decompress((layout.samples / "env1" / "more_sample.csv.gz").read_bytes()) == (
        b"x\n1\n"
    )


def test_a_restatement_that_keeps_its_mtime_is_ingested_staged_and_shown_stale_until_then(
    fp_prefix: Path,
    layout: DatasetLayout,
    write_raw: RawWriter,
    instance: dg.DagsterInstance,
    spec: DatasetSpec,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The vendor restates prices.csv with one more row and sets its mtime back (rsync -t)."""
    write_raw("env0/prices.csv", b"d,px\n1,10\n", 1737158400.0)
    root = ["--root", str(fp_prefix)]
    assert main(["ingest", "sp/gics_cwiq_pipe/1.0", *root]) == 0
    assert main(["stage", *root]) == 0
    write_raw("env0/prices.csv", b"d,px\n1,10\n2,11\n", 1737158400.0)
    capsys.readouterr()
    assert main(["ingest", "sp/gics_cwiq_pipe/1.0", *root]) == 0
    assert capsys.readouterr().out == "sp/gics_cwiq_pipe/1.0: 1 copied, 0 unchanged, 0 failed\n"
    assert main(["status", "--json", *root]) == 0
    (status,) = json.loads(capsys.readouterr().out)["datasets"]
    assert (status["up_to_date"], status["stale"]) == (0, 1)
    assert main(["stage", *root]) == 0
    assert "0 new partitions, 1 sampled, 0 unchanged" in capsys.readouterr().out
    assert (layout.samples / "env0" / "prices_sample.csv").read_bytes() == b"d,px\n1,10\n2,11\n"
    (latest, _) = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=spec.sample_key, asset_partitions=["env0/prices.csv"]),
        limit=2,
    ).records
    meta = latest.asset_materialization.metadata  # type: ignore[union-attr]
    assert meta["reason"].value == "size changed from 10 to 15 bytes (same mtime 1737158400.0)"


def test_a_dataset_compared_by_checksum_restages_a_same_size_rewrite(
    fp_prefix: Path,
    layout: DatasetLayout,
    write_raw: RawWriter,
    instance: dg.DagsterInstance,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (layout.root).mkdir(parents=True, exist_ok=True)
    (layout.root / "alchemy.toml").write_text('compare = "checksum"\n')
    write_raw("env0/prices.csv", b"d,px\n1,10\n", 1737158400.0)
    root = ["--root", str(fp_prefix)]
    assert main(["ingest", "sp/gics_cwiq_pipe/1.0", *root]) == 0
    assert main(["stage", *root]) == 0
    write_raw("env0/prices.csv", b"d,px\n1,19\n", 1737158400.0)
    capsys.readouterr()
    assert main(["ingest", "sp/gics_cwiq_pipe/1.0", *root]) == 0
    assert capsys.readouterr().out.startswith("sp/gics_cwiq_pipe/1.0: 1 copied, 0 unchanged")
    assert main(["stage", *root]) == 0
    assert "0 new partitions, 1 sampled" in capsys.readouterr().out
    assert (layout.samples / "env0" / "prices_sample.csv").read_bytes() == b"d,px\n1,19\n"


def test_a_bad_compare_option_fails_its_dataset_ingest_in_one_line(
    fp_prefix: Path, layout: DatasetLayout, write_raw: RawWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    write_raw("env0/prices.csv", b"d\n1\n", 1.0)
    (layout.root / "alchemy.toml").write_text('compare = "md5"\n')
    assert main(["ingest", "sp/gics_cwiq_pipe/1.0", "--root", str(fp_prefix)]) == 1
    assert capsys.readouterr().err == (
        f"sp/gics_cwiq_pipe/1.0: FAILED: {layout.root}/alchemy.toml: compare must be one of "
        "'quick', 'checksum', got 'md5'\n"
    )
    assert not layout.manifest.exists()


def test_files_that_are_not_data_are_recorded_as_not_sampled_counted_apart_and_not_retried(
    fp_prefix: Path,
    layout: DatasetLayout,
    write_raw: RawWriter,
    instance: dg.DagsterInstance,
    spec: DatasetSpec,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\n"
    write_raw("env0/data.csv", b"a\n1\n", 1.0)
    write_raw("env0/spec.dat", pdf, 1.0)  # named as data, a PDF by its bytes
    write_raw("env0/photo.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 1.0)
    root = ["--root", str(fp_prefix)]
    assert main(["ingest", "sp/gics_cwiq_pipe/1.0", *root]) == 0
    capsys.readouterr()
    assert main(["stage", *root]) == 0  # not a failure: exit 0
    assert "3 new partitions, 1 sampled, 2 not data, 0 unchanged, 0 failed" in (
        capsys.readouterr().out
    )
    assert not (layout.samples / "env0" / "spec_sample.dat").exists()
    record = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=spec.sample_key, asset_partitions=["env0/spec.dat"]),
        limit=1,
    ).records[0]
    event = record.asset_materialization
    assert event is not None and event.tags is not None
    assert event.tags["dagster/data_version"] == f"1.0 size={len(pdf)} not-data=pdf"
    assert str(event.metadata["not_sampled"].value).startswith("a PDF document, not a data")
    assert event.metadata["first_bytes"].value == repr(pdf[:64])
    assert "dagster/column_schema" not in event.metadata
    assert main(["status", "--json", *root]) == 0
    (status,) = json.loads(capsys.readouterr().out)["datasets"]
    assert (status["up_to_date"], status["not_data"], status["failed"]) == (1, 2, 0)
    assert status["backlog"]["lines"] == 0
    assert status["examples"]["not_data"] == {"env0/photo.csv": "png", "env0/spec.dat": "pdf"}
    assert main(["status", *root]) == 0
    text = capsys.readouterr().out
    assert "  not data     2 (not sampled, not failed)\n" in text
    assert "    env0/photo.csv (png), env0/spec.dat (pdf)\n" in text
    assert main(["stage", *root]) == 0  # nothing new: not tried again
    assert "0 new partitions, 0 sampled" in capsys.readouterr().out
    checks = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(spec.sample_key, name) for name in ("consistency", "schema_drift")]
    )
    assert len(checks) == 2


def test_stage_with_jobs_stages_datasets_in_processes_of_their_own(
    fp_prefix: Path,
    layout: DatasetLayout,
    write_raw: RawWriter,
    instance: dg.DagsterInstance,
    spec: DatasetSpec,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_raw("env0/data.csv", b"a,b\n1,2\n", 1000.0)
    other = fp_prefix / "acme" / "prices" / "2" / "raw" / "env0"
    other.mkdir(parents=True)
    (other / "p.csv").write_bytes(b"x\n1\n")
    (other / "q.csv").write_bytes(b'v\n"never closed\n')
    root = ["--root", str(fp_prefix)]
    assert main(["ingest", "sp/gics_cwiq_pipe/1.0", "acme/prices/2", *root]) == 0
    assert main(["stage", "--jobs", "2", *root]) == 1  # q.csv fails, in its own dataset
    out = capsys.readouterr().out.splitlines()
    assert out[-2:] == [
        "acme/prices/2: 2 new partitions, 1 sampled, 0 unchanged, 1 failed, 0 quarantined lines",
        "sp/gics_cwiq_pipe/1.0: 1 new partitions, 1 sampled, 0 unchanged, 0 failed, "
        "0 quarantined lines",
    ]
    assert _sample_meta(instance, spec, "env0/data.csv") == {"count": 1, "mtime": 1000.0}
    assert (fp_prefix / "acme/prices/2/samples/env0/p_sample.csv").read_bytes() == b"x\n1\n"


def test_stage_exits_one_naming_each_failed_partition(
    fp_prefix: Path,
    layout: DatasetLayout,
    write_raw: RawWriter,
    instance: dg.DagsterInstance,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_raw("env0/notes.csv", b'v\n"never closed\n', 1.0)
    assert main(["ingest", "sp/gics_cwiq_pipe/1.0", "--root", str(fp_prefix)]) == 0
    assert main(["stage", "--root", str(fp_prefix)]) == 1
    captured = capsys.readouterr()
    assert "0 sampled, 0 unchanged, 1 failed" in captured.out
    assert "  FAILED env0/notes.csv: " in captured.err and "unterminated quote" in captured.err


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder this process cannot write to, and the error a write gets there."""
    path = tmp_path / "read_only"
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        yield path, os.strerror(errno.EACCES)
        path.chmod(0o755)
        return
    # root writes through any permission bits; an immutable folder refuses even root
    made = subprocess.run(
        ["chattr", "+i", str(path)], capture_output=True, text=True, timeout=30, check=False
    )
    if made.returncode != 0:
        pytest.skip(f"no read-only folder for root here: chattr +i: {made.stderr.strip()}")
    yield path, os.strerror(errno.EPERM)
    subprocess.run(["chattr", "-i", str(path)], timeout=30, check=True)


FIX = "set it to the absolute path of a writable folder, the Dagster instance where samples are"


@pytest.mark.parametrize("command", ["stage", "status"])
@pytest.mark.parametrize("kind", ["unset", "relative", "missing", "not writable"])
def test_an_unusable_dagster_home_is_one_clear_line_and_exit_two(
    command: str,
    kind: str,
    fp_prefix: Path,
    layout: DatasetLayout,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    layout.manifest.touch()
    missing = tmp_path / "no_home"
    if kind == "unset":
        monkeypatch.delenv("DAGSTER_HOME", raising=False)
        problem = f"DAGSTER_HOME is not set: {FIX} recorded"
    elif kind == "relative":
        (tmp_path / "dagster_home").mkdir()
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("DAGSTER_HOME", "dagster_home")
        problem = (
            "DAGSTER_HOME 'dagster_home' is a relative path: set it to an absolute path, "
            f"e.g. {tmp_path}/dagster_home"
        )
    elif kind == "missing":
        monkeypatch.setenv("DAGSTER_HOME", str(missing))
        problem = (
            f"DAGSTER_HOME {missing} is not a directory: create it (mkdir -p {missing}) or set "
            "DAGSTER_HOME to the Dagster instance's folder"
        )
    else:
        home, error = request.getfixturevalue("read_only_dir")
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        problem = (
            f"DAGSTER_HOME {home} is not writable ({error}): make it writable for this user "
            "or set DAGSTER_HOME to a writable folder"
        )
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--root", str(fp_prefix)])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == f"alchemy {command}: error: {problem}\n"
    assert not missing.exists()


@pytest.mark.parametrize("command", ["stage", "status"])
def test_stage_and_status_go_on_past_broken_datasets_then_exit_one_naming_them(
    command: str,
    fp_prefix: Path,
    layout: DatasetLayout,
    write_raw: RawWriter,
    instance: dg.DagsterInstance,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_raw("env0/a.csv", b"v\n1\n", 1000.0)
    assert main(["ingest", "sp/gics_cwiq_pipe/1.0", "--root", str(fp_prefix)]) == 0
    bad = DatasetLayout.under(fp_prefix, DatasetId("acme", "prices", "2"))
    for dataset in (
        bad,
        *(
            DatasetLayout.under(fp_prefix, DatasetId.parse(name))
            for name in ("sp/x/1.0", "sp/x/v1.0")
        ),
    ):
        dataset.ensure()
        dataset.manifest.touch()
    (bad.root / "alchemy.toml").write_text("sample_rows = 9223372036854775807\n")
    capsys.readouterr()

    assert main([command, "--root", str(fp_prefix)]) == 1
    out, err = capsys.readouterr()
    if command == "stage":
        assert out == (
            "sp/gics_cwiq_pipe/1.0: 1 new partitions, 1 sampled, 0 unchanged, 0 failed, "
            "0 quarantined lines\n"
        )
        assert (layout.samples / "env0" / "a_sample.csv").read_bytes() == b"v\n1\n"
    else:
        assert out.startswith("sp/gics_cwiq_pipe/1.0\n")
        assert "acme" not in out and "sp/x" not in out
    bad_options = (
        f"acme/prices/2: FAILED: {bad.root}/alchemy.toml: sample_rows must be an integer "
        "from 1 to 1,000,000, got 9223372036854775807"
    )
    clash = (
        "FAILED: datasets sp/x/1.0 and sp/x/v1.0 both map to asset group 'sp__x__v1_0'; "
        "none of them is loaded: rename one of their folders"
    )
    assert err.splitlines() == [bad_options, f"sp/x/1.0: {clash}", f"sp/x/v1.0: {clash}"]

    assert main([command, "acme/prices/2", "--root", str(fp_prefix)]) == 1
    out, err = capsys.readouterr()
    assert err == bad_options + "\n"


def test_stage_of_an_unknown_dataset_says_to_ingest_first(
    fp_prefix: Path, instance: dg.DagsterInstance, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["stage", "no/such/1", "--root", str(fp_prefix)])
    assert f"dataset no/such/1: no manifest at {fp_prefix}/no/such/1/manifests/processed.jsonl" in (
        capsys.readouterr().err
    )


def test_status_counts_what_staging_left_undone(
    fp_prefix: Path,
    layout: DatasetLayout,
    write_raw: RawWriter,
    instance: dg.DagsterInstance,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = ["--root", str(fp_prefix)]
    write_raw("env0/a.csv", b"v\n1\n", 1000.0)
    write_raw("env0/b.csv", b"v\n1\n", 1000.0)
    write_raw("env0/notes.csv", b'v\n"never closed\n', 1000.0)  # refused: fails
    assert main(["ingest", "sp/gics_cwiq_pipe/1.0", *root]) == 0
    assert main(["stage", *root]) == 1
    staged_size = layout.manifest.stat().st_size
    write_raw("env0/b.csv", b"v\n2\n", 2000.0)  # re-delivered after sampling: stale
    write_raw("env1/c.csv", b"v\n3\n", 2000.0)  # new, not staged yet: unsampled
    assert main(["ingest", "sp/gics_cwiq_pipe/1.0", *root]) == 0
    with layout.manifest.open("ab") as f:
        f.write(b'{"raw": "raw/env0/x.csv", "mtime": NaN}\n')
    backlog_bytes = layout.manifest.stat().st_size - staged_size
    capsys.readouterr()

    assert main(["status", *root]) == 0
    text = capsys.readouterr().out
    manifest = layout.manifest
    reject = f"    {manifest}:{manifest.stat().st_size - 40}: mtime must be a finite number"
    assert text.splitlines()[:8] == [
        "sp/gics_cwiq_pipe/1.0",
        f"  manifest     6 lines, {manifest.stat().st_size} bytes",
        "  files        4 in the manifest, 3 partitions",
        "  sampled      2 (1 up to date, 1 stale), 2 unsampled",
        "    stale: env0/b.csv",
        "    unsampled: env0/notes.csv, env1/c.csv",
        "  failed       1",
        text.splitlines()[7],
    ]
    assert text.splitlines()[7].startswith("    env0/notes.csv: ")
    assert "unterminated quote" in text.splitlines()[7]
    assert text.splitlines()[8:11] == [
        f"  backlog      3 lines, {backlog_bytes} bytes (after the stage cursor; "
        "sensor: never ran, stage: 3 lines)",
        "  quarantined  1 line",
        text.splitlines()[10],
    ]
    assert text.splitlines()[10].startswith(reject)

    assert main(["status", "sp/gics_cwiq_pipe/1.0", "--json", *root]) == 0
    doc = json.loads(capsys.readouterr().out)
    (dataset,) = doc["datasets"]
    counts = {k: dataset[k] for k in ("files", "partitions", "sampled", "up_to_date")}
    assert counts == {"files": 4, "partitions": 3, "sampled": 2, "up_to_date": 1}
    assert (dataset["stale"], dataset["unsampled"], dataset["failed"]) == (1, 2, 1)
    assert dataset["backlog"] == {"lines": 3, "bytes": backlog_bytes, "cursor": "stage"}
    assert dataset["cursors"] == {"sensor": None, "stage": {"lines": 3, "bytes": backlog_bytes}}
    assert dataset["quarantined"]["lines"] == 1
    assert dataset["examples"]["stale"] == ["env0/b.csv"]
    assert list(dataset["examples"]["failed"]) == ["env0/notes.csv"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["status", "no/such/1"], "alchemy status: error: dataset no/such/1: no manifest at"),
        (["status", "sp/gics"], "alchemy status: error: dataset 'sp/gics': expected"),
        (["status", "--root", "/no/such/dir"], "alchemy status: error: data root /no/such/dir"),
    ],
)
def test_status_usage_errors_exit_two_with_a_clear_message(
    argv: list[str],
    message: str,
    fp_prefix: Path,
    layout: DatasetLayout,
    instance: dg.DagsterInstance,
    capsys: pytest.CaptureFixture[str],
) -> None:
    layout.manifest.touch()
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--root", str(fp_prefix)] if "--root" not in argv else argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_status_reports_an_unreadable_manifest_and_goes_on_with_the_others(
    fp_prefix: Path,
    layout: DatasetLayout,
    write_raw: RawWriter,
    instance: dg.DagsterInstance,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_raw("env0/a.csv", b"v\n1\n", 1000.0)
    assert main(["ingest", "sp/gics_cwiq_pipe/1.0", "--root", str(fp_prefix)]) == 0
    broken = DatasetLayout.under(fp_prefix, DatasetId("acme", "prices", "2"))
    broken.manifest.mkdir(parents=True)  # a folder where the manifest file should be
    capsys.readouterr()
    assert main(["status", "--root", str(fp_prefix)]) == 1
    out, err = capsys.readouterr()
    assert f"acme/prices/2: FAILED: [Errno 21] Is a directory: '{broken.manifest}'" in err
    assert out.startswith("sp/gics_cwiq_pipe/1.0\n")
    assert "acme/prices/2" not in out


def test_a_lock_that_cannot_be_created_fails_its_dataset_in_one_line_and_the_others_go_on(
    fp_prefix: Path, layout: DatasetLayout, write_raw: RawWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    other = DatasetLayout.under(fp_prefix, DatasetId.parse("acme/prices/2"))
    other.ensure()
    (other.raw / "env0").mkdir()
    (other.raw / "env0" / "p.csv").write_bytes(b"p\n")
    write_raw("env0/a.csv", b"a\n", 1.0)
    (layout.manifests / ".ingest.lock").mkdir()
    argv = ["ingest", "sp/gics_cwiq_pipe/1.0", "acme/prices/2", "--root", str(fp_prefix)]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.err == (
        f"sp/gics_cwiq_pipe/1.0: FAILED: cannot create the lock file "
        f"{layout.manifests}/.ingest.lock: Is a directory\n"
    )
    assert captured.out == "acme/prices/2: 1 copied, 0 unchanged, 0 failed\n"


def test_stage_takes_each_datasets_options_from_the_projects_defs_yaml(
    fp_prefix: Path, layout: DatasetLayout, write_raw: RawWriter, project_copy: Path, tmp_path: Path
) -> None:
    write_raw("env0/data.csv", b"a\n1\n2\n3\n", 1.0)
    yaml = project_copy / "alchemy_assets" / "defs" / "datasets" / "defs.yaml"
    yaml.write_text(
        yaml.read_text().replace(
            "  # datasets:", "  datasets:\n    sp/gics_cwiq_pipe/1.0:\n      sample_rows: 2\n  #"
        )
    )
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = {**os.environ, "PYTHONPATH": str(project_copy), "DAGSTER_HOME": str(home)}
    root = ["--root", str(fp_prefix)]
    for command in ("ingest", "stage"):
        subprocess.run(
            [sys.executable, "-m", "alchemy_assets.cli", command, "sp/gics_cwiq_pipe/1.0", *root],
            cwd=project_copy,
            env=env,
            capture_output=True,
            timeout=300,
            check=True,
        )
    assert (layout.samples / "env0" / "data_sample.csv").read_text() == "a\n1\n2\n"


def _alchemy(*argv: str) -> list[str]:
    return [sys.executable, "-m", "alchemy_assets.cli", *argv]


def _wait_for_a_run_holding_the_slot(
    instance: dg.DagsterInstance, spec: DatasetSpec, stage: subprocess.Popen[bytes], err: Path
) -> str:
    """The id of the stage's run once it is STARTED and holds its pool's slot."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert stage.poll() is None, f"the stage ended before it was killed: {err.read_text()}"
        claimed = instance.event_log_storage.get_concurrency_info(spec.pool).claimed_slots
        runs = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        if claimed and runs and claimed[0].run_id == runs[0].run_id:
            return runs[0].run_id
        time.sleep(0.1)
    raise AssertionError("no run of the stage got to hold the pool's slot within 240 s")


def test_a_killed_stages_run_is_listed_by_status_and_failed_by_the_next_stage_freeing_its_slot(
    fp_prefix: Path,
    layout: DatasetLayout,
    write_raw: RawWriter,
    instance: dg.DagsterInstance,
    spec: DatasetSpec,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("a", "b", "c"):
        write_raw(f"env0/{name}.csv", b"v\n1\n", 1000.0)
    root = ["--root", str(fp_prefix)]
    assert main(["ingest", "sp/gics_cwiq_pipe/1.0", *root]) == 0
    instance.event_log_storage.set_concurrency_slots(spec.pool, 1)
    # b's sample lock, held here, stops the stage's run at b: it is killed mid-run.
    (layout.samples / "env0").mkdir(parents=True)
    lock = os.open(layout.samples / "env0" / aux_name("b_sample.csv", ".lock"), os.O_CREAT)
    fcntl.flock(lock, fcntl.LOCK_EX)
    err = tmp_path / "killed.err"
    with err.open("wb") as stderr:
        stage = subprocess.Popen(_alchemy("stage", *root), stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        run_id = _wait_for_a_run_holding_the_slot(instance, spec, stage, err)
    finally:
        stage.send_signal(signal.SIGKILL)
        stage.wait(timeout=60)
        os.close(lock)
    killed = f"process {stage.pid} on {socket.gethostname()}"
    capsys.readouterr()

    assert main(["status", *root]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[-2:-1] == ["  left behind  1 run"]
    assert text[-1].startswith(f"    run {run_id}, STARTED since ")
    assert text[-1].endswith(f": its {killed} is gone; the next 'alchemy stage' marks it failed")
    assert main(["status", "--json", *root]) == 0
    (left,) = json.loads(capsys.readouterr().out)["datasets"][0]["left_behind"]
    assert (left["run_id"], left["status"], left["gone"]) == (run_id, "STARTED", True)
    assert left["reason"] == f"its {killed} is gone"
    assert instance.event_log_storage.get_concurrency_info(spec.pool).active_run_ids == {run_id}

    # The slot is freed first: else the next stage's run would wait for it for good.
    again = subprocess.run(_alchemy("stage", *root), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"  note: run {run_id}, left STARTED since " in again.stderr
    assert f": its {killed} is gone; marked failed\n" in again.stderr
    run = instance.get_run_by_id(run_id)
    assert run is not None and run.status is dg.DagsterRunStatus.FAILURE
    (failure,) = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    assert failure.dagster_event is not None and failure.dagster_event.message is not None
    assert f": its {killed} is gone; the run was STARTED since " in failure.dagster_event.message
    assert instance.event_log_storage.get_concurrency_info(spec.pool).claimed_slots == []
    assert sorted(sampled_mtimes(instance, spec)) == [
        (f"env0/{name}.csv", 1000.0) for name in ("a", "b", "c")
    ]
    assert main(["status", "--json", *root]) == 0
    assert json.loads(capsys.readouterr().out)["datasets"][0]["left_behind"] == []


@pytest.mark.parametrize("command", [["ingest", "sp/x/1"], ["stage"], ["status"]])
def test_a_store_root_that_cannot_be_reached_is_one_line_naming_it_without_the_secret(
    command: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    from alchemy_assets_tests.s3 import closed_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "someone")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "never-shown-secret")
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")
    monkeypatch.setenv("ALCHEMY_STORE_RETRIES", "1")
    monkeypatch.setenv("ALCHEMY_STORE_RETRY_SECONDS", "2")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    with pytest.raises(SystemExit) as exited:
        main([*command, "--root", "s3://lake/fp"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"alchemy {command[0]}: error: s3://lake/fp: LIST failed")
    assert "is the store reachable?" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "never-shown-secret" not in err
