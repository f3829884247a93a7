"""dvc repro gate   -- results/gate/decision.json: each gate's value, threshold and verdict
(eval metrics, the data gates from results/prepare/report.json, and how the candidate was
healed, from results/{sft,reward,train}/attempts.json).
The decision is written whole first; then a failed gate fails the stage (exit 1), so
`dvc repro` fails too. Under `dvc exp run` (sweeps, queued experiments) the stage succeeds
either way, so that the experiment and its verdict are kept for `dvc exp show`."""

import os
from pathlib import Path

from forge.stages import run_stage


def main() -> None:
    from forge.config.params import load_group
    from forge.evaluate.gate import ATTEMPTS, GateFailed, decide, summary

    decision = decide(
        load_group("gates"),
        Path("results/eval/metrics.json"),
        Path("results/gate/decision.json"),
        report_path=Path("results/prepare/report.json"),
        attempts_paths={part: Path(path) for part, path in ATTEMPTS.items()},
    )
    print(summary(decision))
    if not decision["passed"] and "DVC_EXP_BASELINE_REV" not in os.environ:
        failed = [r["gate"] for r in decision["gates"] if not r["passed"]]
        raise GateFailed(
            f"the gate did not pass ({', '.join(failed)}); see results/gate/decision.json"
        )


if __name__ == "__main__":
    run_stage(main)
