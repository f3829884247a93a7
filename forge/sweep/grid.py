"""Hydra's sweep grammar (`a,b`, `range()`, `choice()`) expanded into points, each point
composed and validated before anything runs; every bad point is reported at once."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forge.config import compose as c
from forge.errors import ConfigError


@dataclass
class Point:
    """One configuration of the grid."""

    index: int
    overrides: list[str]  # plain Hydra overrides, one value each
    params_text: str = ""  # params.yaml as forge compose writes it
    cfg: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Identity of the point: the hash of its params.yaml."""
        return hashlib.sha256(self.params_text.encode()).hexdigest()[:16]

    def label(self) -> str:
        return " ".join(self.overrides) or "(defaults)"


def expand(overrides: list[str], conf_dir: Path = Path("conf")) -> list[list[str]]:
    """The grid's points as lists of plain overrides, in Hydra's order (the cartesian
    product of every swept key). Grammar errors, deletions, keys given twice and group
    options that are paths are refused first, by forge compose's own checks."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    parsed, first_values, swept = [], [], set()
    originals: dict[str, str] = {}  # first value of a sweep -> the sweep as written
    for ov in overrides:
        try:
            one = parser.parse_override(ov)
        except HydraException:
            first_values.append(ov)  # check_overrides says what is wrong with it
            continue
        parsed.append(one)
        if one.is_sweep_override() and one.is_discrete_sweep():
            key = one.get_key_element()
            swept.add(key)
            first = next(iter(one.sweep_string_iterator()), None)
            first_values.append(f"{key}={first}" if first is not None else ov)
            originals[first_values[-1]] = ov
        elif one.is_sweep_override():
            raise ConfigError(
                [
                    f"{one.get_key_element()}: {ov!r} is an interval sweep, which needs an "
                    "optimizer; a grid takes a,b,c, range() or choice()"
                ]
            )
        else:
            first_values.append(ov)
    problems = c.check_overrides(first_values, conf_dir)
    # a swept group's options are each checked with their point, not here
    problems = [p for p in problems if not p.startswith(tuple(f"{k}=" for k in swept))]
    for first, ov in originals.items():
        problems = [p.replace(repr(first), repr(ov)) for p in problems]
    if problems:
        raise ConfigError(problems)
    try:
        return BasicSweeper.split_arguments(parsed, None)[0]
    except HydraException as exc:
        raise ConfigError([str(exc).splitlines()[0]]) from exc


def compose_points(overrides: list[str], conf_dir: Path = Path("conf")) -> list[Point]:
    """Every point composed and validated (memory fit included); one ConfigError naming
    each bad point and what is wrong with it, before any point runs."""
    grid = expand(overrides, conf_dir)
    points, bad = [], []
    for i, point_overrides in enumerate(grid):
        point = Point(index=i, overrides=point_overrides)
        try:
            cfg = c.compose(point_overrides, conf_dir)
        except ConfigError as exc:
            bad.append((point, exc.problems))
            continue
        point.cfg = c.to_container(cfg)
        point.params_text = c.render(cfg, point_overrides)
        points.append(point)
    if bad:
        raise ConfigError(_describe_bad(bad, len(grid)))
    return points


def _describe_bad(bad: list[tuple[Point, list[str]]], total: int) -> list[str]:
    """One line per problem and point; a problem every point has is said once."""
    everywhere = set.intersection(*(set(p) for _, p in bad)) if len(bad) == total else set()
    lines = sorted(everywhere)
    for point, problems in bad:
        for problem in problems:
            if problem not in everywhere:
                lines.append(f"point {point.index + 1}/{total} ({point.label()}): {problem}")
    lines.append(f"{len(bad)} of {total} points are invalid; nothing was run")
    return lines


def varying(points: list[Point]) -> list[str]:
    """The override keys whose values differ between points (the table's columns)."""
    keys: dict[str, set[str]] = {}
    for p in points:
        for ov in p.overrides:
            k, _, v = ov.partition("=")
            keys.setdefault(k, set()).add(v)
    return [k for k, values in keys.items() if len(values) > 1]


def value_of(point: Point, key: str) -> str:
    for ov in point.overrides:
        k, _, v = ov.partition("=")
        if k == key:
            return v
    return ""
