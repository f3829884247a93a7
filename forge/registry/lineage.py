"""`forge lineage NAME[@vX.Y.Z | #STAGE]`: from a model back to everything it was made of.

Everything is read at the model's commit, never from the working tree: `dvc.lock` (every
stage's dependency and output hashes and the params it read), the committed eval metrics and
gate decision, the run manifest and effective config stored beside the model (read from the
DVC cache through `dvc.api`), and the data cards of the raw sources (license, source).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

from forge.errors import ForgeError
from forge.registry.promote import DECISION, METRICS, VERSION, _gto, check_arg

CODE_ROOTS = ("forge/", "stages/", "hydra_plugins/")


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)


def _show(repo: Path, commit: str, path: str) -> str | None:
    proc = _git(repo, "show", f"{commit}:{path}")
    return proc.stdout if proc.returncode == 0 else None


def resolve(repo: Path, ref: str) -> tuple[str, str, str]:
    """(artifact name, commit, label) for NAME, NAME@vX.Y.Z or NAME#STAGE."""
    if "@" in ref:
        name, version = ref.split("@", 1)
        check_arg("artifact", name)
        check_arg("version", version, VERSION)
        tag, label = f"{name}@{version}", f"{name}@{version}"
    elif "#" in ref:
        name, stage = ref.split("#", 1)
        check_arg("artifact", name)
        check_arg("stage", stage)
        version = (_gto("show", str(repo)).get(name) or {}).get("stage", {}).get(stage)
        if version is None:
            raise ForgeError(f"{ref}: no version of {name} is assigned to {stage}")
        tag, label = f"{name}@{version}", f"{name}@{version} ({stage})"
    else:
        name, tag, label = check_arg("artifact", ref), "HEAD", f"{ref} at HEAD"
    proc = _git(repo, "rev-list", "-n", "1", tag if tag == "HEAD" else f"refs/tags/{tag}")
    if proc.returncode != 0:
        raise ForgeError(f"{ref}: no such version ({tag} is not a git tag or commit)")
    return name, proc.stdout.strip(), label


def _producers(lock: dict[str, Any]) -> dict[str, str]:
    return {
        out["path"]: stage
        for stage, body in lock.get("stages", {}).items()
        for out in body.get("outs", [])
    }


def _producer_of(path: str, producers: dict[str, str]) -> str | None:
    """The stage whose output is `path` or a directory that contains it."""
    for out, stage in producers.items():
        if path == out or path.startswith(out.rstrip("/") + "/"):
            return stage
    return None


def _ancestors(stage: str, upstream_of: dict[str, set[str]]) -> set[str]:
    seen, todo = set(), list(upstream_of[stage])
    while todo:
        if (s := todo.pop()) not in seen:
            seen.add(s)
            todo += upstream_of[s]
    return seen


def _kind(path: str, producers: dict[str, str]) -> str:
    if _producer_of(path, producers):
        return "stage output"
    if path.startswith(CODE_ROOTS) or path.endswith(".py"):
        return "code"
    return "source"


def _cards(repo: Path, commit: str) -> dict[str, dict[str, Any]]:
    """Data cards committed at `commit`, keyed by the raw file they describe."""
    listing = _git(repo, "ls-tree", "-r", "--name-only", commit, "data/cards").stdout.split()
    cards: dict[str, dict[str, Any]] = {}
    for path in listing:
        if not path.endswith((".yaml", ".yml")):
            continue
        card = yaml.safe_load(_show(repo, commit, path) or "") or {}
        if isinstance(card, dict) and card.get("path"):
            cards[card["path"]] = {**card, "card": path}
    return cards


def _from_cache(repo: Path, commit: str, path: str) -> str | None:
    """A file inside a DVC output at `commit` (local cache or remote), or None if gone."""
    import dvc.api
    from dvc.exceptions import DvcException
    from dvc_data.index import DataIndexError
    from scmrepo.exceptions import SCMError

    try:
        return dvc.api.read(path, repo=str(repo), rev=commit)
    except (
        DvcException,  # not tracked at `commit`, no or unreachable remote, unknown rev
        DataIndexError,  # a directory output whose .dir object was gc'd from the cache
        SCMError,  # git could not read `commit`
        OSError,  # a file object missing from the cache
        UnicodeDecodeError,  # not text
    ):
        return None


def _healing(repo: Path, commit: str, decision: dict[str, Any] | None) -> dict[str, Any] | None:
    """How each training part was healed: the gate decision's record (each attempt's class
    and fix, who proposed it, the fix it trained with), else the same built from the parts'
    committed attempts (a decision from before the gate recorded it); None when none was."""
    from forge.evaluate.gate import ATTEMPTS, healing

    if decision is not None and "healed" in decision:
        return decision["healed"]
    rows = {}
    for part, path in ATTEMPTS.items():
        text = _show(repo, commit, path)
        try:
            rows[part] = json.loads(text) if text else None
        except ValueError:
            rows[part] = None
    return healing(rows) or None


def lineage(repo: Path, ref: str) -> dict[str, Any]:
    name, commit, label = resolve(repo, ref)
    dvc_yaml = yaml.safe_load(_show(repo, commit, "dvc.yaml") or "") or {}
    declared = dvc_yaml.get("artifacts") or {}
    if name not in declared:
        raise ForgeError(
            f"{name}: not an artifact in dvc.yaml at {commit[:7]} "
            f"(declared: {', '.join(declared) or 'none'})"
        )
    lock_text = _show(repo, commit, "dvc.lock")
    if lock_text is None:
        raise ForgeError(f"{label}: no dvc.lock at {commit[:7]}; run the pipeline and commit it")
    lock = yaml.safe_load(lock_text)
    producers = _producers(lock)
    model_path = declared[name]["path"]
    top = _producer_of(model_path, producers)
    if top is None:
        raise ForgeError(f"{name}: no stage in dvc.lock at {commit[:7]} writes {model_path}")

    # upstream: every stage the model was made from; downstream: the ones that judged it
    upstream_of = {
        stage: {p for d in body.get("deps", []) if (p := _producer_of(d["path"], producers))}
        for stage, body in lock["stages"].items()
    }
    keep = {top} | _ancestors(top, upstream_of)
    keep |= {s for s in upstream_of if top in _ancestors(s, upstream_of)}
    stages: dict[str, Any] = {}
    for stage, body in lock["stages"].items():  # dvc.yaml order: sources first
        if stage not in keep:
            continue
        stages[stage] = {
            "deps": [
                {"path": d["path"], "md5": d.get("md5"), "kind": _kind(d["path"], producers)}
                for d in body.get("deps", [])
            ],
            "outs": [{"path": o["path"], "md5": o.get("md5")} for o in body.get("outs", [])],
            "params": (body.get("params") or {}).get("params.yaml", {}),
        }

    cards = _cards(repo, commit)
    sources = [
        {"path": dep["path"], "md5": dep["md5"]}
        for stage in stages.values()
        for dep in stage["deps"]
        if dep["kind"] == "source"
    ]
    # a dataset is listed when a source is its file or a directory that holds it
    datasets = [
        {key: card.get(key) for key in ("name", "path", "license", "source", "sha256", "card")}
        for path, card in sorted(cards.items())
        if any(path == s["path"] or path.startswith(s["path"].rstrip("/") + "/") for s in sources)
    ]

    manifest_text = _from_cache(repo, commit, f"{model_path}/manifest.json")
    config_text = _from_cache(repo, commit, f"{model_path}/forge_config.yaml")
    metrics_text = _show(repo, commit, METRICS)
    decision_text = _show(repo, commit, DECISION)
    attempts_text = _show(repo, commit, f"results/{top}/attempts.json")  # healing, if any
    decision = json.loads(decision_text) if decision_text else None
    model_params = next(
        (s["params"].get("model") for s in stages.values() if "model" in s["params"]), None
    )
    return {
        "artifact": name,
        "ref": label,
        "commit": commit,
        "model": {
            "path": model_path,
            "md5": next(o["md5"] for o in stages[top]["outs"] if o["path"] == model_path),
            "stage": top,
        },
        "base_model": {
            key: (model_params or {}).get(key) for key in ("name", "source", "hub_id", "revision")
        },
        "eval": json.loads(metrics_text) if metrics_text else None,
        "gates": (
            {g["gate"]: g["passed"] for g in json.loads(decision_text)["gates"]}
            if decision_text
            else None
        ),
        "train_config": yaml.safe_load(config_text) if config_text else None,
        "manifest": json.loads(manifest_text) if manifest_text else None,
        "attempts": json.loads(attempts_text) if attempts_text else None,
        "healed": {
            k: v for a in json.loads(attempts_text or "[]") for k, v in (a.get("fix") or {}).items()
        }
        or None,
        "healing": _healing(repo, commit, decision),
        "stages": stages,
        "sources": sorted(sources, key=lambda s: s["path"]),
        "datasets": datasets,
    }
