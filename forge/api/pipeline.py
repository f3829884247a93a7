"""run: forge compose, then `dvc repro`, then the gate's verdict (what `forge run` does)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

STAGE_RE = re.compile(r"(?:Running stage|Stage) '([\w@.-]+)'")

Repro = Callable[[list[str], Mapping[str, str] | None], int]


def stages(dvc_yaml: Path = Path("dvc.yaml")) -> list[str]:
    """The stage names of dvc.yaml, in order."""
    import yaml

    return list((yaml.safe_load(dvc_yaml.read_text()) or {}).get("stages", {}))


def stage_event(line: str) -> tuple[str, bool] | None:
    """(stage, running) when a `dvc repro` output line starts a stage or skips one."""
    m = STAGE_RE.search(line)
    return (m.group(1), "Running" in line) if m else None


def repro(
    extra: list[str],
    env: Mapping[str, str] | None = None,
    on_line: Callable[[str], None] | None = None,
) -> int:
    """`dvc repro EXTRA` with `env` added to the stages' environment; each output line to
    `on_line`; returns the exit code."""
    from forge import dvc

    return dvc.stream("repro", *extra, extra_env=env, on_line=on_line)


def overrides_for(overrides: list[str] | None, reset: bool) -> list[str]:
    """What a run composes with: the given overrides; with none, the ones params.yaml
    recorded (the last composed config); with `reset`, none at all (conf/'s defaults)."""
    from forge.api.config import recorded
    from forge.errors import ForgeError

    if reset and overrides:
        raise ForgeError("--reset composes conf/'s defaults; give no overrides with it")
    if overrides or reset:
        return list(overrides or [])
    return recorded(Path("params.yaml")) or []


def require_commit(where: Path = Path(".")) -> None:
    """DVC experiments and dvclive need a git repo with a commit: say so before any stage."""
    import subprocess

    from forge.errors import ForgeError

    proc = subprocess.run(
        ["git", "rev-parse", "--verify", "-q", "HEAD"], cwd=where, capture_output=True, text=True
    )
    if proc.returncode == 0:
        return
    inside = subprocess.run(["git", "rev-parse", "--git-dir"], cwd=where, capture_output=True)
    if inside.returncode != 0:
        raise ForgeError("not inside a git repository", hint="run `forge init` here first")
    raise ForgeError(
        "this git repository has no commit yet (DVC and dvclive record runs against one)",
        hint="commit the project first: git add -A && git commit -m 'forge init'",
    )


def run(
    overrides: list[str] | None = None,
    *,
    force: bool = False,
    wait: bool = False,
    reset: bool = False,
    repro: Repro | None = None,
    on_composed: Callable[[list[str]], None] | None = None,
) -> dict[str, Any]:
    """Compose params.yaml (see `overrides_for`), run the DAG under the workspace's run lock,
    and return {overrides, decision, attempts, summary, heal_fix, passed}.

    `repro(extra, env)` runs `dvc repro` (default: this module's, silent); `on_composed`
    hears the overrides once params.yaml is written. Raises PipelineFailed when a stage
    fails; a failed gate is a result (`passed` false)."""
    from forge import runlock
    from forge.api.config import COMPOSE
    from forge.config import compose as c
    from forge.copilot.secrets import session_env  # `forge login`'s HF_TOKEN, if any
    from forge.errors import PipelineFailed
    from forge.evaluate.gate import summary, written_since
    from forge.train.heal import merged, override

    drive = repro or (lambda extra, env: globals()["repro"](extra, env))
    chosen = overrides_for(overrides, reset)
    require_commit()
    with runlock.hold(Path("."), ["forge", "run", *(overrides or [])], wait=wait) as lock:
        with COMPOSE:
            c.write(Path("params.yaml"), chosen)
        lock.record_params(Path("params.yaml"))
        if on_composed is not None:
            on_composed(chosen)
        decision_path = Path("results/gate/decision.json")
        started = time.time()
        code = drive(["--force"] if force else [], {**session_env(), **lock.env})
        # A failed gate fails `dvc repro` too, after writing its decision whole: that is a
        # verdict to report, not a broken stage.
        verdict = written_since(decision_path, started) if code != 0 else None
        if code != 0 and (verdict is None or verdict.get("passed")):
            raise PipelineFailed(f"dvc repro failed (exit code {code}); see the stage output above")
        if not decision_path.is_file():
            raise PipelineFailed(
                f"dvc repro succeeded but wrote no {decision_path}; dvc.yaml needs the gate stage"
            )
        decision = verdict or json.loads(decision_path.read_text())
        attempts = Path("results/train/attempts.json")  # healing (forge/train/heal.py)
        rows = json.loads(attempts.read_text()) if attempts.is_file() else None
    return {
        "overrides": chosen,
        "decision": decision,
        "attempts": rows,
        "summary": summary(decision, rows),
        "heal_fix": override(merged(rows or []), chosen) or None,
        "passed": bool(decision["passed"]),
    }
