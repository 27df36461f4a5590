"""Fixtures: a data root ``FP_PREFIX`` under ``tmp_path`` with raw files to ingest."""

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from alchemy_assets.layout import DatasetId, DatasetLayout

RawWriter = Callable[[str, bytes, float], Path]


@pytest.fixture
def fp_prefix(tmp_path: Path) -> Path:
    root = tmp_path / "fp"
    root.mkdir()
    return root


@pytest.fixture
def layout(fp_prefix: Path) -> DatasetLayout:
    dataset = DatasetLayout.under(fp_prefix, DatasetId("sp", "gics_cwiq_pipe", "1.0"))
    dataset.ensure()
    return dataset


@pytest.fixture
def write_raw(layout: DatasetLayout) -> RawWriter:
    """Write ``raw/<relpath>`` with ``data`` and set its mtime."""

    def write(relpath: str, data: bytes, mtime: float) -> Path:
        path = layout.raw / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (mtime, mtime))
        return path

    return write
