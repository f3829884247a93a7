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

from pathlib import Path
from typing import Any

from forge.config.schema import HardwareConfig
from forge.train import backends, common


def prompts(path: Path):
    """Prompt-only rows from a preference split, with the chosen answer's length."""
    from datasets import Dataset

    return Dataset.from_list(
        [
            {"prompt": row["prompt"], "chosen_chars": len(row["chosen"][-1]["content"])}
            for row in common.read_preferences(path)
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


def train(
    recipe: Any,
    hw: HardwareConfig,
    base: str,
    data_dir: Path,
    out_dir: Path,
    checkpoint_dir: Path,
    results_dir: Path,
    reward_model: Path,
) -> dict[str, Any]:
    from trl import RLOOConfig, RLOOTrainer

    from forge.train import reward

    common.check_device(hw)
    tokenizer = common.load_tokenizer(base)
    model = common.load_model(base, hw, recipe)
    scorer, scorer_tokenizer = reward.load(str(reward_model), hw)
    resume = common.last_checkpoint(checkpoint_dir)
    args = RLOOConfig(
        **{
            **common.training_args(recipe, hw, checkpoint_dir, has_eval=False),
            **common.sampling_args(recipe),
        }
    )
    trainer = RLOOTrainer(
        model=model,
        reward_funcs=[scorer, length_control(recipe.length_penalty)],
        reward_processing_classes=[scorer_tokenizer, None],
        args=args,
        train_dataset=prompts(data_dir / "preference" / "train.jsonl"),
        processing_class=tokenizer,
        peft_config=backends.peft_config(model, recipe),
        callbacks=[common.live_callback(results_dir, resume=resume is not None)],
    )
    result = common.fit(trainer, tokenizer, out_dir, resume)
    return {
        **common.facts(trainer, result, resume, adapter=True),
        **common.reward_summary(trainer, results_dir),
    }
