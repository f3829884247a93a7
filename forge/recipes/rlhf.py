"""RLHF (recipe=rlhf): online policy optimisation against the learned reward model of
stage reward, with TRL's RLOOTrainer (PPO left TRL in 1.13; RLOO is its REINFORCE-style
successor: each prompt gets `num_generations` samples, and each sample's baseline is the
mean reward of the others).

Unchecked, the policy reward-hacks the tiny reward model: answers shrink and exact match
drops to 0. Three controls hold it: `beta`, a KL penalty towards the warm-started model
(the adapter switched off); `length_penalty`, a reward term that costs each character
an answer is away from the preferred answer's length for that prompt; and the
sampling temperature (0.8 in conf/recipe/rlhf.yaml): at 1.0 over half the warm start's
samples are wrong, and optimising the reward model's scores of those cost exact match.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forge.config.fields import setting, sorted_fields, sub
from forge.config.schema import LoraConfig, RecipeConfig
from forge.data.splits import read_rows
from forge.recipes.base import DataKind, Metric, Recipe, Run


@sorted_fields
@dataclass
class RLHFConfig(RecipeConfig):
    """Online RLOO against the learned reward model of stage reward (forge/recipes/rlhf.py)."""

    beta: float = setting(
        0.05, "KL penalty against the starting model (0: none; it reward-hacks).", ge=0
    )
    length_penalty: float = setting(
        0.1, "Reward lost per character an answer is off the preferred answer's length.", ge=0
    )
    lora: LoraConfig = sub(LoraConfig, "The LoRA adapter that is trained.")
    max_completion_length: int = setting(12, "Tokens sampled per completion.", ge=1)
    num_generations: int = setting(
        8, "Completions per prompt; advantages compare within a group.", ge=2
    )
    temperature: float = setting(1.0, "Sampling temperature of the completions.", gt=0)


def prompts(path: Path):
    """Prompt-only rows from a preference split, with the chosen answer's length."""
    from datasets import Dataset

    return Dataset.from_list(
        [
            {"prompt": row["prompt"], "chosen_chars": len(row["chosen"][-1]["content"])}
            for row in read_rows(path)
        ]
    )


def length_control(penalty: float):
    """A TRL reward function: -penalty per character off the chosen answer's length."""

    def length_control(completions: list, chosen_chars: list[int], **_: Any) -> list[float]:
        return [
            -penalty * abs(len(c[0]["content"].strip()) - n)
            for c, n in zip(completions, chosen_chars, strict=True)
        ]

    return length_control


def sampling_args(cfg: Any) -> dict[str, Any]:
    """The online-generation keywords of TRL's RLOOConfig and GRPOConfig."""
    return dict(
        beta=cfg.beta,
        num_generations=cfg.num_generations,
        max_completion_length=cfg.max_completion_length,
        temperature=cfg.temperature,
        logging_steps=1,  # the reward curve, step by step
        log_completions=False,
    )


def train(cfg: RLHFConfig, run: Run) -> dict[str, Any]:
    from trl import RLOOConfig, RLOOTrainer

    from forge.model import load

    assert run.reward_model is not None  # the registry declares that rlhf needs one
    tokenizer = run.tokenizer()
    model = run.model(cfg)
    scorer_tokenizer = load.load_tokenizer(run.reward_model)
    scorer = load.reward_model(str(run.reward_model), run.hardware, scorer_tokenizer)
    trainer = RLOOTrainer(
        model=model,
        reward_funcs=[scorer, length_control(cfg.length_penalty)],
        reward_processing_classes=[scorer_tokenizer, None],
        args=RLOOConfig(**{**run.args(cfg, has_eval=False), **sampling_args(cfg)}),
        train_dataset=prompts(run.data / "preference" / "train.jsonl"),
        processing_class=tokenizer,
        peft_config=run.peft_config(model, cfg),
        callbacks=run.callbacks(),
    )
    return run.fit(trainer, adapter=True)


RECIPE = Recipe(
    name="rlhf",
    config=RLHFConfig,
    train=train,
    data=DataKind.PREFERENCE,
    metrics=(Metric.GENERATION,),
    summary="RLOO against a learned reward model, with KL and length control (TRL RLOOTrainer)",
    warm_start=True,
    reward_model=True,
)
