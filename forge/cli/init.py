"""forge init [DIR] [--force]"""

from __future__ import annotations

from pathlib import Path

import typer


def main(
    directory: Path = typer.Argument(
        Path("."), metavar="DIR", help="The project's directory (made if absent)."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite files that differ."),
) -> None:
    """Make DIR (default: here) a Forge project: `conf/` with every group, `dvc.yaml`,
    `params.yaml`, DVC, the demo data and its cards, the training images' Dockerfiles, CI
    workflows, `.gitignore` and `.dvcignore` entries and a README section. Then `forge run`
    trains the tiny default.

    No Forge source is copied: the stages run Forge's packaged ones (`python -m
    forge.stages.<stage>`) and depend on your inputs and on `forge.version`. DIR becomes a
    git repo if it is not in one. Files that exist with other content are listed and
    nothing is written, unless `--force`; a second `forge init` changes nothing."""
    from forge.api.project import init

    r = init(directory, force)
    for what in r["initialized"]:
        typer.echo(f"initialized {what} in {r['dir']}")
    for name in r["written"]:
        typer.echo(f"wrote {name}")
    for name in r["appended"]:
        typer.echo(f"added to {name}")
    if not r["written"] and not r["appended"] and not r["initialized"]:
        typer.echo(f"{r['dir']} is already a Forge {r['version']} project: nothing to do")
        return
    if r["committed"]:
        typer.echo(
            f"committed them as 'forge init'. Forge {r['version']} project ready: `forge run`"
        )
    else:
        typer.echo(
            f"Forge {r['version']} project ready. Next: `git add -A && git commit -m "
            "'forge init'`, then `forge run`."
        )
