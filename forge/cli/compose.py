"""forge compose [OVERRIDES] [--check]"""

from __future__ import annotations

from pathlib import Path

import typer


def main(
    overrides: list[str] = typer.Argument(
        None, help="Hydra overrides, e.g. recipe=full_sft recipe.learning_rate=1e-3"
    ),
    check: bool = typer.Option(
        False,
        "--check",
        help="Fail (exit 1) if params.yaml differs "
        "from conf/ composed with its recorded overrides; write nothing.",
    ),
    params: Path = typer.Option(Path("params.yaml"), help="File to write or check."),
    conf: Path = typer.Option(Path("conf"), help="Config directory."),
) -> None:
    """Compose conf/ into a validated params.yaml that records its overrides and forge.version."""
    from forge.api import config

    if check:
        if overrides:
            raise typer.BadParameter(
                "--check replays the overrides recorded in params.yaml; give none"
            )
        result = config.check(params, conf)
        if result["diff"]:
            typer.echo("\n".join(result["diff"]))
            typer.echo(
                f"forge: {params} drifted from {conf}/; regenerate it with "
                f"`forge compose {' '.join(result['overrides'])}`",
                err=True,
            )
            raise typer.Exit(1)
        typer.echo(f"{params} matches {conf}/")
        return
    config.compose(overrides or [], params, conf)
    typer.echo(f"wrote {params}" + (f" ({' '.join(overrides)})" if overrides else ""))
