"""The Dagster code location: ``defs``, loaded by ``workspace.yaml`` and ``dg``.

Datasets are discovered under ``FP_PREFIX`` when the code location loads (not at import);
a dataset added later appears after a reload of the code location. A dataset that cannot be
loaded (a bad ``alchemy.toml``, a folder name clash) gets a sensor that fails each tick with
the reason; the other datasets load as usual.
"""

import dagster as dg

from alchemy_assets.defs.datasets import build_defs, discover
from alchemy_assets.defs.resources import AlchemyRoot


@dg.definitions
def defs() -> dg.Definitions:
    fp_prefix = dg.EnvVar("FP_PREFIX")
    found = discover(fp_prefix.get_value())
    return build_defs(found.specs, AlchemyRoot(fp_prefix=fp_prefix), found.broken)
