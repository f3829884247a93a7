"""forge validate [OVERRIDES] [--json]"""

from __future__ import annotations

import json
from pathlib import Path

import typer


def main(
    overrides: list[str] = typer.Argument(None, help="Hydra overrides, as for forge compose."),
    conf: Path = typer.Option(Path("conf"), help="Config directory."),
    as_json: bool = typer.Option(False, "--json", help="Print the composed config as JSON."),
) -> None:
    """Compose and check the config without writing anything."""
    from forge.api.config import validate

    cfg = validate(overrides or [], conf)
    if as_json:
        typer.echo(json.dumps(cfg, indent=2, sort_keys=True))
        return
    typer.echo(
        f"valid: recipe={cfg['recipe']['method']} model={cfg['model']['name']} "
        f"data={cfg['data']['name']} hardware={cfg['hardware']['name']} "
        f"eval={cfg['eval']['name']} gates={cfg['gates']['name']}"
    )
