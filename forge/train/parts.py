"""What each training stage trains, from one recipe: the static DAG
`sft -> reward -> train` with a stage per part, whichever recipe is chosen.

- sft: the warm start. Preference and RL methods start from a model that already does the
  task (a LoRA on a model that has not learned it samples almost uniformly). A full SFT of
  `recipe.warm_start.steps` steps; none when that is 0 (the SFT recipes train in `train`).
- reward: the reward model that rlhf optimises against, `recipe.reward_model.steps` steps
  of RewardTrainer from the warm start; none when that is 0.
- train: the recipe itself, from the warm start if there is one, else from models/base.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from forge.config.schema import FullSFTConfig, RewardModelRecipeConfig

PARTS = ("sft", "reward", "train")
# Methods that learn from the preference split rather than the SFT split.
PREFERENCE_METHODS = ("dpo", "reward_model", "rlhf")
# Methods that optimise against stage reward's learned reward model.
REWARD_MODEL_METHODS = ("rlhf",)


def module(method: str):
    """The recipe module for a method: one readable file per method in forge/train/."""
    from forge.train import dpo, grpo, reward, rlhf, sft

    return {
        "lora_sft": sft,
        "full_sft": sft,
        "dpo": dpo,
        "reward_model": reward,
        "rlhf": rlhf,
        "grpo": grpo,
    }[method]


def _shared(recipe: Any) -> dict[str, Any]:
    """Settings a derived part inherits from the recipe (length and seed; the batch is the
    schema's default, since RL recipes batch completions, not examples)."""
    return {"max_length": recipe.max_length, "seed": recipe.seed}


def part_recipe(part: str, recipe: Any) -> Any | None:
    """The typed recipe a part trains, or None when the recipe does not use that part."""
    if part == "train":
        return recipe
    if part == "sft":
        ws = recipe.warm_start
        if ws.steps == 0:
            return None
        return FullSFTConfig(
            method="full_sft",
            learning_rate=ws.learning_rate,
            max_steps=ws.steps,
            eval_steps=0,
            save_steps=max(ws.steps // 2, 1),
            **_shared(recipe),
        )
    if part == "reward":
        rm = recipe.reward_model
        if rm.steps == 0:
            return None
        return RewardModelRecipeConfig(
            method="reward_model",
            learning_rate=rm.learning_rate,
            max_steps=rm.steps,
            eval_steps=0,
            save_steps=max(rm.steps // 2, 1),
            **_shared(recipe),
        )
    raise ValueError(part)


def data_inputs(part: str, recipe: Any, data: Path) -> dict[str, Path]:
    """The prepared files a part trains on (recorded and fingerprinted)."""
    if part == "reward" or (part == "train" and recipe.method in PREFERENCE_METHODS):
        prefs = data / "preference"
        return {"preference_train": prefs / "train.jsonl", "preference_val": prefs / "val.jsonl"}
    return {"train": data / "train.jsonl", "val": data / "val.jsonl"}


def start_model(sft_dir: Path) -> Path | None:
    """The warm start when stage sft trained one, else None (start from models/base)."""
    return sft_dir if (sft_dir / "config.json").is_file() else None


def reward_model_for(recipe: Any, reward_dir: Path) -> Path | None:
    """Stage reward's model for the methods that optimise against it (rlhf), else None."""
    if recipe.method not in REWARD_MODEL_METHODS:
        return None
    if not (reward_dir / "config.json").is_file():
        from forge.errors import ForgeError

        raise ForgeError(
            f"{reward_dir}: no reward model; recipe={recipe.method} needs one",
            hint="set recipe.reward_model.steps > 0 and rerun `dvc repro`",
        )
    return reward_dir
