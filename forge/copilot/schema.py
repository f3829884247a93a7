"""The JSON schemas of what an advisor answers, built from Forge's own config dataclasses
(each setting's type, help text, range and choices, forge/config/fields.py), and a checker
for them. Gemini is given a schema as `response_json_schema`; its answer is parsed from
`response.text` and checked here, then the plan is composed and validated by forge compose.

The schemas use the part of JSON Schema that Gemini's structured output and this checker
share: type, properties, required, additionalProperties, enum, items, minimum, maximum,
description. An open bound (gt, lt) is said in the description and checked here.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, get_type_hints

from forge.config.fields import bounds, choices
from forge.config.schema import HardwareConfig, RecipeConfig
from forge.errors import ForgeError

JSON_TYPES = {int: "integer", float: "number", str: "string", bool: "boolean"}
# The settings a plan chooses: (answer key, dataclass, field)
PLAN_SETTINGS = (
    ("precision", HardwareConfig, "precision"),
    ("quantization", HardwareConfig, "quantization"),
    ("batch_size", RecipeConfig, "batch_size"),
    ("gradient_accumulation_steps", RecipeConfig, "gradient_accumulation_steps"),
    ("max_steps", RecipeConfig, "max_steps"),
    ("learning_rate", RecipeConfig, "learning_rate"),
    ("max_length", RecipeConfig, "max_length"),
)
FIX_AREAS = ("format_mapping", "dedup", "length_cutoff", "pii_policy", "license", "other")
OUTPUT_FORMATS = ("messages", "preference")


def field_schema(cls: type, name: str) -> dict[str, Any]:
    """One dataclass field as a JSON schema: its type, help text, choices and range."""
    f = next(x for x in dataclasses.fields(cls) if x.name == name)
    hint = get_type_hints(cls)[name]
    out: dict[str, Any] = {"type": JSON_TYPES[hint], "description": f.metadata.get("help", "")}
    if (allowed := choices(f)) is not None:
        out["enum"] = list(allowed)
    if (rng := bounds(f)) is not None:
        if rng.ge is not None:
            out["minimum"] = rng.ge
        if rng.le is not None:
            out["maximum"] = rng.le
        if rng.gt is not None or rng.lt is not None:
            out["description"] += f" Range {rng}."
        out["x-bounds"] = rng  # checked here; removed from what is sent
    return out


def _obj(props: dict[str, Any], desc: str = "") -> dict[str, Any]:
    out = {
        "type": "object",
        "properties": props,
        "required": list(props),
        "additionalProperties": False,
    }
    return {**out, "description": desc} if desc else out


def _choice(value: dict[str, Any]) -> dict[str, Any]:
    return _obj({"value": value, "why": {"type": "string", "description": "Why, in one line."}})


def options(conf: Path, group: str) -> list[str]:
    return sorted(p.stem for p in (conf / group).glob("*.yaml"))


def plan_schema(conf: Path = Path("conf")) -> dict[str, Any]:
    """A plan: model and recipe (options in conf/), then each setting of PLAN_SETTINGS."""
    from forge.recipes import registry

    recipes = [r for r in options(conf, "recipe") if r in registry.RECIPES]
    choices_ = {
        "model": _choice({"type": "string", "enum": options(conf, "model")}),
        "recipe": _choice(
            {
                "type": "string",
                "enum": recipes,
                "description": "; ".join(f"{r}: {registry.RECIPES[r].summary}" for r in recipes),
            }
        ),
    }
    for key, cls, name in PLAN_SETTINGS:
        choices_[key] = _choice(field_schema(cls, name))
    return _obj(
        {
            "choices": _obj(choices_, "Each choice with its value and why."),
            "summary": {"type": "string", "description": "The plan in one sentence."},
        }
    )


def advice_schema() -> dict[str, Any]:
    fix = _obj(
        {
            "area": {"type": "string", "enum": list(FIX_AREAS)},
            "finding": {"type": "string", "description": "What the study shows."},
            "fix": {"type": "string", "description": "The concrete change."},
            "command": {"type": "string", "description": "A forge command or setting, or ''."},
        }
    )
    return _obj({"fixes": {"type": "array", "items": fix}})


def script_schema() -> dict[str, Any]:
    return _obj(
        {
            "script": {
                "type": "string",
                "description": "A Python 3.11 program, standard library only unless listed in "
                "requires, run as `python3 script.py INPUT OUTPUT_DIR`: it reads INPUT and "
                "writes OUTPUT_DIR/data.jsonl, one JSON object per line.",
            },
            "requires": {
                "type": "array",
                "items": {"type": "string"},
                "description": "pip requirements beyond the standard library (name==version).",
            },
            "output_format": {"type": "string", "enum": list(OUTPUT_FORMATS)},
            "notes": {"type": "string", "description": "What the script does, in one line."},
        }
    )


def for_wire(schema: Any) -> Any:
    """The schema as sent: without the checker's private keys."""
    if isinstance(schema, dict):
        return {k: for_wire(v) for k, v in schema.items() if not k.startswith("x-")}
    if isinstance(schema, list):
        return [for_wire(v) for v in schema]
    return schema


def check(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Every way `value` breaks `schema`, one line each naming its path."""
    t = schema.get("type")
    ok = {
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
    }.get(t, True)
    if not ok:
        return [f"{path}: expected {t}, got {type(value).__name__} {_short(value)}"]
    problems: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: {_short(value)} is not one of {', '.join(schema['enum'])}")
    if t in ("integer", "number"):
        rng = schema.get("x-bounds")
        if rng is not None and not rng.holds(value):
            problems.append(f"{path}: {value} is outside {rng}")
    if t == "object":
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                problems.append(f"{path}.{key}: missing")
        for key, v in value.items():
            if key in props:
                problems += check(v, props[key], f"{path}.{key}")
            elif schema.get("additionalProperties") is False:
                problems.append(f"{path}.{key}: not allowed here")
    if t == "array" and "items" in schema:
        for i, v in enumerate(value):
            problems += check(v, schema["items"], f"{path}[{i}]")
    return problems


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class AdvisorError(ForgeError):
    """The advisor could not be asked, or its answer was refused (the reason is named)."""

    exit_code = 1


def checked(answer: Any, schema: dict[str, Any], who: str) -> dict[str, Any]:
    """`answer` when it holds to `schema`; else AdvisorError naming each problem."""
    problems = check(answer, schema)
    if problems:
        more = f"; and {len(problems) - 6} more" if len(problems) > 6 else ""
        shown = "; ".join(problems[:6]) + more
        raise AdvisorError(f"{who}: the answer does not follow the schema, refused ({shown})")
    return answer
