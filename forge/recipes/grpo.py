"""Group relative policy optimisation (recipe=grpo) with TRL's GRPOTrainer against a
programmatic reward: `recipe.reward_function` names a `module:function(prompt, answer)`
that returns a float (the demo's is exact match with partial credit).

The policy is a LoRA adapter on the warm-started model (stage sft); `beta` keeps it near
that model (with PEFT, the reference is the adapter switched off). Prompts are the SFT
train split's user turns; each gets `num_generations` sampled answers, and advantages
compare answers within the group. The reward per step goes to results/train/ via dvclive.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forge.config.fields import setting, sorted_fields, sub
from forge.config.schema import LoraConfig, RecipeConfig
from forge.data.splits import read_split
from forge.errors import ForgeError
from forge.recipes.base import DataKind, Metric, Recipe, Run
from forge.recipes.rlhf import sampling_args


@sorted_fields
@dataclass
class GRPOConfig(RecipeConfig):
    """GRPO against the demo task's programmatic reward (forge/recipes/grpo.py)."""

    beta: float = setting(
        0.05, "KL penalty against the starting model (0: none; it reward-hacks).", ge=0
    )
    lora: LoraConfig = sub(LoraConfig, "The LoRA adapter that is trained.")
    max_completion_length: int = setting(12, "Tokens sampled per completion.", ge=1)
    num_generations: int = setting(
        8, "Completions per prompt; advantages compare within a group.", ge=2
    )
    reward_function: str = setting(
        "forge.data.demo:reward", "module:function(prompt, answer) -> float, the reward."
    )
    temperature: float = setting(1.0, "Sampling temperature of the completions.", gt=0)


def prompts(path: Path):
    """The user turns of an SFT split, as TRL's conversational prompt-only rows."""
    from datasets import Dataset

    return Dataset.from_list([{"prompt": m[:-1]} for m in read_split(path)])


def programmatic_reward(spec: str) -> Callable[..., list[float]]:
    """A TRL reward function from 'module:function', where function(prompt, answer) -> float
    scores one answer to the last user message."""
    module_name, _, attr = spec.partition(":")
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ForgeError(
            f"recipe.reward_function: cannot import '{spec}' ({exc})",
            hint="name a function as 'package.module:function'",
        ) from exc

    def reward(prompts: list, completions: list, **_: Any) -> list[float]:
        return [
            float(fn(p[-1]["content"], c[0]["content"]))
            for p, c in zip(prompts, completions, strict=True)
        ]

    reward.__name__ = attr
    return reward


def train(cfg: GRPOConfig, run: Run) -> dict[str, Any]:
    from trl import GRPOConfig as TRLGRPOConfig
    from trl import GRPOTrainer

    tokenizer = run.tokenizer()
    model = run.model(cfg)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[programmatic_reward(cfg.reward_function)],
        args=TRLGRPOConfig(**{**run.args(cfg, has_eval=False), **sampling_args(cfg)}),
        train_dataset=prompts(run.data / "train.jsonl"),
        processing_class=tokenizer,
        peft_config=run.peft_config(model, cfg),
        callbacks=run.callbacks(),
    )
    return run.fit(trainer, adapter=True)


RECIPE = Recipe(
    name="grpo",
    config=GRPOConfig,
    train=train,
    data=DataKind.PROMPTS,
    metrics=(Metric.GENERATION,),
    summary="GRPO against a programmatic reward function (TRL GRPOTrainer)",
    warm_start=True,
)
