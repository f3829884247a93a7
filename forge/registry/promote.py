"""Promotion: GTO git tags (`NAME@vX.Y.Z`, `NAME#STAGE#N`) written only behind the gate.

Before tagging, every check runs and every failure is reported, one reason each:
a clean git tree, an up-to-date pipeline, metrics and decision files whose hashes equal
those in dvc.lock (so hand edits are caught), and a gate decision that passed.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from forge.errors import ForgeError, PromotionRefused

METRICS = "results/eval/metrics.json"
DECISION = "results/gate/decision.json"
REPORT = "results/prepare/report.json"


def _git(*args: str, repo: Path) -> str:
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    if proc.returncode != 0:
        why = next((x for x in proc.stderr.splitlines() if x.strip()), f"exit {proc.returncode}")
        raise ForgeError(f"git {' '.join(args)} in {repo}: {why}")
    return proc.stdout


def _gto(call: str, *args: Any, **kwargs: Any) -> Any:
    """gto.api.<call>, with GTO's own errors turned into one-line ForgeErrors."""
    from gto import api
    from gto.exceptions import GTOException

    try:
        return getattr(api, call)(*args, **kwargs)
    except GTOException as exc:
        raise ForgeError(f"gto: {exc}") from exc


def artifacts(repo: Path) -> dict[str, Any]:
    path = repo / "dvc.yaml"
    if not path.is_file():
        raise ForgeError(f"{path} not found", hint="run from a Forge project")
    dvc_yaml = yaml.safe_load(path.read_text()) or {}
    return dvc_yaml.get("artifacts") or {}


def locked_md5(lock: dict[str, Any], path: str) -> str | None:
    for stage in lock.get("stages", {}).values():
        for out in stage.get("outs", []):
            if out["path"] == path:
                return out.get("md5")
    return None


def checks(repo: Path) -> list[str]:
    """Every reason not to promote the checked-out commit; empty means go."""
    problems = []
    dirty = [
        line[3:]
        for line in _git("status", "--porcelain", "--untracked-files=no", repo=repo).splitlines()
    ]
    if dirty:
        problems.append(f"the git tree is dirty ({', '.join(dirty[:5])}); commit or stash first")
    status = subprocess.run(
        [sys.executable, "-m", "dvc", "status", "--json"], cwd=repo, capture_output=True, text=True
    )
    stale = sorted(json.loads(status.stdout or "{}")) if status.returncode == 0 else ["?"]
    if stale:
        problems.append(
            f"the pipeline is not up to date (stale: {', '.join(stale)}); "
            "run `dvc repro` and commit dvc.lock"
        )
    lock_path = repo / "dvc.lock"
    lock = yaml.safe_load(lock_path.read_text()) if lock_path.is_file() else {}
    for rel in (METRICS, DECISION):
        want, path = locked_md5(lock, rel), repo / rel
        if want is None or not path.is_file():
            problems.append(f"{rel}: missing from dvc.lock or disk; run `dvc repro`")
            continue
        have = hashlib.md5(path.read_bytes()).hexdigest()
        if have != want:
            problems.append(
                f"{rel}: hash {have} does not match dvc.lock ({want}); "
                "it was edited after the pipeline wrote it"
            )
    if (repo / DECISION).is_file() and (repo / METRICS).is_file():
        problems += _gates(repo)
    return problems


def _gates(repo: Path) -> list[str]:
    """The gates recomputed from the committed metrics and params.yaml's gates (never the
    decision file's own verdicts), and a refusal where the decision file disagrees."""
    from forge.config.params import load_group
    from forge.evaluate.gate import verdict

    report_path = repo / REPORT
    report = json.loads(report_path.read_text()) if report_path.is_file() else None
    metrics = json.loads((repo / METRICS).read_text())
    try:
        recomputed = verdict(load_group("gates", repo / "params.yaml"), metrics, report)
    except KeyError as exc:
        return [f"{METRICS}: no {exc} to gate on; rerun `dvc repro evaluate`"]
    problems = [
        f"{gate['gate']} failed: {gate['metric']} = {gate['value']} "
        f"(needs {gate['op']} {gate['threshold']})"
        for gate in recomputed["gates"]
        if not gate["passed"]
    ]
    recorded = json.loads((repo / DECISION).read_text())
    if recorded != recomputed:
        mine = {g["gate"]: g["passed"] for g in recomputed["gates"]}
        theirs = {g.get("gate"): g.get("passed") for g in recorded.get("gates", [])}
        differ = sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
        problems.append(
            f"{DECISION} disagrees with the gates recomputed from {METRICS} and params.yaml"
            + (f" ({', '.join(str(k) for k in differ)})" if differ else "")
            + "; it was edited or is stale: rerun `dvc repro gate`"
        )
    return problems


def regression(repo: Path, name: str, stage: str, head: str) -> list[str]:
    """A problem if the candidate is significantly worse than the model now in STAGE."""
    from forge.config.params import load_group
    from forge.evaluate.compare import compare_revs

    holder = (_gto("show", str(repo)).get(name) or {}).get("stage", {}).get(stage)
    if holder is None:
        return []
    holder_commit = _git("rev-list", "-n", "1", f"{name}@{holder}", repo=repo).strip()
    if holder_commit == head:
        return []
    gates = load_group("gates", repo / "params.yaml")
    c = compare_revs(
        repo, holder_commit, head, gates.regression_tolerance, gates.regression_confidence
    )
    if not c.regressed:
        return []
    return [
        f"regression against {name}@{holder} in {stage}: {c.metric} {c.baseline:.3f} -> "
        f"{c.candidate:.3f} (delta {c.delta:+.3f}, {gates.regression_confidence:.0%} upper "
        f"bound {c.delta_high:+.3f} < -{gates.regression_tolerance})"
    ]


def message(repo: Path) -> str:
    metrics = json.loads((repo / METRICS).read_text())
    decision = json.loads((repo / DECISION).read_text())
    return json.dumps(
        {"metrics": metrics, "gates": {g["gate"]: g["passed"] for g in decision["gates"]}},
        sort_keys=True,
    )


def promote(
    repo: Path,
    name: str,
    stage: str,
    version: str | None = None,
    bump: str | None = None,
    verify: bool = False,
) -> dict[str, str]:
    from gto import api
    from gto.exceptions import ArtifactNotFound

    declared = artifacts(repo)
    if name not in declared:
        raise ForgeError(
            f"{name}: not an artifact in dvc.yaml (declared: {', '.join(declared) or 'none'})",
            hint="add it under `artifacts:`",
        )
    problems = checks(repo)
    head = _git("rev-parse", "HEAD", repo=repo).strip()
    detached = subprocess.run(["git", "symbolic-ref", "-q", "HEAD"], cwd=repo, capture_output=True)
    if detached.returncode != 0:
        problems.insert(
            0,
            f"HEAD is detached at {head[:7]}; promote from a branch (git switch BRANCH), so the "
            "tag's commit is one that history keeps",
        )
    if not problems:
        problems += regression(repo, name, stage, head)
    if not problems and verify:
        from forge.registry.verify import verify as rebuild

        problems += rebuild(repo)
    if problems:
        raise PromotionRefused(problems)
    msg = message(repo)
    try:
        latest = api.find_latest_version(str(repo), name)
    except ArtifactNotFound:  # no tag yet: the first registration
        latest = None
    if latest is not None and latest.commit_hexsha == head:
        tag_version = latest.version  # this commit is registered: only assign the stage
        holder = (_gto("show", str(repo)).get(name) or {}).get("stage", {}).get(stage)
        if holder == tag_version:
            return {"name": name, "version": tag_version, "stage": stage, "commit": head,
                    "unchanged": True}  # fmt: skip
    else:
        first = latest is None
        event = _gto(
            "register",
            str(repo),
            name,
            head,
            version=version,
            message=msg,
            bump_major=not first and not version and bump == "major",
            bump_minor=not first and not version and bump == "minor",
            bump_patch=not first and not version and bump in (None, "patch"),
        )
        tag_version = event.version
    _gto("assign", str(repo), name, stage, version=tag_version, message=msg, skip_registration=True)
    return {"name": name, "version": tag_version, "stage": stage, "commit": head}


def rollback(repo: Path, name: str, stage: str) -> dict[str, str]:
    """Re-assign STAGE to the version that held it before the current one."""
    from gto import api

    history = [
        e
        for e in api.history(str(repo), name)
        if e["event"] == "assignment" and e["stage"] == stage
    ]
    history.sort(key=lambda e: int(e["ref"].rsplit("#", 1)[1]))  # NAME#STAGE#N, N grows
    if not history:
        raise ForgeError(f"{name}: nothing has been assigned to {stage}")
    current = history[-1]["version"]
    previous = next((e["version"] for e in reversed(history) if e["version"] != current), None)
    if previous is None:
        raise ForgeError(
            f"{name}#{stage}: {current} is the only version it ever held; nothing to roll back to"
        )
    commit = next(e["commit"] for e in history if e["version"] == previous)
    _check_cached(repo, name, commit)
    _gto(
        "assign",
        str(repo),
        name,
        stage,
        version=previous,
        message=f"rollback from {current}",
        skip_registration=True,
        force=True,  # the version held this stage before; a new assignment tag is the point
    )
    return {"name": name, "stage": stage, "version": previous, "replaced": current}


def _check_cached(repo: Path, name: str, commit: str) -> None:
    """The artifact's outputs at `commit` must still be in the DVC cache."""
    path = artifacts(repo)[name]["path"]
    lock = yaml.safe_load(_git("show", f"{commit}:dvc.lock", repo=repo))
    md5 = locked_md5(lock, path)
    cache = repo / ".dvc" / "cache" / "files" / "md5"
    if md5 and ((cache / md5[:2] / md5[2:]).exists() or _in_remote(repo, md5)):
        return
    raise ForgeError(
        f"{name}: {path} of {commit[:7]} is in neither the DVC cache nor the default remote",
        hint="push it from a machine that has it (`dvc push`), or configure the remote",
    )


def _in_remote(repo: Path, md5: str) -> bool:
    from dvc.config import NoRemoteError
    from dvc.repo import Repo

    try:
        with Repo(str(repo)) as dvc_repo:
            return dvc_repo.cloud.get_remote_odb(command="rollback").exists(md5)
    except NoRemoteError:
        return False


HEADLINE = ("eval/candidate/exact_match", "eval/candidate/perplexity")


def models(repo: Path) -> dict[str, Any]:
    """Per artifact: latest version and the version in each stage, as `gto show` has them,
    plus the headline metrics each of those versions was promoted with (read at its tag)."""
    from gto import api

    shown = api.show(str(repo))
    for name, row in shown.items():
        row["metrics"] = {}
        for version in {row["version"], *row["stage"].values()} - {None}:
            text = subprocess.run(
                ["git", "show", f"{name}@{version}:{METRICS}"],
                cwd=repo,
                capture_output=True,
                text=True,
            ).stdout
            metrics = json.loads(text) if text else {}
            row["metrics"][version] = {k: metrics[k] for k in HEADLINE if k in metrics}
    return shown
