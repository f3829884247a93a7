"""One sweep point in its own temporary git workspace.

`python -m forge.sweep.worker SPEC.json` (the local launcher), or `run_point(spec)` inside
a Ray task or a SLURM job (submitit): the same function everywhere. It

1. clones the repo at the sweep's baseline commit into `spec["workdir"]` (`git clone
   --shared`: objects are borrowed, nothing in the repo is written), applies the
   workspace's uncommitted changes to tracked files, and points DVC at the repo's cache
   (`.dvc/config.local`, never committed), so the run-cache is shared;
2. writes the point's params.yaml exactly as `forge compose` writes it;
3. runs `dvc exp run --no-hydra --name NAME` there (DVC would otherwise recompose
   params.yaml from conf/ without the point's overrides), or `dvc repro STAGES` for the
   sweep's shared upstream stages;
4. returns what ran, the experiment's ref and commit, its metrics and gate decision.

Bringing the experiment's ref into the repo is the caller's job (forge.sweep.run), so only
one process ever writes the repo."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RAN = re.compile(r"^Running stage '([\w@.-]+)'", re.M)
REUSED = re.compile(r"^Stage '([\w@.-]+)' (?:is cached|didn't change)", re.M)
ERRORS = (re.compile(r"^forge: error: .*$", re.M), re.compile(r"^ERROR: .*$", re.M))


def _git(*args: str, cwd: Path) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {(proc.stderr or proc.stdout).strip()}")
    return proc.stdout


def prepare_workspace(spec: dict[str, Any]) -> Path:
    """The point's own git workspace at the baseline, with the repo's DVC cache."""
    work = Path(spec["workdir"])
    if work.exists():
        import shutil

        shutil.rmtree(work)  # a killed earlier attempt's leftovers
    work.parent.mkdir(parents=True, exist_ok=True)
    _git("clone", "--quiet", "--shared", "--no-checkout", spec["repo"], str(work), cwd=work.parent)
    _git("checkout", "--quiet", "-B", "forge-sweep", spec["baseline"], cwd=work)
    if spec.get("patch") and Path(spec["patch"]).stat().st_size:
        _git("apply", "--binary", "--whitespace=nowarn", spec["patch"], cwd=work)
    local = work / ".dvc" / "config.local"
    local.write_text(f"[cache]\n    dir = {spec['cache_dir']}\n", encoding="utf-8")
    (work / "params.yaml").write_text(spec["params_text"], encoding="utf-8")
    if spec.get("overlay"):
        apply_overlay(Path(spec["overlay"]), work, spec["overlay_stages"])
    return work


def _uncached_outs(work: Path, stage_names: list[str]) -> list[str]:
    """Outputs of these stages that DVC keeps in git, not in its cache (`cache: false`)."""
    import yaml

    stages = (yaml.safe_load((work / "dvc.yaml").read_text(encoding="utf-8")) or {})["stages"]
    out = []
    for name in stage_names:
        for entry in stages[name].get("outs", []):
            if isinstance(entry, dict):
                path, opts = next(iter(entry.items()))
                if opts and opts.get("cache") is False:
                    out.append(path)
    return out


def _copy(src: Path, dst: Path) -> None:
    import shutil

    if not src.exists():
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst)
    else:
        shutil.copy2(src, dst)


def export_overlay(work: Path, dest: Path, stage_names: list[str]) -> None:
    """What a point needs to find the shared stages done: their dvc.lock entries and their
    outputs kept in git (the cached ones are in the shared DVC cache). DVC's run-cache
    skips a stage with an output outside the cache, such as prepare's report.json, so the
    lock entries are what make the points reuse them."""
    for rel in ["dvc.lock", *_uncached_outs(work, stage_names)]:
        _copy(work / rel, dest / rel)


def apply_overlay(overlay: Path, work: Path, stage_names: list[str]) -> None:
    """The shared stages' lock entries and git-kept outputs into the point's workspace,
    then their cached outputs checked out of the shared cache: `dvc exp run` finds them
    up to date ("didn't change, skipping") and runs only what the point changes."""
    import yaml

    done = yaml.safe_load((overlay / "dvc.lock").read_text(encoding="utf-8")) or {}
    lock_path = work / "dvc.lock"
    lock = yaml.safe_load(lock_path.read_text(encoding="utf-8")) if lock_path.is_file() else None
    lock = lock or {"schema": done.get("schema", "2.0"), "stages": {}}
    lock.setdefault("stages", {})
    for name in stage_names:
        if name in (done.get("stages") or {}):
            lock["stages"][name] = done["stages"][name]
    lock_path.write_text(yaml.safe_dump(lock, sort_keys=False), encoding="utf-8")
    for rel in _uncached_outs(work, stage_names):
        _copy(overlay / rel, work / rel)


def _env(spec: dict[str, Any]) -> dict[str, str]:
    from forge import dvc

    return dvc.env(spec.get("env") or {})


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def run_point(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one point (or the shared upstream stages) and describe what happened."""
    start = time.time()
    log = Path(spec["log"])
    log.parent.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"index": spec.get("index"), "name": spec.get("name")}
    try:
        work = prepare_workspace(spec)
    except (OSError, RuntimeError) as exc:
        log.write_text(f"{exc}\n", encoding="utf-8")
        return {**result, "ok": False, "error": f"workspace: {exc}", "wall_s": 0.0}
    from forge import dvc as forge_dvc

    dvc = forge_dvc.argv()
    if spec.get("stages"):
        cmd = [*dvc, "repro", *spec["stages"]]
    else:
        cmd = [*dvc, "exp", "run", "--no-hydra", "--name", spec["name"]]
    # outputs already in the cache (an earlier run, the upstream) need not be rebuilt
    checkout = spec.get("stages") or spec.get("overlay_stages") or []
    with log.open("w", encoding="utf-8") as out:
        for step in ([*dvc, "checkout", "--quiet", *checkout] if checkout else None, cmd):
            if step is None:
                continue
            out.write(f"$ dvc {' '.join(step[3:])}   (in {work})\n")
            out.flush()
            code = subprocess.run(
                step, cwd=work, env=_env(spec), stdout=out, stderr=subprocess.STDOUT
            ).returncode
    text = log.read_text(encoding="utf-8", errors="replace")
    result.update(
        ok=code == 0,
        exit_code=code,
        ran=list(dict.fromkeys(RAN.findall(text))),
        reused=list(dict.fromkeys(REUSED.findall(text))),
        wall_s=round(time.time() - start, 2),
        workdir=str(work),
        log=str(log),
    )
    if code != 0:
        # the stage's own one-line reason, else DVC's
        errors = ERRORS[0].findall(text) or ERRORS[1].findall(text)
        result["error"] = errors[-1] if errors else f"dvc exited {code}; see {log}"
        return result
    if spec.get("stages") and spec.get("overlay_out"):
        export_overlay(work, Path(spec["overlay_out"]), spec["stages"])
    if not spec.get("stages"):
        refs = _git("for-each-ref", "--format=%(refname) %(objectname)", "refs/exps", cwd=work)
        mine = [line.split() for line in refs.splitlines() if "/exec/" not in line]
        mine = [r for r in mine if r[0].rsplit("/", 1)[-1] == spec["name"]]
        if not mine:
            return {**result, "ok": False, "error": "dvc exp run made no experiment ref"}
        result["exp_ref"], result["exp_sha"] = mine[0]
        result["metrics"] = _read(work / "results/eval/metrics.json")
        result["decision"] = _read(work / "results/gate/decision.json")
    return result


def main() -> None:
    spec_path = Path(sys.argv[1])
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    result = run_point(spec)
    tmp = spec_path.with_name(spec_path.stem + ".result.tmp")
    tmp.write_text(json.dumps(result, indent=2, sort_keys=True), encoding="utf-8")
    tmp.replace(spec_path.with_name(spec_path.stem + ".result.json"))


if __name__ == "__main__":
    main()
