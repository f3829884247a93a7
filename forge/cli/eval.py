"""forge eval compare REV_A REV_B [--json]"""

from __future__ import annotations

import json

import typer

app = typer.Typer(help="Compare evaluations.", no_args_is_help=True)


@app.command("compare")
def compare(
    baseline: str = typer.Argument(..., help="Baseline git rev (commit, tag or branch)."),
    candidate: str = typer.Argument(..., help="Candidate git rev."),
    tolerance: float = typer.Option(
        None, help="Allowed drop (default: gates.regression_tolerance)."
    ),
    confidence: float = typer.Option(
        None, help="Bootstrap confidence (default: gates.regression_confidence)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Exact match (for reward models, pairwise accuracy) of two revisions, with a paired
    bootstrap over their per-sample outputs.

    Exits 1 when the candidate regressed beyond the tolerance."""
    from forge.api.evals import compare as compare_revs

    c = compare_revs(baseline, candidate, tolerance, confidence)
    if as_json:
        typer.echo(json.dumps(c, sort_keys=True))
    else:
        typer.echo(
            f"{c['metric']}: {baseline} {c['baseline']:.4f} -> {candidate} "
            f"{c['candidate']:.4f} (delta {c['delta']:+.4f}, interval "
            f"[{c['delta_low']:+.4f}, {c['delta_high']:+.4f}], "
            f"P(worse) {c['p_worse']:.3f}, n={c['n']}): "
            + ("REGRESSED" if c["regressed"] else "no regression")
        )
    if c["regressed"]:
        raise typer.Exit(1)
