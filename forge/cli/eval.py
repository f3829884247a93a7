"""forge eval compare REV_A REV_B [--json]"""

from __future__ import annotations

import json
from pathlib import Path

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
    from forge.config.params import load_group
    from forge.evaluate.compare import compare_revs

    gates = load_group("gates")
    c = compare_revs(
        Path("."),
        baseline,
        candidate,
        gates.regression_tolerance if tolerance is None else tolerance,
        gates.regression_confidence if confidence is None else confidence,
    )
    if as_json:
        typer.echo(json.dumps(c.as_dict(), sort_keys=True))
    else:
        typer.echo(
            f"{c.metric}: {baseline} {c.baseline:.4f} -> {candidate} {c.candidate:.4f} "
            f"(delta {c.delta:+.4f}, interval [{c.delta_low:+.4f}, {c.delta_high:+.4f}], "
            f"P(worse) {c.p_worse:.3f}, n={c.n}): "
            + ("REGRESSED" if c.regressed else "no regression")
        )
    if c.regressed:
        raise typer.Exit(1)
