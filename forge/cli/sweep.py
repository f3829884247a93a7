"""forge sweep [OVERRIDES] [-j N] [--launcher local|ray|slurm] [--metric KEY] [--dry-run]
[--json]"""

from __future__ import annotations

import json
from pathlib import Path

import typer


def _dry_run(planned: dict, as_json: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    from forge.sweep import grid

    points, ests = planned["points"], planned["estimates"]
    if as_json:
        data = {
            "shared": planned["shared"],
            "varying": planned["varying"],
            "points": [
                {"index": p.index, "overrides": p.overrides, "estimate": e}
                for p, e in zip(points, ests, strict=True)
            ],
        }
        typer.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    t = Table(title=f"{len(points)} points; shared, run once: {', '.join(planned['shared'])}")
    t.add_column("#", justify="right")
    for key in planned["varying"]:
        t.add_column(key)
    t.add_column("time (est.)", justify="right")
    t.add_column("cost (est.)", justify="right")
    t.add_column("memory/device", justify="right")
    for p, e in zip(points, ests, strict=True):
        t.add_row(
            str(p.index + 1),
            *[grid.value_of(p, k) for k in planned["varying"]],
            e.get("duration", "?"),
            f"${e['dollars']:,.2f}" if "dollars" in e else "?",
            f"{e['memory_gib']:.1f} GiB" if "memory_gib" in e else "?",
        )
    total = sum(e.get("dollars", 0) for e in ests)
    t.caption = f"total ${total:,.2f}; estimates from forge cost (train stage only)"
    Console().print(t)


def main(
    overrides: list[str] = typer.Argument(
        None, help="Hydra overrides with sweeps: recipe=lora_sft,dpo recipe.learning_rate=1e-4,3e-4"
    ),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Points run at once."),
    launcher: str = typer.Option(
        "local", "--launcher", help="local (this machine), ray (RAY_ADDRESS or a local head), slurm"
    ),
    metric: str = typer.Option(
        None, "--metric", help="Metric that picks the best point (default: the gate's headline)."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Validate and print the grid with time and cost estimates."
    ),
    multirun: bool = typer.Option(False, "--multirun", "-m", help="Accepted for Hydra habit."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Run a grid of configs as DVC experiments: every point validated first, the shared
    stages run once, each point in its own workspace; a rerun runs only unfinished points.

    Exits 1 when a point failed; a point that ran but failed its gate is a result."""
    from forge.sweep import run as sweep

    if dry_run:
        _dry_run(sweep.plan(overrides or [], Path("conf")), as_json)
        return
    sweep.sigterm_interrupts()
    summary = sweep.run(
        overrides or [], jobs=jobs, launcher=launcher, metric=metric, progress=_progress()
    )
    _done.set()
    if as_json:
        typer.echo(json.dumps(summary, indent=2, sort_keys=True))
    else:
        from rich.console import Console

        from forge.sweep.report import table

        Console().print(table(summary))
        up = summary["upstream"]
        typer.echo(
            f"shared stages ({', '.join(summary['shared']) or 'none'}): ran "
            f"{', '.join(up['ran']) or 'nothing'}; results/sweeps/{summary['id']}.json; "
            "`dvc exp show` lists the points, `dvc exp apply NAME` brings one into the workspace"
        )
    if any(p["status"] != "done" for p in summary["points"]):
        raise typer.Exit(1)


class _Flag:
    def __init__(self) -> None:
        self.progress = None

    def set(self) -> None:
        if self.progress is not None:
            self.progress.stop()


_done = _Flag()


def _progress():
    """A live line on stderr: points done, running and failed, and the time left."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    bar = Progress(
        SpinnerColumn(),
        TextColumn("[bold]sweep"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    task = None
    _done.progress = bar

    def update(counts: dict[str, int], message: str | None) -> None:
        nonlocal task
        if task is None:
            bar.start()
            task = bar.add_task("", total=counts["total"])
        finished = counts["done"] + counts["failed"]
        bar.update(
            task,
            completed=finished,
            description=f"{counts['done']} done, {counts['running']} running, "
            f"{counts['failed']} failed",
        )
        if message:
            bar.console.print(f"sweep: {message}", markup=False, highlight=False)

    return update
