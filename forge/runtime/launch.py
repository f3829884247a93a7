"""The training command for `hardware.num_processes`: the worker as is for one process,
wrapped in `accelerate launch` for more (torchrun underneath: NCCL on GPUs, gloo on CPU).

    ddp        --multi_gpu: a full model per process, gradients all-reduced
    fsdp       --use_fsdp: weights, gradients and optimizer state sharded (FULL_SHARD)
    deepspeed  --use_deepspeed --zero_stage 3 (needs the deepspeed package, CUDA only)
"""

from __future__ import annotations

import socket

from forge.config.schema import HardwareConfig
from forge.errors import ForgeError
from forge.hardware.precision import resolve_precision

MIXED_PRECISION = {"bf16": "bf16", "fp16": "fp16", "fp32": "no"}
STRATEGY_FLAGS = {
    "ddp": ["--multi_gpu"],
    "fsdp": [
        "--use_fsdp",
        "--fsdp_sharding_strategy",
        "FULL_SHARD",
        "--fsdp_auto_wrap_policy",
        "TRANSFORMER_BASED_WRAP",
        "--fsdp_state_dict_type",
        "FULL_STATE_DICT",
    ],
    "deepspeed": ["--use_deepspeed", "--zero_stage", "3", "--zero3_save_16bit_model", "true"],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_argv(argv: list[str], hw: HardwareConfig) -> list[str]:
    """`argv` is `[python, -m, module, args...]`; the same run on `hw.num_processes`."""
    if hw.num_processes <= 1:
        return argv
    if len(argv) < 3 or argv[1] != "-m":
        raise ForgeError(
            f"hardware.num_processes={hw.num_processes}: accelerate launch needs a command "
            f"[python, -m, module, ...], got {argv[:3]}"
        )
    python, _, module, *args = argv
    return [
        python,
        "-m",
        "accelerate.commands.launch",
        "--num_processes",
        str(hw.num_processes),
        "--num_machines",
        "1",
        "--mixed_precision",
        MIXED_PRECISION[resolve_precision(hw.precision, hw.device, hw.architecture)],
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(free_port()),
        *STRATEGY_FLAGS[hw.strategy],
        "-m",
        module,
        *args,
    ]
