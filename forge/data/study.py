"""`forge data study PATH`: what a raw file holds, before it is trained on.

Rows, file type, schema and fields; a token-length histogram with the configured tokenizer
(models/base's, else whitespace words); empty and overlong records; exact and normalized
duplicates; a PII summary; and the mix of writing systems (a cheap stand-in for language).
One streaming pass: per record only its length and two 16-byte digests are kept.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from forge.data.files import inside_project
from forge.data.formats import Reader, pii_candidates, preference_parts, texts, to_messages
from forge.data.pii import PiiReport

BATCH = 512
SAMPLES = 5
BINS = 20


def load_tokenizer(
    tokenizer_dir: Path | None,
) -> tuple[str, Callable[[list[str]], list[int]]]:
    """(name, lengths of a batch of texts): the base model's tokenizer.json in
    `tokenizer_dir` (forge.api.data resolves it: models/base, or a hub base's snapshot)."""
    tok_file = tokenizer_dir / "tokenizer.json" if tokenizer_dir is not None else None
    if tok_file is not None and tok_file.is_file():
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(tok_file))
        tok.no_padding()  # a saved tokenizer may pad a batch to its longest, or truncate
        tok.no_truncation()

        def count(batch: list[str]) -> list[int]:
            return [len(e.ids) for e in tok.encode_batch(batch, add_special_tokens=False)]

        return tok_file.as_posix(), count
    return "whitespace (models/base not built)", lambda b: [len(t.split()) for t in b]


def script_of(text: str) -> str | None:
    """The writing system of most letters in `text` (LATIN, CYRILLIC, CJK, ...)."""
    if text.isascii():
        return "LATIN" if any(c.isalpha() for c in text) else None
    scripts: Counter[str] = Counter()
    for ch in text[:2000]:
        if ch.isalpha():
            name = unicodedata.name(ch, "")
            scripts[name.split(" ")[0] if name else "OTHER"] += 1
    return scripts.most_common(1)[0][0] if scripts else None


def histogram(lengths: list[int], bins: int = BINS) -> list[dict[str, int]]:
    if not lengths:
        return []
    hi = max(lengths)
    width = max(1, -(-(hi + 1) // bins))
    counts = Counter(n // width for n in lengths)
    return [
        {"lo": i * width, "hi": (i + 1) * width - 1, "count": counts[i]}
        for i in range(hi // width + 1)
    ]


def study(
    path: Path,
    fmt: str = "auto",
    tokenizer_dir: Path | None = None,
    max_length: int | None = None,
    progress: Callable[[], None] | None = None,
) -> dict[str, Any]:
    inside_project(path)
    reader = Reader(path, fmt, "--format")
    tokenizer, count = load_tokenizer(tokenizer_dir)
    pii = PiiReport()
    maybe = pii_candidates(path)  # JSONL: only the records the prefilter flags can hold PII
    lengths: list[int] = []
    batch: list[str] = []
    where_of: list[str] = []
    empty: list[str] = []
    n_empty = 0
    exact: set[bytes] = set()
    normalized: set[bytes] = set()
    dups = Counter()
    dup_samples: list[dict[str, str]] = []
    scripts: Counter[str] = Counter()
    overlong: list[str] = []
    n_overlong = 0

    def flush() -> None:
        nonlocal n_overlong
        for w, n in zip(where_of, count(batch), strict=True):
            lengths.append(n)
            if max_length is not None and n > max_length:
                n_overlong += 1
                if len(overlong) < SAMPLES:
                    overlong.append(w)
        batch.clear()
        where_of.clear()

    for where, row, schema in reader:
        if schema == "preference":
            p, c, r = preference_parts(row, where)
            messages = p + c + r
        else:
            messages = to_messages(row, schema, where)
        contents = [m["content"] for m in messages]
        text = "\n".join(contents)
        if any(not t.strip() for t in contents):
            n_empty += 1
            if len(empty) < SAMPLES:
                empty.append(where)
        ex = hashlib.blake2b(json.dumps(messages).encode(), digest_size=16).digest()
        norm = hashlib.blake2b(
            "\0".join(" ".join(t.lower().split()) for t in contents).encode(), digest_size=16
        ).digest()
        if norm in normalized:
            kind = "exact" if ex in exact else "normalized"
            dups[kind] += 1
            if len(dup_samples) < SAMPLES:
                dup_samples.append({"kind": kind, "where": where})
        exact.add(ex)
        normalized.add(norm)
        scripts[script_of(text) or "none"] += 1
        if maybe is None or where in maybe:
            pii.add("\n".join(texts(row)), where)
        batch.append(text)
        where_of.append(where)
        if len(batch) >= BATCH:
            flush()
        if progress is not None:
            progress()
    flush()
    facts = reader.summary()  # an empty file fails here
    ordered = sorted(lengths)

    def pct(q: float) -> int:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        **facts,
        "tokenizer": tokenizer,
        "tokens": {
            "min": ordered[0],
            "p50": pct(0.5),
            "p95": pct(0.95),
            "max": ordered[-1],
            "mean": round(sum(ordered) / len(ordered), 2),
            "histogram": histogram(lengths),
        },
        "empty": {"count": n_empty, "samples": empty},
        "overlong": {"max_length": max_length, "count": n_overlong, "samples": overlong},
        "duplicates": {
            "exact": dups["exact"],
            "normalized": dups["normalized"],
            "samples": dup_samples,
        },
        "pii": pii.to_dict(),
        "scripts": dict(scripts.most_common()),
    }


def plot(result: dict[str, Any], out: Path) -> Path:
    """The token-length histogram as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bins = result["tokens"]["histogram"]
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=100)
    ax.bar(
        [b["lo"] for b in bins],
        [b["count"] for b in bins],
        width=[b["hi"] - b["lo"] + 1 for b in bins],
        align="edge",
        edgecolor="white",
    )
    limit = result["overlong"]["max_length"]
    if limit is not None:
        ax.axvline(limit + 1, color="red", linestyle="--", label=f"max_length {limit}")
        ax.legend()
    ax.set_xlabel(f"tokens per record ({Path(result['tokenizer']).name})")
    ax.set_ylabel("records")
    ax.set_title(f"{Path(result['path']).name}: {result['rows']} rows, {result['schema']}")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out
