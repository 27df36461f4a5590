"""``AlchemyDatasets``: the ``dg`` component of one data root and every dataset under it.

Declared in ``alchemy_assets/defs/datasets/defs.yaml``. Each dataset's staging options are,
key by key, the first of: its ``R/alchemy.toml``, its entry under ``datasets`` in the YAML,
the YAML's ``defaults``, the built-in default.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Annotated, Any, Literal

import dagster as dg
import pydantic

import alchemy_assets
from alchemy_assets.dagster_adapters.datasets import build_defs, discover
from alchemy_assets.dagster_adapters.discovery import DagsterWebserver, build_discovery_sensor
from alchemy_assets.dagster_adapters.resources import AlchemyRoot
from alchemy_assets.dagster_adapters.sensors import build_broken_sensor
from alchemy_assets.data_root import DataRoot, root_text
from alchemy_assets.format_options import parse_rules
from alchemy_assets.layout import MANIFEST_NAME, DatasetId, LayoutError
from alchemy_assets.object_store import StoreError, StoreRoot, is_store_url
from alchemy_assets.options import MAXIMUM, MINIMUM, StagingOptions

ROOT_VARIABLE = "FP_PREFIX"
NO_DATASET_SENSOR = "alchemy_assets__no_dataset_sensor"
DATASET_PATTERN = f"{{vendor}}/{{dataset}}/{{version}}/manifests/{MANIFEST_NAME}"

log = logging.getLogger(__name__)


def _count(option: str) -> object:
    return pydantic.Field(default=None, ge=MINIMUM.get(option, 1), le=MAXIMUM[option])


class DatasetOptions(dg.Model, dg.Resolvable):
    """Staging options; one left out (or null) keeps the value it would have otherwise."""

    sample_rows: Annotated[int | None, _count("sample_rows")] = None
    sensor_interval_seconds: Annotated[int | None, _count("sensor_interval_seconds")] = None
    max_lines_per_tick: Annotated[int | None, _count("max_lines_per_tick")] = None
    partitions_per_run: Annotated[int | None, _count("partitions_per_run")] = None
    bronze_events: bool | None = None
    asset_checks: bool | None = None
    max_attempts: Annotated[int | None, _count("max_attempts")] = None
    retry_delay_seconds: Annotated[int | None, _count("retry_delay_seconds")] = None
    compare: Literal["quick", "checksum"] | None = None
    formats: dict[str, dict[str, Any]] | None = pydantic.Field(
        default=None,
        description='Formats by pattern under raw/, e.g. "env0/*.txt": {format: csv, '
        'delimiter: "|"}; see alchemy_assets/format_options.py.',
    )

    @pydantic.field_validator("formats")
    @classmethod
    def _rules(cls, value: dict[str, dict[str, Any]] | None) -> dict[str, dict[str, Any]] | None:
        if value is not None:
            parse_rules(value)  # its ValueError names the pattern and the key
        return value

    def over(self, base: StagingOptions) -> StagingOptions:
        """``base`` with the options set here (format rules after the base's)."""
        options = self.model_dump(exclude_none=True)
        if "formats" in options:
            options["formats"] = base.formats + parse_rules(options["formats"])
        return dataclasses.replace(base, **options)


class RootError(Exception):
    """The data root is unset or not a folder; the message names the variable and the path."""


class AlchemyDatasets(dg.Component, dg.Model, dg.Resolvable):
    """Every dataset under a data root: per dataset a ``manifest``, ``bronze`` and ``sample``
    asset, a sample job and a manifest sensor."""

    root: str = pydantic.Field(
        description="The data root holding {vendor}/{dataset}/{version} dataset folders.",
    )
    defaults: DatasetOptions = DatasetOptions()
    datasets: dict[str, DatasetOptions] = pydantic.Field(
        default_factory=dict,
        description="Options of single datasets, by VENDOR/DATASET/VERSION.",
    )
    discovery_interval_seconds: int = pydantic.Field(
        default=15,
        ge=1,
        le=MAXIMUM["sensor_interval_seconds"],
        description="Minimum time between ticks of the sensor that looks for datasets added "
        "or removed under the root and then gets the code location reloaded.",
    )
    webserver_url: str = pydantic.Field(
        default="http://127.0.0.1:3000",
        description="The Dagster webserver that reloads the code location when datasets are "
        "added or removed; empty: none (the discovery sensor's ticks then fail, saying so).",
    )

    def options_of(self, dataset_id: DatasetId) -> StagingOptions:
        """The dataset's options before its ``alchemy.toml``: its entry over the defaults."""
        options = self.defaults.over(StagingOptions())
        override = self.datasets.get(str(dataset_id))
        return override.over(options) if override else options

    def root_path(self) -> DataRoot:
        """The data root, once it is known to be a folder (or a store URL)."""
        if not self.root:
            raise RootError(
                f"{ROOT_VARIABLE} is not set: set it to the data root, the folder holding "
                "{vendor}/{dataset}/{version} dataset folders"
            )
        if is_store_url(self.root):
            try:
                return StoreRoot.open(self.root)
            except StoreError as err:
                raise RootError(f"{ROOT_VARIABLE}={self.root}: {err}") from None
        path = Path(self.root)
        if not path.is_dir():
            problem = "does not exist" if not path.exists() else "is not a directory"
            raise RootError(
                f"{ROOT_VARIABLE}={self.root}: the data root {problem}; set {ROOT_VARIABLE} "
                "to the folder holding {vendor}/{dataset}/{version} dataset folders"
            )
        return path.absolute()

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        root = self.root_path()
        for name in self.datasets:
            try:
                DatasetId.parse(name)
            except LayoutError as err:
                raise RootError(f"datasets: {name!r}: {err}") from None
        try:
            found = discover(root, self.options_of)
        except StoreError as err:  # the store cannot be listed: the load fails in one line
            raise RootError(f"{ROOT_VARIABLE}={self.root}: {err}") from None
        defs = build_defs(found.specs, AlchemyRoot(fp_prefix=root_text(root)), found.broken)
        built = [str(spec.dataset_id) for spec in found.specs]
        built += [str(i) for broken in found.broken for i in broken.dataset_ids]
        discovery = dg.Definitions(
            sensors=[build_discovery_sensor(root, built, self.discovery_interval_seconds)],
            resources={"dagster_webserver": DagsterWebserver(url=self.webserver_url)},
        )
        unknown = set(self.datasets) - {str(spec.dataset_id) for spec in found.specs}
        unknown -= {str(i) for broken in found.broken for i in broken.dataset_ids}
        for name in sorted(unknown):
            log.warning(f"datasets: {name}: no such dataset under {root}; its options are unused")
        if found.specs or found.broken:
            return dg.Definitions.merge(defs, discovery)
        reason = f"no dataset under {root}: expected {root}/{DATASET_PATTERN}"
        log.warning(reason)
        return dg.Definitions.merge(
            dg.Definitions(sensors=[build_broken_sensor(NO_DATASET_SENSOR, reason)]), discovery
        )


def project_component(root: Path | str | None = None) -> AlchemyDatasets:
    """The project's ``AlchemyDatasets`` component as its YAML declares it (``root`` replacing
    the declared root when given): what ``alchemy stage`` and ``alchemy status`` load."""
    tree = dg.ComponentTree.for_project(Path(alchemy_assets.__file__).parent)
    (component,) = tree.get_all_components(AlchemyDatasets)
    if root is not None:
        component = component.model_copy(update={"root": str(root)})
    return component
