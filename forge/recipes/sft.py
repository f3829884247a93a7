"""Supervised fine-tuning with TRL's SFTTrainer: recipe=lora_sft (a LoRA adapter on a frozen
base) and recipe=full_sft (every weight).

Examples are conversational prompt/completion pairs built from the canonical messages, so the
loss covers only the assistant's answer, rendered by the base tokenizer's template.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forge.config.fields import sorted_fields, sub
from forge.config.schema import LoraConfig, RecipeConfig
from forge.data.splits import read_split
from forge.recipes.base import DataKind, Metric, Recipe, Run


@sorted_fields
@dataclass
class LoraSFTConfig(RecipeConfig):
    """LoRA adapters on a frozen base (forge/recipes/sft.py)."""

    lora: LoraConfig = sub(LoraConfig, "The LoRA adapter that is trained.")


@sorted_fields
@dataclass
class FullSFTConfig(RecipeConfig):
    """Every weight is trained (forge/recipes/sft.py)."""


def to_prompt_completion(messages: list[dict[str, str]]) -> dict[str, Any]:
    return {"prompt": messages[:-1], "completion": messages[-1:]}


def dataset(path: Path):
    from datasets import Dataset

    return Dataset.from_list([to_prompt_completion(m) for m in read_split(path)])


def train(cfg: RecipeConfig, run: Run) -> dict[str, Any]:
    """Train, save the adapter (or full weights) and tokenizer; returns facts."""
    from trl import SFTConfig, SFTTrainer

    tokenizer = run.tokenizer()
    model = run.model(cfg)
    val = dataset(run.data / "val.jsonl")
    trainer = SFTTrainer(
        model=model,
        args=SFTConfig(
            **run.args(cfg, has_eval=len(val) > 0),
            max_length=cfg.max_length,
            completion_only_loss=True,
            packing=False,
        ),
        train_dataset=dataset(run.data / "train.jsonl"),
        eval_dataset=val if len(val) else None,
        processing_class=tokenizer,
        peft_config=run.peft_config(model, cfg),
        callbacks=run.callbacks(),
    )
    return run.fit(trainer, adapter=cfg.adapter is not None)


LORA_SFT = Recipe(
    name="lora_sft",
    config=LoraSFTConfig,
    train=train,
    data=DataKind.SFT,
    metrics=(Metric.GENERATION,),
    summary="supervised fine-tuning of a LoRA adapter on a frozen base (TRL SFTTrainer)",
)
FULL_SFT = Recipe(
    name="full_sft",
    config=FullSFTConfig,
    train=train,
    data=DataKind.SFT,
    metrics=(Metric.GENERATION,),
    summary="supervised fine-tuning of every weight (TRL SFTTrainer)",
)
RECIPES = (LORA_SFT, FULL_SFT)
