"""dvc repro gate   -- results/gate/decision.json: each gate's value, threshold and verdict
(eval metrics, and the data gates from results/prepare/report.json).
The stage succeeds either way; `forge run` and `forge promote` act on the verdict."""

from pathlib import Path

from forge.stage import run_stage


def main() -> None:
    from forge.config.params import load_group
    from forge.evaluate.gate import decide, summary

    decision = decide(
        load_group("gates"),
        Path("results/eval/metrics.json"),
        Path("results/gate/decision.json"),
        report_path=Path("results/prepare/report.json"),
    )
    print(summary(decision))


if __name__ == "__main__":
    run_stage(main)
