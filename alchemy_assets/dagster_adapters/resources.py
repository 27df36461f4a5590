"""Configuration resources."""

from __future__ import annotations

import dagster as dg

from alchemy_assets.data_root import Layout, layout_of, open_root
from alchemy_assets.layout import DatasetId


class AlchemyRoot(dg.ConfigurableResource):  # type: ignore[type-arg]  # generic only in stubs
    """The data root ``FP_PREFIX`` holding ``{vendor}/{dataset}/{version}`` dataset roots: a
    folder, or ``s3://bucket/prefix`` (``gs://``, ``az://``) on an object store."""

    fp_prefix: str

    def layout(self, dataset_id: DatasetId) -> Layout:
        return layout_of(open_root(self.fp_prefix, must_exist=False), dataset_id)
