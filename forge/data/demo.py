"""The embedded demo task: reverse the letters of a word ("reverse: abcd" -> "dcba").

Generated deterministically by seed and committed as data/raw/demo.jsonl:
    python -m forge.data.demo            # rewrites data/raw/demo.jsonl
"""

from __future__ import annotations

import json
import random
import string
from pathlib import Path

DEMO_PATH = Path("data/raw/demo.jsonl")


def reversal(rng: random.Random) -> dict[str, str]:
    word = "".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 6)))
    return {"prompt": f"reverse: {word}", "completion": word[::-1]}


def generate(n: int = 4000, seed: int = 0) -> list[dict[str, str]]:
    rng = random.Random(seed)
    return [reversal(rng) for _ in range(n)]


def write(path: Path = DEMO_PATH, n: int = 4000, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for row in generate(n, seed):
            f.write(json.dumps(row, sort_keys=True) + "\n")
    return path


if __name__ == "__main__":
    print(write())
