"""Pieces every recipe calls (never copies): model and tokenizer loading, the LoRA config,
TrainingArguments shared by all methods, dvclive logging, checkpoints and resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from forge.config.schema import HardwareConfig
from forge.errors import ForgeError


def torch_dtype(hw: HardwareConfig):
    """The compute dtype of hardware.precision (`auto` resolved on this machine)."""
    from forge.train import backends

    return backends.torch_dtype(backends.resolve_precision(hw))


def check_device(hw: HardwareConfig) -> None:
    if hw.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ForgeError(
                f"hardware.device: 'cuda' (profile {hw.name}) but torch sees no CUDA device",
                hint="use hardware=auto or hardware=cpu on this machine",
            )


def load_tokenizer(path: str):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    if tok.chat_template is None:
        raise ForgeError(
            f"{path}: the tokenizer has no chat template",
            hint="pick an instruct model or set one on the base model",
        )
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model(path: str, hw: HardwareConfig, recipe: Any = None):
    """By hardware.backend, precision and quantization (forge/train/backends.py). Pass the
    recipe: a LoRA recipe gets a half-precision frozen base (or Unsloth's adapter), full
    fine-tuning fp32 master weights. Hand the trainer `backends.peft_config(model, recipe)`."""
    from forge.train import backends

    return backends.load_model(path, hw, recipe)


def load_reward_model(path: str, hw: HardwareConfig, tokenizer: Any):
    """A one-output sequence classifier: a saved reward model, or a causal LM with a new
    score head (initialised from recipe seed by the caller's set_seed)."""
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=1, dtype=torch_dtype(hw)
    )
    model.config.pad_token_id = tokenizer.pad_token_id
    return model


def lora_config(recipe: Any):
    from peft import LoraConfig

    return LoraConfig(
        r=recipe.lora_rank,
        lora_alpha=recipe.lora_alpha,
        lora_dropout=recipe.lora_dropout,
        target_modules=list(recipe.lora_target_modules),
        task_type="CAUSAL_LM",
    )


def _precision(hw: HardwareConfig) -> str:
    from forge.train.backends import resolve_precision

    return resolve_precision(hw)


def training_args(recipe: Any, hw: HardwareConfig, checkpoint_dir: Path, has_eval: bool):
    """Keyword arguments for any TRL *Config (they all extend TrainingArguments)."""
    return dict(
        output_dir=str(checkpoint_dir),
        max_steps=recipe.max_steps,
        per_device_train_batch_size=recipe.batch_size,
        per_device_eval_batch_size=recipe.batch_size,
        gradient_accumulation_steps=recipe.gradient_accumulation_steps,
        learning_rate=recipe.learning_rate,
        lr_scheduler_type=recipe.lr_scheduler,
        warmup_steps=max(0, round(recipe.warmup_ratio * recipe.max_steps)),
        weight_decay=recipe.weight_decay,
        seed=recipe.seed,
        data_seed=recipe.seed,
        bf16=_precision(hw) == "bf16",
        fp16=_precision(hw) == "fp16",
        use_cpu=hw.device == "cpu",
        save_strategy="steps",
        save_steps=recipe.save_steps,
        save_total_limit=2,
        eval_strategy="steps" if has_eval and recipe.eval_steps else "no",
        eval_steps=recipe.eval_steps or None,
        logging_steps=10,
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        gradient_checkpointing=False,  # TRL's configs default to True: slower, for big models
    )


def sampling_args(recipe: Any) -> dict[str, Any]:
    """The online-generation keywords that GRPOConfig and RLOOConfig share."""
    return dict(
        beta=recipe.beta,
        num_generations=recipe.num_generations,
        max_completion_length=recipe.max_completion_length,
        temperature=recipe.temperature,
        logging_steps=1,  # the reward curve, step by step
        log_completions=False,
    )


def live_callback(results_dir: Path, resume: bool):
    """dvclive inside a DVC pipeline: our own Live, no dvc.yaml of its own."""
    from dvclive import Live
    from transformers.integrations import DVCLiveCallback

    live = Live(dir=str(results_dir), dvcyaml=False, save_dvc_exp=False, resume=resume, report=None)
    return DVCLiveCallback(live=live)


def last_checkpoint(checkpoint_dir: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(checkpoint_dir)) if checkpoint_dir.is_dir() else None


def read_preferences(path: Path) -> list[dict[str, Any]]:
    """Rows of a prepared preference split: conversational prompt, chosen and rejected."""
    import json

    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def preference_dataset(path: Path) -> Any:
    """A prepared preference split as a `datasets.Dataset` (dpo and reward_model train on it)."""
    from datasets import Dataset

    return Dataset.from_list(read_preferences(path))


def fit(trainer: Any, tokenizer: Any, out_dir: Path, resume: str | None) -> Any:
    """Train (from checkpoint `resume`, if any), then save the model to `out_dir` and the
    tokenizer beside it; returns TRL's train result."""
    result = trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(str(out_dir))
    if trainer.is_world_process_zero():  # one writer under DDP
        tokenizer.save_pretrained(str(out_dir))
    return result


def facts(trainer: Any, result: Any, resume: str | None, adapter: bool) -> dict[str, Any]:
    """What a recipe reports to the supervisor (and the run manifest) after training."""
    return {
        "resumed_from": Path(resume).name if resume else None,
        "train_loss": result.training_loss,
        "global_step": result.global_step,
        "train_tokens": trainer.state.num_input_tokens_seen or None,
        "train_runtime_s": result.metrics.get("train_runtime"),
        "adapter": adapter,
    }


def reward_summary(trainer: Any, results_dir: Path) -> dict[str, float]:
    """RL recipes: mean reward over the first and the last 10% of steps, written beside
    the dvclive curve (results/train/reward_summary.json) and returned for the facts."""
    from forge.record import write_json

    curve = [row["reward"] for row in trainer.state.log_history if "reward" in row]
    k = max(1, len(curve) // 10)
    summary = {
        "steps_logged": len(curve),
        "reward_first_10pct": sum(curve[:k]) / k if curve else None,
        "reward_last_10pct": sum(curve[-k:]) / k if curve else None,
    }
    write_json(results_dir / "reward_summary.json", summary)
    return summary
