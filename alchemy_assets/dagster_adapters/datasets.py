"""Assemble the definitions of every dataset found under the data root."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from alchemy_assets.dagster_adapters.assets import bronze_spec, build_sample_asset, manifest_spec
from alchemy_assets.dagster_adapters.resources import AlchemyRoot
from alchemy_assets.dagster_adapters.sensors import build_broken_sensor, build_sensor
from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.data_root import DataRoot, Layout, load_options, open_root
from alchemy_assets.data_root import discover as discover_layouts
from alchemy_assets.layout import DatasetId
from alchemy_assets.options import OptionsError, StagingOptions


@dataclass(frozen=True)
class BrokenDataset:
    """Datasets that cannot be loaded (a bad ``alchemy.toml``, or several folders that map to
    one asset group), the sensor name they would have, and why."""

    dataset_ids: tuple[DatasetId, ...]
    sensor_name: str
    reason: str


@dataclass(frozen=True)
class Discovery:
    """The datasets under the data root: those that load, and those that cannot."""

    specs: list[DatasetSpec] = field(default_factory=list)
    broken: list[BrokenDataset] = field(default_factory=list)


def discover(
    fp_prefix: str | Path | DataRoot,
    options_of: Callable[[DatasetId], StagingOptions] = lambda _: StagingOptions(),
) -> Discovery:
    """A spec per dataset with a manifest under ``fp_prefix``; its options are
    ``options_of(dataset)`` overridden by its ``alchemy.toml``.

    One dataset's bad configuration never hides the others: a dataset whose ``alchemy.toml``
    cannot be used is broken alone; datasets whose folders map to one asset group (``1.0``
    and ``v1.0`` are both ``v1_0``) are all broken, none wins, since which one is meant
    cannot be told from the names.
    """
    root = fp_prefix if not isinstance(fp_prefix, str) else open_root(fp_prefix, must_exist=False)
    by_group: dict[str, list[Layout]] = {}
    for layout in discover_layouts(root):
        by_group.setdefault(DatasetSpec(layout.dataset_id).group_name, []).append(layout)
    found = Discovery()
    for group, layouts in by_group.items():
        ids = tuple(layout.dataset_id for layout in layouts)
        sensor_name = DatasetSpec(ids[0]).sensor_name
        if len(layouts) > 1:
            names = ", ".join(map(str, ids[:-1])) + f" and {ids[-1]}"
            found.broken.append(
                BrokenDataset(
                    ids,
                    sensor_name,
                    f"datasets {names} {'both' if len(ids) == 2 else 'all'} map to asset group "
                    f"{group!r}; none of them is loaded: rename "
                    f"{'one' if len(ids) == 2 else 'all but one'} of their folders",
                )
            )
            continue
        try:
            options = load_options(options_of(ids[0]), layouts[0])
            found.specs.append(DatasetSpec(ids[0], options))
        except OptionsError as err:
            found.broken.append(BrokenDataset(ids, sensor_name, str(err)))
    return found


def build_defs(
    specs: list[DatasetSpec], root: AlchemyRoot, broken: list[BrokenDataset] | None = None
) -> dg.Definitions:
    """Assets, the sample job and the sensor of each dataset, bound to ``root``; a sensor
    that fails every tick with the reason for each broken dataset."""
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
    for dataset in broken or []:
        sensors.append(build_broken_sensor(dataset.sensor_name, dataset.reason))
    return dg.Definitions(
        assets=assets, jobs=jobs, sensors=sensors, resources={"alchemy_root": root}
    )
