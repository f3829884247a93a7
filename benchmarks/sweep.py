# python benchmarks/sweep.py [--full] [--json]
"""Wall time of a 4-point `forge sweep -j 2` over 4x one point run alone (`forge run`).

Both start from a fresh copy of this project (its own git repo and DVC cache, nothing
cached), in the same run: first one point alone, then the 4-point sweep. The sweep's gain
is the shared stages run once (base, prepare, the warm start and reward model) and two
points at a time. Goal: <= 0.6 on 2 cores. The points are the tiny default with
`experiment=quick` (40 steps, 40 eval prompts); `--full` uses the default's 200 steps and
the whole test split. On a shared machine the figure moves with the load: run it twice.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
FILES = ["conf", "forge", "data/raw", "data/cards", "dvc.yaml", "params.yaml",
         ".dvc/config", ".dvcignore", ".gitignore"]  # fmt: skip
RATES = ["1e-3", "2e-3", "3e-3", "4e-3"]
GIT = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@localhost",
       "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@localhost"}  # fmt: skip


def project(dest: Path) -> Path:
    for rel in FILES:
        src, target = ROOT / rel, dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, target)
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "bench"]):
        subprocess.run(["git", *args], cwd=dest, env={**os.environ, **GIT}, check=True)
    return dest


def timed(cwd: Path, ok: tuple[int, ...], *args: str) -> float:
    """Seconds of `forge ARGS`; exits when it fails (exit 1 of forge run: the gate failed,
    which a quick run may, and the run still counts)."""
    env = {**os.environ, **GIT, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.setdefault("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    proc = subprocess.run([str(BIN / "forge"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True)  # fmt: skip
    seconds = time.perf_counter() - start
    if proc.returncode not in ok:
        sys.exit(f"sweep bench: `forge {' '.join(args)}` failed:\n{proc.stdout}\n{proc.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the default's 200 steps")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    quick = [] if args.full else ["experiment=quick"]
    with tempfile.TemporaryDirectory(prefix="forge-sweep-bench-") as tmp:
        one = f"recipe.learning_rate={RATES[0]}"
        alone = timed(project(Path(tmp) / "alone"), (0, 1), "run", one, *quick)
        grid = f"recipe.learning_rate={','.join(RATES)}"
        sweep = timed(project(Path(tmp) / "sweep"), (0,), "sweep", grid, *quick, "-j", "2")
    ratio = sweep / (4 * alone)
    figures = {"one_point_alone_s": round(alone, 1), "sweep_4_points_j2_s": round(sweep, 1),
               "ratio": round(ratio, 3), "cores": os.cpu_count(), "goal": 0.6}  # fmt: skip
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"one point alone (forge run): {alone:.1f} s; 4 points, forge sweep -j 2: {sweep:.1f} s")
    print(f"sweep / (4 x alone) = {ratio:.3f} on {os.cpu_count()} cores (goal <= 0.6)")


if __name__ == "__main__":
    main()
