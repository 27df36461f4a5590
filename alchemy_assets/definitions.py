"""The Dagster code location: ``defs``, loaded by ``workspace.yaml``, ``dagster dev`` and ``dg``.

Everything in the defs folder ``alchemy_assets/defs/``: the ``AlchemyDatasets`` component of
the data root ``FP_PREFIX`` (``defs/datasets/defs.yaml``) and whatever else is put there.
Datasets are discovered under ``FP_PREFIX`` when the code location loads (not at import); a
dataset added or removed later gets the code location reloaded by the discovery sensor
(``dagster_adapters/discovery.py``) within its interval. A dataset that cannot be
loaded (a bad ``alchemy.toml``, a folder name clash) gets a sensor that fails each tick with
the reason; the other datasets load as usual. An unset ``FP_PREFIX``, or one that is not a
folder, fails the load with a message naming it.
"""

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
