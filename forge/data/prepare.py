"""Raw rows -> data/prepared/{train,val,test}.jsonl in one canonical chat-messages form.

Rows are read one line at a time. A row's split is a hash of its normalized prompt, so
the same prompt always lands in the same split: a test prompt can never reach train.
Outputs are written to temporary files and moved into place only when all rows parsed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from forge.config.schema import DataConfig
from forge.errors import DataError
from forge.record import write_json

SPLITS = ("train", "val", "test")


def _normalize(text: str) -> str:
    return " ".join(text.lower().split())


def detect_format(row: dict[str, Any]) -> str | None:
    if isinstance(row.get("messages"), list):
        return "messages"
    if isinstance(row.get("prompt"), str) and isinstance(row.get("completion"), str):
        return "prompt_completion"
    return None


def to_messages(row: dict[str, Any], fmt: str, where: str) -> list[dict[str, str]]:
    if fmt == "prompt_completion":
        missing = [k for k in ("prompt", "completion") if not isinstance(row.get(k), str)]
        if missing:
            raise DataError(f"{where}: missing or non-text field(s) {', '.join(missing)}")
        return [
            {"role": "user", "content": row["prompt"]},
            {"role": "assistant", "content": row["completion"]},
        ]
    messages = row.get("messages")
    if not isinstance(messages, list) or not messages:
        raise DataError(f"{where}: 'messages' must be a non-empty list")
    for i, m in enumerate(messages):
        if not (isinstance(m, dict) and m.get("role") in ("system", "user", "assistant")):
            raise DataError(f"{where}: messages[{i}] needs a role of system, user or assistant")
        if not isinstance(m.get("content"), str):
            raise DataError(f"{where}: messages[{i}].content must be text")
    if messages[-1]["role"] != "assistant":
        raise DataError(f"{where}: the last message must be the assistant's answer")
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def read_rows(path: Path, fmt: str) -> Iterator[tuple[int, list[dict[str, str]]]]:
    """(line number, messages) per non-empty line; DataError names file and line."""
    if not path.is_file():
        raise DataError(f"{path}: file not found (data.path)")
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, start=1):
            where = f"{path}:{lineno}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(f"{where}: not UTF-8 ({exc.reason} at byte {exc.start})") from exc
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{where}: invalid JSON ({exc.msg}, column {exc.colno})") from exc
            if not isinstance(row, dict):
                raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
            row_fmt = fmt if fmt != "auto" else detect_format(row)
            if row_fmt is None:
                raise DataError(
                    f"{where}: cannot tell the format from keys {sorted(row)} "
                    "(expected prompt+completion or messages; set data.format)"
                )
            yield lineno, to_messages(row, row_fmt, where)


def split_of(prompt: str, cfg: DataConfig) -> str:
    digest = hashlib.sha256(f"{cfg.seed}\0{_normalize(prompt)}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < cfg.test_fraction:
        return "test"
    if u < cfg.test_fraction + cfg.val_fraction:
        return "val"
    return "train"


def prepare(cfg: DataConfig, out_dir: Path, report_path: Path) -> dict[str, Any]:
    """Write the three splits and the report; returns the report."""
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    seen: dict[str, str] = {}
    counts: Counter[str] = Counter()
    duplicates = 0
    rows = 0
    try:
        files = {s: (tmp / f"{s}.jsonl").open("w", encoding="utf-8") for s in SPLITS}
        try:
            for _, messages in read_rows(Path(cfg.path), cfg.format):
                rows += 1
                prompt = _normalize(" ".join(m["content"] for m in messages[:-1]))
                key = prompt + "\0" + _normalize(messages[-1]["content"])
                if key in seen:
                    duplicates += 1
                    continue
                split = split_of(prompt, cfg)
                seen[key] = split
                counts[split] += 1
                files[split].write(json.dumps({"messages": messages}, ensure_ascii=False) + "\n")
        finally:
            for f in files.values():
                f.close()
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if rows == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DataError(f"{cfg.path}: no rows (the file is empty)")
    for split in ("train", "test"):
        if counts[split] == 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise DataError(f"{cfg.path}: the {split} split is empty; add rows or adjust fractions")

    prompts = {s: set() for s in SPLITS}
    for key, split in seen.items():
        prompts[split].add(key.split("\0")[0])
    report = {
        "source": {"path": cfg.path, "rows": rows, "format": cfg.format},
        "counts": {s: counts[s] for s in SPLITS},
        "duplicates_dropped": duplicates,
        "contamination": {
            "test_in_train": len(prompts["test"] & prompts["train"]),
            "val_in_train": len(prompts["val"] & prompts["train"]),
        },
    }
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.replace(out_dir)
    write_json(report_path, report)
    return report


def read_split(path: Path) -> list[list[dict[str, str]]]:
    """Messages per example of a prepared split."""
    with path.open(encoding="utf-8") as f:
        return [json.loads(line)["messages"] for line in f if line.strip()]
