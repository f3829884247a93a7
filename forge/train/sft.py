"""Supervised fine-tuning (recipe=lora_sft, recipe=full_sft) with TRL's SFTTrainer.

Examples are conversational prompt/completion pairs built from the canonical messages,
so the loss covers only the assistant's answer, rendered by the base tokenizer's template.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from forge.config.schema import HardwareConfig
from forge.data.prepare import read_split
from forge.train import backends, common


def to_prompt_completion(messages: list[dict[str, str]]) -> dict[str, Any]:
    return {"prompt": messages[:-1], "completion": messages[-1:]}


def dataset(path: Path):
    from datasets import Dataset

    return Dataset.from_list([to_prompt_completion(m) for m in read_split(path)])


def train(
    recipe: Any,
    hw: HardwareConfig,
    base: str,
    data_dir: Path,
    out_dir: Path,
    checkpoint_dir: Path,
    results_dir: Path,
) -> dict[str, Any]:
    """Train, save the adapter (or full weights) and tokenizer to out_dir; returns facts."""
    from trl import SFTConfig, SFTTrainer

    common.check_device(hw)
    tokenizer = common.load_tokenizer(base)
    model = common.load_model(base, hw, recipe)
    val = dataset(data_dir / "val.jsonl")
    resume = common.last_checkpoint(checkpoint_dir)
    args = SFTConfig(
        **common.training_args(recipe, hw, checkpoint_dir, has_eval=len(val) > 0),
        max_length=recipe.max_length,
        completion_only_loss=True,
        packing=False,
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=dataset(data_dir / "train.jsonl"),
        eval_dataset=val if len(val) else None,
        processing_class=tokenizer,
        peft_config=backends.peft_config(model, recipe),
        callbacks=[common.live_callback(results_dir, resume=resume is not None)],
    )
    result = common.fit(trainer, tokenizer, out_dir, resume)
    return common.facts(trainer, result, resume, adapter=recipe.method == "lora_sft")
