"""A config setting declares its help text and its valid values where it is declared.

    rank: int = setting(16, "LoRA rank: higher is more capacity and more memory.", ge=1)
    precision: str = setting("auto", "Compute precision.", choices=("auto", "bf16", "fp32"))

`problems(obj)` walks a typed config (a dataclass instance, nested ones included) and returns
one line per value outside its range or choices, naming the full key, the range and the value.
Validation reads the ranges from here and nowhere else.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from typing import Any, get_args, get_type_hints


@dataclass(frozen=True)
class Bounds:
    """A numeric range; `None` ends are open. Closed ends use ge/le, open ones gt/lt."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def holds(self, v: float) -> bool:
        if isinstance(v, float) and math.isnan(v):
            return False
        return not (
            (self.ge is not None and v < self.ge)
            or (self.gt is not None and v <= self.gt)
            or (self.le is not None and v > self.le)
            or (self.lt is not None and v >= self.lt)
        )

    def __str__(self) -> str:
        lo = (
            f"[{_num(self.ge)}"
            if self.ge is not None
            else f"({_num(self.gt)}"
            if self.gt is not None
            else "(-inf"
        )
        hi = (
            f"{_num(self.le)}]"
            if self.le is not None
            else f"{_num(self.lt)})"
            if self.lt is not None
            else "inf)"
        )
        return f"{lo}, {hi}"


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else repr(v)


def setting(
    default: Any,
    help: str,  # noqa: A002 - "help" reads best at the call site
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    choices: Sequence[str] | None = None,
) -> Any:
    """A dataclass field with its help text and valid values (a range or choices)."""
    meta: dict[str, Any] = {"help": help}
    if any(b is not None for b in (ge, gt, le, lt)):
        meta["bounds"] = Bounds(ge=ge, gt=gt, le=le, lt=lt)
    if choices is not None:
        meta["choices"] = tuple(choices)
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def sub(cls: type, help: str, *, optional: bool = False) -> Any:  # noqa: A002
    """A nested config group (a dataclass) with its help text."""
    if optional:
        return field(default=None, metadata={"help": help})
    return field(default_factory=cls, metadata={"help": help})


def sorted_fields(cls: type) -> type:
    """Order a dataclass's fields by name, so its YAML dump (Hydra's, DVC's, ours) is sorted
    whatever the class hierarchy: a subclass adds its fields after its base's."""
    ordered = dict(sorted(cls.__dataclass_fields__.items()))  # type: ignore[attr-defined]
    cls.__dataclass_fields__ = ordered  # type: ignore[attr-defined]
    return cls


def bounds(f: dataclasses.Field) -> Bounds | None:
    return f.metadata.get("bounds")


def choices(f: dataclasses.Field) -> tuple[str, ...] | None:
    return f.metadata.get("choices")


def problems(obj: Any, prefix: str = "") -> list[str]:
    """Every value of `obj` (a dataclass instance) outside its declared range or choices."""
    out: list[str] = []
    if not is_dataclass(obj):
        return out
    for f in fields(obj):
        value = getattr(obj, f.name, MISSING)
        key = f"{prefix}{f.name}"
        if is_dataclass(value):
            out += problems(value, key + ".")
            continue
        if value is None or value is MISSING:
            continue
        allowed = choices(f)
        values = value if isinstance(value, list | tuple) and allowed else [value]
        if allowed is not None:
            bad = [v for v in values if v not in allowed]
            if bad:
                out.append(f"{key}: {_show(bad[0])} is not one of {', '.join(allowed)}")
        rng = bounds(f)
        if rng is not None and isinstance(value, int | float) and not isinstance(value, bool):
            if not rng.holds(value):
                out.append(f"{key}: {_show(value)} is outside {rng}")
    return out


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def build(cls: type, data: dict[str, Any]) -> Any:
    """An instance of the dataclass `cls` from the plain data it was dumped from (asdict),
    nested dataclasses included. It does not validate: the stage that wrote the data did."""
    hints = get_type_hints(cls)
    kw = {}
    for f in fields(cls):
        if f.name in data:
            value = data[f.name]
            nested = next(
                (t for t in get_args(hints[f.name]) or (hints[f.name],) if is_dataclass(t)), None
            )
            kw[f.name] = build(nested, value) if nested and isinstance(value, dict) else value
    return cls(**kw)
