"""The Dagster UI, for real: ``dagster dev`` (webserver + daemon) on the demo data, driven in
Debian's Chromium by Playwright; what the page shows is checked against Dagster's GraphQL API.

Screenshots go to the test's temp folder; ``make screenshots`` (``ALCHEMY_SCREENSHOTS=docs``)
writes the README's into ``docs/``.
"""

import gzip
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from playwright.sync_api import expect

from alchemy_assets.cli import main as alchemy
from alchemy_assets.demo_data import make_demo
from alchemy_assets.layout import DatasetLayout
from alchemy_assets_tests.ui import (
    Browser,
    DagsterDev,
    Graphql,
    arrow_between,
    check_evaluations,
    latest_observation,
    sample_materializations,
    wait_for,
)

DATASET = "sp/gics_cwiq_pipe/1.0"
PREFIX = ["sp", "gics_cwiq_pipe", "v1_0"]
SAMPLE_URL = "/assets/sp/gics_cwiq_pipe/v1_0/sample"
GROUP = "sp__gics_cwiq_pipe__v1_0"
# workspace.yaml's code location (Dagster's default name: module:attribute).
LOCATION = "alchemy_assets.definitions:defs"
# How long the daemon may take to tick, launch a run in a subprocess and record it here.
SETTLE_SECONDS = 180.0

pytestmark = pytest.mark.ui


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[DatasetLayout]]:
    """The demo data, ingested, each dataset's sensor ticking every 5 s."""
    fp_prefix = tmp_path_factory.mktemp("ui") / "fp"
    layouts = make_demo(fp_prefix, rows=200)
    for layout in layouts:
        (layout.root / "alchemy.toml").write_text("sensor_interval_seconds = 5\n")
        assert alchemy(["ingest", str(layout.dataset_id), "--root", str(fp_prefix)]) == 0
    return fp_prefix, layouts


@pytest.fixture(scope="module")
def server(
    demo_root: tuple[Path, list[DatasetLayout]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DagsterDev]:
    """``dagster dev`` on a free loopback port, once every demo file has been sampled by the
    sensor on its own."""
    fp_prefix, layouts = demo_root
    home = tmp_path_factory.mktemp("dagster_home")
    with DagsterDev.start(fp_prefix=fp_prefix, dagster_home=home) as dev:
        for layout in layouts:
            path, keys = [*_asset_prefix(str(layout.dataset_id)), "sample"], _raw_keys(layout)

            def all_sampled(path: list[str] = path, keys: set[str] = keys) -> bool:
                return set(sample_materializations(dev.graphql, path)) >= keys

            what = f"the sensor to sample every file of {layout.dataset_id}"
            wait_for(all_sampled, SETTLE_SECONDS, what, dev.log_tail)
        yield dev


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser.launch() as launched:
        yield launched


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where screenshots go: the test's temp folder, or ALCHEMY_SCREENSHOTS (e.g. docs)."""
    return Path(os.environ.get("ALCHEMY_SCREENSHOTS") or tmp_path)


def _raw_keys(layout: DatasetLayout) -> set[str]:
    return {str(p.relative_to(layout.raw)) for p in layout.raw.rglob("*") if p.is_file()}


def _asset_prefix(dataset_id: str) -> list[str]:
    vendor, dataset, version = dataset_id.split("/")
    return [vendor, dataset, "v" + version.replace(".", "_")]


def test_the_lineage_graph_shows_manifest_to_bronze_to_sample(
    server: DagsterDev, browser: Browser, shots: Path
) -> None:
    page = browser.open(f"{server.url}/locations/{LOCATION}/asset-groups/{GROUP}/lineage")
    nodes = browser.graph_nodes(page, ["manifest", "bronze", "sample"])
    edges = browser.graph_edges(page, at_least=2)
    assert arrow_between(edges, nodes["bronze"], nodes["sample"]), (nodes, edges)
    assert arrow_between(edges, nodes["manifest"], nodes["bronze"]), (nodes, edges)
    assert not arrow_between(edges, nodes["sample"], nodes["bronze"])
    page.screenshot(path=shots / "lineage.png")
    assert (shots / "lineage.png").stat().st_size > 10_000


def test_the_partitions_page_lists_every_file(
    server: DagsterDev, browser: Browser, demo_root: tuple[Path, list[DatasetLayout]]
) -> None:
    _, layouts = demo_root
    keys = _raw_keys(layouts[0])
    page = browser.open(f"{server.url}{SAMPLE_URL}?view=partitions")
    listed = browser.partition_list(page)
    assert keys <= set(listed), listed
    expect(page.locator("body")).to_contain_text(f"Materialized ({len(listed)})")


def test_the_sample_assets_description_shows_where_samples_are_written(
    server: DagsterDev, browser: Browser
) -> None:
    page = browser.open(f"{server.url}{SAMPLE_URL}?view=overview")
    expect(page.locator("body")).to_contain_text("samples/{env}/{path}/{stem}_sample{ext}")


def test_a_partition_shows_its_preview_and_mtime(
    server: DagsterDev, browser: Browser, demo_root: tuple[Path, list[DatasetLayout]], shots: Path
) -> None:
    _, layouts = demo_root
    (latest, *_) = sample_materializations(server.graphql, [*PREFIX, "sample"])["env0/data.csv"]
    page = browser.open(f"{server.url}{SAMPLE_URL}?view=partitions&partition=env0%2Fdata.csv")
    metadata = browser.metadata_table(
        page, first="mtime", require=["mtime", "raw", "sample", "dagster/row_count", "preview"]
    )
    # A date and time (the browser's time zone), not the float seconds.
    year = datetime.fromtimestamp(latest["mtime"], UTC).year
    assert str(year) in metadata["mtime"], metadata["mtime"]
    assert f"{latest['mtime']:.0f}" not in metadata["mtime"]
    assert metadata["raw"] == "raw/env0/data.csv"
    assert metadata["sample"] == "samples/env0/data_sample.csv"
    assert metadata["dagster/row_count"] == "100"
    # The preview table: its header is the file's header, its first row the file's first row.
    header, first = (layouts[0].raw / "env0" / "data.csv").read_text().splitlines()[:2]
    preview = metadata["preview"].split("\n")
    assert preview[0].split("\t") == header.split(",")
    assert preview[1].split("\t") == first.split(",")
    # The metadata scrolls inside the page: a tall viewport shows all of it, preview included.
    page.set_viewport_size({"width": 1400, "height": 2000})
    page.get_by_role("cell", name="bytes_read", exact=True).wait_for()
    page.screenshot(path=shots / "partition-metadata.png")
    assert (shots / "partition-metadata.png").stat().st_size > 10_000


def test_the_pipe_delimited_gics_delivery_shows_its_real_columns_and_its_readme_is_not_data(
    server: DagsterDev, browser: Browser, demo_root: tuple[Path, list[DatasetLayout]], shots: Path
) -> None:
    _, layouts = demo_root
    page = browser.open(f"{server.url}{SAMPLE_URL}?view=partitions&partition=env0%2Fgics.txt")
    metadata = browser.metadata_table(
        page, first="mtime", require=["sample", "dagster/row_count", "columns", "dialect"]
    )
    assert metadata["sample"] == "samples/env0/gics_sample.txt"
    assert (metadata["dagster/row_count"], metadata["columns"]) == ("25", "5")  # not one column
    assert '"delimiter"' in metadata["dialect"] and '"|"' in metadata["dialect"]
    header = (layouts[0].raw / "env0" / "gics.txt").read_text().splitlines()[0]
    page.set_viewport_size({"width": 1400, "height": 2000})
    page.get_by_role("cell", name="bytes_read", exact=True).wait_for()
    page.get_by_text("Show Table Schema").first.click()  # Dagster collapses a wide schema
    dialog = page.get_by_role("dialog")
    for name in header.split("|"):  # the column schema lists the file's real columns
        expect(dialog).to_contain_text(name)
    page.screenshot(path=shots / "gics-metadata.png")
    page.keyboard.press("Escape")
    assert (shots / "gics-metadata.png").stat().st_size > 10_000
    readme = browser.open(f"{server.url}{SAMPLE_URL}?view=partitions&partition=env0%2FREADME.txt")
    shown = browser.metadata_table(readme, first="mtime", require=["not_sampled", "kind"])
    assert shown["kind"] == "documentation"
    assert "not a data file" in shown["not_sampled"]


def test_materializing_one_partition_from_the_ui_records_a_new_materialization(
    server: DagsterDev, browser: Browser
) -> None:
    key = "env1/data.csv"
    before = sample_materializations(server.graphql, [*PREFIX, "sample"])[key]
    page = browser.open(f"{server.url}{SAMPLE_URL}?view=partitions&partition=env1%2Fdata.csv")
    page.get_by_role("button", name="Materialize…").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("1 partition").wait_for()
    assert key in dialog.inner_text()
    dialog.get_by_role("button", name="Launch 1 run").click()

    def recorded() -> bool:
        return len(sample_materializations(server.graphql, [*PREFIX, "sample"])[key]) > len(before)

    wait_for(recorded, SETTLE_SECONDS, f"a new materialization of {key}", server.log_tail)
    latest = sample_materializations(server.graphql, [*PREFIX, "sample"])[key][0]
    assert latest["runId"] != before[0]["runId"]
    assert server.graphql.finished_run_status(latest["runId"], server.log_tail) == "SUCCESS"
    assert latest["mtime"] == before[0]["mtime"]  # same manifest line, sampled again
    # A run launched from the UI takes a slot of the dataset's pool, like the sensor's.
    assert server.graphql.run_pools(latest["runId"]) == [f"alchemy_assets/{DATASET}"]


def test_the_sensor_samples_a_file_appended_while_the_page_is_open(
    server: DagsterDev, browser: Browser, demo_root: tuple[Path, list[DatasetLayout]]
) -> None:
    fp_prefix, layouts = demo_root
    page = browser.open(f"{server.url}{SAMPLE_URL}?view=partitions")
    assert "env1/appended.csv" not in browser.partition_list(page)
    appended = layouts[0].raw / "env1" / "appended.csv"
    shutil.copy(layouts[0].raw / "env0" / "data.csv", appended)
    os.utime(appended, (1_800_000_000.0, 1_800_000_000.0))
    assert alchemy(["ingest", DATASET, "--root", str(fp_prefix)]) == 0

    def sampled() -> bool:
        return "env1/appended.csv" in sample_materializations(server.graphql, [*PREFIX, "sample"])

    wait_for(sampled, SETTLE_SECONDS, "the sensor to sample env1/appended.csv", server.log_tail)
    (latest,) = sample_materializations(server.graphql, [*PREFIX, "sample"])["env1/appended.csv"]
    assert latest["mtime"] == 1_800_000_000.0
    assert server.graphql.finished_run_status(latest["runId"], server.log_tail) == "SUCCESS"
    # The open page picks the new partition up without a reload.
    page.get_by_text("env1/appended.csv").first.wait_for(timeout=60_000)


def test_the_manifest_asset_shows_backlog_and_quarantined_lines(
    server: DagsterDev, browser: Browser, demo_root: tuple[Path, list[DatasetLayout]], shots: Path
) -> None:
    _, layouts = demo_root
    with layouts[0].manifest.open("ab") as manifest:
        manifest.write(b'{"raw": "raw/env0/nothing.csv"}\n')  # no bronze, no mtime

    def observed() -> bool:
        latest = latest_observation(server.graphql, [*PREFIX, "manifest"])
        return bool(latest.get("quarantined_lines"))

    wait_for(observed, SETTLE_SECONDS, "the sensor to quarantine the bad line", server.log_tail)
    latest = latest_observation(server.graphql, [*PREFIX, "manifest"])
    assert latest["quarantined_lines"] == 1
    assert latest["backlog_lines"] == 0
    assert latest["bytes"] == layouts[0].manifest.stat().st_size
    page = browser.open(f"{server.url}/assets/sp/gics_cwiq_pipe/v1_0/manifest")
    page.set_viewport_size({"width": 1400, "height": 1500})
    compared = ["bytes", "lines", "lines_consumed", "backlog_lines", "backlog_bytes"]
    required = [*compared, "quarantined_lines", "last_quarantined"]
    shown = browser.metadata_table(page, first="backlog_lines", value_column=2, require=required)
    for label in compared:
        assert shown[label] == str(latest[label]), label
    assert shown["quarantined_lines"] == "1"
    assert "processed.jsonl:" in shown["last_quarantined"]
    assert "missing" in shown["last_quarantined"]
    page.screenshot(path=shots / "manifest-observation.png")


def test_a_changed_schema_warns_in_the_schema_drift_check(
    server: DagsterDev, browser: Browser, demo_root: tuple[Path, list[DatasetLayout]], shots: Path
) -> None:
    fp_prefix, layouts = demo_root
    key = "env0/history/prices.csv.gz"
    raw = layouts[0].raw / key
    before = pl.read_csv(gzip.decompress(raw.read_bytes()))
    changed = before.drop("sector").with_columns(
        pl.col("id").cast(pl.String).str.replace(r"^", "id-"), venue=pl.lit("XNYS")
    )
    raw.write_bytes(gzip.compress(changed.write_csv().encode()))
    os.utime(raw, (1_800_000_100.0, 1_800_000_100.0))
    assert alchemy(["ingest", DATASET, "--root", str(fp_prefix)]) == 0

    def warned() -> list[dict[str, Any]]:
        evaluations = check_evaluations(server.graphql, [*PREFIX, "sample"], "schema_drift")
        return [e for e in evaluations if e["partition"] == key and not e["success"]]

    wait_for(lambda: bool(warned()), SETTLE_SECONDS, f"schema_drift on {key}", server.log_tail)
    (evaluation,) = warned()
    assert evaluation["severity"] == "WARN"
    assert evaluation["json"]["added"] == [{"name": "venue", "type": "String"}]
    assert evaluation["json"]["removed"] == [{"name": "sector", "type": "String"}]
    assert evaluation["json"]["retyped"] == [{"name": "id", "old": "Int64", "new": "String"}]
    consistency = check_evaluations(server.graphql, [*PREFIX, "sample"], "consistency")
    assert [e["success"] for e in consistency if e["runId"] == evaluation["runId"]] == [True]

    page = browser.open(f"{server.url}{SAMPLE_URL}?view=checks&checkDetail=schema_drift")
    # "Latest execution" renders its description (Markdown) after the rest of the panel.
    page.get_by_text(key).first.wait_for()
    expect(page.locator("body")).to_contain_text(
        "since the previous sample: +1 added, -1 removed, ~1 retyped"
    )
    page.get_by_text("[Show Markdown]").first.click()  # the `changes` table
    changes = page.get_by_role("dialog")
    changes.get_by_text("venue").first.wait_for()
    assert "sector" in changes.inner_text() and "Int64" in changes.inner_text()
    page.screenshot(path=shots / "schema-drift-check.png")


def test_graphql_client_reports_errors(server: DagsterDev) -> None:
    with pytest.raises(AssertionError, match="Cannot query field"):
        server.graphql.query("{ noSuchField }")


def test_a_server_that_never_comes_up_is_reported_with_its_log(tmp_path: Path) -> None:
    with pytest.raises(TimeoutError, match=r"(?s)webserver.*the log's last lines"):
        Graphql("http://127.0.0.1:9").wait_until_loaded(
            timeout=1.0, log_tail=lambda: "the log's last lines"
        )


def test_a_server_that_exits_is_reported_at_once_with_its_log() -> None:
    with pytest.raises(RuntimeError, match=r"(?s)exited with 3.*boom"):
        Graphql("http://127.0.0.1:9").wait_until_loaded(
            timeout=60.0, log_tail=lambda: "boom", exit_code=lambda: 3
        )
