"""python benchmarks/prepare_memory.py [MB]   -- prepare streams: its peak memory against
the file's size and against a baseline that only reads the file into memory.

Each measurement runs in a fresh child process (peak RSS, ru_maxrss). The figure printed is
prepare's extra peak over a bare interpreter that imports the same modules, as a share of the
file size; the baseline (`readlines`) is near 1.0x or more by construction.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import resource, sys
from pathlib import Path
from forge.config.schema import DataConfig
from forge.data.prepare import prepare
mode, path, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
if mode == "prepare":
    prepare(DataConfig(name="bench", path=path, pii_policy="allow"), out / "p", out / "r.json")
elif mode == "readlines":
    rows = open(path, encoding="utf-8").readlines()
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def peak(mode: str, path: Path, out: Path) -> int:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(path), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(proc.stdout.split()[-1])


def main(mb: int = 200) -> None:
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        raw = tmp / "raw.jsonl"
        with raw.open("w", encoding="utf-8") as f:
            i = 0
            while f.tell() < mb << 20:
                words = " ".join(rng.choice(["alpha", "beta", "gamma", "delta"]) for _ in range(60))
                f.write(json.dumps({"prompt": f"{i} {words}", "completion": words[::-1]}) + "\n")
                i += 1
        size = raw.stat().st_size
        idle = peak("idle", raw, tmp)
        base = peak("readlines", raw, tmp) - idle
        used = peak("prepare", raw, tmp) - idle
        print(
            f"prepare_memory: {i} rows, {size / 2**20:.0f} MiB file; extra peak RSS: prepare "
            f"{used / 2**20:.0f} MiB ({used / size:.2f}x the file), readlines {base / 2**20:.0f} "
            f"MiB ({base / size:.2f}x); prepare/readlines = {used / base:.2f}"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
