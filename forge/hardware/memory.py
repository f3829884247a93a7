"""Training memory per device: weights + gradients + optimizer state + activations.

The formula (docs/hardware.md compares it with published figures), P parameters, T trainable:

    full fine-tuning (fp32 master weights, bf16/fp16 autocast, as Forge trains):
        weights = 4P, gradients = 4T, AdamW = 8T                  (16 bytes/param, ZeRO's 16Ψ)
    LoRA (frozen base in `precision`, fp32 adapters):
        weights = P * w_bytes, gradients = 4T, AdamW = 8T
    QLoRA (4bit nf4 / 8bit bitsandbytes):
        weights = P_linear * q_bytes + P_rest * w_bytes           (q: 0.516 for 4bit, 1 for 8bit)
    activations = L * b * s * h * 34 * w_bytes / 2 + 2 * b * s * V * 4
                  (Korthikanti et al. 2022 per layer, with flash/SDPA attention so no a*s/h score
                  term; plus fp32 logits and their gradient. Gradient checkpointing keeps only
                  each block's input: L * b * s * h * w_bytes.)
    overhead = 1 GiB on CUDA (context, allocator), 0 on CPU

AdamW keeps two fp32 states (8 bytes per trainable parameter); adamw_8bit keeps 2 bytes, sgd 0.
With num_processes > 1 and strategy fsdp or deepspeed (ZeRO-3), weights, gradients and optimizer
state are divided by num_processes; ddp keeps a full copy per device. Activations are per
device (b is the per-device micro-batch).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from forge.errors import BadHubId
from forge.hardware.precision import resolve_precision

GIB = 2**30
BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}
OPTIMIZER_STATE_BYTES = {"adamw": 8, "adamw_8bit": 2, "sgd": 0}  # per trainable parameter
CUDA_OVERHEAD_GIB = 1.0


@dataclass(frozen=True)
class Shape:
    """The dimensions that set a decoder-only transformer's memory."""

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    tied_embeddings: bool = False
    head_dim: int | None = None

    @property
    def _head_dim(self) -> int:
        return self.head_dim or self.hidden_size // self.num_heads

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(in, out) of each linear layer in one decoder block, Llama naming."""
        h, i, d = self.hidden_size, self.intermediate_size, self._head_dim
        return {
            "q_proj": (h, self.num_heads * d),
            "k_proj": (h, self.num_kv_heads * d),
            "v_proj": (h, self.num_kv_heads * d),
            "o_proj": (self.num_heads * d, h),
            "gate_proj": (h, i),
            "up_proj": (h, i),
            "down_proj": (i, h),
        }

    @property
    def linear_params(self) -> int:
        """Parameters in the blocks' linear layers (what 4/8-bit quantization packs)."""
        return self.num_layers * sum(a * b for a, b in self.linear_shapes().values())

    @property
    def params(self) -> int:
        embed = self.vocab_size * self.hidden_size
        norms = self.num_layers * 2 * self.hidden_size + self.hidden_size
        return self.linear_params + embed * (1 if self.tied_embeddings else 2) + norms

    def lora_params(self, rank: int, targets: list[str]) -> int:
        shapes = self.linear_shapes()
        return self.num_layers * sum(rank * sum(shapes[t]) for t in targets if t in shapes)

    @classmethod
    def from_hf_config(cls, c: dict[str, Any]) -> Shape:
        return cls(
            vocab_size=c["vocab_size"],
            hidden_size=c["hidden_size"],
            intermediate_size=c["intermediate_size"],
            num_layers=c["num_hidden_layers"],
            num_heads=c["num_attention_heads"],
            num_kv_heads=c.get("num_key_value_heads") or c["num_attention_heads"],
            tied_embeddings=bool(c.get("tie_word_embeddings", False)),
            head_dim=c.get("head_dim"),
        )


# Shapes of hub models Forge knows without the hub (from each model's config.json).
KNOWN_SHAPES: dict[str, Shape] = {
    "meta-llama/Llama-3.1-8B-Instruct": Shape(128256, 4096, 14336, 32, 32, 8),
    "meta-llama/Llama-3.1-8B": Shape(128256, 4096, 14336, 32, 32, 8),
    "meta-llama/Llama-3.1-70B-Instruct": Shape(128256, 8192, 28672, 80, 64, 8),
    "meta-llama/Llama-2-7b-hf": Shape(32000, 4096, 11008, 32, 32, 32),
    "meta-llama/Llama-2-7b-chat-hf": Shape(32000, 4096, 11008, 32, 32, 32),
    "meta-llama/Llama-2-13b-hf": Shape(32000, 5120, 13824, 40, 40, 40),
    "mistralai/Mistral-7B-v0.1": Shape(32000, 4096, 14336, 32, 32, 8),
    "mistralai/Mistral-7B-Instruct-v0.3": Shape(32768, 4096, 14336, 32, 32, 8),
    "Qwen/Qwen2.5-0.5B-Instruct": Shape(151936, 896, 4864, 24, 14, 2, tied_embeddings=True),
    "Qwen/Qwen2.5-7B-Instruct": Shape(152064, 3584, 18944, 28, 28, 4),
    "huggyllama/llama-65b": Shape(32000, 8192, 22016, 80, 64, 64),
}


def model_shape(model: dict[str, Any]) -> Shape | None:
    """The shape of params.yaml's `model` group; None when it cannot be known offline."""
    if model.get("source") == "tiny" and model.get("tiny"):
        t = model["tiny"]
        return Shape(
            vocab_size=t["vocab_size"],
            hidden_size=t["hidden_size"],
            intermediate_size=t["intermediate_size"],
            num_layers=t["num_layers"],
            num_heads=t["num_heads"],
            num_kv_heads=t["num_heads"],
            tied_embeddings=True,
        )
    if model.get("source") == "local":
        return _local_shape(model.get("path"))
    hub_id = model.get("hub_id")
    if not hub_id:
        return None
    if hub_id in KNOWN_SHAPES:
        return KNOWN_SHAPES[hub_id]
    return _cached_hf_shape(hub_id, model.get("revision"))


def _local_shape(path: Any) -> Shape | None:
    """model.source=local: the config.json of a Hugging Face directory. A .gguf file's
    shape is known only once it is loaded (None: no estimate)."""
    import json
    from pathlib import Path

    config = Path(str(path)) / "config.json" if path else None
    if config is None or not config.is_file():
        return None
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
        return Shape.from_hf_config(data.get("text_config", data))
    except (OSError, ValueError, KeyError):
        return None


def _cached_hf_shape(hub_id: str, revision: str | None) -> Shape | None:
    """config.json from the local Hugging Face cache (never the network)."""
    import json

    try:
        from huggingface_hub import try_to_load_from_cache
        from huggingface_hub.errors import HFValidationError
    except ImportError:
        return None
    try:
        path = try_to_load_from_cache(hub_id, "config.json", revision=revision)
    except HFValidationError as exc:
        raise BadHubId(hub_id) from exc
    if not isinstance(path, str):
        return None
    try:
        config = json.loads(open(path, encoding="utf-8").read())
        return Shape.from_hf_config(config.get("text_config", config))
    except (OSError, ValueError, KeyError):
        return None


@dataclass(frozen=True)
class Plan:
    """What a training run holds in memory; built from the composed config."""

    shape: Shape
    kind: str  # what trains: full, lora or qlora
    batch_size: int  # per device, per micro-step
    seq_len: int
    precision: str  # fp32, bf16, fp16
    optimizer: str = "adamw"
    quantization: str = "none"  # none, 4bit, 8bit
    lora_rank: int = 16
    lora_targets: tuple[str, ...] = ()
    num_processes: int = 1
    strategy: str = "ddp"
    device: str = "cuda"
    gradient_accumulation_steps: int = 1
    gradient_checkpointing: bool = False

    @property
    def effective_batch(self) -> int:
        return self.batch_size * self.gradient_accumulation_steps * self.num_processes


@dataclass(frozen=True)
class Estimate:
    weights_gib: float
    gradients_gib: float
    optimizer_gib: float
    activations_gib: float
    overhead_gib: float
    params: int
    trainable_params: int

    @property
    def total_gib(self) -> float:
        return (
            self.weights_gib
            + self.gradients_gib
            + self.optimizer_gib
            + self.activations_gib
            + self.overhead_gib
        )

    def as_dict(self) -> dict[str, Any]:
        d = {k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(self).items()}
        return {**d, "total_gib": round(self.total_gib, 2)}

    def breakdown(self) -> str:
        return (
            f"weights {self.weights_gib:.1f}, gradients {self.gradients_gib:.1f}, "
            f"optimizer {self.optimizer_gib:.1f}, activations {self.activations_gib:.1f}, "
            f"overhead {self.overhead_gib:.1f}"
        )


def estimate(plan: Plan) -> Estimate:
    s = plan.shape
    w_bytes = BYTES[plan.precision]
    total = s.params
    if plan.quantization in ("4bit", "8bit"):
        q_bytes = 0.5 if plan.quantization == "4bit" else 1.0
        # nf4 stores one fp32 absmax per 64 weights (double quantization: ~0.127 bit/param).
        q_bytes += 0.127 / 8 if plan.quantization == "4bit" else 4 / 4096
        weights = s.linear_params * q_bytes + (total - s.linear_params) * w_bytes
    else:
        weights = total * w_bytes
    if plan.kind == "full":
        trainable = total
        weights = total * 4  # fp32 master weights; autocast makes the bf16/fp16 copies
    else:
        trainable = s.lora_params(plan.lora_rank, list(plan.lora_targets))
        weights += trainable * 4  # peft keeps adapter weights in fp32
    grads = trainable * 4
    opt = trainable * OPTIMIZER_STATE_BYTES[plan.optimizer]
    if plan.num_processes > 1 and plan.strategy in ("fsdp", "deepspeed"):
        weights, grads, opt = (x / plan.num_processes for x in (weights, grads, opt))
    a_bytes = w_bytes
    b, seq, h = plan.batch_size, plan.seq_len, s.hidden_size
    per_layer = seq * b * h * 34 * a_bytes / 2
    if plan.gradient_checkpointing:
        per_layer = seq * b * h * a_bytes  # only each block's input is kept
    logits = 2 * b * seq * s.vocab_size * 4
    activations = s.num_layers * per_layer + logits
    return Estimate(
        weights_gib=weights / GIB,
        gradients_gib=grads / GIB,
        optimizer_gib=opt / GIB,
        activations_gib=activations / GIB,
        overhead_gib=CUDA_OVERHEAD_GIB if plan.device == "cuda" else 0.0,
        params=total,
        trainable_params=trainable,
    )


def plan_from_config(cfg: dict[str, Any]) -> Plan | None:
    """The Plan of a composed config (params.yaml as a dict); None if the model's shape
    cannot be known offline. Raises BadHubId when model.hub_id is not a repo id."""
    shape = model_shape(cfg["model"])
    if shape is None:
        return None
    recipe, hw = cfg["recipe"], cfg["hardware"]
    lora = recipe.get("lora")  # the LoRA sub-config of a recipe that trains an adapter
    quant = hw.get("quantization", "none")
    precision = resolve_precision(hw["precision"], hw["device"], hw.get("architecture", "cpu"))
    return Plan(
        shape=shape,
        kind=("qlora" if quant != "none" else "lora") if lora else "full",
        batch_size=recipe["batch_size"],
        seq_len=recipe["max_length"],
        precision=precision,
        optimizer="adamw",  # Forge trains with TrainingArguments' default, torch AdamW
        quantization=quant,
        lora_rank=lora["rank"] if lora else 0,
        lora_targets=tuple(lora["target_modules"]) if lora else (),
        num_processes=hw["num_processes"],
        strategy=hw["strategy"],
        device=hw["device"],
        gradient_accumulation_steps=recipe["gradient_accumulation_steps"],
    )


LORA_DEFAULTS = {
    "lora_rank": 16,
    "lora_targets": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
}


def _smaller_batches(plan: Plan) -> list[Plan]:
    """The same effective batch with smaller micro-batches, largest first."""
    per_device = plan.batch_size * plan.gradient_accumulation_steps
    return [
        replace(plan, batch_size=b, gradient_accumulation_steps=per_device // b)
        for b in range(plan.batch_size - 1, 0, -1)
        if per_device % b == 0
    ]


def _describe(plan: Plan, base: Plan) -> str:
    changes = []
    if plan.kind != base.kind and base.kind == "full":
        changes.append("recipe=lora_sft")
    if plan.quantization != base.quantization:
        changes.append(f"hardware.quantization={plan.quantization}")
    if plan.num_processes != base.num_processes:
        changes.append(f"hardware.num_processes={plan.num_processes}")
    if plan.strategy != base.strategy:
        changes.append(f"hardware.strategy={plan.strategy}")
    if plan.batch_size != base.batch_size:
        changes.append(f"recipe.batch_size={plan.batch_size}")
        changes.append(f"recipe.gradient_accumulation_steps={plan.gradient_accumulation_steps}")
    return " ".join(changes)


def suggest(plan: Plan, memory_gib: float) -> tuple[str, Estimate] | None:
    """The smallest change that fits, keeping the effective batch: a smaller micro-batch
    (more accumulation), then LoRA, then QLoRA (CUDA only), then sharding over more GPUs."""
    candidates: list[Plan] = []
    lora = replace(plan, kind="lora", **LORA_DEFAULTS) if plan.kind == "full" else plan
    for changed in (
        plan,
        lora,
        replace(lora, kind="qlora", quantization="4bit") if plan.device == "cuda" else None,
    ):
        if changed is None:
            continue
        candidates += [changed] if changed is not plan else []
        candidates += _smaller_batches(changed)
    if plan.device == "cuda" and plan.kind == "full":
        for n in (2, 4, 8, 16, 32, 64):
            if n <= plan.num_processes:
                continue
            per_device = plan.batch_size * plan.gradient_accumulation_steps * plan.num_processes
            if per_device % n:
                continue
            sharded = replace(
                plan,
                num_processes=n,
                strategy="fsdp",
                batch_size=min(plan.batch_size, per_device // n),
            )
            sharded = replace(
                sharded, gradient_accumulation_steps=per_device // n // sharded.batch_size
            )
            candidates += [sharded] + _smaller_batches(sharded)
    for candidate in candidates:
        est = estimate(candidate)
        if est.total_gib <= memory_gib:
            return _describe(candidate, plan), est
    return None


def check(cfg: dict[str, Any]) -> list[str]:
    """'hardware.memory_gb: ...' when the composed plan does not fit one device."""
    hw = cfg.get("hardware") or {}
    if not hw.get("memory_gb") or not cfg.get("model") or not cfg.get("recipe"):
        return []
    known = (
        hw.get("precision") in (*BYTES, "auto")
        and hw.get("quantization") in ("none", "4bit", "8bit")
        and hw.get("strategy") in ("ddp", "fsdp", "deepspeed")
    )
    try:
        plan = plan_from_config(cfg) if known else None  # a bad choice is reported elsewhere
    except BadHubId as exc:
        return exc.problems
    if plan is None:
        return []
    est = estimate(plan)
    if est.total_gib <= hw["memory_gb"]:
        return []
    fix = suggest(plan, hw["memory_gb"])
    hint = (
        f"fits with {fix[0]} (~{fix[1].total_gib:.1f} GiB, same effective batch "
        f"{plan.effective_batch})"
        if fix
        else "no smaller plan fits this profile; pick a larger one (hardware=NAME)"
    )
    return [
        f"hardware.memory_gb: {cfg['recipe'].get('method')} of {cfg['model'].get('name')} needs "
        f"~{est.total_gib:.1f} GiB per device, profile {hw.get('name')} has {hw['memory_gb']:g} "
        f"({est.breakdown()}); {hint}"
    ]
