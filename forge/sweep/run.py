"""The sweep: compose every point, run the shared stages once, then each point as a DVC
experiment in its own workspace, `jobs` at a time, and collect the results.

State lives in `.forge/sweeps/<id>/state.json`, written after every change, so a rerun of
the same sweep (same baseline commit, workspace changes and points) runs only the points
that did not finish. The results table goes to `results/sweeps/<id>.json`."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from forge.errors import ForgeError
from forge.sweep import grid, launch, report, stages
from forge.sweep.pack import Inventory, Need, cuda_visible_devices


def estimates(point: grid.Point) -> dict[str, Any]:
    """Time, money and memory per device of one point (forge/hardware/)."""
    from forge.hardware import cost, memory

    out: dict[str, Any] = {}
    est = cost.estimate(point.cfg)
    if est is not None:
        out.update(seconds=round(est.seconds, 1), dollars=round(est.dollars, 4))
        out["duration"] = cost.duration(est.seconds)
    plan = memory.plan_from_config(point.cfg)
    if plan is not None:
        out["memory_gib"] = round(memory.estimate(plan).total_gib, 2)
    hw = point.cfg["hardware"]
    out.update(device=hw["device"], devices=hw["num_processes"], gpu_gib=hw["memory_gb"])
    return out


def plan(overrides: list[str], conf_dir: Path = Path("conf")) -> dict[str, Any]:
    """Every point composed and validated, the shared stages, and each point's estimates.
    Raises one ConfigError naming every bad point."""
    points = grid.compose_points(overrides, conf_dir)
    shared = stages.shared(stages.load(conf_dir.parent / "dvc.yaml"), [p.cfg for p in points])
    return {
        "points": points,
        "shared": shared,
        "varying": grid.varying(points),
        "estimates": [estimates(p) for p in points],
    }


def _git(*args: str, cwd: Path = Path(".")) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ForgeError(f"git {' '.join(args)}: {(proc.stderr or proc.stdout).strip()}")
    return proc.stdout


def _baseline(root: Path) -> str:
    try:
        return _git("rev-parse", "--verify", "HEAD", cwd=root).strip()
    except ForgeError as exc:
        raise ForgeError(
            "forge sweep runs each point as a DVC experiment, which needs a commit",
            hint="git commit your project first",
        ) from exc


def _cache_dir(root: Path) -> str:
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        return str(Path(repo.cache.local_cache_dir).resolve())


def sweep_id(baseline: str, patch: bytes, points: list[grid.Point]) -> str:
    h = hashlib.sha256(baseline.encode() + hashlib.sha256(patch).digest())
    for p in points:
        h.update(p.key.encode())
    return h.hexdigest()[:8]


class State:
    """`.forge/sweeps/<id>/state.json`: each point's status and result."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path, self.data = path, data

    @classmethod
    def load(cls, path: Path, fresh: dict[str, Any]) -> State:
        if path.is_file():
            return cls(path, json.loads(path.read_text(encoding="utf-8")))
        return cls(path, fresh)

    def point(self, name: str) -> dict[str, Any]:
        return self.data["points"].setdefault(name, {"status": "pending"})

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=2, sort_keys=True), encoding="utf-8")
        tmp.replace(self.path)


def _ref_exists(root: Path, ref: str) -> bool:
    proc = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", ref], cwd=root, capture_output=True
    )
    return proc.returncode == 0


def _fetch(root: Path, result: dict[str, Any]) -> None:
    """The point's experiment ref, from its workspace into the repo (only this process
    writes the repo)."""
    ref = result["exp_ref"]
    _git("fetch", "--quiet", "--no-tags", "--no-write-fetch-head", result["workdir"],
         f"+{ref}:{ref}", cwd=root)  # fmt: skip


def _latest_upstream(root: Path) -> str | None:
    """The shared stages an earlier sweep ran (their lock entries and git-kept outputs): a
    new sweep's upstream starts from them, so DVC skips what did not change."""
    found = sorted(
        (root / ".forge" / "sweeps").glob("*/upstream/dvc.lock"), key=lambda p: p.stat().st_mtime
    )
    return str(found[-1].parent) if found else None


def _gpus() -> list[float]:
    from forge.hardware.detect import query

    return [g.memory_total_bytes / 2**30 for g in query().gpus]


def _resources(est: dict[str, Any]) -> dict[str, Any]:
    """A Ray task's resources: the fraction of a GPU (of the profile's memory_gb) that a
    one-GPU point's estimate takes, so Ray packs small jobs on a GPU; whole GPUs for a
    multi-GPU point; none on CPU."""
    if est["device"] != "cuda":
        return {"num_cpus": 1, "num_gpus": 0}
    if est["devices"] == 1 and est.get("memory_gib"):
        share = max(0.01, round(est["memory_gib"] / est["gpu_gib"], 2))
        return {"num_cpus": 1, "num_gpus": min(1.0, share)}
    return {"num_cpus": 1, "num_gpus": est["devices"]}


Progress = Callable[[dict[str, int], str | None], None]


def run(
    overrides: list[str],
    jobs: int = 1,
    launcher: str = "local",
    metric: str | None = None,
    root: Path = Path("."),
    progress: Progress | None = None,
    gpus: list[float] | None = None,
) -> dict[str, Any]:
    """Run the sweep; return its summary (what results/sweeps/<id>.json holds)."""
    if launcher not in launch.LAUNCHERS:
        raise ForgeError(f"--launcher: '{launcher}' is not one of {', '.join(launch.LAUNCHERS)}")
    if jobs < 1:
        raise ForgeError(f"-j: {jobs} must be at least 1")
    root = root.resolve()
    planned = plan(overrides, root / "conf")
    points: list[grid.Point] = planned["points"]
    baseline = _baseline(root)
    patch = subprocess.run(
        ["git", "diff", "HEAD", "--binary", "--", ".", ":(exclude)params.yaml"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout
    sid = sweep_id(baseline, patch, points)
    state_dir = root / ".forge" / "sweeps" / sid
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "workspace.patch").write_bytes(patch)
    state = State.load(
        state_dir / "state.json",
        {"id": sid, "baseline": baseline, "overrides": overrides, "points": {}, "upstream": {}},
    )
    names = [f"sweep-{sid}-{p.index + 1}" for p in points]
    common = {
        "repo": str(root),
        "baseline": baseline,
        "patch": str(state_dir / "workspace.patch"),
        "cache_dir": _cache_dir(root),
    }
    gpu_gib = _gpus() if gpus is None else gpus
    cpu_threads = max(1, (os.cpu_count() or 1) // jobs)
    options = (
        launch.options_for(launcher, points[0].cfg, root / "conf") if launcher != "local" else {}
    )
    runner = launch.make(launcher, state_dir, options)

    # a killed sweep's workers that still run would race this one
    for name in names:
        entry = state.point(name)
        if entry["status"] == "running" and entry.get("pgid"):
            launch.reap_stale(entry["pgid"], f"{sid}/{name}")

    def spec(name: str, point: grid.Point, **extra: Any) -> dict[str, Any]:
        shared = {"overlay": str(state_dir / "upstream"), "overlay_stages": planned["shared"]}
        return {
            **common,
            **(shared if planned["shared"] else {}),
            "name": name,
            "index": point.index,
            "marker": f"{sid}/{name}",
            "params_text": point.params_text,
            "workdir": str(state_dir / "work" / name),
            "log": str(state_dir / "logs" / f"{name}.log"),
            **extra,
        }

    def counts() -> dict[str, int]:
        st = [state.point(n)["status"] for n in names]
        return {s: st.count(s) for s in ("done", "running", "failed", "pending")} | {
            "total": len(names)
        }

    def tell(message: str | None = None) -> None:
        if progress:
            progress(counts(), message)

    running: dict[str, tuple[Any, Need, tuple[int, ...] | None]] = {}
    try:
        # 1. the stages every point shares, once
        up = state.data["upstream"]
        if planned["shared"] and not up.get("ok"):
            tell(f"upstream: {', '.join(planned['shared'])}")
            with _Recording():
                handle = runner.submit(
                    spec("upstream", points[0], stages=planned["shared"], index=None,
                         overlay=_latest_upstream(root), overlay_out=str(state_dir / "upstream"),
                         env={"OMP_NUM_THREADS": str(os.cpu_count() or 1)})
                )  # fmt: skip
                running["upstream"] = (handle, Need(0.0), None)
            result = None
            while result is None:
                time.sleep(0.5)
                result = runner.poll(handle)
            del running["upstream"]
            state.data["upstream"] = {**result, "stages": planned["shared"]}
            state.save()
            if not result.get("ok"):
                raise ForgeError(
                    f"the shared stages ({', '.join(planned['shared'])}) failed: "
                    f"{result.get('error')}",
                    hint=f"see {result.get('log')}",
                )
            shutil.rmtree(result["workdir"], ignore_errors=True)
            tell(f"upstream ran: {', '.join(result['ran']) or 'nothing (all cached)'}")

        # 2. the points, `jobs` at a time, each on GPUs where its estimate fits
        for name in names:
            entry = state.point(name)
            if entry["status"] == "done" and not _ref_exists(root, entry["result"]["exp_ref"]):
                entry["status"] = "pending"  # its experiment was removed (dvc exp remove)
            elif entry["status"] != "done":
                entry["status"] = "pending"
        state.save()
        inventory = Inventory.of(gpu_gib)
        pending = [(n, p, e) for n, p, e in zip(names, points, planned["estimates"], strict=True)
                   if state.point(n)["status"] == "pending"]  # fmt: skip
        tell()
        while pending or running:
            for item in list(pending):
                if len(running) >= jobs:
                    break
                name, point, est = item
                need = Need(est.get("memory_gib") or 0.0, est["devices"])
                env = {"OMP_NUM_THREADS": str(cpu_threads)}
                placed: tuple[int, ...] | None = None
                if launcher == "local" and est["device"] == "cuda" and inventory.total:
                    if not inventory.fits_ever(need):
                        pending.remove(item)
                        _finish(state, name, {"ok": False, "error": (
                            f"needs {need.devices} GPU(s) with {need.gib:.1f} GiB; this "
                            "machine has none that large")})  # fmt: skip
                        continue
                    placed = inventory.place(need)
                    if placed is None:
                        continue  # waits until running points free enough memory
                    env["CUDA_VISIBLE_DEVICES"] = cuda_visible_devices(placed)
                pending.remove(item)
                with _Recording():
                    handle = runner.submit(spec(name, point, env=env, resources=_resources(est)))
                    running[name] = (handle, need, placed)
                    entry = state.point(name)
                    entry.update(status="running", gpus=list(placed or ()), pgid=runner.pid(handle))
                    state.save()
                tell(f"{name} started ({point.label()})")
            time.sleep(0.5)
            for name, (handle, need, placed) in list(running.items()):
                result = runner.poll(handle)
                if result is None:
                    continue
                del running[name]
                if placed:
                    inventory.release(placed, need)
                if result.get("ok"):
                    try:
                        _fetch(root, result)
                    except ForgeError as exc:
                        result = {**result, "ok": False, "error": str(exc)}
                _finish(state, name, result)
                if result.get("workdir") and result.get("ok"):
                    shutil.rmtree(result["workdir"], ignore_errors=True)
                status = "done" if result.get("ok") else f"failed: {result.get('error')}"
                tell(f"{name} {status} ({result.get('wall_s', 0):.0f} s)")
    except BaseException:
        for name, (handle, _, _) in list(running.items()):
            runner.cancel(handle)
            if name in names:
                state.point(name).update(status="interrupted", pgid=None)
        state.save()
        raise
    finally:
        runner.close()
    summary = _summary(state, names, points, planned, metric)
    from forge.record import write_json

    write_json(root / "results" / "sweeps" / f"{sid}.json", summary)
    return summary


def _finish(state: State, name: str, result: dict[str, Any]) -> None:
    entry = state.point(name)
    entry.update(status="done" if result.get("ok") else "failed", result=result, pgid=None)
    state.save()


def _summary(
    state: State,
    names: list[str],
    points: list[grid.Point],
    planned: dict[str, Any],
    metric: str | None,
) -> dict[str, Any]:
    rows = []
    for name, point, est in zip(names, points, planned["estimates"], strict=True):
        entry = state.point(name)
        result = entry.get("result") or {}
        decision = result.get("decision") or {}
        rows.append(
            {
                "name": name,
                "index": point.index,
                "overrides": point.overrides,
                "params": {k: grid.value_of(point, k) for k in planned["varying"]},
                "status": entry["status"],
                "error": result.get("error"),
                "exp_ref": result.get("exp_ref"),
                "exp_sha": result.get("exp_sha"),
                "metrics": result.get("metrics"),
                "decision": decision or None,
                "passed": decision.get("passed"),
                "wall_s": result.get("wall_s"),
                "ran": result.get("ran", []),
                "reused": result.get("reused", []),
                "log": result.get("log"),
                "estimate": est,
            }
        )
    key, way, best = report.best(rows, metric)
    up = state.data.get("upstream") or {}
    return {
        "id": state.data["id"],
        "baseline": state.data["baseline"],
        "overrides": state.data["overrides"],
        "varying": planned["varying"],
        "shared": planned["shared"],
        "upstream": {
            "ran": up.get("ran", []),
            "reused": up.get("reused", []),
            "wall_s": up.get("wall_s"),
        },  # fmt: skip
        "metric": key,
        "direction": way,
        "best": best,
        "points": rows,
    }


_signals = {"critical": 0, "pending": False}


def sigterm_interrupts() -> None:
    """SIGTERM stops a sweep the way Ctrl-C does: running points are cancelled, the state
    says which finished, and a rerun runs the rest. A signal that arrives while a point is
    being started waits until the point is recorded, so no worker escapes the cancel."""

    def handler(signum: int, frame: Any) -> None:
        if _signals["critical"]:
            _signals["pending"] = True
            return
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


class _Recording:
    """A section that starts a worker and records it; signals wait until it ends."""

    def __enter__(self) -> None:
        _signals["critical"] += 1

    def __exit__(self, *exc: Any) -> None:
        _signals["critical"] -= 1
        if not _signals["critical"] and _signals["pending"]:
            _signals["pending"] = False
            raise KeyboardInterrupt
