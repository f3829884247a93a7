"""forge hw, hardware=auto, the hardware checks at compose time, launchers and launch argv."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from forge.config import compose as c
from forge.config.params import load_group
from forge.config.schema import HardwareConfig
from forge.errors import ConfigError, ForgeError
from forge.hardware import detect as d
from forge.hardware.report import lines, report

from .conftest import BIN, ROOT, sh

CONF = ROOT / "conf"


def forge(*args: str, cwd: Path = ROOT):
    return sh(str(BIN / "forge"), *args, cwd=cwd, check=False)


def _gpu(name: str, gib: float, cc: tuple[int, int], **kw) -> d.Gpu:
    total = int(gib * 2**30)
    return d.Gpu(0, name, total, total // 2, cc, **kw)


def test_hw_json_reports_no_gpu_and_auto_is_cpu():
    proc = forge("hw", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert (data["device"], data["gpu_count"], data["gpus"], data["profile"]) == (
        "cpu",
        0,
        [],
        "cpu",
    )
    assert data["cpu"]["cores"] >= 1 and data["cpu"]["memory_total_gib"] > 0
    assert data["driver_version"] is None and data["nvml"] != "ok"
    proc = forge("hw")
    assert proc.stdout.splitlines()[-1] == "hardware=auto resolves to: cpu"


def test_auto_resolves_every_field_of_the_cpu_profile():
    auto = c.to_container(c.compose([], CONF))["hardware"]
    cpu = c.to_container(c.compose(["hardware=cpu"], CONF))["hardware"]
    assert auto == cpu
    assert {"peak_tflops", "price_per_hour", "memory_gb", "num_processes", "strategy"} <= set(auto)
    assert (auto["backend"], auto["quantization"], auto["precision"]) == ("hf", "none", "fp32")


def test_auto_on_a_gpu_machine_takes_the_profile_and_measured_vram(monkeypatch):
    found = d.Detected(profile="ada", gpu_count=2, memory_gb=47.5)
    monkeypatch.setattr(d, "detect", lambda: found)
    hw = c.to_container(c.compose(["recipe=full_sft"], CONF))["hardware"]
    assert (hw["name"], hw["architecture"], hw["device"]) == ("ada", "ada", "cuda")
    assert (hw["memory_gb"], hw["num_processes"], hw["peak_tflops"]) == (47.5, 2, 121)


@pytest.mark.parametrize(
    ("name", "gib", "cc", "profile", "arch"),
    [
        ("NVIDIA A100-SXM4-80GB", 79.2, (8, 0), "a100_80gb", "ampere"),
        ("NVIDIA A100-SXM4-40GB", 39.4, (8, 0), "ampere", "ampere"),
        ("NVIDIA RTX A6000", 47.5, (8, 6), "ampere", "ampere"),
        ("NVIDIA L4", 22.5, (8, 9), "ada", "ada"),
        ("NVIDIA H100 80GB HBM3", 79.6, (9, 0), "h100_80gb", "hopper"),
        ("NVIDIA H200", 139.8, (9, 0), "hopper", "hopper"),
        ("NVIDIA B200", 179.1, (10, 0), "blackwell", "blackwell"),
        ("NVIDIA GeForce RTX 5090", 31.4, (12, 0), "blackwell", "blackwell"),
        ("Tesla T4", 14.6, (7, 5), "cuda_generic", "turing"),
    ],
)
def test_every_gpu_maps_to_a_shipped_profile(name, gib, cc, profile, arch):
    assert d.architecture(cc) == arch
    assert d.profile_for(name, int(gib * 2**30), cc) == profile
    assert (CONF / "hardware" / f"{profile}.yaml").is_file()
    assert d.load_profile(profile, CONF)["architecture"] in (arch, "turing")


def test_report_of_a_gpu_machine_names_health_problems():
    h100 = d.Gpu(
        0,
        "NVIDIA H100 80GB HBM3",
        int(79.6 * 2**30),
        int(10 * 2**30),
        (9, 0),
        utilization_pct=97,
        temperature_c=88,
        ecc_corrected=3,
        ecc_uncorrected=1,
        throttle_reasons=("sw_power_cap", "hw_thermal_slowdown"),
    )
    l4 = replace(_gpu("NVIDIA L4", 22.5, (8, 9), utilization_pct=0, temperature_c=40), index=1)
    machine = d.Machine(
        gpus=(h100, l4),
        driver_version="580.65.06",
        cuda_version="13.0",
        nvml="ok",
        cpu_count=16,
        memory_total_bytes=128 * 2**30,
    )
    data = report(machine)
    h100, l4 = data["gpus"]
    assert (data["device"], data["profile"], data["gpu_count"], data["healthy"]) == (
        "cuda",
        "h100_80gb",
        2,
        False,
    )
    assert (h100["architecture"], h100["compute_capability"], h100["bf16"], h100["fp8"]) == (
        "hopper",
        "9.0",
        True,
        True,
    )
    assert h100["health"] == {
        "ok": False,
        "ecc_errors_corrected": 3,
        "ecc_errors_uncorrected": 1,
        "throttle_reasons": ["sw_power_cap", "hw_thermal_slowdown"],
    }
    assert l4["health"]["ok"] and l4["fp8"] and l4["architecture"] == "ada"
    text = lines(data)
    assert text[1] == "driver: 580.65.06, CUDA 13.0"
    assert text[2] == (
        "gpu 0: NVIDIA H100 80GB HBM3 (hopper, sm 9.0), 10.0/79.6 GiB free, bf16 yes, fp8 yes,"
        " util 97%, 88 C, health DEGRADED (1 uncorrected ECC errors, sw_power_cap,"
        " hw_thermal_slowdown)"
    )
    assert text[-1] == "hardware=auto resolves to: h100_80gb"


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        (
            ["hardware=a100_80gb", "hardware.quantization=4bit"],
            "hardware.quantization: '4bit' (bitsandbytes) needs a CUDA GPU and this machine has "
            "none (see `forge hw`); use hardware.quantization=none here, or compose on the GPU "
            "machine",
        ),
        (
            ["hardware=a100_80gb", "hardware.backend=unsloth"],
            "hardware.backend: 'unsloth' needs a CUDA GPU and this machine has none (see "
            "`forge hw`); use hardware.backend=hf (or auto) here, or compose on the GPU machine",
        ),
        (
            ["hardware.quantization=4bit"],
            "hardware.quantization: '4bit' needs hardware.device=cuda (bitsandbytes kernels); "
            "use quantization=none on cpu",
        ),
        (
            ["hardware.backend=unsloth"],
            "hardware.backend: 'unsloth' needs hardware.device=cuda; use backend=hf on cpu",
        ),
        (
            ["hardware.quantization=2bit"],
            "hardware.quantization: '2bit' is not one of none, 4bit, 8bit",
        ),
        (["hardware.backend=vllm"], "hardware.backend: 'vllm' is not one of auto, hf, unsloth"),
        (
            ["hardware=cuda_generic", "hardware.precision=bf16"],
            "hardware.precision: 'bf16' is not supported on turing GPUs (compute capability "
            "< 8.0); use hardware.precision=fp16",
        ),
        (
            ["hardware.num_processes=2", "hardware.strategy=fsdp"],
            "hardware.strategy: 'fsdp' needs CUDA; use hardware.strategy=ddp for several CPU "
            "processes",
        ),
        (["hardware.num_processes=0"], "hardware.num_processes: 0 is outside [1, inf)"),
    ],
)
def test_hardware_problems_name_the_key(overrides, problem):
    with pytest.raises(ConfigError) as exc:
        c.compose(overrides, CONF)
    assert problem in exc.value.problems


def test_gpu_paths_refused_on_a_gpu_machine_only_for_full_training(monkeypatch):
    monkeypatch.setattr(d, "detect", lambda: d.Detected("a100_80gb", 1, 79.2))
    c.compose(["hardware=a100_80gb", "hardware.quantization=4bit"], CONF)  # QLoRA: fine
    with pytest.raises(ConfigError) as exc:
        c.compose(["hardware=a100_80gb", "hardware.quantization=4bit", "recipe=full_sft"], CONF)
    assert exc.value.problems == [
        "hardware.quantization: '4bit' weights cannot be trained in full (recipe full_sft); "
        "use a LoRA recipe (QLoRA), e.g. recipe=lora_sft"
    ]


def test_validate_refuses_a_7b_full_sft_on_one_a100_and_accepts_lora():
    proc = forge("validate", "model=llama3_1_8b_instruct", "hardware=a100_80gb", "recipe=full_sft")
    assert proc.returncode == 2
    assert proc.stderr.startswith(
        "forge: error: hardware.memory_gb: full_sft of llama-3.1-8b-instruct needs ~131.1 GiB "
        "per device, profile a100_80gb has 80 (weights 29.9, gradients 29.9, optimizer 59.8, "
    )
    assert "; fits with recipe=lora_sft (~27.0 GiB, same effective batch 32)\n" in proc.stderr
    proc = forge("validate", "model=llama3_1_8b_instruct", "hardware=a100_80gb", "recipe=lora_sft")
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout.startswith("valid: recipe=lora_sft model=llama-3.1-8b-instruct")


def test_cost_reports_time_money_and_memory():
    proc = forge("cost", "model=llama3_1_8b_instruct", "hardware=h100_80gb", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    tokens = 200 * 32 * 64  # max_steps x effective batch x max_length (lora_sft defaults)
    assert data["tokens"] == tokens
    assert data["flops_per_token"] == pytest.approx(4 * 8.03e9, rel=0.01)
    assert data["seconds"] == pytest.approx(tokens * data["flops_per_token"] / (989e12 * 0.4))
    assert data["dollars"] == pytest.approx(data["seconds"] / 3600 * 3.0)
    assert data["memory"]["available_gib"] == 80


def test_launch_argv_wraps_the_worker_in_accelerate_launch():
    from forge.runtime.launch import launch_argv

    argv = [sys.executable, "-m", "forge.train.worker", "run.json"]
    hw = HardwareConfig(name="cpu", device="cpu", precision="fp32", memory_gb=16, peak_tflops=1)
    assert launch_argv(argv, hw) == argv
    two = launch_argv(argv, replace(hw, num_processes=2))
    assert two[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    assert two[two.index("--num_processes") + 1] == "2" and "--multi_gpu" in two
    assert two[-3:] == ["-m", "forge.train.worker", "run.json"]
    fsdp = launch_argv(argv, replace(hw, num_processes=8, strategy="fsdp", precision="bf16"))
    assert "--use_fsdp" in fsdp and fsdp[fsdp.index("--mixed_precision") + 1] == "bf16"


@pytest.mark.parametrize(
    ("device", "architecture", "mixed"),
    [("cuda", "hopper", "bf16"), ("cuda", "ampere", "bf16"), ("cuda", "turing", "fp16"),
     ("cpu", "cpu", "no")],
)  # fmt: skip
def test_launch_resolves_precision_auto_as_the_loader_does(device, architecture, mixed):
    from forge.runtime.launch import launch_argv

    argv = [sys.executable, "-m", "forge.train.worker", "run.json"]
    hw = HardwareConfig(
        name="x", device=device, architecture=architecture, precision="auto", memory_gb=16,
        peak_tflops=1, num_processes=2,
    )  # fmt: skip
    out = launch_argv(argv, hw)
    assert out[out.index("--mixed_precision") + 1] == mixed


def _profile(name: str, tmp: Path) -> HardwareConfig:
    """A profile as the train stage sees it: composed, written, loaded back typed."""
    path = tmp / "params.yaml"
    c.write(path, [f"hardware={name}"], CONF)
    return load_group("hardware", path)


def test_slurm_profile_selects_the_submitit_launcher(tmp_path: Path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    from hydra import compose, initialize_config_dir

    from forge.hardware.launchers import sweep_overrides

    overrides = sweep_overrides(_profile("slurm", tmp_path))
    assert overrides[0] == "hydra/launcher=submitit_slurm"
    assert "hydra.launcher.partition=gpu" in overrides
    with initialize_config_dir(str(CONF), version_base=None):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.gpus_per_node, launcher.timeout_min, launcher.tasks_per_node) == (8, 720, 1)


def test_ray_profile_needs_its_plugin(tmp_path: Path):
    from forge.hardware.launchers import sweep_overrides

    hw = _profile("ray", tmp_path)
    try:
        import hydra_plugins.hydra_ray_launcher  # noqa: F401
    except ImportError:
        with pytest.raises(ForgeError, match=r"needs hydra-ray-launcher.*forge\[launchers\]"):
            sweep_overrides(hw)
        return
    assert sweep_overrides(hw) == [
        "hydra/launcher=ray",
        "hydra.launcher.ray.init.address=auto",
        "hydra.launcher.ray.remote.num_gpus=1",
        "hydra.launcher.ray.remote.num_cpus=8",
    ]
