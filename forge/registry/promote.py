"""Promotion: GTO git tags (`NAME@vX.Y.Z`, `NAME#STAGE#N`) written only behind the gate.

Before tagging, every check runs and every failure is reported, one reason each:
a clean git tree, an up-to-date pipeline, metrics and decision files whose hashes equal
those in dvc.lock (so hand edits are caught), and every gate recomputed from the metrics
(forge.registry.evidence). Each tag carries the evidence's annotation, so `forge models`
and `forge rollback` can tell Forge's tags from hand-made ones.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from forge.errors import ForgeError, PromotionRefused
from forge.registry import evidence
from forge.registry.evidence import DECISION, METRICS, locked_md5  # noqa: F401 (lineage)

_git = evidence.git


def _gto(call: str, *args: Any, **kwargs: Any) -> Any:
    """gto.api.<call>, with GTO's own errors turned into one-line ForgeErrors."""
    from gto import api
    from gto.exceptions import GTOException
    from scmrepo.exceptions import SCMError

    try:
        return getattr(api, call)(*args, **kwargs)
    except GTOException as exc:
        raise ForgeError(f"gto: {exc}") from exc
    except SCMError as exc:  # e.g. not a git repository
        raise ForgeError(f"gto: {exc}", hint="run from a Forge project's git repository") from exc


# GTO's artifact and stage names (gto.constants.name), matched whole; a SemVer with a `v`
NAME = re.compile(r"[a-zA-Z0-9]([a-zA-Z0-9_/-]*[a-zA-Z0-9])?")
VERSION = re.compile(
    r"v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?"
)


def shown(value: str, width: int = 60) -> str:
    """A user's value as an error names it: quoted, escaped, and cut short."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 4] + "...'"


def check_arg(what: str, value: str, pattern: re.Pattern = NAME) -> str:
    if len(value) > 100 or not pattern.fullmatch(value):
        if pattern is VERSION:
            raise ForgeError(f"{what} {shown(value)}: not a version like v1.2.0")
        raise ForgeError(
            f"{what} {shown(value)}: not a valid name (letters, digits, '_', '-', '/'; "
            "starting and ending with a letter or digit)"
        )
    return value


def artifacts(repo: Path) -> dict[str, Any]:
    path = repo / "dvc.yaml"
    if not path.is_file():
        raise ForgeError(f"{path} not found", hint="run from a Forge project")
    dvc_yaml = yaml.safe_load(path.read_text()) or {}
    return dvc_yaml.get("artifacts") or {}


def checks(repo: Path) -> list[str]:
    """Every reason not to promote the checked-out commit; empty means go."""
    problems = []
    dirty = [
        line[3:]
        for line in _git("status", "--porcelain", "--untracked-files=no", repo=repo).splitlines()
    ]
    if dirty:
        problems.append(f"the git tree is dirty ({', '.join(dirty[:5])}); commit or stash first")
    from forge import dvc

    status = dvc.run("status", "--json", cwd=repo)
    stale = sorted(json.loads(status.stdout or "{}")) if status.returncode == 0 else ["?"]
    if stale:
        problems.append(
            f"the pipeline is not up to date (stale: {', '.join(stale)}); "
            "run `dvc repro` and commit dvc.lock"
        )
    return problems + evidence.problems(evidence.worktree(repo))


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
    tol, level = gates.regression_tolerance, f"{gates.regression_confidence:.0%}"
    bound = (  # higher is better: the upper bound is below -tol; lower is better: mirrored
        f"{level} upper bound {c.delta_high:+.3f} < -{tol}"
        if c.higher_is_better
        else f"{level} lower bound {c.delta_low:+.3f} > +{tol}"
    )
    return [
        f"regression against {name}@{holder} in {stage}: {c.metric} {c.baseline:.3f} -> "
        f"{c.candidate:.3f} (delta {c.delta:+.3f}, {bound})"
    ]


def promote(
    repo: Path,
    name: str,
    stage: str,
    version: str | None = None,
    bump: str | None = None,
    verify: bool = False,
    rev: str | None = None,
) -> dict[str, str]:
    """Tag the checked-out commit; with `rev`, only if it names that commit (required
    when HEAD is detached)."""
    from gto import api
    from gto.exceptions import ArtifactNotFound

    check_arg("artifact", name)
    check_arg("--stage", stage)
    if version is not None:
        check_arg("--version", version, VERSION)
    if bump not in (None, "major", "minor", "patch"):
        raise ForgeError(f"--bump {shown(bump)}: not one of major, minor, patch")
    declared = artifacts(repo)
    if name not in declared:
        raise ForgeError(
            f"{name}: not an artifact in dvc.yaml (declared: {', '.join(declared) or 'none'})",
            hint="add it under `artifacts:`",
        )
    head = _git("rev-parse", "HEAD", repo=repo).strip()
    named = _commit(repo, rev) if rev is not None else None
    problems = checks(repo)
    detached = subprocess.run(["git", "symbolic-ref", "-q", "HEAD"], cwd=repo, capture_output=True)
    if named is not None and named != head:
        problems.insert(
            0,
            f"--rev {rev} is {named[:7]}, but the checked-out commit is {head[:7]}; check it "
            f"out first (git checkout {named[:7]}), so the checks run on its files",
        )
    elif detached.returncode != 0 and named is None:
        problems.insert(
            0,
            f"HEAD is detached at {head[:7]}; promote from a branch (git switch BRANCH), or "
            f"name the commit with --rev {head[:7]}",
        )
    if not problems:
        problems += regression(repo, name, stage, head)
    if not problems and verify:
        from forge.registry.verify import verify as rebuild

        problems += rebuild(repo)
    if problems:
        raise PromotionRefused(problems)
    msg = evidence.message(repo, head)
    try:
        latest = api.find_latest_version(str(repo), name)
    except ArtifactNotFound:  # no tag yet: the first registration
        latest = None
    if latest is not None and latest.commit_hexsha == head:
        tag_version = latest.version  # this commit is registered: only assign the stage
        why = _unverified_version(repo, name, tag_version)
        if why:
            raise PromotionRefused(
                [
                    f"{name}@{tag_version} on this commit is unverified ({why}); delete that "
                    f"tag (git tag -d {name}@{tag_version}) and promote again"
                ]
            )
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


def rollback(repo: Path, name: str, stage: str, allow_unverified: bool = False) -> dict[str, str]:
    """Re-assign STAGE to the version that held it before the current one; never to an
    unverified version (see forge.registry.evidence) unless `allow_unverified`."""
    check_arg("artifact", name)
    check_arg("--stage", stage)
    history = [
        e
        for e in _gto("history", str(repo), name)
        if e["event"] == "assignment" and e["stage"] == stage
    ]
    history.sort(key=lambda e: evidence.tag_number(e["ref"]))  # NAME#STAGE#N, N grows
    if not history:
        raise ForgeError(f"{name}: nothing has been assigned to {stage}")
    current = history[-1]["version"]
    previous = next((e["version"] for e in reversed(history) if e["version"] != current), None)
    if previous is None:
        raise ForgeError(
            f"{name}#{stage}: {current} is the only version it ever held; nothing to roll back to"
        )
    commit = next(e["commit"] for e in history if e["version"] == previous)
    why = _unverified_version(repo, name, previous)
    if why and not allow_unverified:
        raise PromotionRefused(
            [
                f"{name}@{previous}, the version {stage} held before {current}, is unverified "
                f"({why}); pass --allow-unverified to roll back to it anyway"
            ]
        )
    _check_cached(repo, name, commit)
    _gto(
        "assign",
        str(repo),
        name,
        stage,
        version=previous,
        message=evidence.message(repo, commit, note=f"rollback from {current}"),
        skip_registration=True,
        force=True,  # the version held this stage before; a new assignment tag is the point
    )
    return {"name": name, "stage": stage, "version": previous, "replaced": current,
            "unverified": why}  # fmt: skip


def deprecate(repo: Path, name: str, stage: str) -> dict[str, str]:
    """Take STAGE away from the version holding it (GTO's unassign: a NAME#STAGE!#N tag, so
    the history keeps both the assignment and its withdrawal). It lowers trust, so no gate
    stands in its way; `forge rollback` or a promotion gives the stage a version again."""
    check_arg("artifact", name)
    check_arg("--stage", stage)
    holder = (_gto("show", str(repo)).get(name) or {}).get("stage", {}).get(stage)
    if holder is None:
        raise ForgeError(f"{name}#{stage}: no version holds this stage; nothing to deprecate")
    _gto(
        "unassign",
        str(repo),
        name,
        version=holder,
        stage=stage,
        message=f"forge deprecate: {name}@{holder} leaves {stage}",
    )
    return {"name": name, "stage": stage, "version": holder}


def _unverified_version(repo: Path, name: str, version: str) -> str | None:
    """Why NAME@VERSION's tag does not verify; None when it does."""
    for event in _gto("history", str(repo), name):
        if event["event"] == "registration" and event["version"] == version:
            return evidence.unverified(repo, event["commit"], event.get("message"))
    return "no version tag"


def _commit(repo: Path, rev: str) -> str:
    """The commit `rev` names; one line when it names none."""
    from forge.registry.refs import commit_of

    return commit_of(rev, repo, "--rev")


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
    the headline metrics each of those versions was promoted with (read at its tag), and
    `unverified`: the versions and stages whose tags do not verify, each with the reason."""
    shown = _gto("show", str(repo))
    for name, row in shown.items():
        row["metrics"] = {}
        for version in {row["version"], *row["stage"].values()} - {None}:
            text = subprocess.run(
                ["git", "show", f"refs/tags/{name}@{version}:{METRICS}"],
                cwd=repo,
                capture_output=True,
                text=True,
            ).stdout
            try:
                metrics = json.loads(text) if text else {}
            except ValueError:
                metrics = {}
            metrics = metrics if isinstance(metrics, dict) else {}
            row["metrics"][version] = {k: metrics[k] for k in HEADLINE if k in metrics}
        row["unverified"] = evidence.tags(repo, name, row)
    return shown
