"""Which dvc.yaml stages every point of a sweep shares.

A stage is shared when the params it lists (its `params:` entries) are equal in every
point's params.yaml, and every stage upstream of it (one whose outputs it depends on) is
shared too. Shared stages run once, before the points; each point then finds them in
DVC's run-cache instead of running them again."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _get(cfg: dict[str, Any], dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _paths(entries: list[Any]) -> list[str]:
    out = []
    for e in entries or []:
        path = next(iter(e)) if isinstance(e, dict) else e
        if isinstance(path, str) and "${" not in path:
            out.append(path.rstrip("/"))
    return out


def _params(entries: list[Any]) -> list[str]:
    out: list[str] = []
    for e in entries or []:
        if isinstance(e, str):
            out.append(e)
        elif isinstance(e, dict):  # {params.yaml: [keys]}; another file is not Forge's
            for file, keys in e.items():
                if file == "params.yaml":
                    out += list(keys or [])
    return out


def _under(a: str, b: str) -> bool:
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def upstream(dvc_yaml: dict[str, Any]) -> dict[str, set[str]]:
    """For each stage, the stages whose outputs it depends on (directly)."""
    stages = dvc_yaml.get("stages") or {}
    outs = {name: _paths(s.get("outs", [])) for name, s in stages.items()}
    graph: dict[str, set[str]] = {}
    for name, s in stages.items():
        deps = _paths(s.get("deps", []))
        graph[name] = {
            other
            for other, paths in outs.items()
            if other != name and any(_under(d, o) for d in deps for o in paths)
        }
    return graph


def shared(dvc_yaml: dict[str, Any], cfgs: list[dict[str, Any]]) -> list[str]:
    """The stages every point shares, in dvc.yaml's order."""
    stages = dvc_yaml.get("stages") or {}
    graph = upstream(dvc_yaml)
    same: dict[str, bool] = {}

    def is_shared(name: str, seen: frozenset[str] = frozenset()) -> bool:
        if name in same:
            return same[name]
        stage = stages[name]
        if name in seen or "foreach" in stage or "matrix" in stage:
            return False
        keys = _params(stage.get("params", []))
        values = [[_get(cfg, k) for k in keys] for cfg in cfgs]
        result = all(v == values[0] for v in values) and all(
            is_shared(up, seen | {name}) for up in graph[name]
        )
        same[name] = result
        return result

    return [name for name in stages if is_shared(name)]


def load(path: Path = Path("dvc.yaml")) -> dict[str, Any]:
    import yaml

    from forge.errors import ForgeError

    if not path.is_file():
        raise ForgeError(f"{path} not found", hint="run forge sweep from a Forge project")
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
