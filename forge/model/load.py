"""The one model loader: training, evaluate, export, the contract check and chat all load
through here, so `hardware.device`, `precision`, `quantization` and `backend` mean the same
thing everywhere (`auto` resolved once, by forge/hardware/precision.py).

What each path loads:
- training, full fine-tuning: fp32 master weights; TrainingArguments' bf16/fp16 autocast
  computes in half precision (16 bytes per parameter with AdamW, as forge/hardware/memory.py
  counts).
- training, LoRA: the frozen base in the compute precision; peft adds fp32 adapters (the
  trainer gets `peft_config()`).
- training, 4bit/8bit (QLoRA): BitsAndBytesConfig, then peft's prepare_model_for_kbit_training.
- unsloth: FastLanguageModel.from_pretrained, and for LoRA FastLanguageModel.get_peft_model
  (the adapter is on the model, so `peft_config()` returns None). Unsloth is an optional
  extra of the GPU images, imported only on its own path.
- inference (evaluate, export, chat): the compute precision on `hardware.device`, in eval
  mode, with a saved LoRA adapter put on its base.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from forge.config.schema import HardwareConfig, LoraConfig
from forge.errors import ForgeError
from forge.hardware.precision import resolve_precision


def precision(hw: HardwareConfig) -> str:
    """hardware.precision with `auto` resolved."""
    return resolve_precision(hw.precision, hw.device, hw.architecture)


def backend(hw: HardwareConfig) -> str:
    """`auto`: unsloth where it is installed and the run is one CUDA process, else hf."""
    if hw.backend != "auto":
        return hw.backend
    if hw.device == "cuda" and hw.num_processes == 1 and importlib.util.find_spec("unsloth"):
        return "unsloth"
    return "hf"


def torch_dtype(name: str):
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


def check_device(hw: HardwareConfig) -> None:
    """Refuse, in one line, a profile whose device or GPU-only settings this machine lacks."""
    if hw.device == "cuda" and not _cuda():
        raise ForgeError(
            f"hardware.device: 'cuda' (profile {hw.name}) but torch sees no CUDA device",
            hint="use hardware=auto or hardware=cpu on this machine",
        )


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _require_cuda(what: str, key: str) -> None:
    if not _cuda():
        raise ForgeError(
            f"hardware.{key}: {what} needs a CUDA GPU and torch sees none",
            hint=f"use hardware.{key}={'hf' if key == 'backend' else 'none'} on this machine",
        )


def _from_pretrained(cls: Any, path: str, **kw: Any) -> Any:
    """from_pretrained with a missing or unreadable model said in one line. A tokenizer
    forgets `local_files_only`, which transformers records from HF_HUB_OFFLINE and would
    write into every tokenizer_config.json saved from it: a saved model must not depend on
    the environment it was trained in (a fresh clone's dvc.lock matches)."""
    try:
        loaded = cls.from_pretrained(path, **kw)
    except (OSError, ValueError) as exc:
        raise ForgeError(
            f"{path}: cannot load a model from here ({str(exc).splitlines()[0]})",
            hint="check the path, or rerun the stage that writes it (`dvc repro`)",
        ) from exc
    init_kwargs = getattr(loaded, "init_kwargs", None)
    if isinstance(init_kwargs, dict):
        init_kwargs.pop("local_files_only", None)
    return loaded


def load_tokenizer(path: str | Path):
    """The tokenizer saved with a model; it must carry a chat template."""
    from transformers import AutoTokenizer

    tok = _from_pretrained(AutoTokenizer, str(path))
    if tok.chat_template is None:
        raise ForgeError(
            f"{path}: the tokenizer has no chat template",
            hint="pick an instruct model or set one on the base model",
        )
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def from_gguf(path: Path):
    """A .gguf file as a dense fp32 model and its tokenizer, chat template kept (the base
    stage saves both for model.source=local). transformers' GGUF support dequantizes every
    weight on load (GgufConfig(dequantize=True)): a model left in GGUF blocks cannot be
    saved or trained. Needs the `gguf` package."""
    if importlib.util.find_spec("gguf") is None:
        raise ForgeError(
            f"model.path: {path} is a GGUF file and the gguf package is not installed",
            hint="pip install 'forge[gguf]'",
        )
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    where, kw = str(path.parent), {"gguf_file": path.name}
    tokenizer = _from_pretrained(AutoTokenizer, where, **kw)
    model = _from_pretrained(
        AutoModelForCausalLM,
        where,
        dtype=torch.float32,
        quantization_config=GgufConfig(dequantize=True),
        **kw,
    )
    return model, tokenizer


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
            bnb_4bit_compute_dtype=torch_dtype(precision(hw)),
        )
    return BitsAndBytesConfig(load_in_8bit=True)


def for_training(
    path: str, hw: HardwareConfig, adapter: LoraConfig | None, max_length: int, seed: int
):
    """The model a recipe trains: full weights (adapter None) or a base for a LoRA adapter."""
    check_device(hw)
    if backend(hw) == "unsloth":
        return _load_unsloth(path, hw, adapter, max_length, seed)
    from transformers import AutoModelForCausalLM

    if hw.quantization != "none":
        if adapter is None:
            raise ForgeError(
                f"hardware.quantization: '{hw.quantization}' weights cannot be trained in full",
                hint="use a LoRA recipe (QLoRA), e.g. recipe=lora_sft",
            )
        _require_cuda(f"'{hw.quantization}' (bitsandbytes)", "quantization")
        from peft import prepare_model_for_kbit_training

        model = _from_pretrained(
            AutoModelForCausalLM,
            path,
            quantization_config=bnb_config(hw),
            dtype=torch_dtype(precision(hw)),
            device_map={"": int(os.environ.get("LOCAL_RANK", 0))},
        )
        return prepare_model_for_kbit_training(model, use_gradient_checkpointing=True)
    # Full fine-tuning keeps fp32 master weights under bf16/fp16 autocast; a frozen base
    # (LoRA) is stored in the compute precision.
    dtype = torch_dtype(precision(hw) if adapter is not None else "fp32")
    return _from_pretrained(AutoModelForCausalLM, path, dtype=dtype)


def _load_unsloth(
    path: str, hw: HardwareConfig, adapter: LoraConfig | None, max_length: int, seed: int
):
    _require_cuda("'unsloth'", "backend")
    try:
        from unsloth import FastLanguageModel
    except ImportError as exc:
        raise ForgeError(
            "hardware.backend: 'unsloth' is not installed in this environment",
            hint="pip install 'forge[unsloth]' (the GPU images have it), or hardware.backend=hf",
        ) from exc
    model, _tokenizer = FastLanguageModel.from_pretrained(
        model_name=path,
        max_seq_length=max_length,
        dtype=torch_dtype(precision(hw)),
        load_in_4bit=hw.quantization == "4bit",
        load_in_8bit=hw.quantization == "8bit",
        full_finetuning=adapter is None,
    )
    if adapter is None:
        return model
    return FastLanguageModel.get_peft_model(
        model,
        r=adapter.rank,
        lora_alpha=adapter.alpha,
        lora_dropout=adapter.dropout,
        target_modules=list(adapter.target_modules),
        bias="none",
        use_gradient_checkpointing="unsloth",
        random_state=seed,
    )


def lora_config(adapter: LoraConfig):
    from peft import LoraConfig as PeftLoraConfig

    return PeftLoraConfig(
        r=adapter.rank,
        lora_alpha=adapter.alpha,
        lora_dropout=adapter.dropout,
        target_modules=list(adapter.target_modules),
        task_type="CAUSAL_LM",
    )


def peft_config(model: Any, adapter: LoraConfig | None):
    """The LoraConfig a recipe hands its TRL trainer: None for full fine-tuning, and None
    when the backend already put the adapter on the model (Unsloth)."""
    if adapter is None:
        return None
    from peft import PeftModel

    if isinstance(model, PeftModel):
        return None
    return lora_config(adapter)


def reward_model(path: str, hw: HardwareConfig, tokenizer: Any, *, train: bool = False):
    """A one-output sequence classifier: a saved reward model, or a causal LM with a new
    score head (initialised from the recipe seed by the caller's set_seed)."""
    from transformers import AutoModelForSequenceClassification

    check_device(hw)
    dtype = torch_dtype("fp32" if train else precision(hw))
    model = _from_pretrained(AutoModelForSequenceClassification, path, num_labels=1, dtype=dtype)
    model.config.pad_token_id = tokenizer.pad_token_id
    if not train:
        model.to(hw.device).eval()
    return model


def is_adapter(model_dir: Path) -> bool:
    return (model_dir / "adapter_config.json").is_file()


def for_inference(path: str | Path, hw: HardwareConfig, adapter_dir: Path | None = None):
    """A model to generate or score with: `path`'s weights in the compute precision on
    hardware.device, with the LoRA adapter in `adapter_dir` on top, in eval mode."""
    from transformers import AutoModelForCausalLM

    check_device(hw)
    kw: dict[str, Any] = {"dtype": torch_dtype(precision(hw))}
    if hw.quantization != "none":
        _require_cuda(f"'{hw.quantization}' (bitsandbytes)", "quantization")
        kw.update(quantization_config=bnb_config(hw), device_map={"": 0})
    model = _from_pretrained(AutoModelForCausalLM, str(path), **kw)
    if adapter_dir is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter_dir))
    if hw.quantization == "none":
        model.to(hw.device)
    return model.eval()


def device_of(model: Any):
    return next(model.parameters()).device
