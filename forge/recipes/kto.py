"""Kahneman-Tversky optimisation (recipe=kto) with TRL's KTOTrainer, on unpaired preference
data: each row is a prompt, one answer and a label (desirable or not), as thumbs-up/down
feedback comes. The demo's unpaired split comes from its pairs (prepare writes both).

The policy is a LoRA adapter on the warm-started model (stage sft); with PEFT, TRL's
reference model is the same weights with the adapter switched off. KTO raises the implicit
reward, beta * log(policy / reference), of desirable answers above the batch's KL estimate
and pushes undesirable ones below it; evaluate reports that reward on held-out pairs.
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
class KTOConfig(RecipeConfig):
    """KTO on unpaired preference rows, a LoRA adapter on the warm start (forge/recipes/kto.py)."""

    beta: float = setting(0.1, "Strength of the pull towards the reference model.", gt=0)
    desirable_weight: float = setting(1.0, "Loss weight of desirable rows.", gt=0)
    lora: LoraConfig = sub(LoraConfig, "The LoRA adapter that is trained.")
    loss_type: str = setting(
        "kto", "TRL KTO loss: kto or apo_zero_unpaired.", choices=("kto", "apo_zero_unpaired")
    )
    undesirable_weight: float = setting(
        1.0, "Loss weight of undesirable rows (raise it when they are scarcer).", gt=0
    )


def unpaired_dataset(path: Path):
    """A prepared unpaired split (prompt, completion, label) as a `datasets.Dataset`."""
    from datasets import Dataset

    return Dataset.from_list(read_rows(path))


def train(cfg: KTOConfig, run: Run) -> dict[str, Any]:
    from trl import KTOConfig as TRLKTOConfig
    from trl import KTOTrainer

    tokenizer = run.tokenizer()
    model = run.model(cfg)
    rows = run.data / "unpaired"
    val = unpaired_dataset(rows / "val.jsonl")
    trainer = KTOTrainer(
        model=model,
        args=TRLKTOConfig(
            **run.args(cfg, has_eval=len(val) > 0),
            max_length=cfg.max_length,
            beta=cfg.beta,
            loss_type=cfg.loss_type,
            desirable_weight=cfg.desirable_weight,
            undesirable_weight=cfg.undesirable_weight,
        ),
        train_dataset=unpaired_dataset(rows / "train.jsonl"),
        eval_dataset=val if len(val) else None,
        processing_class=tokenizer,
        peft_config=run.peft_config(model, cfg),
        callbacks=run.callbacks(),
    )
    return run.fit(trainer, adapter=True)


RECIPE = Recipe(
    name="kto",
    config=KTOConfig,
    train=train,
    data=DataKind.UNPAIRED,
    metrics=(Metric.GENERATION, Metric.IMPLICIT_REWARD),
    summary="KTO on unpaired desirable/undesirable answers, a LoRA adapter (TRL KTOTrainer)",
    warm_start=True,
)
