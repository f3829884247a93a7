"""Loaded by Hydra's plugin discovery, so that `dvc exp run -S ...` composes `conf/` with
Forge's typed schemas and its `${forge_hw:...}` resolver, exactly as `forge compose` does."""

from forge.config import schema as _schema  # noqa: F401  (registers the ConfigStore entries)
from forge.hardware.detect import register_resolver

register_resolver()
