"""forge deprecate NAME --stage STAGE"""

from __future__ import annotations

import typer


def main(
    name: str = typer.Argument(..., help="Artifact name."),
    stage: str = typer.Option(..., "--stage", help="Stage to take away from its version."),
) -> None:
    """Take STAGE away from the version holding it (GTO's unassign tag; the history keeps both).

    `forge rollback` or `forge promote` gives the stage a version again."""
    from forge.api.registry import deprecate

    r = deprecate(name, stage)
    typer.echo(f"deprecated {r['name']}#{r['stage']}: {r['version']} no longer holds it")
