"""Training runs as DVC experiments, for the server (POST /runs/launch and friends).

A run is one experiment made the way `forge sweep` makes each point (forge/sweep/worker.py):
in its own `git clone --shared` of HEAD under .forge/runs/<id>/work, sharing the repo's DVC
cache, params.yaml written as `forge compose` writes it, then `dvc exp run --no-hydra`. The
workspace and the committed outputs are never touched while it trains; only `finish`
writes the repo (it fetches the experiment's ref, refs/exps/...), so the caller runs it
where repo writes are serialised. The run's record (.forge/runs/<id>/run.json) says where
it is: queued, running, done, failed or cancelled. Experiments made elsewhere (`dvc exp
run`, `forge sweep`) are listed from their refs, and the workspace's own committed run as
`workspace`."""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from forge.api.ids import Conflict, NotFound
from forge.errors import ForgeError

RUNS = Path(".forge/runs")
RUN_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")  # fullmatch: no '/', '..', '-x', newline
PLOTS = "results/train/plots/metrics"
FINAL = ("queued", "running")
_lock = threading.Lock()


class RunNotFound(NotFound):
    """No launched run, experiment ref or workspace by that id."""


class RunConflict(Conflict):
    """The run is not in a state that allows this (cancel a finished run)."""


def check_id(run_id: str) -> str:
    """`run_id` when it is a run's name; ForgeError otherwise (before any path or ref)."""
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
        raise ForgeError(
            f"run id {run_id[:60]!r}: lower case letters, digits and '-', not starting with '-'"
        )
    return run_id


def _git(*args: str, cwd: Path = Path(".")) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _record_path(run_id: str) -> Path:
    return RUNS / run_id / "run.json"


def _read(run_id: str) -> dict[str, Any] | None:
    try:
        return json.loads(_record_path(run_id).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write(record: dict[str, Any]) -> dict[str, Any]:
    path = _record_path(record["id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True), encoding="utf-8")
    tmp.replace(path)
    return record


def _update(run_id: str, **changes: Any) -> dict[str, Any]:
    with _lock:
        record = _read(run_id) or {"id": run_id}
        record.update(changes)
        return _write(record)


def launch(
    overrides: list[str],
    commit: str | None = None,
    conf: Path = Path("conf"),
    kind: str = "train",
) -> dict[str, Any]:
    """Validate `overrides` (as forge compose does, with `conf`) and record a queued run at
    `commit` (default HEAD); the caller then calls `execute` (in the background) and
    `finish`."""
    from forge.api.config import COMPOSE
    from forge.config import compose as c

    overrides = [str(o) for o in overrides]
    with COMPOSE:
        text = c.render(c.compose(overrides, conf), overrides)
    head = _git("rev-parse", "--verify", f"{commit or 'HEAD'}^{{commit}}")
    if head.returncode != 0:
        raise ForgeError("a run is a DVC experiment, which needs a commit", hint="git commit")
    run_id = f"run-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"
    folder = RUNS / run_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "params.yaml").write_text(text, encoding="utf-8")
    return _write(
        {
            "id": run_id,
            "status": "queued",
            "kind": kind,
            "overrides": overrides,
            "baseline": head.stdout.strip(),
            "created": _now(),
            "started": None,
            "finished": None,
            "exp_ref": None,
            "exp_sha": None,
            "error": None,
        }
    )


def _cache_dir() -> str:
    from dvc.repo import Repo

    with Repo(".") as repo:
        return str(Path(repo.cache.local_cache_dir).resolve())


def execute(run_id: str, on_start: Callable[[subprocess.Popen], None] | None = None) -> dict:
    """Train a queued run in its own clone (forge.sweep.worker); returns the record. Writes
    nothing in the repo: `finish` brings the experiment in."""
    record = _read(check_id(run_id))
    if record is None or record["status"] != "queued":
        return record or {}
    folder = (RUNS / run_id).resolve()
    spec = {
        "repo": str(Path(".").resolve()),
        "baseline": record["baseline"],
        "cache_dir": _cache_dir(),
        "name": run_id,
        "params_text": (folder / "params.yaml").read_text(encoding="utf-8"),
        "workdir": str(folder / "work"),
        "log": str(folder / "train.log"),
    }
    (folder / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "forge.sweep.worker", str(folder / "spec.json")],
        start_new_session=True,  # its own process group: cancel kills dvc and training too
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _update(run_id, status="running", started=_now(), pgid=proc.pid)
    if on_start is not None:
        on_start(proc)
    proc.wait()
    if (_read(run_id) or {}).get("status") == "cancelled":
        return _read(run_id) or {}
    result_path = folder / "spec.result.json"
    try:
        result = json.loads(result_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        result = {"ok": False, "error": f"the run's worker exited {proc.returncode}"}
    if not result.get("ok"):
        return _update(run_id, status="failed", finished=_now(), error=result.get("error"))
    return _update(run_id, exp_ref=result["exp_ref"], exp_sha=result["exp_sha"])


def finish(run_id: str) -> dict[str, Any]:
    """Fetch a trained run's experiment ref into the repo (a repo write) and mark it done."""
    record = _read(check_id(run_id)) or {}
    if record.get("status") != "running" or not record.get("exp_ref"):
        return record
    ref = record["exp_ref"]
    work = (RUNS / run_id / "work").resolve()
    proc = _git(
        "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", str(work), f"+{ref}:{ref}"
    )
    if proc.returncode != 0:
        return _update(run_id, status="failed", finished=_now(), error=proc.stderr.strip())
    return _update(run_id, status="done", finished=_now())


def cancel(run_id: str) -> dict[str, Any]:
    """Stop a queued or running run (its whole process group); RunConflict when it ended."""
    record = get_record(run_id)
    if record["status"] not in FINAL:
        raise RunConflict(f"run {run_id} is {record['status']}; only a queued or running run stops")
    pgid = record.get("pgid")
    record = _update(run_id, status="cancelled", finished=_now(), error="cancelled")
    if pgid:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            time.sleep(1.0)
    return record


def get_record(run_id: str) -> dict[str, Any]:
    """A run's record: a launched run's, an experiment ref's, or the workspace's."""
    check_id(run_id)
    record = _read(run_id)
    if record is not None:
        return record
    if run_id == "workspace":
        head = _git("rev-parse", "HEAD").stdout.strip() or None
        return {"id": "workspace", "status": "done", "exp_sha": head, "exp_ref": None}
    for ref, sha in _exp_refs():
        if ref.rsplit("/", 1)[-1] == run_id:
            return {"id": run_id, "status": "done", "exp_ref": ref, "exp_sha": sha}
    raise RunNotFound(f"run {run_id}: no such run or experiment", hint="GET /runs lists them")


def _exp_refs() -> list[tuple[str, str]]:
    out = _git("for-each-ref", "--format=%(refname) %(objectname)", "refs/exps").stdout
    rows = [tuple(line.split()) for line in out.splitlines() if "/exec/" not in line]
    return [r for r in rows if len(r) == 2]  # type: ignore[misc]


def list_runs() -> list[dict[str, Any]]:
    """Launched runs (newest first), then other experiments by ref, then `workspace`."""
    launched = []
    if RUNS.is_dir():
        for folder in sorted(RUNS.iterdir(), reverse=True):
            record = _read(folder.name) if RUN_ID.fullmatch(folder.name) else None
            if record is not None:
                launched.append(record)
    known = {r["id"] for r in launched}
    others = [
        {"id": ref.rsplit("/", 1)[-1], "status": "done", "exp_ref": ref, "exp_sha": sha}
        for ref, sha in _exp_refs()
        if ref.rsplit("/", 1)[-1] not in known
    ]
    return [*launched, *others, get_record("workspace")]


def get_run(run_id: str) -> dict[str, Any]:
    """A run's record with its eval metrics and gate decision once it has them."""
    record = dict(get_record(run_id))
    record["metrics"] = _json_at(record, "results/eval/metrics.json")
    record["decision"] = _json_at(record, "results/gate/decision.json")
    return record


def _where(record: dict[str, Any]) -> tuple[Path | None, str | None]:
    """(directory, None) to read a file from disk, or (None, commit) to read it from git."""
    if record["id"] == "workspace":
        return Path("."), None
    work = RUNS / record["id"] / "work"
    if record.get("status") == "running" or (not record.get("exp_sha") and work.is_dir()):
        return work, None
    return None, record.get("exp_sha")


def _text(record: dict[str, Any], rel: str) -> str | None:
    folder, commit = _where(record)
    if folder is not None:
        path = folder / rel
        return path.read_text(encoding="utf-8") if path.is_file() else None
    if commit is None:
        return None
    proc = _git("show", f"{commit}:{rel}")
    return proc.stdout if proc.returncode == 0 else None


def _committed(record: dict[str, Any], rel: str) -> str | None:
    proc = _git("show", f"{record.get('baseline')}:{rel}")
    return proc.stdout if proc.returncode == 0 else None


def _json_at(record: dict[str, Any], rel: str) -> Any:
    text = _text(record, rel)
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def _series_files(record: dict[str, Any]) -> list[str]:
    folder, commit = _where(record)
    if folder is not None:
        root = folder / PLOTS
        files = sorted(root.rglob("*.tsv")) if root.is_dir() else []
        return [p.relative_to(folder).as_posix() for p in files]
    if commit is None:
        return []
    out = _git("ls-tree", "-r", "--name-only", commit, PLOTS).stdout
    return [p for p in out.splitlines() if p.endswith(".tsv")]


def metrics(run_id: str, last_n: int | None = None) -> dict[str, Any]:
    """The run's dvclive series (results/train/plots/metrics/*.tsv), each a list of
    {step, value}, the last `last_n` points of each when given."""
    if last_n is not None and last_n < 1:
        raise ForgeError(f"last_n: {last_n} must be at least 1")
    record = get_record(run_id)
    series: dict[str, list[dict[str, float]]] = {}
    for rel in _series_files(record):
        text = _text(record, rel) or ""
        if record.get("status") == "running" and text == _committed(record, rel):
            continue  # the clone's copy of the baseline's series: this run has not logged yet
        lines = text.splitlines()
        points = []
        for line in lines[1:]:
            cells = line.split("\t")
            try:
                points.append({"step": int(float(cells[0])), "value": float(cells[-1])})
            except (ValueError, IndexError):
                continue
        name = rel[len(PLOTS) + 1 : -len(".tsv")]
        series[name] = points[-last_n:] if last_n else points
    return {"id": record["id"], "status": record["status"], "series": series}


def mark_abandoned(run_id: str) -> dict[str, Any]:
    """A run a stopped server left queued or running: failed, with the reason."""
    return _update(
        run_id, status="failed", finished=_now(), error="the server stopped before it finished"
    )
