"""The evidence behind a tag, and the annotation that lets anyone check it.

The files a promotion rests on are read either from the workspace (`worktree`) or from a
commit (`at_commit`); the same checks run on both:

- results/eval/metrics.json and results/gate/decision.json hash to what dvc.lock says;
- every gate, recomputed from the metrics and params.yaml's gates (never read from the
  decision file), passes, and the decision file agrees with the recomputed one, down to how
  the candidate was healed (from the committed results/<part>/attempts.json).

A Forge tag (`NAME@vX.Y.Z`, `NAME#STAGE#N`) carries an annotation computed from the
tagged commit's committed files: the annotation format (`forge`), the `commit`, the sha256
of the metrics and of dvc.lock, the metrics, each gate's verdict and the overall verdict.
A tag verifies when its annotation is Forge's, names the commit the tag points at, equals
what those files give now, and the evidence at that commit passes every check above.
Anything else (a hand-made `git tag -a`, an edited annotation, a failing commit) is
`unverified`. That the metrics are what the model really scores is `--verify`'s job.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from forge.errors import ForgeError

FORMAT = 1  # the annotation format; a tag whose annotation has another is unverified
METRICS = "results/eval/metrics.json"
DECISION = "results/gate/decision.json"
REPORT = "results/prepare/report.json"
LOCK = "dvc.lock"
PARAMS = "params.yaml"
COMPARED = ("metrics_sha256", "dvc_lock_sha256", "metrics", "gates", "passed")

Read = Callable[[str], "bytes | None"]


def git(*args: str, repo: Path) -> str:
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    if proc.returncode != 0:
        why = next((x for x in proc.stderr.splitlines() if x.strip()), f"exit {proc.returncode}")
        raise ForgeError(f"git {' '.join(args)} in {repo}: {why}")
    return proc.stdout


def worktree(repo: Path) -> Read:
    """A file of the workspace as bytes (None if absent)."""

    def read(rel: str) -> bytes | None:
        path = repo / rel
        return path.read_bytes() if path.is_file() else None

    return read


def at_commit(repo: Path, commit: str) -> Read:
    """A file as committed at `commit` (None if the commit has no such file)."""

    def read(rel: str) -> bytes | None:
        proc = subprocess.run(
            ["git", "cat-file", "blob", f"{commit}:{rel}"], cwd=repo, capture_output=True
        )
        return proc.stdout if proc.returncode == 0 else None

    return read


def locked_md5(lock: dict[str, Any], path: str) -> str | None:
    stages = lock.get("stages") if isinstance(lock, dict) else None
    for stage in (stages or {}).values() if isinstance(stages, dict) else ():
        for out in (stage.get("outs") or []) if isinstance(stage, dict) else ():
            if isinstance(out, dict) and out.get("path") == path:
                return out.get("md5")
    return None


def _json(read: Read, rel: str) -> Any:
    raw = read(rel)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ForgeError(f"{rel}: not valid JSON ({exc})") from exc


def _yaml(read: Read, rel: str) -> Any:
    try:
        return yaml.safe_load(read(rel) or b"") or {}
    except yaml.YAMLError as exc:
        raise ForgeError(f"{rel}: not valid YAML ({getattr(exc, 'problem', exc)})") from exc


def _recompute(read: Read) -> tuple[dict[str, Any] | None, list[str]]:
    """The gate verdict recomputed from the metrics and params.yaml's gates (with prepare's
    report for the data gates, and the training parts' attempts for how the candidate was
    healed), and why there is none."""
    from forge.config.params import typed
    from forge.config.schema import GROUPS
    from forge.evaluate.gate import ATTEMPTS, verdict

    metrics = _json(read, METRICS)
    if not isinstance(metrics, dict):
        return None, [f"{METRICS}: missing; run `dvc repro` and commit"]
    params = _yaml(read, PARAMS)
    if not isinstance(params, dict) or not isinstance(params.get("gates"), dict):
        return None, [f"{PARAMS}: no gates section; run `forge compose`"]
    gates = typed(GROUPS["gates"], params["gates"], "gates")
    try:
        attempts = {part: _json(read, path) for part, path in ATTEMPTS.items()}
        healed = {part: rows for part, rows in attempts.items() if isinstance(rows, list)}
        return verdict(gates, metrics, _json(read, REPORT), healed), []
    except KeyError as exc:
        return None, [f"{METRICS}: no {exc} to gate on; rerun `dvc repro evaluate`"]


def problems(read: Read) -> list[str]:
    """Every reason the files `read` gives do not support a tag; empty means they do."""
    found = []
    lock = _yaml(read, LOCK)
    lock = lock if isinstance(lock, dict) else {}
    for rel in (METRICS, DECISION):
        want, data = locked_md5(lock, rel), read(rel)
        if want is None or data is None:
            found.append(f"{rel}: missing from dvc.lock or disk; run `dvc repro`")
            continue
        have = hashlib.md5(data).hexdigest()
        if have != want:
            found.append(
                f"{rel}: hash {have} does not match dvc.lock ({want}); "
                "it was edited after the pipeline wrote it"
            )
    if read(DECISION) is None or read(METRICS) is None:
        return found
    recomputed, why = _recompute(read)
    if recomputed is None:
        return found + why
    found += [
        f"{gate['gate']} failed: {gate['metric']} = {gate['value']} "
        f"(needs {gate['op']} {gate['threshold']})"
        for gate in recomputed["gates"]
        if not gate["passed"]
    ]
    recorded = _json(read, DECISION)
    if recorded != recomputed:
        recorded = recorded if isinstance(recorded, dict) else {}
        mine = {g["gate"]: g["passed"] for g in recomputed["gates"]}
        theirs = {
            g.get("gate"): g.get("passed") for g in recorded.get("gates", []) if isinstance(g, dict)
        }
        differ = sorted(str(k) for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
        found.append(
            f"{DECISION} disagrees with the gates recomputed from {METRICS} and params.yaml"
            + (f" ({', '.join(differ)})" if differ else "")
            + "; it was edited or is stale: rerun `dvc repro gate`"
        )
    return found


def _sha256(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


def annotation(repo: Path, commit: str, **extra: str) -> dict[str, Any]:
    """What a Forge tag on `commit` carries, from that commit's committed files."""
    read = at_commit(repo, commit)
    recomputed, _ = _recompute(read)
    return {
        "forge": FORMAT,
        "commit": commit,
        "metrics_sha256": _sha256(read(METRICS)),
        "dvc_lock_sha256": _sha256(read(LOCK)),
        "metrics": _json(read, METRICS),
        "gates": {g["gate"]: g["passed"] for g in (recomputed or {}).get("gates", [])},
        "passed": bool(recomputed and recomputed["passed"]),
        **extra,
    }


def message(repo: Path, commit: str, **extra: str) -> str:
    """The annotation as a tag message: one line of JSON."""
    return json.dumps(annotation(repo, commit, **extra), sort_keys=True)


def unverified(repo: Path, commit: str, text: str | None) -> str | None:
    """Why a tag on `commit` with message `text` does not verify; None when it does."""
    try:
        note = json.loads(text or "")
    except ValueError:
        note = None
    if not isinstance(note, dict) or note.get("forge") != FORMAT:
        return "no Forge annotation (a tag `forge promote` did not write)"
    if note.get("commit") != commit:
        named = str(note.get("commit"))[:7]
        return f"its annotation names commit {named}, but the tag points at {commit[:7]}"
    try:
        want = annotation(repo, commit)
        differ = [key for key in COMPARED if note.get(key) != want[key]]
        if differ:
            return f"its annotation's {', '.join(differ)} differ from the files at {commit[:7]}"
        found = problems(at_commit(repo, commit))
    except ForgeError as exc:
        return f"the files at {commit[:7]} do not check ({exc})"
    return f"at {commit[:7]}: {found[0]}" if found else None


def _verifier(repo: Path):
    """`unverified` of a GTO event, checked once per (commit, annotation)."""
    seen: dict[tuple[str, str], str | None] = {}

    def why(event: dict[str, Any]) -> str | None:
        key = (event["commit"], event.get("message") or "")
        if key not in seen:
            seen[key] = unverified(repo, event["commit"], event.get("message"))
        return seen[key]

    return why


def history(repo: Path, name: str) -> list[dict[str, Any]]:
    """GTO's events for `name`, newest first, each with the gate verdicts its tag's
    annotation carries and why the tag does not verify (None when it does)."""
    from gto import api

    why = _verifier(repo)
    out = []
    for event in api.history(str(repo), name):
        try:
            note = json.loads(event.get("message") or "")
        except ValueError:
            note = None
        note = note if isinstance(note, dict) else {}
        out.append(
            {
                **{k: event.get(k) for k in ("timestamp", "event", "version", "stage", "ref")},
                "commit": event["commit"],
                "gates": note.get("gates") or {},
                "passed": note.get("passed"),
                "unverified": why(event),
            }
        )
    return out


def tags(repo: Path, name: str, shown: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The tags behind `shown` (one artifact's `gto show` row) that do not verify:
    {"versions": {version: why}, "stages": {stage: why}}, each empty when all verify.
    Only the tags shown are checked."""
    from gto import api

    events = api.history(str(repo), name)
    why = _verifier(repo)

    out: dict[str, dict[str, str]] = {"versions": {}, "stages": {}}
    registered = {e["version"]: e for e in events if e["event"] == "registration"}
    for version in {shown.get("version"), *(shown.get("stage") or {}).values()} - {None}:
        event = registered.get(version)
        reason = why(event) if event else "no version tag"
        if reason:
            out["versions"][version] = reason
    for stage, version in (shown.get("stage") or {}).items():
        if version is None:
            continue
        assigned = [
            e
            for e in events
            if e["event"] == "assignment" and e["stage"] == stage and e["version"] == version
        ]
        assigned.sort(key=lambda e: tag_number(e["ref"]))
        reason = why(assigned[-1]) if assigned else "no stage tag"
        if reason:
            out["stages"][stage] = reason
    return out


def tag_number(ref: str) -> int:
    tail = ref.rsplit("#", 1)[-1]
    return int(tail) if tail.isdigit() else -1
