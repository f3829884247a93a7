# python benchmarks/pii_scan.py [--mb 30] [--baseline-mb 1] [--density D] [--batch N] [--json]
"""Throughput of Forge's PII scanner against scrubadub, plus recall and precision.

A JSONL corpus of short chat rows (forge.data.pii_planted, `--density` of them carrying
personal data or secrets and a look-alike) is written to a temp dir and read back; each
record's fields are joined into one text, as the prepare stage scans them. Forge's `scan`
runs over every record; scrubadub's default `Scrubber().iter_filth` (the baseline, which
needs `pip install -e '.[bench]'`) over the first `--baseline-mb` of the same records, and
Forge again over that same slice, alternately K times; the figures are medians of MB/s
(UTF-8 bytes of record text per second). The ratio compares the two on the same slice.

Recall and precision come from a separate fully planted set (every row carries values),
matching each finding to a planted value of the same kind by span overlap; scrubadub is
scored on the kinds it has a detector for (email, phone, credit_card, us_ssn).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from forge.data import pii
from forge.data.pii import PII_TYPES, scan, scan_many
from forge.data.pii_planted import generate, row_text, write_jsonl

GOAL = 100.0
# scrubadub filth type -> Forge kind, for the kinds both detect
SCRUBADUB_KINDS = {
    "email": "email",
    "phone": "phone",
    "credit_card": "credit_card",
    "social_security_number": "us_ssn",
}


def corpus(mb: float, density: float, seed: int) -> tuple[list[str], int]:
    """Record texts of about `mb` MB, written as JSONL and read back; and the file's bytes."""
    rows, size = [], 0
    while size < mb * 1e6:
        chunk = generate(2_000, seed=seed + len(rows), density=density).rows
        rows += chunk
        size += sum(len(row_text(r).encode("utf-8")) for r in chunk)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "corpus.jsonl"
        size = write_jsonl(rows, path)
        with path.open(encoding="utf-8") as f:
            texts = [row_text(json.loads(line)) for line in f]
    return texts, size


def mb_of(texts: list[str]) -> float:
    return sum(len(t.encode("utf-8")) for t in texts) / 1e6


def rate(fn, texts: list[str]) -> float:
    """MB/s of `fn` over every text, once."""
    start = time.perf_counter()
    for t in texts:
        fn(t)
    return mb_of(texts) / (time.perf_counter() - start)


def rate_many(texts: list[str], batch: int) -> float:
    """MB/s of `scan_many` over every text, `batch` texts a call."""
    start = time.perf_counter()
    for i in range(0, len(texts), batch):
        scan_many(texts[i : i + batch])
    return mb_of(texts) / (time.perf_counter() - start)


def score(spans_of, planted, kinds) -> dict[str, dict[str, float]]:
    """Recall and precision per kind in `kinds` and overall, by span overlap."""
    tp, fn, fp = Counter(), Counter(), Counter()
    for row, values in zip(planted.rows, planted.row_values, strict=True):
        text = row_text(row)
        truth = []
        for kind, value in values:
            start = text.find(value)
            assert start >= 0, value
            truth.append((kind, start, start + len(value)))
        found = [f for f in spans_of(text) if f[0] in kinds]
        hit = set()
        for kind, a, b in found:
            match = [i for i, (k, s, e) in enumerate(truth) if k == kind and a < e and s < b]
            if match:
                hit.update(match)
                tp[kind] += 1
            else:
                fp[kind] += 1
        for i, (kind, _, _) in enumerate(truth):
            if kind in kinds and i not in hit:
                fn[kind] += 1
    out = {}
    for kind in [*kinds, "all"]:
        t = sum(tp.values()) if kind == "all" else tp[kind]
        n = sum(fn.values()) if kind == "all" else fn[kind]
        p = sum(fp.values()) if kind == "all" else fp[kind]
        out[kind] = {
            "recall": round(t / (t + n), 4) if t + n else 1.0,
            "precision": round(t / (t + p), 4) if t + p else 1.0,
        }
    return out


def forge_spans(text: str) -> list[tuple[str, int, int]]:
    return [(f.kind, f.start, f.end) for f in scan(text)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=30.0, help="corpus size for Forge (MB)")
    parser.add_argument("--baseline-mb", type=float, default=1.0, help="slice for scrubadub")
    parser.add_argument("--density", type=float, default=0.05, help="share of rows with PII")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, alternating")
    parser.add_argument("--seed", type=int, default=7, help="corpus seed")
    parser.add_argument("--batch", type=int, default=1000, help="records per scan_many call")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    try:
        import scrubadub
    except ImportError:
        sys.exit("pii_scan: scrubadub is not installed; run: pip install -e '.[bench]'")

    texts, file_bytes = corpus(args.mb, args.density, args.seed)
    cut, size = 0, 0.0
    while cut < len(texts) and size < args.baseline_mb * 1e6:
        size += len(texts[cut].encode("utf-8"))
        cut += 1
    sample = texts[:cut]
    scrubber = scrubadub.Scrubber()

    def scrub(text: str) -> list:
        return list(scrubber.iter_filth(text))

    scrub(sample[0])  # load its detectors before timing
    forge_all, forge_sample, scrub_sample, many_sample = [], [], [], []
    for _ in range(args.repeat):
        scrub_sample.append(rate(scrub, sample))
        forge_sample.append(rate(scan, sample))
        many_sample.append(rate_many(sample, args.batch))
        forge_all.append(rate(scan, texts))
    forge_mbs = statistics.median(forge_sample)
    scrub_mbs = statistics.median(scrub_sample)
    ratio = forge_mbs / scrub_mbs
    many_mbs = statistics.median(many_sample)

    planted = generate(1000, seed=12345, density=1.0)  # not a seed the tests use
    forge_q = score(forge_spans, planted, PII_TYPES)

    def scrub_spans(text: str) -> list[tuple[str, int, int]]:
        return [
            (SCRUBADUB_KINDS[f.type], f.beg, f.end)
            for f in scrubber.iter_filth(text)
            if f.type in SCRUBADUB_KINDS
        ]

    shared = tuple(SCRUBADUB_KINDS.values())
    scrub_q = score(scrub_spans, planted, shared)
    forge_shared = score(forge_spans, planted, shared)["all"]

    figures = {
        "corpus_mb": round(mb_of(texts), 2),
        "corpus_file_mb": round(file_bytes / 1e6, 2),
        "records": len(texts),
        "density": args.density,
        "engine": pii.ENGINE,
        "batch": args.batch,
        "baseline_mb": round(mb_of(sample), 3),
        "repeat": args.repeat,
        "forge_mb_s_corpus": [round(x, 2) for x in forge_all],
        "forge_mb_s": [round(x, 2) for x in forge_sample],
        "scrubadub_mb_s": [round(x, 4) for x in scrub_sample],
        "forge_corpus_median_mb_s": round(statistics.median(forge_all), 2),
        "forge_median_mb_s": round(forge_mbs, 2),
        "scrubadub_median_mb_s": round(scrub_mbs, 4),
        "ratio": round(ratio, 1),
        "forge_many_mb_s": [round(x, 2) for x in many_sample],
        "forge_many_median_mb_s": round(many_mbs, 2),
        "ratio_many": round(many_mbs / scrub_mbs, 1),
        "planted": planted.total,
        "forge_quality": forge_q,
        "forge_quality_shared_kinds": forge_shared,
        "scrubadub_quality": scrub_q,
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(
        f"pii_scan: engine {pii.ENGINE}; scan_many ({args.batch} records a call) "
        f"{many_mbs:.2f} MB/s = {many_mbs / scrub_mbs:.0f}x scrubadub on the same slice"
    )
    print(
        f"pii_scan: Forge scan {forge_mbs:.2f} MB/s / scrubadub {scrub_mbs:.3f} MB/s "
        f"= {ratio:.0f}x on the same {mb_of(sample):.2f} MB (goal >= {GOAL:.0f}x; "
        f"median of {args.repeat}); Forge over the whole {mb_of(texts):.1f} MB corpus: "
        f"{statistics.median(forge_all):.2f} MB/s"
    )
    print(
        f"pii_scan: planted set ({planted.total} values, {len(PII_TYPES)} kinds): Forge "
        f"recall {forge_q['all']['recall']:.3f} precision {forge_q['all']['precision']:.3f}; "
        f"on {', '.join(shared)}: Forge recall {forge_shared['recall']:.3f} precision "
        f"{forge_shared['precision']:.3f}, scrubadub recall {scrub_q['all']['recall']:.3f} "
        f"precision {scrub_q['all']['precision']:.3f}"
    )
    for kind in shared:
        print(
            f"pii_scan:   {kind:12s} scrubadub recall {scrub_q[kind]['recall']:.3f} "
            f"precision {scrub_q[kind]['precision']:.3f}"
        )


if __name__ == "__main__":
    main()
