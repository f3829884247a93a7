"""Direct preference optimisation (recipe=dpo) with TRL's DPOTrainer.

The policy is a LoRA adapter on the warm-started model (stage sft); with PEFT, TRL's
reference model is the same weights with the adapter switched off. Pairs are TRL's
conversational preference rows: prompt, chosen and rejected messages. Plain sigmoid DPO
collapses generation on the tiny model, so the default loss keeps an SFT term on the
chosen answers (`loss_type: [sigmoid, sft]`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from forge.config.schema import HardwareConfig
from forge.train import backends, common


def train(
    recipe: Any,
    hw: HardwareConfig,
    base: str,
    data_dir: Path,
    out_dir: Path,
    checkpoint_dir: Path,
    results_dir: Path,
) -> dict[str, Any]:
    """Train the adapter against the preference split; save it and the tokenizer."""
    from trl import DPOConfig, DPOTrainer

    common.check_device(hw)
    tokenizer = common.load_tokenizer(base)
    model = common.load_model(base, hw, recipe)
    prefs = data_dir / "preference"
    val = common.preference_dataset(prefs / "val.jsonl")
    resume = common.last_checkpoint(checkpoint_dir)
    args = DPOConfig(
        **common.training_args(recipe, hw, checkpoint_dir, has_eval=len(val) > 0),
        max_length=recipe.max_length,
        beta=recipe.beta,
        loss_type=list(recipe.loss_type),
        loss_weights=list(recipe.loss_weights) or None,
    )
    trainer = DPOTrainer(
        model=model,
        args=args,
        train_dataset=common.preference_dataset(prefs / "train.jsonl"),
        eval_dataset=val if len(val) else None,
        processing_class=tokenizer,
        peft_config=backends.peft_config(model, recipe),
        callbacks=[common.live_callback(results_dir, resume=resume is not None)],
    )
    result = common.fit(trainer, tokenizer, out_dir, resume)
    return common.facts(trainer, result, resume, adapter=True)
