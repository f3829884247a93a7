# python benchmarks/noop_repro.py [--json]
"""What a no-op `dvc repro` costs next to `dvc status` on an up-to-date pipeline.

Both run as subprocesses from the repo root, alternately, REPS times each; the figures are
medians. The pipeline must be up to date first (`make run`), and dvc.lock must not change
while timing: a stage that runs would make the repro figure meaningless.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DVC = str(Path(sys.executable).parent / "dvc")
REPS = 5


def up_to_date() -> bool:
    proc = subprocess.run([DVC, "status", "--json"], cwd=ROOT, capture_output=True, text=True)
    return proc.returncode == 0 and json.loads(proc.stdout or "{}") == {}


def timed(*args: str) -> float:
    """Wall-clock seconds of one `dvc ARGS` run; exits with its stderr if it fails."""
    start = time.perf_counter()
    proc = subprocess.run([DVC, *args], cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"noop_repro: `dvc {' '.join(args)}` failed:\n{proc.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    if not up_to_date():
        print(
            "noop_repro: the pipeline is not up to date (`dvc status`); run `make run` first",
            file=sys.stderr,
        )
        sys.exit(2)
    lock = (ROOT / "dvc.lock").read_bytes()
    repro: list[float] = []
    status: list[float] = []
    for _ in range(REPS):
        repro.append(timed("repro"))
        status.append(timed("status"))
    if (ROOT / "dvc.lock").read_bytes() != lock:
        sys.exit("noop_repro: dvc.lock changed while timing (a stage ran); run it again")

    repro_s, status_s = statistics.median(repro), statistics.median(status)
    if args.json:
        print(
            json.dumps(
                {
                    "reps": REPS,
                    "dvc_repro_s": [round(s, 3) for s in repro],
                    "dvc_status_s": [round(s, 3) for s in status],
                    "dvc_repro_median_s": round(repro_s, 3),
                    "dvc_status_median_s": round(status_s, 3),
                    "ratio": round(repro_s / status_s, 4),
                },
                indent=2,
            )
        )
    else:
        print(
            f"noop_repro: dvc repro {repro_s:.2f} s / dvc status {status_s:.2f} s "
            f"= {repro_s / status_s:.2f}x (median of {REPS})"
        )


if __name__ == "__main__":
    main()
