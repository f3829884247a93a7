"""Hydra launcher settings of a hardware profile, for sweeps (`forge sweep -m ...`).

A profile names a Hydra launcher (`hardware.launcher`) and its settings
(`hardware.launcher_options`, nested as in the launcher's own config). `sweep_overrides`
turns them into the Hydra overrides a multirun passes: `hydra/launcher=submitit_slurm
hydra.launcher.partition=gpu ...`. The plugins are an optional extra:
`pip install 'forge[launchers]'` (hydra-submitit-launcher, hydra-ray-launcher).
"""

from __future__ import annotations

import importlib.util
import re
from typing import Any

from forge.config.schema import HardwareConfig
from forge.errors import ForgeError

PLUGINS = {
    "submitit_local": ("hydra_plugins.hydra_submitit_launcher", "hydra-submitit-launcher"),
    "submitit_slurm": ("hydra_plugins.hydra_submitit_launcher", "hydra-submitit-launcher"),
    "ray": ("hydra_plugins.hydra_ray_launcher", "hydra-ray-launcher"),
}
PLAIN = re.compile(r"^[\w./:-]+$")


def _flatten(node: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in node.items():
        if isinstance(value, dict):
            out += _flatten(value, f"{prefix}{key}.")
        else:
            out.append((f"{prefix}{key}", value))
    return out


def _value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    return text if PLAIN.match(text) else "'" + text.replace("'", "\\'") + "'"


def sweep_overrides(hw: HardwareConfig) -> list[str]:
    """Hydra overrides that make a multirun launch through the profile's launcher."""
    if hw.launcher == "basic":
        return []
    module, package = PLUGINS[hw.launcher]
    if importlib.util.find_spec(module) is None:
        raise ForgeError(
            f"hardware.launcher: '{hw.launcher}' (profile {hw.name}) needs {package}, "
            "which is not installed",
            hint="pip install 'forge[launchers]'",
        )
    return [f"hydra/launcher={hw.launcher}"] + [
        f"hydra.launcher.{key}={_value(value)}" for key, value in _flatten(hw.launcher_options)
    ]
