"""forge hw [--json]"""

from __future__ import annotations

import json

import typer


def main(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """This machine's GPUs (nvidia-ml-py), their health, and the profile hardware=auto picks."""
    from forge.api.cluster import hw
    from forge.hardware.report import lines

    data = hw()
    if as_json:
        typer.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    typer.echo("\n".join(lines(data)))
