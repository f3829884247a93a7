"""forge rollback NAME --stage STAGE"""

from __future__ import annotations

from pathlib import Path

import typer


def main(
    name: str = typer.Argument(..., help="Artifact name."),
    stage: str = typer.Option(..., "--stage", help="Stage to roll back."),
) -> None:
    """Re-assign STAGE to the version that held it before the current one."""
    from forge.registry.promote import rollback

    r = rollback(Path("."), name, stage)
    typer.echo(f"rolled back {r['name']}#{r['stage']}: {r['replaced']} -> {r['version']}")
