"""The Dagster code location: ``defs``, loaded by ``workspace.yaml`` and ``dg``.

Datasets are discovered under ``FP_PREFIX`` when the code location loads (not at import);
a dataset added later appears after a reload of the code location.
"""

import dagster as dg

from alchemy_assets.defs.datasets import build_defs, discover_specs
from alchemy_assets.defs.resources import AlchemyRoot


@dg.definitions
def defs() -> dg.Definitions:
    fp_prefix = dg.EnvVar("FP_PREFIX")
    return build_defs(discover_specs(fp_prefix.get_value()), AlchemyRoot(fp_prefix=fp_prefix))
