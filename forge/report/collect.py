"""What each page shows, gathered through forge.api (and, where it has no function yet, the
library function the CLI uses). Everything runs in the current directory, the project root,
as forge.api does. A section whose source fails carries the one-line reason instead of
taking the page down: `problems`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from forge.errors import ForgeError

HEADLINE = "exact_match"
LIVE = ("queued", "running")


def _safe(problems: list[str], what: str, call: Any, default: Any) -> Any:
    """call(), or `default` with "what: reason" added to `problems` on a ForgeError."""
    try:
        return call()
    except ForgeError as exc:
        problems.append(f"{what}: {exc}")
        return default


def _head() -> dict[str, str] | None:
    proc = subprocess.run(
        ["git", "log", "-1", "--format=%H%x09%cI%x09%s"], capture_output=True, text=True
    )
    if proc.returncode != 0 or not proc.stdout.strip():
        return None
    commit, date, subject = (proc.stdout.strip().split("\t", 2) + ["", ""])[:3]
    return {"commit": commit, "date": date, "subject": subject}


def _params(problems: list[str]) -> dict[str, Any]:
    from forge.config.params import load_params

    return _safe(problems, "params.yaml", load_params, {})


def split_metrics(metrics: dict[str, Any]) -> dict[str, dict[str, float]]:
    """{"eval/base/exact_match": 0.0, ...} -> {"exact_match": {"base": 0.0, ...}}; other
    keys (eval/n_test) under their full name with role "value"."""
    out: dict[str, dict[str, float]] = {}
    for key, value in metrics.items():
        parts = key.split("/")
        if len(parts) == 3 and parts[0] == "eval" and parts[1] in ("base", "candidate"):
            out.setdefault(parts[2], {})[parts[1]] = value
        else:
            out.setdefault(key, {})["value"] = value
    return out


def datasets() -> dict[str, Any]:
    from forge.api import data

    problems: list[str] = []
    cards = _safe(problems, "data/cards", data.list_cards, [])
    return {"cards": cards, "problems": problems}


def runs(selected: str | None = None, last_n: int | None = None) -> dict[str, Any]:
    """The runs (launched, experiments, the workspace's), one selected (the newest live run,
    else `workspace`), its record and its dvclive series."""
    from forge.api import runs as api

    problems: list[str] = []
    rows = _safe(problems, "runs", api.list_runs, [])
    if selected is None:
        selected = next((r["id"] for r in rows if r.get("status") in LIVE), "workspace")
    run = _safe(problems, f"run {selected}", lambda: api.get_run(selected), None)
    series = None
    if run is not None:
        series = _safe(problems, f"run {selected}", lambda: api.metrics(selected, last_n), None)
    return {
        "runs": rows,
        "selected": selected,
        "run": run,
        "series": (series or {}).get("series", {}),
        "live": bool(run and run.get("status") in LIVE),
        "problems": problems,
    }


def models(root: Path = Path("."), history: bool = True) -> dict[str, Any]:
    """The registry (forge models), the artifacts dvc.yaml declares, each artifact's
    promotion history (unless `history` is false), and the workspace's gate decision (what a
    promotion would rest on)."""
    from forge.api import registry
    from forge.api import runs as api_runs
    from forge.registry import evidence
    from forge.registry.promote import artifacts

    problems: list[str] = []
    params = _params(problems)
    shown = _safe(problems, "registry", registry.models, {})
    declared = _safe(problems, "dvc.yaml", lambda: artifacts(root), {})
    events = {
        name: _safe(problems, f"history of {name}", lambda n=name: evidence.history(root, n), [])
        for name in sorted(set(shown) | set(declared))
        if history
    }
    workspace = _safe(problems, "workspace", lambda: api_runs.get_run("workspace"), {}) or {}
    return {
        "registry": shown,
        "declared": declared,
        "history": events,
        "decision": workspace.get("decision"),
        "metrics": workspace.get("metrics") or {},
        "model": params.get("model") or {},
        "recipe": (params.get("recipe") or {}).get("method"),
        "problems": problems,
    }


def evals(root: Path = Path(".")) -> dict[str, Any]:
    """Base vs candidate (the workspace's evaluation) vs prod (the metrics the version in
    each artifact's prod stage was promoted with), per metric; and the paired-bootstrap
    comparison of prod against HEAD, per score, when there is a prod version."""
    from forge.api import evals as api
    from forge.api import registry

    problems: list[str] = []
    rows = _safe(problems, "evaluations", api.list_evals, [])
    by_id = {r["id"]: r for r in rows}
    current = by_id.get("workspace") or by_id.get("HEAD") or {"id": None, "metrics": {}}
    table = split_metrics(current["metrics"])
    prod = None
    shown = _safe(problems, "registry", registry.models, {})
    for name, row in sorted(shown.items()):
        version = (row.get("stage") or {}).get("prod")
        if version:
            prod = {"artifact": name, "version": version, "tag": f"{name}@{version}"}
            break
    if prod is not None:
        at = (by_id.get(prod["tag"]) or {}).get("metrics") or {}
        for metric, roles in split_metrics(at).items():
            if "candidate" in roles:
                table.setdefault(metric, {})["prod"] = roles["candidate"]
    comparisons = []
    if prod is not None and "HEAD" in by_id:
        comparisons = _safe(
            problems, f"compare {prod['tag']} HEAD", lambda: compare_all(prod["tag"], "HEAD"), []
        )
    return {
        "rows": rows,
        "current": current["id"],
        "table": table,
        "prod": prod,
        "comparisons": comparisons,
        "problems": problems,
    }


def compare_all(baseline: str, candidate: str) -> list[dict[str, Any]]:
    """Every paired-bootstrap comparison (headline, then each suite score), with params.yaml's
    gates' tolerance and confidence, as forge eval compare uses them."""
    from forge.config.params import load_group
    from forge.evaluate.compare import compare_all as run

    gates = load_group("gates")
    found = run(
        Path("."), baseline, candidate, gates.regression_tolerance, gates.regression_confidence
    )
    return [c.as_dict() for c in found]


def overview(root: Path = Path(".")) -> dict[str, Any]:
    problems: list[str] = []
    params = _params(problems)
    d, r, m = datasets(), runs("workspace"), models(root, history=False)
    loss = (r["series"] or {}).get("loss") or []
    return {
        "head": _head(),
        "model": params.get("model") or {},
        "recipe": (params.get("recipe") or {}).get("method"),
        "data": (params.get("data") or {}).get("name"),
        "n_datasets": len(d["cards"]),
        "n_runs": len(r["runs"]),
        "registry": [
            {
                "name": name,
                "latest": row.get("version"),
                "stages": sorted(s for s, v in (row.get("stage") or {}).items() if v),
            }
            for name, row in sorted(m["registry"].items())
        ],
        "artifacts": sorted(set(m["registry"]) | set(m["declared"])),
        "metrics": split_metrics(m["metrics"]),
        "decision": m["decision"],
        "loss_first": loss[0]["value"] if loss else None,
        "loss_last": loss[-1]["value"] if loss else None,
        "series": {"loss": loss} if loss else {},
        "problems": list(dict.fromkeys(problems + d["problems"] + r["problems"] + m["problems"])),
    }


def check_rev(rev: str) -> str:
    """The commit `rev` names (forge.registry.refs.commit_of)."""
    from forge.registry.refs import commit_of

    return commit_of(rev)


def report(revs: list[str] | None = None) -> dict[str, Any]:
    """Everything `forge report` shows: the revisions' evaluations side by side (default HEAD
    and every registered version), each compared with the first by paired bootstrap, their
    gate verdicts, the workspace run's training curves, the registry, and each artifact's
    lineage at HEAD."""
    from forge.api import evals as api
    from forge.api import registry
    from forge.registry.evidence import DECISION, METRICS, at_commit

    problems: list[str] = []
    if not revs:
        tags = [r["id"] for r in _safe(problems, "evaluations", api.list_evals, [])]
        revs = [t for t in tags if t != "workspace"]
        if not revs:
            revs = ["HEAD"]
    columns = []
    for rev in revs:
        commit = check_rev(rev)
        read = at_commit(Path("."), commit)
        metrics, decision = read(METRICS), read(DECISION)
        columns.append(
            {
                "rev": rev,
                "commit": commit,
                "metrics": json.loads(metrics) if metrics else {},
                "decision": json.loads(decision) if decision else None,
            }
        )
    names = sorted({k for c in columns for k in c["metrics"]})
    comparisons = {}
    for col in columns[1:]:
        comparisons[col["rev"]] = _safe(
            problems,
            f"compare {columns[0]['rev']} {col['rev']}",
            lambda c=col: compare_all(columns[0]["rev"], c["rev"]),
            [],
        )
    m = models()
    lineages = {
        name: _safe(problems, f"lineage {name}", lambda n=name: registry.lineage(n), None)
        for name in sorted(m["declared"])
    }
    r = runs("workspace")
    return {
        "head": _head(),
        "columns": columns,
        "metric_names": names,
        "comparisons": comparisons,
        "series": r["series"],
        "models": m,
        "lineages": lineages,
        "datasets": datasets()["cards"],
        "problems": list(dict.fromkeys(problems + m["problems"] + r["problems"])),
    }
