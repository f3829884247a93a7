"""Pieces every recipe calls (never copies): model and tokenizer loading, the LoRA config,
TrainingArguments shared by all methods, dvclive logging, checkpoints and resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from forge.config.schema import HardwareConfig
from forge.errors import ForgeError


def torch_dtype(hw: HardwareConfig):
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[hw.precision]


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


def load_model(path: str, hw: HardwareConfig):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype(hw))


def lora_config(recipe: Any):
    from peft import LoraConfig

    return LoraConfig(
        r=recipe.lora_rank,
        lora_alpha=recipe.lora_alpha,
        lora_dropout=recipe.lora_dropout,
        target_modules=list(recipe.lora_target_modules),
        task_type="CAUSAL_LM",
    )


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
        bf16=hw.precision == "bf16",
        fp16=hw.precision == "fp16",
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
