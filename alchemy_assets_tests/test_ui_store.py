"""The Dagster UI once on a data root on an object store (issue 24): ``dagster dev`` with
``FP_PREFIX=s3://demo/fp`` on moto's S3 API server holding the demo's data, ingested there;
its sensors sample every file on their own, and the partitions page in Chromium lists them."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from alchemy_assets.demo_store import fill, store_env
from alchemy_assets.layout import DatasetId
from alchemy_assets.object_layout import ObjectLayout
from alchemy_assets.object_store import StoreRoot
from alchemy_assets_tests.s3 import running_server
from alchemy_assets_tests.ui import Browser, DagsterDev, sample_materializations, wait_for

BUCKET = "demo"
SAMPLE_URL = "/assets/sp/gics_cwiq_pipe/v1_0/sample"
SETTLE_SECONDS = 180.0

pytestmark = pytest.mark.ui


@pytest.fixture(scope="module")
def store_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[DagsterDev, ObjectLayout]]:
    """moto with the demo ingested in ``s3://demo/fp`` (sensors every 5 s), and ``dagster
    dev`` on it once every file of the GICS dataset has been sampled by the sensor."""
    saved = dict(os.environ)
    try:
        with running_server() as s3:
            fill(s3.endpoint, BUCKET)
            env = store_env(s3.endpoint, BUCKET)
            store = StoreRoot.open(env["FP_PREFIX"])
            gics = ObjectLayout(DatasetId.parse("sp/gics_cwiq_pipe/1.0"), store)
            store.put(gics.key("alchemy.toml"), b"sensor_interval_seconds = 5\n")
            raw = {gics.relative(o.key)[len("raw/") :] for o in store.objects(gics.raw)}
            home = tmp_path_factory.mktemp("dagster_home_s3")
            with DagsterDev.start(env["FP_PREFIX"], home, extra_env=env) as dev:

                def all_sampled() -> bool:
                    path = ["sp", "gics_cwiq_pipe", "v1_0", "sample"]
                    return set(sample_materializations(dev.graphql, path)) >= raw

                what = "the sensor to sample every file"
                wait_for(all_sampled, SETTLE_SECONDS, what, dev.log_tail)
                yield dev, gics
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_on_a_store_the_sensor_samples_every_file_and_the_partitions_page_lists_them(
    store_server: tuple[DagsterDev, ObjectLayout], tmp_path: Path
) -> None:
    dev, gics = store_server
    with Browser.launch() as browser:
        page = browser.open(f"{dev.url}{SAMPLE_URL}?view=partitions")
        listed = set(browser.partition_list(page))
        page.screenshot(path=tmp_path / "partitions_s3.png")
    assert {"env0/data.csv", "env1/file.parquet", "env0/history/prices.csv.gz"} <= listed
    raw = gics.store.get(gics.key("raw/env0/data.csv")).decode()
    sample = gics.store.get(gics.key("samples/env0/data_sample.csv")).decode()
    assert sample.splitlines() == raw.splitlines()[:101]  # the header and the first 100 rows
