"""The ``dg`` defs folder: ``datasets/defs.yaml`` declares the data root's component; any
asset, sensor or component scaffolded here (``dg scaffold defs ...``) loads beside it."""
