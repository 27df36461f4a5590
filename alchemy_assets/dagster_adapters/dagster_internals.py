"""Every use of Dagster API that is not public: private modules (``dagster._…``) and instance
or storage methods outside Dagster's documented API. Pinned to the Dagster version below by
``alchemy_assets_tests/test_dagster_internals.py``: an upgrade that moves or changes one of
them fails that test first, with the name of what broke.
"""

from __future__ import annotations

import dagster as dg

# The pointer from a check result to the materialization it checked: not exported.
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData as CheckTarget,
)

# The instigator type that selects sensor states among schedule states: not exported.
from dagster._core.scheduler.instigation import InstigatorType

# The Dagster version (major.minor) these were checked against.
PINNED_VERSION = "1.13"
# Dagster's run tags for a run over a partition range (dagster._core.storage.tags).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"

__all__ = [
    "PINNED_VERSION",
    "RANGE_END_TAG",
    "RANGE_START_TAG",
    "CheckTarget",
    "code_location_name",
    "read_kv_cursor",
    "sensor_states",
    "write_kv_cursor",
]


def read_kv_cursor(instance: dg.DagsterInstance, key: str) -> str | None:
    """A value in the run storage's key-value table (where ``alchemy stage`` keeps cursors)."""
    return instance.run_storage.get_cursor_values({key}).get(key)


def write_kv_cursor(instance: dg.DagsterInstance, key: str, value: str) -> None:
    instance.run_storage.set_cursor_values({key: value})


def sensor_states(instance: dg.DagsterInstance) -> list[tuple[str, float, str | None]]:
    """(sensor name, last tick time or 0, stored cursor) of every sensor the daemon knows."""
    return [
        (
            state.instigator_name,
            getattr(state.instigator_data, "last_tick_timestamp", None) or 0.0,
            getattr(state.instigator_data, "cursor", None),
        )
        for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
    ]


def code_location_name(context: dg.SensorEvaluationContext) -> str | None:
    """The name of the code location evaluating the sensor, as the daemon (or webserver) that
    asked for the evaluation knows it; None outside a code location (a test's context).
    ``SensorEvaluationContext.code_location_origin`` is not marked public."""
    origin = context.code_location_origin
    return origin.location_name if origin is not None else None
