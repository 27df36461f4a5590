"""Faster Dagster event log storages, configured in ``dagster.yaml`` (``event_log_storage``).

Each subclasses Dagster's own storage and keeps its on-disk or database layout, so switching
back to the stock class is a change of configuration. Every Dagster internal they rely on is
named in :data:`alchemy_assets.instance_storage.sqlite.OVERRIDDEN` and
:data:`alchemy_assets.instance_storage.postgres.OVERRIDDEN`, and pinned by their tests.
"""
