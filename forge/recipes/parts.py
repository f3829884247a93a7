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

from forge.config.schema import RecipeConfig
from forge.errors import ForgeError
from forge.recipes.registry import get, get_by_config
from forge.recipes.reward_model import RewardModelRecipeConfig
from forge.recipes.sft import FullSFTConfig

PARTS = ("sft", "reward", "train")


def _derived(cls: type[RecipeConfig], recipe: RecipeConfig, lr: float, steps: int):
    """A part's own recipe (the warm start's full SFT, the reward model), inheriting length
    and seed from the user's recipe; the batch is the schema's default, since RL recipes
    batch completions, not examples."""
    return cls(
        method=get_by_config(cls).name,
        learning_rate=lr,
        max_steps=steps,
        eval_steps=0,
        save_steps=max(steps // 2, 1),
        max_length=recipe.max_length,
        seed=recipe.seed,
    )


def part_recipe(part: str, recipe: RecipeConfig) -> RecipeConfig | None:
    """The typed recipe a part trains, or None when the recipe does not use that part."""
    if part == "train":
        return recipe
    if part == "sft":
        ws = recipe.warm_start
        return _derived(FullSFTConfig, recipe, ws.learning_rate, ws.steps) if ws.steps else None
    if part == "reward":
        rm = recipe.reward_model
        if not rm.steps:
            return None
        return _derived(RewardModelRecipeConfig, recipe, rm.learning_rate, rm.steps)
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
