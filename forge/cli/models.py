"""forge models [--json]"""

from __future__ import annotations

import json

import typer


def main(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Artifacts, versions, stage assignments (GTO tags) and headline metrics.

    Agrees with `gto show`; the metrics are read at each listed version's tag. A version or
    stage whose tag lacks Forge's annotation, or whose annotation does not verify against
    the tagged commit's files, is marked `unverified` (--json: `unverified`, with reasons)."""
    from forge.api.registry import models

    data = models()
    if as_json:
        typer.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table("artifact", "version", "stages", "exact match", "perplexity", "tags")
    for name, row in sorted(data.items()):
        for version in sorted(row["metrics"], key=_semver, reverse=True):
            bad = row["unverified"]
            stages = [
                s + (" (unverified)" if s in bad["stages"] else "")
                for s, v in sorted(row["stage"].items())
                if v == version
            ]
            if version == row["version"]:
                stages.insert(0, "latest")
            m = row["metrics"][version]
            why = bad["versions"].get(version) or next(
                (bad["stages"][s] for s, v in sorted(row["stage"].items())
                 if v == version and s in bad["stages"]),
                None,
            )  # fmt: skip
            table.add_row(
                name,
                version,
                ", ".join(stages),
                _fmt(m.get("eval/candidate/exact_match")),
                _fmt(m.get("eval/candidate/perplexity")),
                "verified" if why is None else f"[red]unverified[/]: {escape(why)}",
            )
    Console().print(table)


def _semver(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.lstrip("v").split(".") if p.isdigit())


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
