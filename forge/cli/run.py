"""forge run [OVERRIDES] [--reset]: forge compose, then dvc repro with progress, then the gate
verdict (forge/api/pipeline.py)."""

from __future__ import annotations

from collections.abc import Mapping

import typer


def repro(extra: list[str], env: Mapping[str, str] | None = None) -> int:
    """`dvc repro` (forge.api.pipeline.repro) behind a rich progress bar, one step per stage;
    returns its exit code."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from forge.api import pipeline

    stages = pipeline.stages()
    done: set[str] = set()
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} stages"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task("dvc repro", total=len(stages) or None)

        def show(line: str) -> None:
            event = pipeline.stage_event(line)
            if event and event[0] not in done:
                stage, running = event
                done.add(stage)
                progress.update(
                    task,
                    completed=len(done) - running,
                    description=stage + (" (running)" if running else " (up to date)"),
                )
            if "%|" in line or "examples/s]" in line:  # tqdm redraws: keep the log readable
                return
            progress.console.print(line, markup=False, highlight=False, soft_wrap=True)

        code = pipeline.repro(extra, env, on_line=show)
        progress.update(task, completed=len(stages))
    return code


def main(
    overrides: list[str] = typer.Argument(
        None,
        help="Hydra overrides, as for forge compose. None: rerun the config params.yaml "
        "records (the last forge compose or forge run).",
    ),
    reset: bool = typer.Option(
        False, "--reset", help="Compose conf/'s defaults afresh, dropping recorded overrides."
    ),
    force: bool = typer.Option(False, "--force", "-f", help="Rerun every stage."),
    wait: bool = typer.Option(
        False, "--wait", help="If another forge run holds this workspace, wait for it."
    ),
) -> None:
    """Compose params.yaml, run the DAG with dvc repro, and report the gate decision.

    With no overrides, forge run reruns the last composed config: it recomposes conf/ with
    the overrides params.yaml records (so `forge compose data.path=...` then `forge run`
    trains on that data). Overrides replace the recorded ones; `forge compose` or
    `forge run --reset` start from conf/'s defaults.

    One run at a time per workspace: the run holds .forge/run.lock from before it composes
    until it reports; a second run fails at once naming the holder (or, with --wait, waits),
    and never touches params.yaml. Each stage fails if params.yaml changes under it.
    Exits 1 when a stage fails, the gate does not pass, or the workspace is busy."""
    from forge.api import pipeline

    def composed(chosen: list[str]) -> None:
        typer.echo(f"wrote params.yaml{(' (' + ' '.join(chosen) + ')') if chosen else ''}")

    result = pipeline.run(
        overrides or [],
        force=force,
        wait=wait,
        reset=reset,
        repro=lambda extra, env: repro(extra, env),  # looked up per call: tests patch it
        on_composed=composed,
    )
    typer.echo(result["summary"])
    if result["heal_fix"]:
        typer.echo(f"training was healed; to make its fix permanent: {result['heal_fix']}")
    if not result["passed"]:
        raise typer.Exit(1)
