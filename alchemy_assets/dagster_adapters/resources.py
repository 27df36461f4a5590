"""Configuration resources."""

from __future__ import annotations

import dagster as dg

from alchemy_assets.layout import DatasetId, DatasetLayout


class AlchemyRoot(dg.ConfigurableResource):  # type: ignore[type-arg]  # generic only in stubs
    """The data root ``FP_PREFIX`` holding ``{vendor}/{dataset}/{version}`` dataset roots."""

    fp_prefix: str

    def layout(self, dataset_id: DatasetId) -> DatasetLayout:
        return DatasetLayout.under(self.fp_prefix, dataset_id)
