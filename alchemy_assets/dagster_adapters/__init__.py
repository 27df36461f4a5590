"""Dagster adapters: one module per concept, each thin over the plain modules beside ``defs``."""
