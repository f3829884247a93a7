"""Model loading (forge/model/load.py, the one loader) by backend, precision and quantization.
The CUDA paths (bitsandbytes, Unsloth) are marked `gpu`; on this CPU the same settings fail
with a clear message."""

from __future__ import annotations

from dataclasses import replace

import pytest

from forge.config.schema import HardwareConfig, LoraConfig
from forge.errors import ForgeError
from forge.hardware.precision import resolve_precision
from forge.model import load

CPU = HardwareConfig(name="cpu", device="cpu", precision="fp32", memory_gb=16, peak_tflops=1)
GPU = replace(CPU, name="gpu", device="cuda", precision="bf16", architecture="ampere")
LORA = LoraConfig()


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


@pytest.mark.parametrize(
    ("device", "architecture", "expected"),
    [
        ("cpu", "cpu", "fp32"),
        ("cuda", "pre-volta", "fp16"),
        ("cuda", "volta", "fp16"),
        ("cuda", "turing", "fp16"),
        ("cuda", "ampere", "bf16"),
        ("cuda", "ada", "bf16"),
        ("cuda", "hopper", "bf16"),
        ("cuda", "blackwell", "bf16"),
    ],
)
def test_precision_auto_resolves_in_one_place(device: str, architecture: str, expected: str):
    assert resolve_precision("auto", device, architecture) == expected
    hw = replace(CPU, device=device, architecture=architecture, precision="auto")
    assert load.precision(hw) == expected  # the loader asks the same function
    assert resolve_precision("fp16", device, architecture) == "fp16"  # explicit is kept


def test_auto_values_resolve_from_this_machine():
    assert load.precision(replace(CPU, precision="auto")) == "fp32"
    assert load.backend(replace(CPU, backend="auto")) == "hf"
    assert load.backend(replace(GPU, backend="auto", num_processes=2)) == "hf"
    assert load.backend(replace(GPU, backend="unsloth")) == "unsloth"  # explicit is kept


def test_bitsandbytes_settings():
    import torch

    q4 = load.bnb_config(replace(GPU, quantization="4bit"))
    assert (q4.load_in_4bit, q4.bnb_4bit_quant_type, q4.bnb_4bit_use_double_quant) == (
        True,
        "nf4",
        True,
    )
    assert q4.bnb_4bit_compute_dtype == torch.bfloat16
    turing = replace(GPU, quantization="4bit", architecture="turing", precision="auto")
    assert load.bnb_config(turing).bnb_4bit_compute_dtype == torch.float16
    assert load.bnb_config(replace(GPU, quantization="8bit")).load_in_8bit
    assert load.bnb_config(GPU) is None


def test_full_fine_tuning_keeps_fp32_master_weights_and_lora_a_half_base(tiny: str):
    import torch

    bf16 = replace(CPU, precision="bf16")
    assert load.for_training(tiny, bf16, None, 64, 0).dtype == torch.float32
    model = load.for_training(tiny, bf16, LORA, 64, 0)
    assert model.dtype == torch.bfloat16
    peft = load.peft_config(model, LORA)
    assert (peft.r, peft.lora_alpha, peft.lora_dropout) == (LORA.rank, LORA.alpha, LORA.dropout)
    assert set(peft.target_modules) == set(LORA.target_modules)
    assert load.peft_config(model, None) is None  # full fine-tuning: no adapter


def test_inference_loads_in_the_compute_precision_in_eval_mode(tiny: str):
    import torch

    model = load.for_inference(tiny, replace(CPU, precision="bf16"))
    assert model.dtype == torch.bfloat16 and not model.training
    assert load.device_of(model).type == "cpu"


def test_a_missing_model_is_one_line(tmp_path):
    with pytest.raises(ForgeError, match=r"cannot load a model from here"):
        load.for_training(str(tmp_path / "nope"), CPU, None, 64, 0)


def test_quantized_weights_cannot_be_trained_in_full(tiny: str):
    with pytest.raises(ForgeError, match=r"hardware\.quantization: '4bit' weights cannot be"):
        load.for_training(tiny, replace(CPU, quantization="4bit"), None, 64, 0)


@pytest.mark.skipif(_cuda(), reason="checks the refusal on a machine without CUDA")
@pytest.mark.parametrize(
    ("hw", "message"),
    [
        (replace(GPU, quantization="4bit"), r"hardware\.device: 'cuda' \(profile gpu\)"),
        (replace(GPU, backend="unsloth"), r"hardware\.device: 'cuda' \(profile gpu\)"),
        (
            replace(CPU, quantization="4bit"),
            r"hardware\.quantization: '4bit' \(bitsandbytes\) needs a CUDA GPU",
        ),
        (replace(CPU, backend="unsloth"), r"hardware\.backend: 'unsloth' needs a CUDA GPU"),
    ],
)
def test_gpu_paths_fail_clearly_without_cuda(tiny: str, hw, message):
    with pytest.raises(ForgeError, match=message):
        load.for_training(tiny, hw, LORA, 64, 0)


@pytest.mark.gpu
@pytest.mark.parametrize("quantization", ["4bit", "8bit"])
def test_qlora_loads_quantized_and_trains(tiny: str, quantization: str):
    pytest.importorskip("bitsandbytes")
    import torch
    from peft import get_peft_model

    hw = replace(GPU, quantization=quantization)
    model = load.for_training(tiny, hw, LORA, 64, 0)
    layer = model.model.layers[0].self_attn.q_proj
    assert type(layer).__module__.startswith("bitsandbytes")
    model = get_peft_model(model, load.peft_config(model, LORA))
    ids = torch.randint(0, 100, (2, 16), device="cuda")
    model(input_ids=ids, labels=ids).loss.backward()
    grads = [p.grad for n, p in model.named_parameters() if "lora_" in n]
    assert grads and all(g is not None for g in grads)


@pytest.mark.gpu
def test_unsloth_puts_its_lora_on_the_model(tiny: str):
    pytest.importorskip("unsloth")
    from peft import PeftModel

    model = load.for_training(tiny, replace(GPU, backend="unsloth"), LORA, 64, 0)
    assert isinstance(model, PeftModel)
    assert load.peft_config(model, LORA) is None
