"""Reading data/prepared/ back: what training, evaluate and the contract check read from
the splits stage prepare writes (forge/data/prepare.py). Light on purpose (json only), so
that a training stage depends on this file, not on the readers and scanners of raw data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_split(path: Path) -> list[list[dict[str, str]]]:
    """Messages per example of a prepared split."""
    with path.open(encoding="utf-8") as f:
        return [json.loads(line)["messages"] for line in f if line.strip()]


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a prepared JSONL file (a preference or unpaired split)."""
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
