"""alchemy_assets: raw files land, prod copies them to bronze and appends a manifest line,
staging samples the first rows of each new or changed bronze file, all modelled in Dagster."""
