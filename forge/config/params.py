"""Reading params.yaml back: the parsed file, and a group as its typed dataclass."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from forge.errors import ConfigError, ForgeError


def load_params(path: Path = Path("params.yaml")) -> dict[str, Any]:
    import yaml

    if not path.is_file():
        raise ForgeError(f"{path} not found", hint="run `forge compose` first")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ForgeError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from exc
    if not isinstance(data, dict):
        raise ForgeError(f"{path}: expected a mapping of config groups")
    return data


TYPE_NAMES = {"Integer": "int", "Float": "float", "Boolean": "bool", "String": "str"}


def plain(exc: OmegaConfBaseException) -> str:
    """OmegaConf's message in the user's words: "expected int, got 'lots'"."""
    msg = str(getattr(exc, "msg", None) or exc).splitlines()[0]
    m = re.match(r"Value '(.*)' of type '\w+' could not be converted to (\w+)", msg)
    if m:
        return f"expected {TYPE_NAMES.get(m.group(2), m.group(2).lower())}, got '{m.group(1)}'"
    return msg


def typed(cls: type, node: Any, prefix: str) -> Any:
    """`node` (plain data) as an instance of the schema `cls`; one ConfigError line naming
    the full key when a value does not fit its type."""
    from forge.config.fields import problems

    try:
        obj = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(cls), node))
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or "?"
        raise ConfigError([f"{prefix}.{key}: {plain(exc)}"]) from exc
    found = problems(obj, prefix + ".")
    if found:
        raise ConfigError(found)
    return obj


def load_group(group: str, path: Path = Path("params.yaml")) -> Any:
    """One group of params.yaml as its typed dataclass (what a stage hands to a builder).
    The recipe group is typed by its method's schema: forge.recipes.registry.load_recipe."""
    from forge.config.schema import GROUPS

    data = load_params(path)
    if group not in data:
        raise ForgeError(f"{path}: no '{group}' section", hint="run `forge compose`")
    return typed(GROUPS[group], data[group], group)
