"""forge rollback NAME --stage STAGE [--allow-unverified]"""

from __future__ import annotations

import typer


def main(
    name: str = typer.Argument(..., help="Artifact name."),
    stage: str = typer.Option(..., "--stage", help="Stage to roll back."),
    allow_unverified: bool = typer.Option(
        False,
        "--allow-unverified",
        help="Roll back even to a version whose tag does not verify (see `forge models`).",
    ),
) -> None:
    """Re-assign STAGE to the version that held it before the current one.

    Refuses (exit 1) when that version's tag is unverified, unless --allow-unverified."""
    from forge.api.registry import rollback

    r = rollback(name, stage, allow_unverified=allow_unverified)
    typer.echo(
        f"rolled back {r['name']}#{r['stage']}: {r['replaced']} -> {r['version']}"
        + (" (unverified)" if r["unverified"] else "")
    )
