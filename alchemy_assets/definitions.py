"""The Dagster code location: ``defs``, loaded by ``workspace.yaml`` and ``dg``."""

import dagster as dg

defs = dg.Definitions()
