from pathlib import Path

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
