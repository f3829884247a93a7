# python benchmarks/pii_scan.py [--mb 20] [--baseline-mb 1] [--clean-mb 0.1] [--density D] [--json]
"""Throughput of Forge's PII scanner against scrubadub on the same JSONL, plus recall and
precision.

A JSONL corpus of short chat rows (tests/pii_planted.py: a `--density` share of rows
carries personal data or secrets, and with them a look-alike) is written to a temp dir and
read back as bytes. Both scanners turn that file into findings per line:
- Forge: `pii.scan_jsonl` reads the whole buffer once with its hyperscan prefilter, then
  decodes and scans only the lines it flags (what `forge data scan` and prepare skip);
- scrubadub (`pip install -e '.[bench]'`), for each line: `json.loads`, the fields joined,
  then either `scrubadub.clean(text)`, its documented one-call API, which builds a
  Scrubber per call (the issue's baseline: it measured about 0.2 MB/s), or the stricter
  baseline: one `Scrubber()` reused, `iter_filth(text)` per record (about 10x faster).
Each baseline runs over the head of the file (`--clean-mb`, `--baseline-mb`) and Forge over
that same slice, alternately `--repeat` times; ratios are of the medians (MB/s = file bytes
per second). Forge also runs over the whole corpus, and per record (decode and `scan` every
line, as without hyperscan). The stricter ratio is printed for other shares of PII rows
(`--sweep`).

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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for tests/

from forge.data import pii
from forge.data.pii import PII_TYPES, scan, scan_jsonl
from tests.pii_planted import generate, row_text, write_jsonl

GOAL = 100.0
# scrubadub filth type -> Forge kind, for the kinds both detect
SCRUBADUB_KINDS = {
    "email": "email",
    "phone": "phone",
    "credit_card": "credit_card",
    "social_security_number": "us_ssn",
}


def corpus(mb: float, density: float, seed: int) -> bytes:
    """A JSONL file of about `mb` MB, written and read back as bytes."""
    rows: list = []
    size = 0
    while size < mb * 1e6:
        chunk = generate(2_000, seed=seed + len(rows), density=density).rows
        rows += chunk
        size += sum(len(json.dumps(r)) + 1 for r in chunk)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "corpus.jsonl"
        write_jsonl(rows, path)
        return path.read_bytes()


def head(data: bytes, mb: float) -> bytes:
    """The first whole lines of `data` that make up about `mb` MB."""
    cut = data.find(b"\n", int(mb * 1e6))
    return data if cut < 0 else data[: cut + 1]


def text_of(line: bytes) -> str:
    return row_text(json.loads(line))


def forge_file(data: bytes) -> int:
    return sum(len(found) for _, found in scan_jsonl(data, text_of))


def forge_per_record(data: bytes) -> int:
    return sum(len(scan(text_of(line))) for line in data.splitlines() if line.strip())


def rate(fn, data: bytes) -> float:
    """MB/s of `fn` over `data`, once."""
    start = time.perf_counter()
    fn(data)
    return len(data) / 1e6 / (time.perf_counter() - start)


def versus(baseline, data: bytes, repeat: int) -> tuple[float, float]:
    """Medians of Forge's and the baseline's MB/s on `data`, run alternately."""
    forge, base = [], []
    for _ in range(repeat):
        base.append(rate(baseline, data))
        forge.append(rate(forge_file, data))
    return statistics.median(forge), statistics.median(base)


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
    parser.add_argument("--mb", type=float, default=20.0, help="corpus size for Forge (MB)")
    parser.add_argument("--baseline-mb", type=float, default=1.0, help="slice, reused Scrubber")
    parser.add_argument("--clean-mb", type=float, default=0.1, help="slice, scrubadub.clean")
    parser.add_argument("--density", type=float, default=0.05, help="share of rows with PII")
    parser.add_argument(
        "--sweep", default="0.01,0.2", help="other shares of PII rows to compare at, or ''"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, alternating")
    parser.add_argument("--seed", type=int, default=7, help="corpus seed")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    try:
        import scrubadub
    except ImportError:
        sys.exit("pii_scan: scrubadub is not installed; run: pip install -e '.[bench]'")
    scrubber = scrubadub.Scrubber()

    def scrub_file(data: bytes) -> int:
        return sum(
            len(list(scrubber.iter_filth(text_of(line))))
            for line in data.splitlines()
            if line.strip()
        )

    def clean_file(data: bytes) -> int:
        return sum(len(scrubadub.clean(text_of(line))) for line in data.splitlines() if line)

    data = corpus(args.mb, args.density, args.seed)
    sample = head(data, args.baseline_mb)
    assert forge_file(sample) == forge_per_record(sample)  # the prefilter loses nothing
    scrub_file(head(data, 0.001))  # load scrubadub's detectors before timing
    clean_sample = head(data, args.clean_mb)
    clean_forge, clean_mbs = versus(clean_file, clean_sample, args.repeat)
    forge_mbs, scrub_mbs = versus(scrub_file, sample, args.repeat)
    ratio = forge_mbs / scrub_mbs
    whole = [rate(forge_file, data) for _ in range(args.repeat)]
    per_record = [rate(forge_per_record, sample) for _ in range(args.repeat)]
    sweep = {}
    for density in [float(d) for d in args.sweep.split(",") if d.strip()]:
        other = head(corpus(args.baseline_mb, density, args.seed), args.baseline_mb)
        f, b = versus(scrub_file, other, args.repeat)
        sweep[density] = {"forge_mb_s": round(f, 2), "scrubadub_mb_s": round(b, 3),
                          "ratio": round(f / b, 1)}  # fmt: skip

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
        "corpus_mb": round(len(data) / 1e6, 2),
        "density": args.density,
        "engine": pii.ENGINE,
        "baseline_mb": round(len(sample) / 1e6, 3),
        "repeat": args.repeat,
        "clean_mb": round(len(clean_sample) / 1e6, 3),
        "forge_on_clean_slice_mb_s": round(clean_forge, 2),
        "scrubadub_clean_mb_s": round(clean_mbs, 4),
        "ratio_to_clean": round(clean_forge / clean_mbs, 1),
        "forge_median_mb_s": round(forge_mbs, 2),
        "scrubadub_median_mb_s": round(scrub_mbs, 4),
        "ratio": round(ratio, 1),
        "forge_corpus_median_mb_s": round(statistics.median(whole), 2),
        "forge_per_record_median_mb_s": round(statistics.median(per_record), 2),
        "ratio_per_record": round(statistics.median(per_record) / scrub_mbs, 1),
        "sweep": sweep,
        "planted": planted.total,
        "forge_quality": forge_q,
        "forge_quality_shared_kinds": forge_shared,
        "scrubadub_quality": scrub_q,
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(
        f"pii_scan: Forge {clean_forge:.1f} MB/s / scrubadub.clean {clean_mbs:.3f} MB/s "
        f"= {clean_forge / clean_mbs:.0f}x on the same {len(clean_sample) / 1e6:.2f} MB of "
        f"JSONL, {args.density:.0%} of rows with PII (goal >= {GOAL:.0f}x; engine "
        f"{pii.ENGINE}; median of {args.repeat})"
    )
    print(
        f"pii_scan: stricter, against one reused Scrubber: Forge {forge_mbs:.1f} MB/s / "
        f"scrubadub {scrub_mbs:.2f} MB/s = {ratio:.0f}x on the same {len(sample) / 1e6:.2f} MB"
    )
    print(
        f"pii_scan: Forge over the whole {len(data) / 1e6:.1f} MB: "
        f"{statistics.median(whole):.1f} MB/s; decoding and scanning every record instead: "
        f"{statistics.median(per_record):.1f} MB/s "
        f"= {statistics.median(per_record) / scrub_mbs:.0f}x"
    )
    for density, f in sweep.items():
        print(
            f"pii_scan: {density:.0%} of rows with PII: Forge {f['forge_mb_s']:.1f} MB/s / "
            f"reused Scrubber {f['scrubadub_mb_s']:.2f} MB/s = {f['ratio']:.0f}x"
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
