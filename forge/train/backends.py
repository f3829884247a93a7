"""Model loading by hardware profile: `hardware.backend` (hf or unsloth), `precision` and
`quantization` (bitsandbytes 4bit nf4 / 8bit). `auto` values resolve from the hardware the
process runs on. Unsloth and bitsandbytes are imported only on their own paths: Unsloth is an
optional extra of the GPU images (`pip install 'forge[unsloth]'`), never in the default env.

What each path loads:
- hf, full fine-tuning: fp32 master weights; TrainingArguments' bf16/fp16 autocast computes
  in half precision (16 bytes per parameter with AdamW, as forge/hardware/memory.py counts).
- hf, LoRA: the frozen base in `precision`; peft adds fp32 adapters (via the recipe's
  peft_config, which `peft_config()` returns).
- hf, 4bit/8bit (QLoRA): BitsAndBytesConfig, then peft's prepare_model_for_kbit_training.
- unsloth: FastLanguageModel.from_pretrained, and for LoRA FastLanguageModel.get_peft_model
  (the adapter is on the model, so `peft_config()` returns None).
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from forge.config.schema import HardwareConfig
from forge.errors import ForgeError


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def resolve_precision(hw: HardwareConfig) -> str:
    """`auto`: bf16 on a GPU that has it, else fp16 on a GPU, fp32 on CPU."""
    if hw.precision != "auto":
        return hw.precision
    if hw.device != "cuda":
        return "fp32"
    import torch

    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def resolve_backend(hw: HardwareConfig) -> str:
    """`auto`: unsloth where it is installed and the run is one CUDA process, else hf."""
    if hw.backend != "auto":
        return hw.backend
    if hw.device == "cuda" and hw.num_processes == 1 and importlib.util.find_spec("unsloth"):
        return "unsloth"
    return "hf"


def torch_dtype(precision: str):
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def _require_cuda(what: str, key: str) -> None:
    if not _cuda():
        raise ForgeError(
            f"hardware.{key}: {what} needs a CUDA GPU and torch sees none",
            hint=f"use hardware.{key}={'hf' if key == 'backend' else 'none'} on this machine",
        )


def _is_adapter(recipe: Any) -> bool:
    return recipe is not None and hasattr(recipe, "lora_rank")


def bnb_config(hw: HardwareConfig):
    """bitsandbytes settings for hardware.quantization (None for none)."""
    if hw.quantization == "none":
        return None
    from transformers import BitsAndBytesConfig

    if hw.quantization == "4bit":
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch_dtype(resolve_precision(hw)),
        )
    return BitsAndBytesConfig(load_in_8bit=True)


def load_model(path: str, hw: HardwareConfig, recipe: Any = None):
    """The model to train. `recipe` tells LoRA (it has lora_rank) from full fine-tuning;
    without it the weights are loaded for full fine-tuning."""
    backend = resolve_backend(hw)
    if backend == "unsloth":
        return _load_unsloth(path, hw, recipe)
    precision = resolve_precision(hw)
    adapter = _is_adapter(recipe)
    if hw.quantization != "none":
        if not adapter:
            raise ForgeError(
                f"hardware.quantization: '{hw.quantization}' weights cannot be trained in full",
                hint="use a LoRA recipe (QLoRA), e.g. recipe=lora_sft",
            )
        _require_cuda(f"'{hw.quantization}' (bitsandbytes)", "quantization")
        from peft import prepare_model_for_kbit_training
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(
            path,
            quantization_config=bnb_config(hw),
            dtype=torch_dtype(precision),
            device_map={"": int(os.environ.get("LOCAL_RANK", 0))},
        )
        return prepare_model_for_kbit_training(model, use_gradient_checkpointing=True)
    from transformers import AutoModelForCausalLM

    # Full fine-tuning keeps fp32 master weights under bf16/fp16 autocast; a frozen base
    # (LoRA) is stored in the compute precision.
    dtype = torch_dtype(precision if adapter else "fp32")
    return AutoModelForCausalLM.from_pretrained(path, dtype=dtype)


def _load_unsloth(path: str, hw: HardwareConfig, recipe: Any):
    _require_cuda("'unsloth'", "backend")
    try:
        from unsloth import FastLanguageModel
    except ImportError as exc:
        raise ForgeError(
            "hardware.backend: 'unsloth' is not installed in this environment",
            hint="pip install 'forge[unsloth]' (the GPU images have it), or hardware.backend=hf",
        ) from exc
    adapter = _is_adapter(recipe)
    model, _tokenizer = FastLanguageModel.from_pretrained(
        model_name=path,
        **({"max_seq_length": recipe.max_length} if recipe is not None else {}),
        dtype=torch_dtype(resolve_precision(hw)),
        load_in_4bit=hw.quantization == "4bit",
        load_in_8bit=hw.quantization == "8bit",
        full_finetuning=not adapter,
    )
    if not adapter:
        return model
    return FastLanguageModel.get_peft_model(
        model,
        r=recipe.lora_rank,
        lora_alpha=recipe.lora_alpha,
        lora_dropout=recipe.lora_dropout,
        target_modules=list(recipe.lora_target_modules),
        bias="none",
        use_gradient_checkpointing="unsloth",
        random_state=recipe.seed,
    )


def peft_config(model: Any, recipe: Any):
    """The LoraConfig a recipe hands its TRL trainer: None for full fine-tuning, and None
    when the backend already put the adapter on the model (Unsloth)."""
    if not _is_adapter(recipe):
        return None
    from peft import PeftModel

    if isinstance(model, PeftModel):
        return None
    from forge.train.common import lora_config

    return lora_config(recipe)
