"""What an advisor is given, and so what may leave the machine: schemas and statistics of
the data, and rows only when asked for (`--share-samples N`), each cell redacted by Forge's
PII scanner first. Every backend gets the same brief; `--show-prompt` prints the request
built from it, byte for byte what Gemini would receive.

Never in a brief: a cell's value (without --share-samples), a PII finding's value or its
masked hint, file paths beyond the file's own name, a card's free-text source, or a key.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from forge.data import pii
from forge.data.files import file_type
from forge.data.formats import detect_schema
from forge.errors import DataError

HTML = re.compile(r"<\s*/?\s*[a-zA-Z][^>]*>|&(?:[a-z]+|#\d+);")
SAMPLE_CHARS = 400  # a shared cell is cut here
MAX_PROFILE_ROWS = 200_000
FEEDBACK_CHARS = 1500  # a failed attempt's output, redacted and cut


def redact_text(text: str, limit: int = SAMPLE_CHARS) -> str:
    """`text` with every PII finding replaced (forge.data.pii.redact), then cut to `limit`."""
    clean, _ = pii.redact(text)
    return clean if len(clean) <= limit else clean[:limit] + "..."


def _raw_rows(path: Path) -> tuple[list[str] | None, list[tuple[int, Any]], list[dict]]:
    """(header, [(line, row)], bad rows) read tolerantly: a malformed row is recorded by
    line, not raised, since finding them is the point."""
    kind = file_type(path)
    rows: list[tuple[int, Any]] = []
    bad: list[dict] = []
    if kind == "csv":
        with path.open(encoding="utf-8", errors="replace", newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise DataError(f"{path}: no rows (the file is empty)")
            for cells in reader:
                if not any(c.strip() for c in cells):
                    continue
                line = reader.line_num
                if len(cells) != len(header):
                    bad.append({"line": line, "fields": len(cells), "expected": len(header)})
                    continue
                rows.append((line, dict(zip(header, cells, strict=True))))
                if len(rows) >= MAX_PROFILE_ROWS:
                    break
        return header, rows, bad
    if kind in ("jsonl", "json") and not path.read_bytes()[:4096].lstrip().startswith(b"["):
        with path.open(encoding="utf-8", errors="replace") as f:
            for line_no, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as exc:
                    bad.append({"line": line_no, "error": f"invalid JSON ({exc.msg})"})
                    continue
                rows.append((line_no, value))
                if len(rows) >= MAX_PROFILE_ROWS:
                    break
        return None, rows, bad
    from forge.data.files import records

    for i, (_, row) in enumerate(records(path), start=1):
        rows.append((i, row))
        if i >= MAX_PROFILE_ROWS:
            break
    return None, rows, bad


def _kind(value: Any) -> str:
    return {dict: "object", list: "array", str: "text", bool: "bool", type(None): "null"}.get(
        type(value), "number"
    )


def profile(path: Path) -> dict[str, Any]:
    """The shape of a raw file, with no cell's value: its type, size, rows, each column's
    name, kinds and text lengths, rows with HTML, repeated header rows, malformed rows by
    line, the schema Forge detects (if any) and PII counts by kind."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    header, rows, bad = _raw_rows(path)
    if not rows and not bad:
        raise DataError(f"{path}: no rows (the file is empty)")
    names: list[str] = list(header or [])
    for _, row in rows:
        if isinstance(row, dict):
            names += [k for k in row if k not in names]
    stats: dict[str, dict[str, Any]] = {
        n: {"present": 0, "empty": 0, "kinds": Counter(), "html_rows": 0, "chars": []}
        for n in names
    }
    repeated_header: list[int] = []
    pii_counts: Counter[str] = Counter()
    rows_with_pii = 0
    for line, row in rows:
        if not isinstance(row, dict):
            bad.append({"line": line, "error": f"expected an object, got {_kind(row)}"})
            continue
        if header is not None and [str(row[h]).strip() for h in header] == [
            h.strip() for h in header
        ]:
            repeated_header.append(line)
            continue
        texts: list[str] = []
        for key, value in row.items():
            s = stats[key]
            s["present"] += 1
            s["kinds"][_kind(value)] += 1
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            if not text.strip():
                s["empty"] += 1
            if isinstance(value, str) and HTML.search(value):
                s["html_rows"] += 1
            s["chars"].append(len(text))
            texts.append(text)
        found = pii.scan("\n".join(texts))
        if found:
            rows_with_pii += 1
            pii_counts.update(f.kind for f in found)
    columns = []
    for name in names:
        s = stats[name]
        chars = sorted(s["chars"])
        columns.append(
            {
                "name": name,
                "present": s["present"],
                "empty": s["empty"],
                "kinds": dict(s["kinds"].most_common()),
                "html_rows": s["html_rows"],
                "chars": {
                    "min": chars[0] if chars else 0,
                    "p50": chars[len(chars) // 2] if chars else 0,
                    "max": chars[-1] if chars else 0,
                },
            }
        )
    good = [r for _, r in rows if isinstance(r, dict)]
    schema = detect_schema(dict.fromkeys(names)) if names else None
    return {
        "file": path.name,
        "file_type": file_type(path),
        "size_bytes": path.stat().st_size,
        "rows": len(good) - len(repeated_header),
        "columns": columns,
        "repeated_header_lines": repeated_header[:20],
        "malformed_rows": bad[:20],
        "malformed_count": len(bad),
        "detected_schema": schema,
        "pii": {"rows_with_pii": rows_with_pii, "counts": dict(sorted(pii_counts.items()))},
    }


def samples(path: Path, n: int) -> list[dict[str, str]]:
    """The first `n` well-formed rows, every cell redacted and cut (for --share-samples)."""
    if n <= 0:
        return []
    header, rows, _ = _raw_rows(path)
    out = []
    for _, row in rows:
        if not isinstance(row, dict):
            continue
        if header is not None and [str(row[h]).strip() for h in header] == [
            h.strip() for h in header
        ]:
            continue
        out.append(
            {
                str(k): redact_text(v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
                for k, v in row.items()
            }
        )
        if len(out) >= n:
            break
    return out


def study_facts(result: dict[str, Any], card: dict[str, Any] | None) -> dict[str, Any]:
    """A `forge data study` report without anything that quotes a record: counts and
    lengths stay, samples, locations and masked PII hints go."""
    t = result["tokens"]
    return {
        "file": Path(result["path"]).name,
        "file_type": result["file_type"],
        "schema": result["schema"],
        "fields": result["fields"],
        "rows": result["rows"],
        "tokenizer": Path(result["tokenizer"]).name,
        "tokens": {k: t[k] for k in ("min", "p50", "p95", "max", "mean")},
        "empty": result["empty"]["count"],
        "overlong": {
            "max_length": result["overlong"]["max_length"],
            "count": result["overlong"]["count"],
        },
        "duplicates": {
            "exact": result["duplicates"]["exact"],
            "normalized": result["duplicates"]["normalized"],
        },
        "pii": {
            "total": result["pii"]["total"],
            "records_with_pii": result["pii"]["records_with_pii"],
            "counts": {k: v for k, v in result["pii"]["counts"].items() if v},
        },
        "scripts": result["scripts"],
        "card": (
            {"license": card.get("license"), "pii_policy": card.get("pii_policy")} if card else None
        ),
    }


def feedback(text: str) -> str:
    """A failed attempt's output as it may be sent back: redacted, last FEEDBACK_CHARS."""
    clean, _ = pii.redact(text)
    return clean if len(clean) <= FEEDBACK_CHARS else "..." + clean[-FEEDBACK_CHARS:]


INSTRUCTIONS = {
    "plan": (
        "You are Forge's planning co-pilot. Forge trains LLMs from a Hydra config. Given the "
        "user's goal, the detected hardware, the data's statistics and the memory and cost "
        "estimates below, choose a model and recipe from the allowed options and the training "
        "settings. Prefer a plan that fits the hardware's memory. Answer only with JSON that "
        "follows the response schema; give a one-line reason for each choice."
    ),
    "advise": (
        "You are Forge's data co-pilot. Below is a study of a training data file: counts, "
        "token lengths, duplicates, PII counts, the card's license. Propose concrete fixes: "
        "format mapping, deduplication, a length cut-off, a PII policy (block, redact or "
        "allow), license gaps. Answer only with JSON that follows the response schema."
    ),
    "script": (
        "You are Forge's preprocessing co-pilot. Write one Python 3.11 program (standard "
        "library only unless you list requirements) that converts the raw file described "
        "below into JSON lines in Forge's canonical form: messages rows "
        '{"messages": [{"role": "user", "content": ...}, {"role": "assistant", "content": '
        '...}]} or preference rows {"prompt": ..., "chosen": ..., "rejected": ...}. '
        "It is run as `python3 script.py INPUT OUTPUT_DIR` in a sandbox with no network, the "
        "input read-only and only OUTPUT_DIR writable; it writes OUTPUT_DIR/data.jsonl. Skip "
        "malformed rows and repeated header rows, strip HTML, drop rows with an empty prompt "
        "or answer, and print counts to stderr. When previous attempts failed, their errors "
        "are listed: fix them. Answer only with JSON that follows the response schema."
    ),
    "heal": (
        "You are Forge's training co-pilot. A training attempt failed in a way Forge's own "
        "healing rules do not know. Below are the failure's class, its evidence (exception or "
        "log lines) and the effective config. Propose the settings the next attempt changes, "
        "as a diff by dotted key; it resumes from the last checkpoint. Keep the experiment: "
        "never change recipe.method, recipe.seed, recipe.max_steps or recipe.max_length, and "
        "keep recipe.batch_size x recipe.gradient_accumulation_steps. Answer {} as the diff if "
        "no change would help. Answer only with JSON that follows the response schema."
    ),
}


def prompt(task: str, brief: dict[str, Any]) -> str:
    """The one text an advisor is sent for `task`: the instructions, then the brief."""
    body = json.dumps(brief, indent=2, sort_keys=True, ensure_ascii=False)
    return f"{INSTRUCTIONS[task]}\n\n{body}\n"
