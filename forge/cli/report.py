"""forge report [REV...] [-o report.html] [--json]"""

from __future__ import annotations

import json
from pathlib import Path

import typer


def main(
    revs: list[str] | None = typer.Argument(
        None,
        help="Revisions to compare (HEAD, a commit, a version tag NAME@vX.Y.Z); the first is "
        "the baseline. Default: HEAD and every registered version.",
    ),
    output: Path = typer.Option(Path("report.html"), "-o", "--output", help="The HTML file."),
    as_json: bool = typer.Option(False, "--json", help="Print the report's data; no file."),
) -> None:
    """One self-contained HTML page: the revisions' evaluations side by side with paired
    bootstrap comparisons, their gate verdicts, the training curves, the registry with its
    promotion history, lineage and the data cards. Assets are inlined: it opens offline."""
    from forge.errors import ForgeError
    from forge.report import collect, render

    if not as_json and not output.parent.is_dir():
        raise ForgeError(f"-o {output}: no directory {output.parent}", hint="create it first")
    data = collect.report(list(revs or []))
    if as_json:
        typer.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
        return
    html = render.report(data)
    output.write_text(html, encoding="utf-8")
    revisions = ", ".join(c["rev"] for c in data["columns"])
    typer.echo(f"wrote {output} ({len(html) // 1024} KiB): {revisions}")
    for problem in data["problems"]:
        typer.echo(f"  note: {problem}", err=True)
