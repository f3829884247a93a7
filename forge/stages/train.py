"""dvc repro train   -- models/candidate/ and results/train/ from the warm start (models/sft,
else models/base), data/prepared, the reward model (rlhf), recipe.* and hardware.*.
Training itself runs in a child process (forge/runtime/); with recipe.heal.advisor on, a
failure no healing rule fixes goes to the co-pilot (forge/copilot/heal.py)."""

from pathlib import Path

from forge.stages import run_stage


def main() -> None:
    from forge.config.params import load_group
    from forge.recipes.parts import reward_model_for, start_model
    from forge.recipes.registry import load_recipe
    from forge.train.supervisor import run_train

    recipe = load_recipe()
    if recipe.heal.advisor:  # only then is the co-pilot imported (it may use the network)
        from forge.copilot.heal import register

        register()
    facts = run_train(
        recipe,
        load_group("hardware"),
        base=Path("models/base"),
        data=Path("data/prepared"),
        out=Path("models/candidate"),
        results=Path("results/train"),
        start=start_model(Path("models/sft")),
        reward_model=reward_model_for(recipe, Path("models/reward")),
    )
    print(f"train: {facts['global_step']} steps, loss {facts['train_loss']:.4f}")


if __name__ == "__main__":
    run_stage(main)
