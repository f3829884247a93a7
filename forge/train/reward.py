"""A learned reward model (recipe=reward_model; stage reward for rlhf) with TRL's
RewardTrainer: the warm-started model with a one-output score head, trained on the
preference split so that chosen answers outscore rejected ones (Bradley-Terry)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from forge.config.schema import HardwareConfig
from forge.train import common


def train(
    recipe: Any,
    hw: HardwareConfig,
    base: str,
    data_dir: Path,
    out_dir: Path,
    checkpoint_dir: Path,
    results_dir: Path,
) -> dict[str, Any]:
    """Train every weight of the reward model; save it and its tokenizer to out_dir."""
    from trl import RewardConfig, RewardTrainer

    common.check_device(hw)
    tokenizer = common.load_tokenizer(base)
    model = common.load_reward_model(base, hw, tokenizer)
    prefs = data_dir / "preference"
    val = common.preference_dataset(prefs / "val.jsonl")
    resume = common.last_checkpoint(checkpoint_dir)
    args = RewardConfig(
        **common.training_args(recipe, hw, checkpoint_dir, has_eval=len(val) > 0),
        max_length=recipe.max_length,
        center_rewards_coefficient=recipe.center_rewards_coefficient,
    )
    trainer = RewardTrainer(
        model=model,
        args=args,
        train_dataset=common.preference_dataset(prefs / "train.jsonl"),
        eval_dataset=val if len(val) else None,
        processing_class=tokenizer,
        callbacks=[common.live_callback(results_dir, resume=resume is not None)],
    )
    result = common.fit(trainer, tokenizer, out_dir, resume)
    return common.facts(trainer, result, resume, adapter=False)


def load(path: str, hw: HardwareConfig):
    """(model, tokenizer) of a saved reward model, ready to score."""
    tokenizer = common.load_tokenizer(path)
    model = common.load_reward_model(path, hw, tokenizer)
    model.eval()
    return model, tokenizer


def score(model: Any, tokenizer: Any, conversations: list[list[dict[str, str]]]) -> list[float]:
    """The reward of each whole conversation (prompt and answer), as RewardTrainer saw it."""
    import torch

    tokenizer.padding_side = "right"
    enc = tokenizer.apply_chat_template(
        conversations, tokenize=True, padding=True, return_tensors="pt", return_dict=True
    )
    with torch.no_grad():
        logits = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits
    return logits[:, 0].float().tolist()


def margins(model: Any, tokenizer: Any, rows: list[dict[str, Any]], batch: int = 64):
    """Per preference row: the chosen answer's reward minus the rejected one's."""
    out: list[float] = []
    for i in range(0, len(rows), batch):
        chunk = rows[i : i + batch]
        chosen = score(model, tokenizer, [r["prompt"] + r["chosen"] for r in chunk])
        rejected = score(model, tokenizer, [r["prompt"] + r["rejected"] for r in chunk])
        out += [c - r for c, r in zip(chosen, rejected, strict=True)]
    return out


def pairwise_accuracy(model: Any, tokenizer: Any, rows: list[dict[str, Any]], batch: int = 64):
    """(share of pairs where chosen outscores rejected, mean margin) over preference rows."""
    m = margins(model, tokenizer, rows, batch)
    return sum(x > 0 for x in m) / max(len(m), 1), sum(m) / max(len(m), 1)
