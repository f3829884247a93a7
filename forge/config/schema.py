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
    format: str = _f("auto", "Row schema: auto, prompt_completion or messages.")
    name: str = _f(MISSING, "Dataset name, as on its card.")
    path: str = _f(MISSING, "Raw data file (jsonl), relative to the repo root.")
    seed: int = _f(0, "Seeds the split assignment.")
    test_fraction: float = _f(0.05, "Share of unique prompts held out for test.")
    val_fraction: float = _f(0.05, "Share of unique prompts held out for validation.")


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
    save_steps: int = _f(25, "Checkpoint every N steps; a killed run resumes from the last.")
    seed: int = _f(0, "Seeds init of new weights and data order.")
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


@_recipe_schema
class LoraSFTConfig:
    """LoRA adapters on a frozen base (forge/train/sft.py)."""

    lora_alpha: int = _f(32, "LoRA scale numerator (scale = alpha / rank).")
    lora_dropout: float = _f(0.0, "Dropout on the LoRA path.")
    lora_rank: int = _f(16, "LoRA rank: higher is more capacity and more memory.")
    lora_target_modules: list[str] = _f(
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        "Linear layers that get adapters.",
    )


@_recipe_schema
class FullSFTConfig:
    """Every weight is trained (forge/train/sft.py)."""


@dataclass
class HardwareConfig:
    device: str = _f(MISSING, "cpu or cuda.")
    name: str = _f(MISSING, "Profile name.")
    precision: str = _f(MISSING, "fp32, bf16 or fp16.")
    runtime: str = _f("local", "Where training runs: local (a child process).")


@dataclass
class EvalConfig:
    batch_size: int = _f(64, "Prompts per generation batch.")
    limit: int | None = _f(None, "Evaluate only the first N test examples (None: all).")
    max_new_tokens: int = _f(16, "Generation budget per answer.")
    name: str = _f(MISSING, "Eval suite name.")


@dataclass
class GatesConfig:
    exact_match_gain_min: float = _f(0.5, "Candidate exact match minus the base model's.")
    exact_match_min: float = _f(MISSING, "Candidate exact match on the test split.")
    name: str = _f(MISSING, "Gate set name.")
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
RECIPES: dict[str, type[RecipeConfig]] = {"lora_sft": LoraSFTConfig, "full_sft": FullSFTConfig}
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
