"""The embedded demo task: reverse the letters of a word ("reverse: abcd" -> "dcba").

Generated deterministically by seed and committed:
    python -m forge.data.demo    # rewrites data/raw/demo.jsonl and demo_preference.jsonl

- demo.jsonl: prompt/completion rows for supervised fine-tuning;
- demo_preference.jsonl: the same prompts with chosen (the correct answer) and rejected
  (a plausible wrong one: the word echoed, half reversed, or one letter off);
- `reward`: the task's programmatic reward (GRPO): 1 for an exact match, else partial
  credit for letters in the right place.
"""

from __future__ import annotations

import json
import random
import string
from pathlib import Path

DEMO_PATH = Path("data/raw/demo.jsonl")
PREFERENCE_PATH = Path("data/raw/demo_preference.jsonl")
PREFIX = "reverse: "


def reversal(rng: random.Random) -> dict[str, str]:
    word = "".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 6)))
    return {"prompt": f"{PREFIX}{word}", "completion": word[::-1]}


def generate(n: int = 4000, seed: int = 0) -> list[dict[str, str]]:
    rng = random.Random(seed)
    return [reversal(rng) for _ in range(n)]


def wrong_answer(word: str, rng: random.Random) -> str:
    """A plausible mistake, never the right answer: the echo (what the untuned base model
    does), the word reversed but one letter replaced, or two neighbours swapped."""
    answer = word[::-1]
    for _ in range(20):
        kind = rng.choice(("echo", "letter", "swap"))
        if kind == "echo":
            wrong = word
        elif kind == "letter":
            i = rng.randrange(len(answer))
            wrong = answer[:i] + rng.choice(string.ascii_lowercase) + answer[i + 1 :]
        else:
            i = rng.randrange(len(answer) - 1)
            wrong = answer[:i] + answer[i + 1] + answer[i] + answer[i + 2 :]
        if wrong != answer:
            return wrong
    return answer[1:]  # a palindrome-ish word: drop a letter


def preferences(n: int = 4000, seed: int = 0) -> list[dict[str, str]]:
    """One pair per demo prompt (same prompts, same order as `generate`)."""
    rng = random.Random(seed + 1)
    return [
        {
            "prompt": row["prompt"],
            "chosen": row["completion"],
            "rejected": wrong_answer(row["prompt"][len(PREFIX) :], rng),
        }
        for row in generate(n, seed)
    ]


def reward(prompt: str, answer: str) -> float:
    """1.0 for the exact reversal; otherwise half a point times the share of positions
    right (over the longer of answer and target), so shorter or longer answers lose."""
    target = prompt.strip()[len(PREFIX) :][::-1] if prompt.startswith(PREFIX) else ""
    answer = answer.strip()
    if answer == target:
        return 1.0
    right = sum(a == b for a, b in zip(answer, target, strict=False))
    return 0.5 * right / max(len(answer), len(target), 1)


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, sort_keys=True) + "\n")
    return path


def write(path: Path = DEMO_PATH, n: int = 4000, seed: int = 0) -> Path:
    return _write(path, generate(n, seed))


def write_preferences(path: Path = PREFERENCE_PATH, n: int = 4000, seed: int = 0) -> Path:
    return _write(path, preferences(n, seed))


if __name__ == "__main__":
    print(write())
    print(write_preferences())
