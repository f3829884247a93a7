"""The co-pilot as healing's advisor (recipe.heal.advisor): a training failure that no rule of
forge/train/heal.py fixes goes to the configured advisor, which answers with a param diff.

A training stage calls `register()` only when recipe.heal.advisor is on, so with it off
nothing imports the co-pilot and nothing needs the network. With conf/copilot.yaml's backend
`rules` (the default) nothing is registered: the healing rules are the rules. With backend
`gemini` the failure's class, its evidence (each line through the PII scanner first) and the
effective config are sent (forge/copilot/share.py builds the text); the answer holds to a
schema built from the recipe's and the hardware's own fields, and forge/train/heal.py then
validates the diff (ranges, keys a fix may not change, the effective batch) before using it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, get_type_hints

from forge.copilot.advisor import Advisor
from forge.copilot.schema import JSON_TYPES, field_schema

EVIDENCE_CHARS = 300
SKIP = ("heal",)  # how to recover is not the advisor's to change


def _fields(cls: type, prefix: str) -> dict[str, dict[str, Any]]:
    """Every scalar setting of a config dataclass (nested ones too) as a JSON schema, by its
    dotted key."""
    out: dict[str, dict[str, Any]] = {}
    hints = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if f.name in SKIP:
            continue
        if dataclasses.is_dataclass(hint):
            out.update(_fields(hint, f"{prefix}{f.name}."))
        elif hint in JSON_TYPES:
            out[prefix + f.name] = field_schema(cls, f.name)
    return out


def fix_schema(method: str) -> dict[str, Any]:
    """The answer: a param diff over the recipe's and the hardware's settings, and why."""
    from forge.config.schema import HardwareConfig
    from forge.recipes.registry import get

    settings = {**_fields(get(method).config, "recipe."), **_fields(HardwareConfig, "hardware.")}
    return {
        "type": "object",
        "properties": {
            "diff": {
                "type": "object",
                "properties": settings,
                "additionalProperties": False,
                "description": "The settings the next attempt changes, by dotted key; {} if "
                "no change would help.",
            },
            "why": {"type": "string", "description": "Why this fixes the failure, in one line."},
        },
        "required": ["diff", "why"],
        "additionalProperties": False,
    }


def brief(failure: Any, config: dict[str, Any]) -> dict[str, Any]:
    """What the advisor is given: the class, the evidence (redacted), the step, the config."""
    from forge.copilot.share import redact_text

    return {
        "failure": {
            "class": failure.cls,
            "evidence": [redact_text(line, EVIDENCE_CHARS) for line in failure.evidence],
            "step": failure.step,
        },
        "config": config,
    }


class HealAdvisor:
    """forge.train.heal's Advisor over a co-pilot Advisor: propose_fix(failure, config)."""

    def __init__(self, advisor: Advisor) -> None:
        self.advisor = advisor
        self.name = f"{advisor.backend} ({advisor.model})"
        self.why = ""

    def propose_fix(self, failure: Any, config: dict[str, Any]) -> dict[str, Any] | None:
        schema = fix_schema(config["recipe"]["method"])
        answer = self.advisor.ask("heal", brief(failure, config), schema)
        self.why = answer["why"]
        return answer["diff"] or None


def register(path: Path = Path("conf/copilot.yaml")) -> HealAdvisor | None:
    """Make the configured co-pilot healing's advisor (forge.train.heal.use_advisor); None
    with backend rules. Backend gemini without a key is one line saying how to set one."""
    from forge.copilot.advisor import make
    from forge.copilot.config import load
    from forge.train.heal import use_advisor

    cfg = load(path)
    if cfg.backend == "rules":
        use_advisor(None)
        return None
    advisor = HealAdvisor(make(cfg))
    use_advisor(advisor)
    return advisor
