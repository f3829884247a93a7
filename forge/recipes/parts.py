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

from forge.config.schema import RecipeConfig
from forge.errors import ForgeError
from forge.recipes.registry import get
from forge.recipes.reward_model import RewardModelRecipeConfig
from forge.recipes.sft import FullSFTConfig

PARTS = ("sft", "reward", "train")


def _shared(recipe: RecipeConfig) -> dict[str, Any]:
    """Settings a derived part inherits from the recipe (length and seed; the batch is the
    schema's default, since RL recipes batch completions, not examples)."""
    return {"max_length": recipe.max_length, "seed": recipe.seed}


def part_recipe(part: str, recipe: RecipeConfig) -> RecipeConfig | None:
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
    raise ForgeError(f"unknown training part '{part}' (known: {', '.join(PARTS)})")


def data_inputs(recipe: RecipeConfig, data: Path) -> dict[str, Path]:
    """The prepared files a part's recipe trains on (recorded and fingerprinted)."""
    return get(recipe.method).data.files(data)


def start_model(sft_dir: Path) -> Path | None:
    """The warm start when stage sft trained one, else None (start from models/base)."""
    return sft_dir if (sft_dir / "config.json").is_file() else None


def reward_model_for(recipe: RecipeConfig, reward_dir: Path) -> Path | None:
    """Stage reward's model for the recipes that optimise against one, else None."""
    if not get(recipe.method).reward_model:
        return None
    if not (reward_dir / "config.json").is_file():
        raise ForgeError(
            f"{reward_dir}: no reward model; recipe={recipe.method} needs one",
            hint="set recipe.reward_model.steps > 0 and rerun `dvc repro`",
        )
    return reward_dir
