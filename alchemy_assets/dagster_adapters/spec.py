"""Names and keys of one dataset's Dagster objects, derived once from its id."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import dagster as dg

from alchemy_assets.layout import DatasetId
from alchemy_assets.options import StagingOptions


def key_safe(part: str) -> str:
    """``1.0`` → ``v1_0``, ``gics-cwiq`` → ``gics_cwiq``: a valid asset key part or group name."""
    safe = re.sub(r"[^A-Za-z0-9_]", "_", part)
    return f"v{safe}" if safe[:1].isdigit() else safe


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset's asset keys, group, partitions definition, pool, job and sensor names."""

    dataset_id: DatasetId
    options: StagingOptions = field(default_factory=StagingOptions)
    partitions_def: dg.DynamicPartitionsDefinition = field(init=False)

    def __post_init__(self) -> None:
        # One partitions definition per dataset, created once and shared by every object.
        partitions = dg.DynamicPartitionsDefinition(name=self.partitions_name)
        object.__setattr__(self, "partitions_def", partitions)

    @property
    def partitions_name(self) -> str:
        """The name of the dataset's dynamic partitions (one per raw file)."""
        return self.group_name

    @property
    def prefix(self) -> list[str]:
        d = self.dataset_id
        return [key_safe(d.vendor), key_safe(d.dataset), key_safe(d.version)]

    @property
    def group_name(self) -> str:
        return "__".join(self.prefix)

    @property
    def manifest_key(self) -> dg.AssetKey:
        return dg.AssetKey([*self.prefix, "manifest"])

    @property
    def bronze_key(self) -> dg.AssetKey:
        return dg.AssetKey([*self.prefix, "bronze"])

    @property
    def sample_key(self) -> dg.AssetKey:
        return dg.AssetKey([*self.prefix, "sample"])

    @property
    def pool(self) -> str:
        """The dataset's Dagster concurrency pool (``alchemy_assets/sp/gics_cwiq_pipe/1.0``):
        every run that samples it, from the sensor, the UI or a backfill, takes a slot."""
        return f"alchemy_assets/{self.dataset_id}"

    @property
    def job_name(self) -> str:
        return f"{self.group_name}__sample_job"

    @property
    def sensor_name(self) -> str:
        return f"{self.group_name}__manifest_sensor"
