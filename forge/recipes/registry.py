"""The one registry of recipes, built from each recipe module's declaration.

Adding a method takes its module here (config, train, data kind, needs, metrics) and its
`conf/recipe/<name>.yaml`; list the module in MODULES. Everything that asks what a recipe
is — compose and validate, the training stages, evaluate, the memory estimator — asks here.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from forge.config.schema import RecipeConfig
from forge.errors import ConfigError
from forge.recipes import dpo, grpo, kto, reward_model, rlhf, sft
from forge.recipes.base import Recipe

MODULES = (sft, dpo, kto, reward_model, rlhf, grpo)
RECIPES: dict[str, Recipe] = {
    r.name: r for m in MODULES for r in getattr(m, "RECIPES", None) or (m.RECIPE,)
}
# Names a user may reach for that Forge refuses, with what to use instead.
REFUSED = {
    "ppo": "PPO was removed from TRL in 1.13; use recipe=rlhf (RLOO against a reward model)",
}


def get(method: str) -> Recipe:
    """The recipe declared for `method`; one ConfigError line naming recipe.method otherwise."""
    if method in RECIPES:
        return RECIPES[method]
    if method in REFUSED:
        raise ConfigError([f"recipe.method: {REFUSED[method]}"])
    close = difflib.get_close_matches(str(method), list(RECIPES), n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else f" (known: {', '.join(RECIPES)})"
    raise ConfigError([f"recipe.method: unknown method '{method}'{hint}"])


def get_by_config(cls: type[RecipeConfig]) -> Recipe:
    """The recipe whose config class is `cls`."""
    return next(r for r in RECIPES.values() if r.config is cls)


def of(cfg: RecipeConfig) -> Recipe:
    return get(cfg.method)


def load_recipe(path: Path = Path("params.yaml")) -> RecipeConfig:
    """params.yaml's recipe group, typed by its method's schema."""
    from forge.config.params import load_params, typed

    data = load_params(path)
    node = data.get("recipe")
    if not isinstance(node, dict):
        raise ConfigError([f"{path}: no 'recipe' section; run `forge compose`"])
    return typed(get(str(node.get("method"))).config, node, "recipe")


def register() -> None:
    """Put every recipe schema into Hydra's ConfigStore as recipe/<name>_schema (idempotent)."""
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    for name, recipe in RECIPES.items():
        cs.store(group="recipe", name=f"{name}_schema", node=recipe.config)
