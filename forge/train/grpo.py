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
from pathlib import Path
from typing import Any

from forge.config.schema import HardwareConfig
from forge.data.prepare import read_split
from forge.errors import ForgeError
from forge.train import backends, common


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


def train(
    recipe: Any,
    hw: HardwareConfig,
    base: str,
    data_dir: Path,
    out_dir: Path,
    checkpoint_dir: Path,
    results_dir: Path,
) -> dict[str, Any]:
    from trl import GRPOConfig, GRPOTrainer

    common.check_device(hw)
    tokenizer = common.load_tokenizer(base)
    model = common.load_model(base, hw, recipe)
    resume = common.last_checkpoint(checkpoint_dir)
    args = GRPOConfig(
        **{
            **common.training_args(recipe, hw, checkpoint_dir, has_eval=False),
            **common.sampling_args(recipe),
        }
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[programmatic_reward(recipe.reward_function)],
        args=args,
        train_dataset=prompts(data_dir / "train.jsonl"),
        processing_class=tokenizer,
        peft_config=backends.peft_config(model, recipe),
        callbacks=[common.live_callback(results_dir, resume=resume is not None)],
    )
    result = common.fit(trainer, tokenizer, out_dir, resume)
    return {
        **common.facts(trainer, result, resume, adapter=True),
        **common.reward_summary(trainer, results_dir),
    }
