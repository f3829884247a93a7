"""Checks that types and per-field ranges (forge/config/fields.py) cannot express: how
settings relate to each other. Each returns problems as 'full.key: what, fix'."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from forge.recipes.base import Recipe


def _get(cfg: dict[str, Any], dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _licenses(allowed: list[str]) -> list[str]:
    """Each allowed license in its SPDX spelling (cards carry that spelling)."""
    from forge.data.cards import spdx
    from forge.errors import DataError

    problems = []
    for lic in allowed:
        try:
            canonical = spdx(str(lic))
        except DataError as exc:
            problems.append(f"gates.allowed_licenses: {exc.message.split(': ', 1)[1]}")
            continue
        if canonical != lic:
            problems.append(f"gates.allowed_licenses: write '{lic}' as '{canonical}'")
    return problems


def _recipe(cfg: dict[str, Any], recipe: Recipe) -> list[str]:
    problems = []
    if recipe.reward_model and not _get(cfg, "recipe.reward_model.steps"):
        problems.append(
            f"recipe.reward_model.steps: {recipe.name} optimises against a learned reward "
            "model; set it > 0 (stage reward trains it)"
        )
    if recipe.warm_start and _get(cfg, "model.source") == "tiny":
        if not _get(cfg, "recipe.warm_start.steps"):
            problems.append(
                f"recipe.warm_start.steps: {recipe.name} must start from a model that does the "
                "task, and model=tiny does not; set it > 0 (stage sft trains it)"
            )
    if (gens := _get(cfg, "recipe.num_generations")) is not None:
        batch = _get(cfg, "recipe.batch_size") or 0
        if batch % gens:
            problems.append(f"recipe.num_generations: {gens} must divide recipe.batch_size {batch}")
    return problems


def _eval(cfg: dict[str, Any], recipe: Recipe | None) -> list[str]:
    """eval.suites need a candidate that answers."""
    from forge.recipes.base import Metric

    suites = _get(cfg, "eval.suites") or []
    problems = []
    if suites and recipe is not None and Metric.GENERATION not in recipe.metrics:
        problems.append(
            f"eval.suites: recipe={recipe.name} trains a scorer that does not answer, so "
            f"{', '.join(suites)} cannot run; set eval.suites=[]"
        )
    return problems


def check_files(cfg: dict[str, Any], root: Path) -> list[str]:
    """The files a composed tree names exist under the project `root`: data.path (or its
    DVC pointer, before `dvc pull`) with its card in data/cards/, and each local YAML task
    of eval.tasks. For `forge validate`; compose leaves files alone."""
    from forge.data import cards
    from forge.errors import ForgeError

    problems: list[str] = []
    for key in ("data.path", "data.preference_path"):
        rel = _get(cfg, key)
        if not rel:
            continue
        path = root / rel
        if not path.exists() and not path.with_name(path.name + ".dvc").is_file():
            problems.append(
                f"{key}: {rel} not found (nor {rel}.dvc); add it with "
                f"`forge data add {rel} --license SPDX --source TEXT`"
            )
            continue
        try:
            found = cards.for_file(str(rel), root / cards.CARDS_DIR)
        except ForgeError as exc:
            problems.append(f"{key}: {exc}")
            continue
        if found is None:
            problems.append(
                f"{key}: {rel} has no card in {cards.CARDS_DIR}/; run "
                f"`forge data add {rel} --license SPDX --source TEXT`"
            )
    if _get(cfg, "model.source") == "local" and _get(cfg, "model.path"):
        from forge.model.base import local_model_problem

        rel = _get(cfg, "model.path")
        if not (root / rel).with_name(Path(rel).name + ".dvc").is_file():
            if problem := local_model_problem(rel, root):
                problems.append(problem)
    for task in _get(cfg, "eval.tasks") or []:  # stage evaluate reads each one's task name
        if str(task).endswith((".yaml", ".yml")) and not (root / task).is_file():
            problems.append(f"eval.tasks: {task} not found (a YAML task file from the repo root)")
    return problems


def check(cfg: dict[str, Any], recipe: Recipe | None) -> list[str]:
    """Cross-setting problems of a composed tree whose fields are each already valid."""
    problems: list[str] = []
    if recipe is not None:
        problems += _recipe(cfg, recipe)
    problems += _eval(cfg, recipe)
    problems += _licenses(_get(cfg, "gates.allowed_licenses") or [])

    source = _get(cfg, "model.source")
    if source == "tiny":
        tiny = _get(cfg, "model.tiny")
        if not tiny:
            problems.append("model.tiny: required when model.source is 'tiny'")
        elif tiny["hidden_size"] % tiny["num_heads"]:
            problems.append(
                f"model.tiny.num_heads: {tiny['num_heads']} does not divide "
                f"hidden_size {tiny['hidden_size']}"
            )
        elif (ml := _get(cfg, "recipe.max_length")) and ml > tiny["context_length"]:
            problems.append(
                f"recipe.max_length: {ml} exceeds model.tiny.context_length "
                f"{tiny['context_length']}"
            )
    if source == "hub":
        if not _get(cfg, "model.hub_id"):
            problems.append("model.hub_id: required when model.source is 'hub'")
        revision = _get(cfg, "model.revision")
        if not revision or not re.fullmatch(r"[0-9a-f]{40}", str(revision)):
            problems.append(
                f"model.revision: '{revision}' is not a pinned 40-hex commit "
                "(copy it from the model page's history)"
            )
    if source == "local" and not _get(cfg, "model.path"):
        problems.append(
            "model.path: required when model.source is 'local' (a Hugging Face model "
            "directory or a .gguf file)"
        )

    if isinstance(cfg.get("hardware"), dict):
        from forge.hardware.checks import check as check_hardware

        problems += check_hardware(cfg)
    return problems
