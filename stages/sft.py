"""dvc repro sft   -- models/sft/ and results/sft/: the supervised warm start that preference
and RL recipes start from (recipe.warm_start; a full SFT). With warm_start.steps 0 (the SFT
recipes) it trains nothing and writes a marker saying so."""

from pathlib import Path

from forge.stage import run_stage


def main() -> None:
    from forge.config.compose import load_group
    from forge.train.parts import part_recipe
    from forge.train.supervisor import run_train, write_unused

    out, results = Path("models/sft"), Path("results/sft")
    recipe = part_recipe("sft", load_group("recipe"))
    if recipe is None:
        write_unused(out, results, "recipe.warm_start.steps is 0: train starts from models/base")
        print("sft: not used (recipe.warm_start.steps is 0)")
        return
    facts = run_train(
        recipe,
        load_group("hardware"),
        Path("params.yaml"),
        base=Path("models/base"),
        data=Path("data/prepared"),
        out=out,
        results=results,
        part="sft",
    )
    print(f"sft: {facts['global_step']} steps, loss {facts['train_loss']:.4f}")


if __name__ == "__main__":
    run_stage(main)
