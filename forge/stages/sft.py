"""dvc repro sft   -- models/sft/ and results/sft/: the supervised warm start that preference
and RL recipes start from (recipe.warm_start; a full SFT). With warm_start.steps 0 (the SFT
recipes) it trains nothing and writes a marker saying so."""

from pathlib import Path

from forge.stages import run_stage


def main() -> None:
    from forge.recipes.registry import load_recipe
    from forge.train.supervisor import run_part_stage

    if load_recipe().heal.advisor:  # only then is the co-pilot imported (forge/copilot/heal.py)
        from forge.copilot.heal import register

        register()

    run_part_stage(
        "sft",
        Path("models/sft"),
        Path("results/sft"),
        "recipe.warm_start.steps is 0: train starts from models/base",
    )


if __name__ == "__main__":
    run_stage(main)
