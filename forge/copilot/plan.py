"""`forge plan "<goal>" [--data PATH] [--write]`: a hardware-aware experiment overlay.

1. Facts: the detected hardware (`forge hw`, and the profile hardware=auto composes to), the
   data (its card and a `forge data study`: counts and lengths, never rows), and for each
   model in conf/model/ the memory and cost estimators' figures (forge/hardware/memory.py,
   cost.py) for a LoRA run at the recipe's batch, with and without 4-bit weights.
2. The advisor (rules or Gemini) answers with a plan that holds to plan_schema().
3. The plan is composed and validated as overrides (forge compose), so a plan that does not
   fit is refused with the change that does (forge/hardware/memory.py suggest), or with a
   model that fits from the figures of step 1.
4. With --write: conf/experiment/<slug>.yaml, one comment per choice, composed again as
   `experiment=<slug>` before it is kept.
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from forge.copilot import schema as answer_schema
from forge.copilot import share
from forge.copilot.advisor import Advisor
from forge.copilot.schema import AdvisorError
from forge.errors import ConfigError, ForgeError

STOPWORDS = {
    "a", "an", "the", "that", "which", "who", "for", "to", "of", "and", "with", "my", "our",
    "in", "on", "is", "it", "be", "i", "we", "want", "make", "train", "build", "model",
}  # fmt: skip
GROUP_KEY = {"model": "model", "recipe": "recipe"}
HW_KEYS = ("precision", "quantization")
RECIPE_KEYS = (
    "batch_size", "gradient_accumulation_steps", "max_steps", "learning_rate", "max_length"
)  # fmt: skip


def slug(goal: str, words: int = 4) -> str:
    """'a support chatbot that answers politely' -> 'support_chatbot_answers_politely' (a
    name forge compose accepts as a group option)."""
    tokens = [t for t in re.findall(r"[a-z0-9]+", goal.lower()) if t not in STOPWORDS]
    name = "_".join(tokens[:words])
    return name or "plan"


def _compose(overrides: list[str], conf: Path) -> dict[str, Any]:
    from forge.config import compose as c

    return c.to_container(c.compose(overrides, conf))


def figures(cfg: dict[str, Any]) -> dict[str, Any] | None:
    """Memory per device (GiB), time and money of a composed tree, from Forge's estimators;
    None when the model's shape is unknown offline."""
    from forge.hardware import cost, memory

    plan = memory.plan_from_config(cfg)
    if plan is None:
        return None
    est = memory.estimate(plan)
    run = cost.estimate(cfg)
    assert run is not None
    hw = cfg["hardware"]
    return {
        "memory_gib": round(est.total_gib, 3),
        "memory_available_gib": hw["memory_gb"],
        "fits": est.total_gib <= hw["memory_gb"],
        "breakdown": est.breakdown(),
        "params": est.params,
        "trainable_params": est.trainable_params,
        "seconds": round(run.seconds, 1),
        "dollars": round(run.dollars, 4),
        "tokens": run.tokens,
    }


def model_grid(base: dict[str, Any], conf: Path) -> list[dict[str, Any]]:
    """For each model option: its parameters and the estimators' figures for a LoRA run of
    the default recipe at full and at 4-bit weights (4-bit only on CUDA)."""
    out = []
    hw = base["hardware"]
    for name in answer_schema.options(conf, "model"):
        model = _model(conf, name)
        if model is None:
            continue
        for quant in ("none", "4bit") if hw["device"] == "cuda" else ("none",):
            cfg = copy.deepcopy(base)
            cfg["model"] = model
            cfg["hardware"]["quantization"] = quant
            if "lora" not in cfg["recipe"]:
                continue
            fig = figures(cfg)
            if fig is None:
                continue
            out.append(
                {
                    "model": name,
                    "source": model.get("source"),
                    "quantization": quant,
                    "recipe": cfg["recipe"]["method"],
                    "batch_size": cfg["recipe"]["batch_size"],
                    "max_length": cfg["recipe"]["max_length"],
                    "max_steps": cfg["recipe"]["max_steps"],
                    **fig,
                }
            )
    return out


def _model(conf: Path, name: str) -> dict[str, Any] | None:
    """conf/model/<name>.yaml typed by ModelConfig (without Hydra: the grid reads every
    option, and the plan itself is composed by forge compose); None when it is not valid."""
    from dataclasses import asdict

    from forge.config.params import typed
    from forge.config.schema import ModelConfig

    raw = yaml.safe_load((conf / "model" / f"{name}.yaml").read_text(encoding="utf-8")) or {}
    raw.pop("defaults", None)
    try:
        return asdict(typed(ModelConfig, raw, "model"))
    except ForgeError:
        return None


def data_facts(data: Path | None, base: dict[str, Any]) -> dict[str, Any]:
    """The study of --data (or of the configured data.path) without any row, with its
    card's license and PII policy."""
    from forge.data import cards
    from forge.data.study import study

    path = data or Path(base["data"]["path"])
    card = cards.for_file(path.as_posix())
    try:
        result = study(path, "auto", Path("models/base"), base["recipe"]["max_length"])
    except ForgeError as exc:
        raise ForgeError(
            f"--data: {exc}",
            hint=f"turn the file into a format Forge reads first: forge prepare {path}",
        ) from None
    facts = share.study_facts(result, card[1] if card else None)
    facts["configured"] = data is None
    return facts


def hardware_facts(base: dict[str, Any]) -> dict[str, Any]:
    from forge.hardware.report import report

    r = report()
    hw = base["hardware"]
    return {
        "device": r["device"],
        "profile": r["profile"],
        "gpus": [
            {"name": g["name"], "memory_gib": g["memory_total_gib"], "bf16": g["bf16"]}
            for g in r["gpus"]
        ],
        "cpu_cores": r["cpu"]["cores"],
        "ram_gib": r["cpu"]["memory_total_gib"],
        "memory_gb": hw["memory_gb"],
        "architecture": hw["architecture"],
        "peak_tflops": hw["peak_tflops"],
        "price_per_hour": hw["price_per_hour"],
        "num_processes": hw["num_processes"],
    }


def brief(goal: str, data: Path | None, conf: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what the advisor is given, the default composed tree)."""
    from forge.recipes import registry

    base = _compose([], conf)
    recipes = {
        r: {
            "summary": registry.RECIPES[r].summary,
            "data": str(registry.RECIPES[r].data),
            "defaults": _recipe_defaults(conf, r),
        }
        for r in answer_schema.options(conf, "recipe")
        if r in registry.RECIPES
    }
    return {
        "goal": goal,
        "hardware": hardware_facts(base),
        "data": data_facts(data, base),
        "models": model_grid(base, conf),
        "recipes": recipes,
    }, base


def _recipe_defaults(conf: Path, name: str) -> dict[str, Any]:
    raw = yaml.safe_load((conf / "recipe" / f"{name}.yaml").read_text(encoding="utf-8")) or {}
    return {k: raw[k] for k in RECIPE_KEYS if k in raw}


@dataclass
class Plan:
    goal: str
    slug: str
    answer: dict[str, Any]
    overrides: list[str]
    data_overrides: list[str] = field(default_factory=list)
    figures: dict[str, Any] | None = None
    advisor: str = "rules"


def overrides_of(answer: dict[str, Any]) -> list[str]:
    ch = answer["choices"]
    out = [f"model={ch['model']['value']}", f"recipe={ch['recipe']['value']}"]
    out += [f"hardware.{k}={ch[k]['value']}" for k in HW_KEYS]
    out += [f"recipe.{k}={ch[k]['value']}" for k in RECIPE_KEYS]
    return out


def _data_overrides(data: Path | None, facts: dict[str, Any]) -> list[str]:
    """--data with a card: point data at it (data.path, or data.preference_path for pairs)."""
    if data is None:
        return []
    from forge.data import cards

    found = cards.for_file(data.as_posix())
    if found is None:
        raise ForgeError(
            f"--data: {data} has no card in data/cards/; a plan may only train on carded data",
            hint=f"run `forge data add {data} --name NAME --license SPDX --source TEXT`",
        )
    if facts["schema"] == "preference":
        return [f"data.preference_path={data.as_posix()}"]
    return [
        f"data.path={data.as_posix()}",
        f"data.name={found[1]['name']}",
        f"data.format={facts['schema']}",
    ]


def make(goal: str, advisor: Advisor, data: Path | None = None, conf: Path = Path("conf")) -> Plan:
    """Ask the advisor and validate its plan by composing it; AdvisorError/ConfigError when
    it is refused, naming why and what would fit."""
    facts, _ = brief(goal, data, conf)
    answer = advisor.ask("plan", facts, answer_schema.plan_schema(conf))
    plan = Plan(goal, slug(goal), answer, overrides_of(answer), advisor=_who(advisor))
    plan.data_overrides = _data_overrides(data, facts["data"])
    try:
        cfg = _compose(plan.overrides + plan.data_overrides, conf)
    except ConfigError as exc:
        fits = [m for m in facts["models"] if m["fits"]]
        alt = (
            f"; on this hardware model={fits[-1]['model']} fits "
            f"(~{fits[-1]['memory_gib']:.1f} GiB of {fits[-1]['memory_available_gib']:g})"
            if fits and fits[-1]["model"] != answer["choices"]["model"]["value"]
            else ""
        )
        raise ConfigError(
            [f"plan refused ({plan.advisor}): {p}{alt}" for p in exc.problems]
        ) from None
    plan.figures = figures(cfg)
    return plan


def _who(advisor: Advisor) -> str:
    return "rules" if advisor.backend == "rules" else f"{advisor.backend} {advisor.model}"


def _yaml_value(v: Any) -> str:
    return yaml.safe_dump(v, default_flow_style=True).strip().removesuffix("\n...").strip()


def overlay(plan: Plan) -> str:
    """conf/experiment/<slug>.yaml: a Hydra overlay with one comment per choice."""
    ch = plan.answer["choices"]

    def why(key: str) -> str:
        return " ".join(str(ch[key]["why"]).split())

    goal = " ".join(plan.goal.split())
    lines = [
        "# @package _global_",
        f"# forge compose experiment={plan.slug}   -- planned by `forge plan` ({plan.advisor})",
        f"# goal: {goal}",
    ]
    if plan.figures:
        f = plan.figures
        lines.append(
            f"# estimated: ~{f['memory_gib']:.2f} GiB per device of {f['memory_available_gib']:g}, "
            f"{f['seconds']:.0f} s, ${f['dollars']:.2f}"
        )
    lines += [
        "defaults:",
        f"  - override /model: {ch['model']['value']}  # {why('model')}",
        f"  - override /recipe: {ch['recipe']['value']}  # {why('recipe')}",
        "hardware:",
    ]
    lines += [f"  {k}: {_yaml_value(ch[k]['value'])}  # {why(k)}" for k in HW_KEYS]
    lines.append("recipe:")
    lines += [f"  {k}: {_yaml_value(ch[k]['value'])}  # {why(k)}" for k in RECIPE_KEYS]
    if plan.data_overrides:
        lines.append("data:  # --data, from its card")
        for ov in plan.data_overrides:
            key, _, value = ov.partition("=")
            lines.append(f"  {key.split('.', 1)[1]}: {_yaml_value(value)}")
    return "\n".join(lines) + "\n"


def write(plan: Plan, conf: Path = Path("conf"), force: bool = False) -> Path:
    """Write the overlay, then compose `experiment=<slug>`; the file is removed again when it
    does not compose and validate."""
    path = conf / "experiment" / f"{plan.slug}.yaml"
    if path.exists() and not force:
        raise ForgeError(
            f"{path}: exists; nothing was written",
            hint="pass --force to replace it, or reword the goal",
        )
    previous = path.read_text(encoding="utf-8") if path.exists() else None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(overlay(plan), encoding="utf-8")
    try:
        _compose([f"experiment={plan.slug}"], conf)
    except ForgeError:
        if previous is None:
            path.unlink()
        else:
            path.write_text(previous, encoding="utf-8")
        raise
    return path


def steps_for(rows: int, effective_batch: int, epochs: float) -> int:
    return max(20, min(5000, math.ceil(epochs * rows / max(1, effective_batch))))


__all__ = ["AdvisorError", "Plan", "make", "overlay", "slug", "write"]
