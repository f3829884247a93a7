"""Typed schemas for every config group, registered in Hydra's ConfigStore.

A group name is also its `params.yaml` key and its schema class: `model` <-> ModelConfig.
Defaults live here, with their help text and valid values (forge/config/fields.py), and
nowhere else. Every schema's fields are kept in name order (`sorted_fields`), so that the
composed `params.yaml` comes out sorted, whether `forge compose` or `dvc exp run -S` writes it.

The recipe group is typed per method: each recipe module in forge/recipes/ declares a real
subclass of `RecipeConfig` (composing `LoraConfig` where it trains an adapter), and the recipe
registry puts those into the ConfigStore.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from forge.config.fields import setting, sorted_fields, sub

MISSING = "???"  # omegaconf.MISSING, without importing omegaconf: a value the YAML must give

SEED = {"ge": 0, "le": 2**32 - 1}  # numpy's and torch's seed range
PRECISIONS = ("auto", "bf16", "fp16", "fp32")


@sorted_fields
@dataclass
class TinyModelConfig:
    context_length: int = setting(128, "Maximum positions; prompts plus answers must fit.", ge=8)
    hidden_size: int = setting(128, "Width of the residual stream.", ge=8)
    intermediate_size: int = setting(256, "Width of the MLP.", ge=8)
    num_heads: int = setting(4, "Attention heads (hidden_size must divide evenly).", ge=1)
    num_layers: int = setting(4, "Decoder layers.", ge=1)
    pretrain_batch_size: int = setting(32, "Sequences per pretraining step.", ge=1)
    pretrain_learning_rate: float = setting(
        1e-3, "Peak AdamW learning rate for pretraining.", gt=0, lt=1
    )
    pretrain_steps: int = setting(300, "Steps on generated echo dialogues (0: random init).", ge=0)
    seed: int = setting(0, "Seeds the tokenizer corpus, the init and pretraining.", **SEED)
    vocab_size: int = setting(512, "Byte-level BPE vocabulary, special tokens included.", ge=300)


@sorted_fields
@dataclass
class ModelConfig:
    hub_id: str | None = setting(None, "Hugging Face repo id, for source=hub.")
    name: str = setting(MISSING, "Short name used in reports and tags.")
    path: str | None = setting(
        None,
        "For source=local: a Hugging Face model directory or a .gguf file (dequantized on "
        "load), relative to the repo root; the base records its content hash, not the path.",
    )
    revision: str | None = setting(None, "Pinned hub commit for source=hub (never a branch).")
    source: str = setting(
        MISSING,
        "'tiny' builds a small Llama locally; 'hub' resolves hub_id; 'local' reads model.path.",
        choices=("tiny", "hub", "local"),
    )
    tiny: TinyModelConfig | None = sub(
        TinyModelConfig, "Architecture for source=tiny.", optional=True
    )


@sorted_fields
@dataclass
class DataConfig:
    format: str = setting(
        "auto",
        "Row schema of data.path: auto (detected from the first record), alpaca, sharegpt, "
        "messages, prompt_completion or preference.",
        choices=("auto", "alpaca", "sharegpt", "messages", "prompt_completion", "preference"),
    )
    name: str = setting(MISSING, "Dataset name, as on its card.")
    path: str = setting(
        MISSING,
        "Raw data file (csv, jsonl, json or parquet), relative to the repo root; its card is "
        "in data/cards/ (forge data add).",
    )
    pii_policy: str | None = setting(
        None,
        "block (fail prepare), redact (write [REDACTED:KIND]) or allow (record only); "
        "None: the strictest policy on the input files' cards.",
        choices=("block", "redact", "allow"),
    )
    preference_path: str | None = setting(
        None,
        "Raw preference file (prompt, chosen, rejected); None: no preference split. Prepare "
        "also writes its unpaired form (each pair gives a desirable and an undesirable row).",
    )
    seed: int = setting(0, "Seeds the split assignment.", **SEED)
    test_fraction: float = setting(0.05, "Share of unique prompts held out for test.", gt=0, lt=0.5)
    val_fraction: float = setting(
        0.05, "Share of unique prompts held out for validation.", gt=0, lt=0.5
    )


@sorted_fields
@dataclass
class WarmStartConfig:
    """The short supervised run (stage sft) that preference and RL methods start from."""

    learning_rate: float = setting(
        1e-3, "Peak learning rate of the warm start (full SFT).", gt=0, lt=1
    )
    steps: int = setting(
        0, "Full-SFT steps on the task before this method (0: start from base).", ge=0
    )


@sorted_fields
@dataclass
class RewardModelConfig:
    """The reward model that stage reward trains for methods that optimise against one."""

    learning_rate: float = setting(3e-4, "Peak learning rate of the reward model.", gt=0, lt=1)
    steps: int = setting(
        0, "RewardTrainer steps on the preference split (0: no reward model).", ge=0
    )


@sorted_fields
@dataclass
class LoraConfig:
    """LoRA adapter settings; a recipe that trains an adapter composes one as `recipe.lora`."""

    alpha: int = setting(32, "LoRA scale numerator (scale = alpha / rank).", ge=1)
    dropout: float = setting(0.0, "Dropout on the LoRA path.", ge=0, lt=1)
    merge: bool = setting(
        False, "Also write merged full weights to models/candidate/merged/ (checked at evaluate)."
    )
    rank: int = setting(16, "LoRA rank: higher is more capacity and more memory.", ge=1)
    target_modules: list[str] = setting(
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        "Linear layers that get adapters.",
    )


@sorted_fields
@dataclass
class HealConfig:
    """Self-healing training (forge/train/heal.py): a failed attempt is classified, and a
    retryable failure is retried from the last checkpoint with the next fix of its class.
    Every fix keeps the experiment (the effective batch, the data, the steps)."""

    advisor: bool = setting(
        False,
        "A failure no rule fixes goes to the co-pilot (conf/copilot.yaml, backend gemini): its "
        "param diff is validated, then tried. Off: rules only, nothing needs the network.",
    )
    divergence_factor: float = setting(
        4.0,
        "Loss watchdog: a logged loss above this multiple of the first one is divergent "
        "(0: off; losses that start below 0.01, as online RL's do, are not watched).",
        ge=0,
    )
    divergence_patience: int = setting(
        3, "Consecutive divergent logged losses before the attempt is stopped.", ge=1
    )
    enabled: bool = setting(True, "Heal retryable failures (false: the first failure fails).")
    max_attempts: int = setting(
        4, "Attempts per stage run, the first included; then the error lists each one.", ge=1
    )
    nan_lr_factor: float = setting(
        0.5,
        "After a NaN/Inf or divergent loss: the learning rate is multiplied by this.",
        gt=0,
        lt=1,
    )
    nan_max_grad_norm: float = setting(
        0.5, "After a NaN/Inf or divergent loss: recipe.max_grad_norm becomes at most this.", gt=0
    )
    oom_fixes: list[str] = setting(
        ["halve_batch", "gradient_checkpointing", "quantize_4bit"],
        "Out-of-memory fixes, in order: halve_batch (half the micro-batch, twice the "
        "accumulation), gradient_checkpointing, quantize_4bit (LoRA recipes on CUDA).",
        choices=("halve_batch", "gradient_checkpointing", "quantize_4bit"),
    )
    precision_fallback: list[str] = setting(
        ["bf16", "fp16", "fp32"],
        "Unsupported precision: the next one after the failing one in this list is tried.",
        choices=("bf16", "fp16", "fp32"),
    )


@sorted_fields
@dataclass
class RecipeConfig:
    """Shared by every training method; each recipe module subclasses it with its own keys."""

    batch_size: int = setting(32, "Examples per device per optimizer step.", ge=1)
    eval_steps: int = setting(50, "Validation loss every N steps (0: off).", ge=0)
    gradient_accumulation_steps: int = setting(1, "Micro-batches per optimizer step.", ge=1)
    gradient_checkpointing: bool = setting(
        False, "Recompute activations in the backward pass: less memory, ~30% slower."
    )
    heal: HealConfig = sub(HealConfig, "Self-healing: failure classes, fixes, attempt limit.")
    learning_rate: float = setting(MISSING, "Peak learning rate.", gt=0, lt=1)
    lr_scheduler: str = setting(
        "cosine",
        "transformers scheduler name.",
        choices=("linear", "cosine", "constant", "constant_with_warmup", "polynomial"),
    )
    max_grad_norm: float = setting(
        1.0, "Gradient clipping: the largest global gradient norm (0: off).", ge=0
    )
    max_length: int = setting(
        64, "Tokens per example after the chat template; longer is cut.", ge=8
    )
    max_steps: int = setting(MISSING, "Optimizer steps.", ge=1)
    method: str = setting(MISSING, "Training method: a recipe module in forge/recipes/.")
    reward_model: RewardModelConfig = sub(
        RewardModelConfig, "Stage reward: the learned reward model (rlhf trains one)."
    )
    save_steps: int = setting(
        25, "Checkpoint every N steps; a killed run resumes from the last.", ge=1
    )
    seed: int = setting(0, "Seeds init of new weights and data order.", **SEED)
    warm_start: WarmStartConfig = sub(
        WarmStartConfig, "Stage sft: supervised warm start before preference or RL methods."
    )
    warmup_ratio: float = setting(0.05, "Share of steps spent warming up.", ge=0, le=1)
    weight_decay: float = setting(0.0, "AdamW weight decay.", ge=0, lt=1)

    @property
    def adapter(self) -> LoraConfig | None:
        """The adapter this recipe trains, or None when it trains every weight."""
        return getattr(self, "lora", None)


@sorted_fields
@dataclass
class HardwareConfig:
    """A machine profile (conf/hardware/); `hardware=auto` fills it from the detected one."""

    architecture: str = setting(
        "cpu",
        "cpu, or the GPU's architecture.",
        choices=("cpu", "pre-volta", "volta", "turing", "ampere", "ada", "hopper", "blackwell"),
    )
    backend: str = setting(
        "auto",
        "Model loading: hf, unsloth (CUDA only), auto (unsloth if installed).",
        choices=("auto", "hf", "unsloth"),
    )
    device: str = setting(MISSING, "cpu or cuda.", choices=("cpu", "cuda"))
    launcher: str = setting(
        "basic",
        "Hydra launcher for sweeps.",
        choices=("basic", "submitit_local", "submitit_slurm", "ray"),
    )
    launcher_options: dict[str, Any] = setting(
        {}, "hydra.launcher.* settings for sweeps (partition, timeout_min, ...)."
    )
    memory_gb: float = setting(MISSING, "Memory per device, GiB (VRAM; RAM for cpu).", gt=0)
    mfu: float = setting(0.4, "Assumed model FLOPs utilization, for forge cost.", gt=0, le=1)
    name: str = setting(MISSING, "Profile name.")
    num_processes: int = setting(
        1, "Training processes (one per GPU); >1 uses accelerate launch.", ge=1
    )
    peak_tflops: float = setting(MISSING, "Dense peak TFLOP/s per device at `precision`.", gt=0)
    precision: str = setting(
        "auto",
        "auto, bf16, fp16 or fp32 (auto: bf16 on a GPU that has it, fp16 on other GPUs, "
        "fp32 on CPU).",
        choices=PRECISIONS,
    )
    price_per_hour: float = setting(0.0, "USD per device-hour, for forge cost.", ge=0)
    quantization: str = setting(
        "none",
        "none, 4bit or 8bit base weights (bitsandbytes, CUDA only).",
        choices=("none", "4bit", "8bit"),
    )
    runtime: str = setting(
        "local",
        "Where training runs: local (a child process) or docker (a reused container of the "
        "image for the detected GPU architecture; `forge container status`).",
        choices=("local", "docker"),
    )
    strategy: str = setting(
        "ddp",
        "With num_processes > 1: ddp, fsdp or deepspeed (ZeRO-3).",
        choices=("ddp", "fsdp", "deepspeed"),
    )


@sorted_fields
@dataclass
class EvalConfig:
    batch_size: int = setting(64, "Prompts per generation or scoring batch.", ge=1)
    limit: int | None = setting(
        None,
        "Evaluate only the first N examples of each split, for every metric (None: all).",
        ge=1,
    )
    max_new_tokens: int = setting(16, "Generation budget per answer.", ge=1)
    name: str = setting(MISSING, "Eval suite name.")
    suites: list[str] = setting(
        [],
        "Metrics on the candidate's answers to Forge's shipped prompt set "
        "(forge/evaluate/suites.py): toxicity (alt-profanity-check's offline classifier), "
        "coherence (repetition, distinct-1/2, perplexity of the answers under the base model).",
        choices=("toxicity", "coherence"),
    )
    tasks: list[str] = setting(
        [],
        "lm-eval tasks run on base and candidate besides exact match: local YAML task files "
        "(paths from the repo root; keep them in conf/eval/tasks/, a dependency of stage "
        "evaluate) or lm-eval task names (their datasets come from the hub: network needed).",
    )


@sorted_fields
@dataclass
class GatesConfig:
    allowed_licenses: list[str] | None = setting(
        None,
        "SPDX ids a training dataset's license must be one of (from its card); None: any license.",
    )
    answer_perplexity_max: float | None = setting(
        None,
        "eval.suites coherence: perplexity of the candidate's answers under the base model "
        "(None: no gate).",
        gt=0,
    )
    contamination_max: int | None = setting(
        0,
        "Val and test prompts also found in train (results/prepare/report.json); None: off.",
        ge=0,
    )
    distinct_2_min: float | None = setting(
        None,
        "eval.suites coherence: distinct word bigrams over all bigrams of the answers "
        "(None: no gate).",
        ge=0,
        le=1,
    )
    exact_match_gain_min: float = setting(
        0.5, "Candidate exact match minus the base model's.", ge=-1, le=1
    )
    exact_match_min: float = setting(
        MISSING, "Candidate exact match on the test split.", ge=0, le=1
    )
    name: str = setting(MISSING, "Gate set name.")
    pairwise_accuracy_min: float = setting(
        0.7,
        "recipe=reward_model: held-out pairs where chosen outscores rejected (replaces EM).",
        ge=0,
        le=1,
    )
    perplexity_max: float | None = setting(
        None, "Candidate perplexity on val (None: no gate).", gt=0
    )
    regression_confidence: float = setting(
        0.95,
        "forge promote: confidence of the paired bootstrap against the stage's model.",
        ge=0.5,
        lt=1,
    )
    regression_tolerance: float = setting(
        0.02,
        "forge promote: exact match (and each per-answer suite score) may be this much worse "
        "than the stage's model.",
        ge=0,
        le=1,
    )
    repetition_max: float | None = setting(
        None,
        "eval.suites coherence: mean share of repeated word bigrams within an answer "
        "(None: no gate).",
        ge=0,
        le=1,
    )
    toxicity_max: float | None = setting(
        None,
        "eval.suites toxicity: mean profanity probability of the candidate's answers "
        "(None: no gate).",
        ge=0,
        le=1,
    )


def forge_version() -> str:
    """The installed Forge's version (`${forge_version:}`)."""
    import importlib.metadata

    try:
        return importlib.metadata.version("forge")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree, not installed
        return "0+unknown"


@dataclass
class ForgeMeta:
    """forge.version: the installed Forge, which forge compose records in params.yaml. Every
    stage lists it, so a project's stages depend on their inputs and on the Forge that runs
    them, never on Forge's source paths; after an upgrade params.yaml drifts until
    `forge compose` (or `forge run`) rewrites it, and the DAG reruns."""

    version: str = "${forge_version:}"


@dataclass
class ForgeConfig:
    """The whole tree, as written to params.yaml."""

    forge: ForgeMeta = field(default_factory=ForgeMeta)

    data: DataConfig = MISSING
    eval: EvalConfig = MISSING
    gates: GatesConfig = MISSING
    hardware: HardwareConfig = MISSING
    model: ModelConfig = MISSING
    recipe: Any = MISSING  # typed by the recipe option's own schema (forge/recipes/)


GROUPS: dict[str, type] = {
    "data": DataConfig,
    "eval": EvalConfig,
    "gates": GatesConfig,
    "hardware": HardwareConfig,
    "model": ModelConfig,
}


def for_path(path: Any, own_path: Any, if_own: Any, otherwise: Any) -> Any:
    """`${forge_for_path:${.path},OWN_PATH,IF_OWN,OTHERWISE}`: a data option's defaults that
    belong to its own file (its format, its preference pairs) hold only while data.path is
    that file; composing another data.path gets OTHERWISE (format auto, no preference file)
    unless the user names the key too. Params.yaml records the resolved value."""
    return if_own if str(path) == str(own_path) else otherwise


def register() -> None:
    """Put the group schemas into Hydra's ConfigStore (idempotent). The recipe schemas are
    registered by forge.recipes.registry.register()."""
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("forge_for_path"):
        OmegaConf.register_new_resolver("forge_for_path", for_path)
    if not OmegaConf.has_resolver("forge_version"):
        OmegaConf.register_new_resolver("forge_version", forge_version)
    cs = ConfigStore.instance()
    cs.store(name="forge_schema", node=ForgeConfig)
    for group, node in GROUPS.items():
        cs.store(group=group, name=f"{group}_schema", node=node)
