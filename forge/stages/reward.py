"""dvc repro reward   -- models/reward/ and results/reward/: the reward model that rlhf
optimises against (recipe.reward_model; TRL RewardTrainer from the warm start). With
reward_model.steps 0 (every recipe but rlhf) it trains nothing and writes a marker."""

from pathlib import Path

from forge.stages import run_stage


def main() -> None:
    from forge.recipes.registry import load_recipe
    from forge.train.supervisor import run_part_stage

    if load_recipe().heal.advisor:  # only then is the co-pilot imported (forge/copilot/heal.py)
        from forge.copilot.heal import register

        register()

    run_part_stage(
        "reward",
        Path("models/reward"),
        Path("results/reward"),
        "recipe.reward_model.steps is 0: no learned reward",
    )


if __name__ == "__main__":
    run_stage(main)
