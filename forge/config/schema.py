"""Typed schemas for every config group, registered in Hydra's ConfigStore.

A group name is also its `params.yaml` key and its schema class: `model` <-> ModelConfig.
Defaults live here, with their help text, and nowhere else. Fields are declared in
alphabetical order so that the composed `params.yaml` comes out sorted, whether
`forge compose` or `dvc exp run -S` writes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, make_dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


def _f(default: Any, help: str) -> Any:  # noqa: A002 - "help" reads best at the call site
    """A dataclass field with its help text (shown by `forge validate --explain`)."""
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class TinyModelConfig:
    context_length: int = _f(128, "Maximum positions; prompts plus answers must fit.")
    hidden_size: int = _f(128, "Width of the residual stream.")
    intermediate_size: int = _f(256, "Width of the MLP.")
    num_heads: int = _f(4, "Attention heads (hidden_size must divide evenly).")
    num_layers: int = _f(4, "Decoder layers.")
    pretrain_batch_size: int = _f(32, "Sequences per pretraining step.")
    pretrain_learning_rate: float = _f(1e-3, "Peak AdamW learning rate for pretraining.")
    pretrain_steps: int = _f(300, "Steps on generated echo dialogues (0: random init).")
    seed: int = _f(0, "Seeds the tokenizer corpus, the init and pretraining.")
    vocab_size: int = _f(512, "Byte-level BPE vocabulary, special tokens included.")


@dataclass
class ModelConfig:
    hub_id: str | None = _f(None, "Hugging Face repo id, for source=hub.")
    name: str = _f(MISSING, "Short name used in reports and tags.")
    revision: str | None = _f(None, "Pinned hub commit for source=hub (never a branch).")
    source: str = _f(MISSING, "'tiny' builds a small Llama locally; 'hub' resolves hub_id.")
    tiny: TinyModelConfig | None = _f(None, "Architecture for source=tiny.")


@dataclass
class DataConfig:
    format: str = _f(
        "auto",
        "Row schema of data.path: auto (detected from the first record), alpaca, sharegpt, "
        "messages, prompt_completion or preference.",
    )
    name: str = _f(MISSING, "Dataset name, as on its card.")
    path: str = _f(
        MISSING,
        "Raw data file (csv, jsonl, json or parquet), relative to the repo root; its card is "
        "in data/cards/ (forge data add).",
    )
    pii_policy: str | None = _f(
        None,
        "block (fail prepare), redact (write [REDACTED:KIND]) or allow (record only); "
        "None: the strictest policy on the input files' cards.",
    )
    preference_path: str | None = _f(
        None, "Raw preference file (prompt, chosen, rejected); None: no preference split"
    )
    seed: int = _f(0, "Seeds the split assignment.")
    test_fraction: float = _f(0.05, "Share of unique prompts held out for test.")
    val_fraction: float = _f(0.05, "Share of unique prompts held out for validation.")


@dataclass
class WarmStartConfig:
    """The short supervised run (stage sft) that preference and RL methods start from."""

    learning_rate: float = _f(1e-3, "Peak learning rate of the warm start (full SFT).")
    steps: int = _f(0, "Full-SFT steps on the task before this method (0: start from base).")


@dataclass
class RewardModelConfig:
    """The reward model that stage reward trains for methods that optimise against one."""

    learning_rate: float = _f(3e-4, "Peak learning rate of the reward model.")
    steps: int = _f(0, "RewardTrainer steps on the preference split (0: no reward model).")


@dataclass
class RecipeConfig:
    """Shared by every training method; each recipe schema adds its own keys."""

    batch_size: int = _f(32, "Examples per device per optimizer step.")
    eval_steps: int = _f(50, "Validation loss every N steps (0: off).")
    gradient_accumulation_steps: int = _f(1, "Micro-batches per optimizer step.")
    learning_rate: float = _f(MISSING, "Peak learning rate.")
    lr_scheduler: str = _f("cosine", "transformers scheduler name.")
    max_length: int = _f(64, "Tokens per example after the chat template; longer is cut.")
    max_steps: int = _f(MISSING, "Optimizer steps.")
    method: str = _f(MISSING, "Training method; selects the recipe module in forge/train/.")
    reward_model: RewardModelConfig = field(
        default_factory=RewardModelConfig,
        metadata={"help": "Stage reward: the learned reward model (rlhf trains one)."},
    )
    save_steps: int = _f(25, "Checkpoint every N steps; a killed run resumes from the last.")
    seed: int = _f(0, "Seeds init of new weights and data order.")
    warm_start: WarmStartConfig = field(
        default_factory=WarmStartConfig,
        metadata={"help": "Stage sft: supervised warm start before preference or RL methods."},
    )
    warmup_ratio: float = _f(0.05, "Share of steps spent warming up.")
    weight_decay: float = _f(0.0, "AdamW weight decay.")


def _recipe_schema(cls: type) -> type:
    """RecipeConfig's fields plus `cls`'s own, in one flat dataclass with sorted fields
    (subclassing would put the shared keys first and unsort params.yaml)."""
    merged = {f.name: f for f in (*fields(RecipeConfig), *fields(dataclass(cls)))}
    specs = [(name, f.type, f) for name, f in sorted(merged.items())]
    schema = make_dataclass(cls.__name__, specs, namespace={"__doc__": cls.__doc__})
    schema.__module__ = __name__
    return schema


@dataclass
class _Lora:
    """LoRA settings, shared by every recipe that trains an adapter."""

    lora_alpha: int = _f(32, "LoRA scale numerator (scale = alpha / rank).")
    lora_dropout: float = _f(0.0, "Dropout on the LoRA path.")
    lora_rank: int = _f(16, "LoRA rank: higher is more capacity and more memory.")
    lora_target_modules: list[str] = _f(
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        "Linear layers that get adapters.",
    )
    merge_adapter: bool = _f(
        False, "Also write merged full weights to models/candidate/merged/ (checked at evaluate)."
    )


@dataclass
class _Sampling:
    """Online generation settings, shared by the RL recipes (GRPO, RLOO)."""

    beta: float = _f(0.05, "KL penalty against the starting model (0: none; it reward-hacks).")
    max_completion_length: int = _f(12, "Tokens sampled per completion.")
    num_generations: int = _f(8, "Completions per prompt; advantages compare within a group.")
    temperature: float = _f(1.0, "Sampling temperature of the completions.")


@_recipe_schema
class LoraSFTConfig(_Lora):
    """LoRA adapters on a frozen base (forge/train/sft.py)."""


@_recipe_schema
class FullSFTConfig:
    """Every weight is trained (forge/train/sft.py)."""


@_recipe_schema
class DPOConfig(_Lora):
    """Direct preference optimisation, a LoRA adapter on the warm start (forge/train/dpo.py)."""

    beta: float = _f(0.1, "Strength of the pull towards the reference model.")
    loss_type: list[str] = _f(["sigmoid", "sft"], "TRL DPO losses; 'sft' keeps generation alive.")
    loss_weights: list[float] = _f([], "Weight per loss_type entry (empty: all 1.0).")


@_recipe_schema
class RewardModelRecipeConfig:
    """A sequence-classification reward model on preference pairs (forge/train/reward.py)."""

    center_rewards_coefficient: float = _f(0.01, "Pulls rewards towards zero mean.")


@_recipe_schema
class RLHFConfig(_Lora, _Sampling):
    """Online RLOO against the learned reward model of stage reward (forge/train/rlhf.py)."""

    length_penalty: float = _f(
        0.1, "Reward lost per character an answer is off the preferred answer's length."
    )


@_recipe_schema
class GRPOConfig(_Lora, _Sampling):
    """GRPO against the demo task's programmatic reward (forge/train/grpo.py)."""

    reward_function: str = _f(
        "forge.data.demo:reward", "module:function(prompt, answer) -> float, the reward."
    )


@dataclass
class HardwareConfig:
    """A machine profile (conf/hardware/); `hardware=auto` fills it from the detected one."""

    architecture: str = _f("cpu", "cpu, or the GPU's: ampere, ada, hopper, blackwell, turing.")
    backend: str = _f(
        "auto", "Model loading: hf, unsloth (CUDA only), auto (unsloth if installed)."
    )
    device: str = _f(MISSING, "cpu or cuda.")
    launcher: str = _f("basic", "Hydra launcher for sweeps: basic, submitit_slurm, ray, ...")
    launcher_options: dict[str, Any] = _f(
        {}, "hydra.launcher.* settings for sweeps (partition, timeout_min, ...)."
    )
    memory_gb: float = _f(MISSING, "Memory per device, GiB (VRAM; RAM for cpu).")
    mfu: float = _f(0.4, "Assumed model FLOPs utilization, for forge cost.")
    name: str = _f(MISSING, "Profile name.")
    num_processes: int = _f(1, "Training processes (one per GPU); >1 uses accelerate launch.")
    peak_tflops: float = _f(MISSING, "Dense peak TFLOP/s per device at `precision`.")
    precision: str = _f("auto", "auto, bf16, fp16 or fp32 (auto: bf16 where supported).")
    price_per_hour: float = _f(0.0, "USD per device-hour, for forge cost.")
    quantization: str = _f("none", "none, 4bit or 8bit base weights (bitsandbytes, CUDA only).")
    runtime: str = _f(
        "local",
        "Where training runs: local (a child process) or docker (a reused container of the "
        "image for the detected GPU architecture; `forge container status`).",
    )
    strategy: str = _f("ddp", "With num_processes > 1: ddp, fsdp or deepspeed (ZeRO-3).")


@dataclass
class EvalConfig:
    batch_size: int = _f(64, "Prompts per generation batch.")
    limit: int | None = _f(None, "Evaluate only the first N test examples (None: all).")
    max_new_tokens: int = _f(16, "Generation budget per answer.")
    name: str = _f(MISSING, "Eval suite name.")


@dataclass
class GatesConfig:
    allowed_licenses: list[str] | None = _f(
        None,
        "SPDX ids a training dataset's license must be one of (from its card); None: any license.",
    )
    contamination_max: int | None = _f(
        0, "Val and test prompts also found in train (results/prepare/report.json); None: off."
    )
    exact_match_gain_min: float = _f(0.5, "Candidate exact match minus the base model's.")
    exact_match_min: float = _f(MISSING, "Candidate exact match on the test split.")
    name: str = _f(MISSING, "Gate set name.")
    pairwise_accuracy_min: float = _f(
        0.7, "recipe=reward_model: held-out pairs where chosen outscores rejected (replaces EM)."
    )
    perplexity_max: float | None = _f(None, "Candidate perplexity on val (None: no gate).")
    regression_confidence: float = _f(
        0.95, "forge promote: confidence of the paired bootstrap against the stage's model."
    )
    regression_tolerance: float = _f(
        0.02, "forge promote: exact match may drop this much below the stage's model."
    )


@dataclass
class ForgeConfig:
    """The whole tree, as written to params.yaml."""

    data: DataConfig = MISSING
    eval: EvalConfig = MISSING
    gates: GatesConfig = MISSING
    hardware: HardwareConfig = MISSING
    model: ModelConfig = MISSING
    recipe: Any = MISSING  # typed by the recipe option's own schema (RECIPES)


# recipe method -> schema. The recipe YAML names its schema in its defaults list.
RECIPES: dict[str, type[RecipeConfig]] = {
    "lora_sft": LoraSFTConfig,
    "full_sft": FullSFTConfig,
    "dpo": DPOConfig,
    "reward_model": RewardModelRecipeConfig,
    "rlhf": RLHFConfig,
    "grpo": GRPOConfig,
}
GROUPS: dict[str, type] = {
    "data": DataConfig,
    "eval": EvalConfig,
    "gates": GatesConfig,
    "hardware": HardwareConfig,
    "model": ModelConfig,
}


def register() -> None:
    """Put every schema into Hydra's ConfigStore (idempotent)."""
    cs = ConfigStore.instance()
    cs.store(name="forge_schema", node=ForgeConfig)
    for group, node in GROUPS.items():
        cs.store(group=group, name=f"{group}_schema", node=node)
    for method, node in RECIPES.items():
        cs.store(group="recipe", name=f"{method}_schema", node=node)


register()
