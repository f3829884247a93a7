"""dvc repro reward   -- models/reward/ and results/reward/: the reward model that rlhf
optimises against (recipe.reward_model; TRL RewardTrainer from the warm start). With
reward_model.steps 0 (every recipe but rlhf) it trains nothing and writes a marker."""

from pathlib import Path

from forge.stage import run_stage


def main() -> None:
    from forge.config.compose import load_group
    from forge.train.parts import part_recipe, start_model
    from forge.train.supervisor import run_train, write_unused

    out, results = Path("models/reward"), Path("results/reward")
    recipe = part_recipe("reward", load_group("recipe"))
    if recipe is None:
        write_unused(out, results, "recipe.reward_model.steps is 0: no learned reward")
        print("reward: not used (recipe.reward_model.steps is 0)")
        return
    facts = run_train(
        recipe,
        load_group("hardware"),
        Path("params.yaml"),
        base=Path("models/base"),
        data=Path("data/prepared"),
        out=out,
        results=results,
        part="reward",
        start=start_model(Path("models/sft")),
    )
    print(f"reward: {facts['global_step']} steps, loss {facts['train_loss']:.4f}")


if __name__ == "__main__":
    run_stage(main)
