"""`forge promote --verify` rebuilds the evidence: metrics improved by hand, with dvc.lock
and the gate decision made to agree, pass every other check but fail verification.

The check needs a trained project; tests/test_init.py's slow test calls it in the project
`forge init && forge run` made, rather than training a second one here."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import sh
from .test_pipeline import relock


def check_verify_catches_forged_metrics(project: Path, forge_bin: str) -> None:
    """In `project`, a committed passing run: --verify promotes it, then refuses the same run
    with its perplexity improved by hand and dvc.lock and the decision made to agree.
    tests/test_init.py runs this in the project that `forge init && forge run` made (one
    DAG run for both tests)."""
    from forge.config.params import load_group
    from forge.evaluate.gate import verdict

    def forge(*args: str):
        return sh(forge_bin, *args, cwd=project, check=False)

    sh("git", "add", "-A", cwd=project)
    sh("git", "commit", "-qm", "demo run", cwd=project)

    proc = forge("promote", "assistant", "--stage", "staging", "--verify")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("promoted assistant@v0.0.1 to staging")
    assert "forge-verify" not in sh("git", "worktree", "list", cwd=project).stdout

    # a forger improves perplexity and keeps every file consistent with the others
    metrics_path = project / "results/eval/metrics.json"
    metrics = json.loads(metrics_path.read_text())
    real = metrics["eval/candidate/perplexity"]
    metrics["eval/candidate/perplexity"] = round(real * 0.9, 6)
    metrics_path.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    decision = verdict(
        load_group("gates", project / "params.yaml"),
        metrics,
        json.loads((project / "results/prepare/report.json").read_text()),
    )
    (project / "results/gate/decision.json").write_text(
        json.dumps(decision, indent=2, sort_keys=True) + "\n"
    )
    relock(project, "results/eval/metrics.json")
    relock(project, "results/gate/decision.json")
    sh("git", "commit", "-qam", "better numbers", cwd=project)
    assert "Data and pipelines are up to date" in sh("dvc", "status", cwd=project).stdout

    proc = forge("promote", "assistant", "--stage", "prod", "--verify")
    assert proc.returncode == 1
    assert proc.stderr == (
        f"forge: error: --verify: eval/candidate/perplexity: committed "
        f"{metrics['eval/candidate/perplexity']}, rebuilt {real} (the committed metrics are "
        "not what this model scores)\n"
    )
    assert "assistant#prod" not in sh("git", "tag", cwd=project).stdout
