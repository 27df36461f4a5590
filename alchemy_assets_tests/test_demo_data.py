import os
import subprocess
from pathlib import Path

import pytest

from alchemy_assets.demo_data import main, make_demo
from alchemy_assets.ingest import ingest


def test_the_demo_has_two_datasets_every_format_and_a_repeated_name(tmp_path: Path) -> None:
    gics, prices = make_demo(tmp_path, rows=20)
    names = sorted(p.relative_to(gics.raw).as_posix() for p in gics.raw.rglob("*") if p.is_file())
    assert names == [
        "env0/data.csv",
        "env0/history/prices.csv.gz",
        "env1/data.csv",
        "env1/file.parquet",
    ]
    assert sorted(p.name for p in prices.raw.rglob("*.*")) == ["daily.tsv", "ticks.jsonl"]
    assert [len(ingest(layout).copied) for layout in (gics, prices)] == [4, 2]


def test_main_needs_exactly_one_path(tmp_path: Path) -> None:
    assert main([]) == 2
    assert main([str(tmp_path)]) == 0


def test_make_demo_data_writes_only_under_the_demo_folder_whatever_the_environment(
    tmp_path: Path,
) -> None:
    repo = Path(__file__).resolve().parent.parent
    env = {**os.environ, "FP_PREFIX": str(tmp_path / "real"), "DAGSTER_HOME": str(tmp_path / "h")}
    result = subprocess.run(
        ["make", "-n", "-C", str(repo), "demo-data", "demo"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    assert str(tmp_path) not in result.stdout
    assert f"alchemy_assets.demo_data {repo}/.demo/fp\n" in result.stdout
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
    assert main([str(tmp_path / "demo")]) == 0
    assert main([str(tmp_path / "demo")]) == 0
