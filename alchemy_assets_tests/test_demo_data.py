import os
import subprocess
import sys
from pathlib import Path

import pytest

from alchemy_assets.demo_data import main, make_demo
from alchemy_assets.ingest import ingest


def test_the_demo_has_two_datasets_every_format_and_a_repeated_name(tmp_path: Path) -> None:
    gics, prices = make_demo(tmp_path, rows=20)
    names = sorted(p.relative_to(gics.raw).as_posix() for p in gics.raw.rglob("*") if p.is_file())
    assert names == [
        "env0/README.txt",
        "env0/data.csv",
        "env0/gics.txt",
        "env0/history/prices.csv.gz",
        "env1/data.csv",
        "env1/file.parquet",
    ]
    assert sorted(p.name for p in prices.raw.rglob("*.*")) == ["daily.tsv", "ticks.jsonl"]
    assert [len(ingest(layout).copied) for layout in (gics, prices)] == [6, 2]


def test_the_gics_delivery_is_pipe_delimited_with_a_quoted_bar_and_line_break(
    tmp_path: Path,
) -> None:
    gics, _ = make_demo(tmp_path, rows=20)
    text = (gics.raw / "env0" / "gics.txt").read_text()
    assert text.splitlines()[0] == "gics_code|sector_name|industry_group|as_of|description"
    assert '"Services | Supplies"' in text and '"Renamed from Retailing\non 2023-03-17"' in text
    assert (gics.raw / "env0" / "README.txt").read_text().startswith("GICS CWIQ pipe delivery")


def test_main_needs_exactly_one_path(tmp_path: Path) -> None:
    assert main([]) == 2
    assert main(["--reset"]) == 2
    assert main([str(tmp_path), str(tmp_path)]) == 2
    assert main([str(tmp_path)]) == 0


def test_make_demo_data_writes_only_under_the_demo_folder_whatever_the_environment(
    tmp_path: Path,
) -> None:
    repo = Path(__file__).resolve().parent.parent
    env = {**os.environ, "FP_PREFIX": str(tmp_path / "real"), "DAGSTER_HOME": str(tmp_path / "h")}
    result = subprocess.run(
        ["make", "-n", "-C", str(repo), "demo-data", "demo", "demo-reset"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    assert str(tmp_path) not in result.stdout
    assert f"alchemy_assets.demo_data {repo}/.demo/fp\n" in result.stdout
    assert f"alchemy_assets.demo_data --reset {repo}/.demo/fp\n" in result.stdout
    assert f"rm -rf {repo}/.demo/dagster_home\n" in result.stdout
    assert f"--root {repo}/.demo/fp\n" in result.stdout
    assert f"FP_PREFIX={repo}/.demo/fp DAGSTER_HOME={repo}/.demo/dagster_home " in result.stdout


def test_the_demo_refuses_a_root_that_holds_other_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "sp" / "gics_cwiq_pipe" / "1.0" / "raw").mkdir(parents=True)
    assert main([str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"demo_data: {tmp_path} is not empty and holds no .alchemy-demo marker: "
        "the demo writes only into its own folder (a demo folder made before the marker "
        "existed: remove it and run again)\n"
    )
    assert list((tmp_path / "sp" / "gics_cwiq_pipe" / "1.0" / "raw").iterdir()) == []


def test_the_demo_can_be_written_again_over_itself(tmp_path: Path) -> None:
    make_demo(tmp_path / "demo", rows=5)
    make_demo(tmp_path / "demo", rows=5)
    assert (tmp_path / "demo" / ".alchemy-demo").read_text() == "complete\n"


def test_a_second_run_keeps_the_demo_files_and_a_persons_edits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "demo"
    assert main([str(root)]) == 0
    edited = root / "sp/gics_cwiq_pipe/1.0/raw/env0/data.csv"
    edited.write_text("id,ticker\n1,MINE\n")
    os.utime(edited, (1800000000.0, 1800000000.0))
    capsys.readouterr()
    assert main([str(root)]) == 0
    assert capsys.readouterr().out == (
        f"demo data kept as it is at {root} (your edits too): `make demo-reset` starts over\n"
    )
    assert edited.read_text() == "id,ticker\n1,MINE\n"
    assert edited.stat().st_mtime == 1800000000.0


def test_a_demo_whose_writing_was_cut_short_is_written_again(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    root.mkdir()
    (root / ".alchemy-demo").touch()  # claimed, never completed
    assert main([str(root)]) == 0
    assert (root / "acme/prices/2/raw/env0/ticks.jsonl").is_file()
    assert (root / ".alchemy-demo").read_text() == "complete\n"


def test_reset_deletes_everything_in_the_demo_folder_and_writes_the_demo_again(
    tmp_path: Path,
) -> None:
    root = tmp_path / "demo"
    assert main([str(root)]) == 0
    original = (root / "sp/gics_cwiq_pipe/1.0/raw/env0/data.csv").read_bytes()
    (root / "sp/gics_cwiq_pipe/1.0/raw/env0/data.csv").write_text("edited\n")
    (root / "sp/gics_cwiq_pipe/1.0/raw/env0/extra.csv").write_text("a\n")
    (root / "other").mkdir()
    assert main(["--reset", str(root)]) == 0
    assert (root / "sp/gics_cwiq_pipe/1.0/raw/env0/data.csv").read_bytes() == original
    assert not (root / "sp/gics_cwiq_pipe/1.0/raw/env0/extra.csv").exists()
    assert sorted(p.name for p in root.iterdir()) == [".alchemy-demo", "acme", "sp"]


def test_reset_refuses_a_folder_that_is_not_the_demos(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "precious.csv").write_text("a\n")
    assert main(["--reset", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"demo_data: {tmp_path} holds no .alchemy-demo marker: not a demo folder, nothing deleted\n"
    )
    assert (tmp_path / "precious.csv").read_text() == "a\n"


def _make(repo: Path, demo: Path, *targets: str) -> str:
    """``make`` of demo targets on a demo folder of the test's own, in this virtual env."""
    venv = Path(sys.prefix)
    command = ["make", "--no-print-directory", "-C", str(repo), "-o", str(venv / ".installed")]
    result = subprocess.run(
        [*command, *targets, f"VENV={venv}", f"DEMO={demo}"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return result.stdout


def test_make_demo_data_twice_keeps_an_edit_and_ingests_it_and_demo_reset_starts_over(
    tmp_path: Path,
) -> None:
    repo, demo = Path(__file__).resolve().parent.parent, tmp_path / "demo"
    first = _make(repo, demo, "demo-data")
    assert "sp/gics_cwiq_pipe/1.0: 6 copied, 0 unchanged, 0 failed" in first
    raw = demo / "fp/sp/gics_cwiq_pipe/1.0/raw/env0/data.csv"
    original = raw.read_bytes()
    raw.write_text("id,ticker\n1,MINE\n")
    (demo / "dagster_home" / "history").mkdir()
    second = _make(repo, demo, "demo-data")
    assert raw.read_text() == "id,ticker\n1,MINE\n"
    assert "demo data kept as it is" in second
    # The edit is the person's own re-delivery, ingested as one; the other files unchanged.
    assert "sp/gics_cwiq_pipe/1.0: 1 copied, 5 unchanged, 0 failed" in second
    reset = _make(repo, demo, "demo-reset")
    assert raw.read_bytes() == original
    assert not (demo / "dagster_home").exists()
    assert "sp/gics_cwiq_pipe/1.0: 6 copied, 0 unchanged, 0 failed" in reset
    assert "demo reset: 'make demo' starts it" in reset
