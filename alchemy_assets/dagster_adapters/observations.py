"""The manifest asset's observation after each tick: how far staging is, and what was bad."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from alchemy_assets.dagster_adapters.metadata import bounded
from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.dagster_adapters.tick import TickPlan
from alchemy_assets.metadata_bounds import cut_text


def manifest_observation(
    spec: DatasetSpec, plan: TickPlan, manifest: Path | str
) -> dg.AssetObservation:
    """The manifest after a tick: size, lines consumed, backlog and quarantined lines.

    ``last_quarantined`` lists the last few bad lines the cursor has seen in this manifest
    file, from this tick or earlier ones, so a clean tick still shows them.
    """
    batch, cursor = plan.batch, plan.staging_cursor
    last = cursor.last_rejects
    metadata: dict[str, dg.MetadataValue] = {
        "path": dg.MetadataValue.path(str(manifest)),
        "bytes": dg.MetadataValue.int(batch.file_size),
        "bytes_consumed": dg.MetadataValue.int(batch.cursor.offset),
        "lines_consumed": dg.MetadataValue.int(cursor.lines),
        "lines_this_tick": dg.MetadataValue.int(batch.lines_read),
        "backlog_bytes": dg.MetadataValue.int(batch.backlog_bytes),
        "backlog_lines": dg.MetadataValue.int(batch.backlog_lines),
        "backlog_lines_exact": dg.MetadataValue.bool(batch.backlog_lines_exact),
        "lines": dg.MetadataValue.int(cursor.lines + batch.backlog_lines),
        "quarantined_lines": dg.MetadataValue.int(cursor.quarantined),
        "quarantined_this_tick": dg.MetadataValue.int(len(batch.rejects)),
        "last_quarantined": dg.MetadataValue.md(
            # Each reason is cut where the cursor keeps it (staging.REJECT_CHARS).
            "\n".join(f"- `{r}`" for r in last) if last else "_none_"
        ),
        "new_partitions": dg.MetadataValue.int(len(plan.new_keys)),
        "due": dg.MetadataValue.int(plan.due),
        "unchanged": dg.MetadataValue.int(plan.unchanged),
    }
    if batch.restarted:
        metadata["restarted"] = dg.MetadataValue.text(cut_text(batch.restarted))
    return dg.AssetObservation(asset_key=spec.manifest_key, metadata=bounded(metadata))
