"""dvc repro evaluate   -- results/eval/{metrics.json,samples_*.jsonl}: base vs candidate."""

from pathlib import Path

from forge.stages import run_stage


def main() -> None:
    from forge.config.params import load_group
    from forge.evaluate.run import evaluate
    from forge.model.base import base_path
    from forge.recipes.parts import start_model

    metrics = evaluate(
        load_group("eval"),
        load_group("hardware"),
        base_path(Path("models/base")),
        Path("models/candidate"),
        Path("data/prepared"),
        Path("results/eval"),
        start=str(warm) if (warm := start_model(Path("models/sft"))) else None,
    )
    for key in sorted(metrics):
        print(f"evaluate: {key} = {metrics[key]}")


if __name__ == "__main__":
    run_stage(main)
