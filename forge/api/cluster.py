"""This machine and what a run would cost on it: forge hw, forge cost (forge/hardware/)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from forge.errors import ForgeError


def hw() -> dict[str, Any]:
    """GPUs (nvidia-ml-py), their health, and the profile hardware=auto picks."""
    from forge.hardware.report import report

    return report()


def cost(
    overrides: list[str], tokens: int | None = None, conf: Path = Path("conf")
) -> dict[str, Any]:
    """A training run's time, money and per-device memory for `overrides`."""
    from forge.api.config import COMPOSE
    from forge.config import compose as c
    from forge.hardware import cost as costs
    from forge.hardware import memory

    with COMPOSE:
        cfg = c.to_container(c.compose(overrides, conf))
    result = costs.estimate(cfg, tokens)
    if result is None:
        raise ForgeError(
            f"model.hub_id: the shape of {cfg['model'].get('hub_id')} is unknown offline",
            hint="download its config.json into the Hugging Face cache, or add it to "
            "forge/hardware/memory.py KNOWN_SHAPES",
        )
    mem = memory.estimate(memory.plan_from_config(cfg))
    hw = cfg["hardware"]
    return {
        "recipe": cfg["recipe"]["method"],
        "model": cfg["model"]["name"],
        "hardware": hw["name"],
        **result.as_dict(),
        "memory": {
            **mem.as_dict(),
            "available_gib": hw["memory_gb"],
            "breakdown": mem.breakdown(),
        },
    }
