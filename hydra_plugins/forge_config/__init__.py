"""Loaded by Hydra's plugin discovery, so that `dvc exp run -S ...` composes `conf/` with
Forge's typed schemas and its `${forge_hw:...}` resolver, exactly as `forge compose` does."""

from forge.config import schema
from forge.hardware.detect import register_resolver
from forge.recipes import registry

schema.register()
registry.register()
register_resolver()
