"""forge promote NAME --stage STAGE [--version vX.Y.Z | --bump major|minor|patch] [--rev REV]"""

from __future__ import annotations

import json

import typer


def main(
    name: str = typer.Argument(..., help="Artifact name, as declared in dvc.yaml `artifacts:`."),
    stage: str = typer.Option(..., "--stage", help="Stage to assign, e.g. staging or prod."),
    version: str = typer.Option(None, "--version", help="Explicit semver, e.g. v1.2.0."),
    bump: str = typer.Option(None, "--bump", help="major, minor or patch (default: patch)."),
    verify: bool = typer.Option(
        False,
        "--verify",
        help="Rebuild the evidence first: rerun evaluate on this commit's candidate (from the "
        "DVC cache or remote) in a temporary worktree; its metrics must equal the committed.",
    ),
    rev: str = typer.Option(
        None,
        "--rev",
        help="The commit to promote, named explicitly: required on a detached HEAD (as in "
        "CI), and it must be the checked-out commit.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Tag the checked-out commit as NAME@vX.Y.Z and NAME#STAGE#N, only if every gate holds.

    Refuses (exit 1, one reason per failed check, no tag) on a dirty tree, a detached HEAD
    without --rev,
    a stale pipeline, metrics or decision files that differ from dvc.lock, a decision that
    differs from the gates recomputed from the metrics and params.yaml, or a failed gate.
    A version already in the stage is a no-op (exit 0). Each tag's annotation records the
    evidence (commit, metrics and dvc.lock digests, gate verdicts) for `forge models`."""
    from forge.api.registry import promote

    result = promote(name, stage, version=version, bump=bump, verify=verify, rev=rev)
    if as_json:
        typer.echo(json.dumps(result, sort_keys=True))
    elif result.get("unchanged"):
        typer.echo(
            f"{result['name']}@{result['version']} is already in {result['stage']} "
            f"({result['commit'][:7]}); nothing to do"
        )
    else:
        typer.echo(
            f"promoted {result['name']}@{result['version']} to {result['stage']} "
            f"({result['commit'][:7]})"
        )
