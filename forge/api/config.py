"""compose, check, validate: conf/ into params.yaml (forge/config/compose.py)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

# Hydra composes through process-global state (GlobalHydra): two composes at once in one
# process (a server's threads) fail with "GlobalHydra is already initialized". Every
# compose in forge.api takes this lock.
COMPOSE = threading.Lock()


def compose(
    overrides: list[str], params: Path = Path("params.yaml"), conf: Path = Path("conf")
) -> dict[str, Any]:
    """Write params.yaml from conf/ and `overrides`; refused while a run holds the workspace."""
    from forge.config import compose as c
    from forge.runlock import refuse_if_busy

    refuse_if_busy(Path("."), "forge compose")
    with COMPOSE:
        c.write(params, overrides, conf)
    return {"params": params.as_posix(), "overrides": list(overrides)}


def check(params: Path = Path("params.yaml"), conf: Path = Path("conf")) -> dict[str, Any]:
    """Drift between params.yaml and conf/ composed with its recorded overrides: `diff` is
    a unified diff's lines, empty when none; `overrides` the recorded ones."""
    from forge.config import compose as c

    with COMPOSE:
        diff = c.drift(params, conf)
    recorded = c.recorded_overrides(params.read_text(encoding="utf-8"), params)
    return {"params": params.as_posix(), "diff": diff, "overrides": recorded}


def recorded(params: Path = Path("params.yaml")) -> list[str] | None:
    """The overrides params.yaml was composed with, or None where there is no params.yaml
    that forge compose wrote."""
    from forge.config import compose as c

    if not params.is_file():
        return None
    text = params.read_text(encoding="utf-8")
    if not text.startswith(c.HEADER):
        return None
    return c.recorded_overrides(text, params)


def validate(overrides: list[str], conf: Path = Path("conf")) -> dict[str, Any]:
    """The composed, validated config as plain data, and the files it names exist (data.path
    with its card, eval.tasks' YAML files); writes nothing."""
    from forge.config import compose as c
    from forge.config.validate import check_files
    from forge.errors import ConfigError

    with COMPOSE:
        cfg = c.to_container(c.compose(overrides, conf))
    problems = check_files(cfg, conf.resolve().parent)
    if problems:
        raise ConfigError(problems)
    return cfg
