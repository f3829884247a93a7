"""Direct preference optimisation (recipe=dpo) with TRL's DPOTrainer.

The policy is a LoRA adapter on the warm-started model (stage sft); with PEFT, TRL's
reference model is the same weights with the adapter switched off. Pairs are TRL's
conversational preference rows: prompt, chosen and rejected messages. Plain sigmoid DPO
collapses generation on the tiny model, so the default loss keeps an SFT term on the
chosen answers (`loss_type: [sigmoid, sft]`).
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
class DPOConfig(RecipeConfig):
    """Direct preference optimisation, a LoRA adapter on the warm start (forge/recipes/dpo.py)."""

    beta: float = setting(0.1, "Strength of the pull towards the reference model.", gt=0)
    lora: LoraConfig = sub(LoraConfig, "The LoRA adapter that is trained.")
    loss_type: list[str] = setting(
        ["sigmoid", "sft"],
        "TRL DPO losses; 'sft' keeps generation alive.",
        choices=(
            "sigmoid",
            "hinge",
            "ipo",
            "exo_pair",
            "nca_pair",
            "robust",
            "bco_pair",
            "sppo_hard",
            "aot",
            "aot_unpaired",
            "apo_zero",
            "apo_down",
            "discopop",
            "sft",
            "sigmoid_norm",
        ),  # fmt: skip
    )
    loss_weights: list[float] = setting([], "Weight per loss_type entry (empty: all 1.0).")


def preference_dataset(path: Path):
    """A prepared preference split as a `datasets.Dataset`."""
    from datasets import Dataset

    return Dataset.from_list(read_rows(path))


def train(cfg: DPOConfig, run: Run) -> dict[str, Any]:
    """Train the adapter against the preference split; save it and the tokenizer."""
    from trl import DPOConfig as TRLDPOConfig
    from trl import DPOTrainer

    tokenizer = run.tokenizer()
    model = run.model(cfg)
    prefs = run.data / "preference"
    val = preference_dataset(prefs / "val.jsonl")
    trainer = DPOTrainer(
        model=model,
        args=TRLDPOConfig(
            **run.args(cfg, has_eval=len(val) > 0),
            max_length=cfg.max_length,
            beta=cfg.beta,
            loss_type=list(cfg.loss_type),
            loss_weights=list(cfg.loss_weights) or None,
        ),
        train_dataset=preference_dataset(prefs / "train.jsonl"),
        eval_dataset=val if len(val) else None,
        processing_class=tokenizer,
        peft_config=run.peft_config(model, cfg),
        callbacks=run.callbacks(),
    )
    return run.fit(trainer, adapter=True)


RECIPE = Recipe(
    name="dpo",
    config=DPOConfig,
    train=train,
    data=DataKind.PREFERENCE,
    metrics=(Metric.GENERATION, Metric.IMPLICIT_REWARD),
    summary="direct preference optimisation of a LoRA adapter on the warm start (TRL DPOTrainer)",
    warm_start=True,
)
