"""dvc repro train   -- models/candidate/ and results/train/ from models/base, data/prepared,
recipe.* and hardware.*. Training itself runs in a child process (forge/runtime/)."""

from pathlib import Path

from forge.stage import run_stage


def main() -> None:
    from forge.config.compose import load_group
    from forge.train.supervisor import run_train

    facts = run_train(
        load_group("recipe"),
        load_group("hardware"),
        Path("params.yaml"),
        base=Path("models/base"),
        data=Path("data/prepared"),
        out=Path("models/candidate"),
        results=Path("results/train"),
    )
    print(f"train: {facts['global_step']} steps, loss {facts['train_loss']:.4f}")


if __name__ == "__main__":
    run_stage(main)
