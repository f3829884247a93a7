"""Export (recipe.lora.merge: true): fold a LoRA adapter into its base weights and
write full weights to <candidate>/merged/, loadable without PEFT; and the smoke check
that the merged model's greedy answers equal the adapter's (run by stage evaluate)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from forge.config.schema import HardwareConfig
from forge.errors import ForgeError
from forge.model import load

MERGED = "merged"


def merge(start: str, adapter_dir: Path, hw: HardwareConfig) -> str:
    """Write adapter_dir/merged/ (weights and tokenizer); returns its relative name."""
    fp32 = replace(hw, precision="fp32", quantization="none")  # merge in full precision
    merged = load.for_inference(start, fp32, adapter_dir).merge_and_unload()
    out = adapter_dir / MERGED
    merged.save_pretrained(str(out))
    load.load_tokenizer(adapter_dir).save_pretrained(str(out))
    return MERGED


def greedy(model: Any, tokenizer: Any, conversations: list[list[dict]], max_new_tokens: int):
    """Greedy answers to conversations (each ending with the user's turn)."""
    import torch

    tokenizer.padding_side = "left"
    device = load.device_of(model)
    enc = tokenizer.apply_chat_template(
        conversations,
        add_generation_prompt=True,
        tokenize=True,
        padding=True,
        return_tensors="pt",
        return_dict=True,
    )
    enc = {k: v.to(device) for k, v in enc.items()}
    with torch.no_grad():
        out = model.generate(
            **enc,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    return tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)


def check_merged(
    start: str,
    candidate: Path,
    conversations: list[list[dict]],
    max_new: int,
    hw: HardwareConfig,
) -> int:
    """Raise unless merged and adapter give the same greedy answers; returns the count."""
    tokenizer = load.load_tokenizer(candidate)
    a = greedy(load.for_inference(start, hw, candidate), tokenizer, conversations, max_new)
    m = greedy(load.for_inference(candidate / MERGED, hw), tokenizer, conversations, max_new)
    diff = [(c[-1]["content"], x, y) for c, x, y in zip(conversations, a, m, strict=True) if x != y]
    if diff:
        prompt, x, y = diff[0]
        raise ForgeError(
            f"{candidate / MERGED}: merged weights answer differently from the adapter on "
            f"{len(diff)} of {len(a)} prompts (first: {prompt!r}: adapter {x!r}, merged {y!r})",
            hint="set recipe.lora.merge: false, or check the base the adapter was trained on",
        )
    return len(a)
