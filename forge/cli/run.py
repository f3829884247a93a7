"""forge run [OVERRIDES]: forge compose, then dvc repro with progress, then the gate verdict."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import typer

STAGE_RE = re.compile(r"(?:Running stage|Stage) '([\w@.-]+)'")


def _stages() -> list[str]:
    import yaml

    return list((yaml.safe_load(Path("dvc.yaml").read_text()) or {}).get("stages", {}))


def repro(extra: list[str], env: dict[str, str] | None = None) -> int:
    """Stream `dvc repro`, advancing a rich progress bar per stage; return its exit code.
    `env` is added to the stages' environment (the run lock's token)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    stages = _stages()
    # stage commands say `python`: the interpreter that runs Forge, whatever PATH says
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1", "PATH": path}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dvc", "repro", *extra],  # this environment's DVC
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        bufsize=1,
    )
    done: set[str] = set()
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} stages"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("dvc repro", total=len(stages) or None)
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            m = STAGE_RE.search(line)
            if m:
                stage = m.group(1)
                if stage not in done:
                    done.add(stage)
                    progress.update(
                        task,
                        completed=len(done) - ("Running" in line),
                        description=f"{stage}"
                        + (" (running)" if "Running" in line else " (up to date)"),
                    )
            if "%|" in line or "examples/s]" in line:  # tqdm redraws: keep the log readable
                continue
            progress.console.print(line, markup=False, highlight=False, soft_wrap=True)
        code = proc.wait()
        progress.update(task, completed=len(stages))
    return code


def main(
    overrides: list[str] = typer.Argument(None, help="Hydra overrides, as for forge compose."),
    force: bool = typer.Option(False, "--force", "-f", help="Rerun every stage."),
    wait: bool = typer.Option(
        False, "--wait", help="If another forge run holds this workspace, wait for it."
    ),
) -> None:
    """Compose params.yaml, run the DAG with dvc repro, and report the gate decision.

    One run at a time per workspace: the run holds .forge/run.lock from before it composes
    until it reports; a second run fails at once naming the holder (or, with --wait, waits),
    and never touches params.yaml. Each stage fails if params.yaml changes under it.
    Exits 1 when a stage fails, the gate does not pass, or the workspace is busy."""
    from forge import runlock
    from forge.config import compose as c
    from forge.errors import PipelineFailed
    from forge.evaluate.gate import summary

    with runlock.hold(Path("."), ["forge", "run", *(overrides or [])], wait=wait) as lock:
        c.write(Path("params.yaml"), overrides or [])
        lock.record_params(Path("params.yaml"))
        typer.echo(f"wrote params.yaml{(' (' + ' '.join(overrides) + ')') if overrides else ''}")
        from forge.copilot.secrets import session_env  # `forge login`'s HF_TOKEN, if any

        code = repro(["--force"] if force else [], env={**session_env(), **lock.env})
        if code != 0:
            raise PipelineFailed(f"dvc repro failed (exit code {code}); see the stage output above")
        decision_path = Path("results/gate/decision.json")
        if not decision_path.is_file():
            raise PipelineFailed(
                f"dvc repro succeeded but wrote no {decision_path}; dvc.yaml needs the gate stage"
            )
        decision = json.loads(decision_path.read_text())
        attempts = Path("results/train/attempts.json")  # healing (forge/train/heal.py)
        rows = json.loads(attempts.read_text()) if attempts.is_file() else None
    typer.echo(summary(decision, rows))
    from forge.train.heal import merged, override

    if fix := override(merged(rows or []), overrides or []):
        typer.echo(f"training was healed; to make its fix permanent: {fix}")
    if not decision["passed"]:
        raise typer.Exit(1)
