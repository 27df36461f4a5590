import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from alchemy_assets.cli import build_parser, main
from alchemy_assets.layout import DatasetLayout
from alchemy_assets_tests.conftest import RawWriter

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


def test_a_dataset_without_raw_folder_fails(
    fp_prefix: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ingest", "no/such/1", "--root", str(fp_prefix)]) == 1
    assert f"no/such/1: FAILED: no raw folder at {fp_prefix}/no/such/1/raw" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ingest", "sp/gics"], "alchemy ingest: error: no data root: pass --root PATH or set"),
        (
            ["ingest", "sp/gics", "--root", "."],
            "alchemy ingest: error: dataset 'sp/gics': expected VENDOR/DATASET/VERSION",
        ),
        (["ingest", "a/b/c", "--root", "/no/such/dir"], "data root /no/such/dir is not a dir"),
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
    for argv in (["--help"], ["ingest", "--help"]):
        result = subprocess.run(
            [sys.executable, "-m", "alchemy_assets.cli", *argv],
            capture_output=True,
            text=True,
            check=True,
        )
        assert "usage: alchemy" in result.stdout
    assert "VENDOR/DATASET/VERSION" in result.stdout
    assert "--root PATH" in result.stdout


def test_every_command_is_documented_in_the_readme() -> None:
    readme = README.read_text()
    # argparse has no public way to list sub-commands; its actions are the one source.
    (subparsers,) = [
        a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    ]
    assert subparsers.choices
    for name in subparsers.choices:
        assert f"alchemy {name}" in readme
