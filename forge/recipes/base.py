"""What a recipe is. Each training method is one module in forge/recipes/ that declares:

- its config: a dataclass subclassing `RecipeConfig` (composing `LoraConfig` as `lora` where
  it trains an adapter), the schema of `conf/recipe/<name>.yaml`;
- its `train(cfg, run) -> facts`: build the TRL trainer from `cfg` and the pieces `run` gives
  (the model through the one loader, TrainingArguments, dvclive, checkpoints), and fit;
- its data kind: which prepared split it reads;
- whether it needs a warm start (stage sft) or a learned reward model (stage reward);
- the metric families evaluate computes for it.

`RECIPE = Recipe(...)` at the bottom of the module is the declaration; forge/recipes/registry.py
collects them. Nothing else in Forge names a method.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from forge.config.schema import HardwareConfig, RecipeConfig


class DataKind(StrEnum):
    """The prepared split a recipe trains on (data/prepared/, written by stage prepare)."""

    SFT = "sft"  # {train,val}.jsonl: chat messages
    PREFERENCE = "preference"  # preference/{train,val}.jsonl: prompt, chosen, rejected
    UNPAIRED = "unpaired_preference"  # unpaired/{train,val}.jsonl: prompt, completion, label
    PROMPTS = "prompts"  # {train,val}.jsonl's user turns, answered online

    def files(self, data: Path) -> dict[str, Path]:
        """The files this kind reads (recorded and fingerprinted with each run)."""
        folder = {DataKind.PREFERENCE: "preference", DataKind.UNPAIRED: "unpaired"}.get(self)
        d, prefix = (data / folder, f"{folder}_") if folder else (data, "")
        return {f"{prefix}train": d / "train.jsonl", f"{prefix}val": d / "val.jsonl"}


class Metric(StrEnum):
    """Metric families evaluate computes (forge/evaluate/run.py implements each)."""

    GENERATION = "generation"  # exact match on test (lm-eval) and perplexity on val
    IMPLICIT_REWARD = "implicit_reward"  # beta * log(policy / start) on held-out pairs
    PAIRWISE_REWARD = "pairwise_reward"  # a reward model's ranking of held-out pairs


class Run(Protocol):
    """What a recipe's train() gets from the training worker (forge/train/run.py)."""

    hardware: HardwareConfig
    data: Path  # data/prepared
    start: str  # the model training starts from (models/sft or models/base)
    reward_model: Path | None  # stage reward's model, for recipes that need one

    def tokenizer(self) -> Any: ...

    def model(self, cfg: RecipeConfig) -> Any:
        """The model to train, through the one loader (adapter-aware)."""
        ...

    def reward_model_to_train(self, tokenizer: Any) -> Any: ...

    def peft_config(self, model: Any, cfg: RecipeConfig) -> Any: ...

    def args(self, cfg: RecipeConfig, has_eval: bool) -> dict[str, Any]:
        """Keyword arguments shared by every TRL *Config (they extend TrainingArguments)."""
        ...

    def callbacks(self) -> list[Any]: ...

    def fit(self, trainer: Any, adapter: bool) -> dict[str, Any]:
        """Train (resuming from the last checkpoint), save model and tokenizer; the facts."""
        ...


@dataclass(frozen=True)
class Recipe:
    """One training method's declaration."""

    name: str  # recipe.method, and conf/recipe/<name>.yaml
    config: type[RecipeConfig]
    train: Callable[[Any, Run], dict[str, Any]]
    data: DataKind
    metrics: tuple[Metric, ...]
    summary: str  # one line for --help, docs and the co-pilot
    warm_start: bool = False  # starts from stage sft's model (recipe.warm_start.steps > 0)
    reward_model: bool = False  # optimises against stage reward's model

    @property
    def trains_adapter(self) -> bool:
        return "lora" in self.config.__dataclass_fields__  # type: ignore[attr-defined]
