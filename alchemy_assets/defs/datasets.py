"""Assemble the definitions of every dataset found under the data root."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from alchemy_assets.defs.assets import bronze_spec, build_sample_asset, manifest_spec
from alchemy_assets.defs.resources import AlchemyRoot
from alchemy_assets.defs.sensors import build_sensor
from alchemy_assets.defs.spec import DatasetSpec
from alchemy_assets.layout import discover_datasets
from alchemy_assets.options import StagingOptions


def discover_specs(fp_prefix: str | Path | None) -> list[DatasetSpec]:
    """A spec per dataset with a manifest under ``fp_prefix`` (none if it is unset)."""
    if not fp_prefix:
        return []
    specs = [
        DatasetSpec(layout.dataset_id, StagingOptions.load(layout.root))
        for layout in discover_datasets(fp_prefix)
    ]
    groups: dict[str, DatasetSpec] = {}
    for spec in specs:
        clash = groups.setdefault(spec.group_name, spec)
        if clash is not spec:
            raise dg.DagsterInvalidDefinitionError(
                f"datasets {clash.dataset_id} and {spec.dataset_id} both map to asset group "
                f"{spec.group_name!r}; rename one of their folders"
            )
    return specs


def build_defs(specs: list[DatasetSpec], root: AlchemyRoot) -> dg.Definitions:
    """Assets, the sample job and the sensor of each dataset, bound to ``root``."""
    assets: list[dg.AssetsDefinition | dg.AssetSpec] = []
    jobs: list[dg.UnresolvedAssetJobDefinition] = []
    sensors: list[dg.SensorDefinition] = []
    for spec in specs:
        sample = build_sample_asset(spec)
        assets += [manifest_spec(spec), bronze_spec(spec), sample]
        jobs.append(
            dg.define_asset_job(
                spec.job_name,
                selection=[spec.sample_key],
                description=f"Sample bronze files of {spec.dataset_id}",
            )
        )
        sensors.append(build_sensor(spec))
    return dg.Definitions(
        assets=assets, jobs=jobs, sensors=sensors, resources={"alchemy_root": root}
    )
