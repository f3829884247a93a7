"""Model loading by backend, precision and quantization. The CUDA paths (bitsandbytes,
Unsloth) are marked `gpu`; on this CPU the same settings fail with a clear message."""

from __future__ import annotations

from dataclasses import replace

import pytest

from forge.config.schema import HardwareConfig, LoraSFTConfig
from forge.errors import ForgeError
from forge.train import backends

CPU = HardwareConfig(name="cpu", device="cpu", precision="fp32", memory_gb=16, peak_tflops=1)
GPU = replace(CPU, name="gpu", device="cuda", precision="bf16", architecture="ampere")
LORA = LoraSFTConfig(method="lora_sft", learning_rate=1e-4, max_steps=2)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> str:
    from forge.config.schema import TinyModelConfig
    from forge.model import tiny

    out = tmp_path_factory.mktemp("tiny")
    tiny.build(TinyModelConfig(pretrain_steps=0, num_layers=2), out)
    return str(out)


def test_auto_values_resolve_from_this_machine():
    assert backends.resolve_precision(replace(CPU, precision="auto")) == "fp32"
    assert backends.resolve_backend(replace(CPU, backend="auto")) == "hf"
    assert backends.resolve_backend(replace(GPU, backend="auto", num_processes=2)) == "hf"


def test_bitsandbytes_settings():
    import torch

    q4 = backends.bnb_config(replace(GPU, quantization="4bit"))
    assert (q4.load_in_4bit, q4.bnb_4bit_quant_type, q4.bnb_4bit_use_double_quant) == (
        True,
        "nf4",
        True,
    )
    assert q4.bnb_4bit_compute_dtype == torch.bfloat16
    assert backends.bnb_config(replace(GPU, quantization="8bit")).load_in_8bit
    assert backends.bnb_config(GPU) is None


def test_full_fine_tuning_keeps_fp32_master_weights_and_lora_a_half_base(tiny: str):
    import torch

    bf16 = replace(CPU, precision="bf16")
    assert backends.load_model(tiny, bf16).dtype == torch.float32
    model = backends.load_model(tiny, bf16, LORA)
    assert model.dtype == torch.bfloat16
    assert backends.peft_config(model, LORA).r == LORA.lora_rank


@pytest.mark.skipif(_cuda(), reason="checks the refusal on a machine without CUDA")
@pytest.mark.parametrize(
    ("hw", "message"),
    [
        (replace(GPU, quantization="4bit"), r"hardware\.quantization: '4bit' \(bitsandbytes\)"),
        (replace(GPU, backend="unsloth"), r"hardware\.backend: 'unsloth' needs a CUDA GPU"),
    ],
)
def test_gpu_paths_fail_clearly_without_cuda(tiny: str, hw, message):
    with pytest.raises(ForgeError, match=message):
        backends.load_model(tiny, hw, LORA)


@pytest.mark.gpu
@pytest.mark.parametrize("quantization", ["4bit", "8bit"])
def test_qlora_loads_quantized_and_trains(tiny: str, quantization: str):
    pytest.importorskip("bitsandbytes")
    import torch
    from peft import get_peft_model

    hw = replace(GPU, quantization=quantization)
    model = backends.load_model(tiny, hw, LORA)
    layer = model.model.layers[0].self_attn.q_proj
    assert type(layer).__module__.startswith("bitsandbytes")
    model = get_peft_model(model, backends.peft_config(model, LORA))
    ids = torch.randint(0, 100, (2, 16), device="cuda")
    model(input_ids=ids, labels=ids).loss.backward()
    grads = [p.grad for n, p in model.named_parameters() if "lora_" in n]
    assert grads and all(g is not None for g in grads)


@pytest.mark.gpu
def test_unsloth_puts_its_lora_on_the_model(tiny: str):
    pytest.importorskip("unsloth")
    from peft import PeftModel

    model = backends.load_model(tiny, replace(GPU, backend="unsloth"), LORA)
    assert isinstance(model, PeftModel)
    assert backends.peft_config(model, LORA) is None
