"""`forge promote --verify`: rebuild the evidence instead of reading it.

The checked-out commit's candidate, base model, warm start and prepared data are checked
out of the DVC cache (or pulled from the default remote) into a temporary git worktree,
the evaluate stage reruns there exactly as `dvc.yaml` declares it, and its metrics must
equal the committed `results/eval/metrics.json` within METRIC_TOLERANCE (the metrics are
written rounded to 6 decimals; evaluation is greedy and deterministic on the same machine).
A metrics file improved by hand, even with a consistent `dvc.lock` and gate decision, fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from forge.errors import ForgeError

METRICS = "results/eval/metrics.json"
INPUTS = ("models/base", "models/sft", "models/candidate", "data/prepared")
METRIC_TOLERANCE = 1e-6


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "PATH": path}
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)


def _dvc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    from forge import dvc

    return dvc.run(*args, cwd=cwd)


def _tail(proc: subprocess.CompletedProcess) -> str:
    lines = [x for x in (proc.stderr + proc.stdout).splitlines() if x.strip()]
    return lines[-1] if lines else f"exit {proc.returncode}"


def differences(committed: dict[str, float], rebuilt: dict[str, float]) -> list[str]:
    """Each metric that differs (or exists on one side only) beyond the tolerance."""
    out = []
    for key in sorted(committed.keys() | rebuilt.keys()):
        a, b = committed.get(key), rebuilt.get(key)
        if a is None or b is None or abs(float(a) - float(b)) > METRIC_TOLERANCE:
            out.append(f"{key}: committed {a}, rebuilt {b}")
    return out


def verify(repo: Path) -> list[str]:
    """Problems found by rerunning evaluate on HEAD's artifacts; empty means they match."""
    repo = repo.resolve()
    committed_path = repo / METRICS
    if not committed_path.is_file():
        return [f"{METRICS}: not committed; run `dvc repro` and commit"]
    committed = json.loads(committed_path.read_text())
    with tempfile.TemporaryDirectory(prefix="forge-verify-") as tmp:
        work = Path(tmp) / "work"
        added = _run(["git", "worktree", "add", "-q", "--detach", str(work), "HEAD"], repo)
        if added.returncode != 0:
            raise ForgeError(f"--verify: cannot make a worktree of HEAD ({_tail(added)})")
        try:
            return _rebuild(repo, work, committed)
        finally:
            _run(["git", "worktree", "remove", "--force", str(work)], repo)


def _rebuild(repo: Path, work: Path, committed: dict[str, float]) -> list[str]:
    cache = _dvc("cache", "dir", cwd=repo).stdout.strip() or str(repo / ".dvc" / "cache")
    _dvc("cache", "dir", "--local", cache, cwd=work)
    got = _dvc("checkout", *INPUTS, cwd=work)
    if got.returncode != 0:  # not (all) in the local cache: the default remote
        got = _dvc("pull", *INPUTS, cwd=work)
    if got.returncode != 0:
        return [
            f"--verify: the candidate's inputs are in neither the DVC cache nor the default "
            f"remote ({_tail(got)}); `dvc push` them from a machine that has them"
        ]
    rerun = _dvc("repro", "--force", "--single-item", "evaluate", cwd=work)
    if rerun.returncode != 0:
        return [f"--verify: evaluate failed when rerun ({_tail(rerun)})"]
    rebuilt = json.loads((work / METRICS).read_text())
    return [
        f"--verify: {d} (the committed metrics are not what this model scores)"
        for d in differences(committed, rebuilt)
    ]
