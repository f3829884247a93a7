"""forge models [--json]"""

from __future__ import annotations

import json
from pathlib import Path

import typer


def main(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Artifacts, their latest versions and stage assignments (read from GTO tags)."""
    from forge.registry.promote import models

    data = models(Path("."))
    if as_json:
        typer.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("artifact", "latest", "stages")
    for name, row in sorted(data.items()):
        stages = ", ".join(f"{s}={v}" for s, v in sorted(row["stage"].items())) or "-"
        table.add_row(name, row["version"] or "-", stages)
    Console().print(table)
