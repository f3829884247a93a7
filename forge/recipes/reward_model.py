"""A learned reward model (recipe=reward_model; stage reward for rlhf) with TRL's
RewardTrainer: the warm-started model with a one-output score head, trained on the
preference split so that chosen answers outscore rejected ones (Bradley-Terry).

`score` and `margins` are how everything else reads a reward model: evaluate's pairwise
accuracy and rlhf's reward function.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from forge.config.fields import setting, sorted_fields
from forge.config.schema import RecipeConfig
from forge.recipes.base import DataKind, Metric, Recipe, Run
from forge.recipes.dpo import preference_dataset


@sorted_fields
@dataclass
class RewardModelRecipeConfig(RecipeConfig):
    """A sequence-classification reward model on preference pairs (recipes/reward_model.py)."""

    center_rewards_coefficient: float = setting(0.01, "Pulls rewards towards zero mean.", ge=0)


def train(cfg: RewardModelRecipeConfig, run: Run) -> dict[str, Any]:
    """Train every weight of the reward model; save it and its tokenizer."""
    from transformers import set_seed
    from trl import RewardConfig, RewardTrainer

    tokenizer = run.tokenizer()
    set_seed(cfg.seed)  # the new score head's initial weights (the trainer seeds only later)
    model = run.reward_model_to_train(tokenizer)
    prefs = run.data / "preference"
    val = preference_dataset(prefs / "val.jsonl")
    trainer = RewardTrainer(
        model=model,
        args=RewardConfig(
            **run.args(cfg, has_eval=len(val) > 0),
            max_length=cfg.max_length,
            center_rewards_coefficient=cfg.center_rewards_coefficient,
        ),
        train_dataset=preference_dataset(prefs / "train.jsonl"),
        eval_dataset=val if len(val) else None,
        processing_class=tokenizer,
        callbacks=run.callbacks(),
    )
    return run.fit(trainer, adapter=False)


def score(model: Any, tokenizer: Any, conversations: list[list[dict[str, str]]]) -> list[float]:
    """The reward of each whole conversation (prompt and answer), as RewardTrainer saw it."""
    import torch

    tokenizer.padding_side = "right"
    enc = tokenizer.apply_chat_template(
        conversations, tokenize=True, padding=True, return_tensors="pt", return_dict=True
    )
    device = next(model.parameters()).device
    with torch.no_grad():
        logits = model(
            input_ids=enc["input_ids"].to(device), attention_mask=enc["attention_mask"].to(device)
        ).logits
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


RECIPE = Recipe(
    name="reward_model",
    config=RewardModelRecipeConfig,
    train=train,
    data=DataKind.PREFERENCE,
    metrics=(Metric.PAIRWISE_REWARD,),
    summary="a scalar reward model on preference pairs (TRL RewardTrainer)",
    warm_start=True,
)
