"""Compare two evaluated revisions with a paired bootstrap over per-sample outputs.

Samples are paired by prompt (both revisions must have scored the same test prompts).
`regressed` is true when, at the given confidence, the candidate is worse than the baseline
by more than the tolerance: the one-sided upper bound of (candidate - baseline) < -tolerance
(for a lower-is-better score, the lower bound > tolerance).

Besides the headline (exact match, or a reward model's pairwise accuracy), every per-answer
score of eval.suites that both revisions computed takes part (results/eval/samples_suite.jsonl,
paired by prompt): toxicity, repetition and the answers' NLL per token under the base model,
each lower-is-better. distinct-n is a property of the whole answer set, so it is gated
(gates.distinct_2_min) but not bootstrapped here.
"""

from __future__ import annotations

import json
import random
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from forge.errors import ForgeError

SAMPLES = "results/eval/samples_candidate.jsonl"
SUITE_SAMPLES = "results/eval/samples_suite.jsonl"
# per-answer suite field -> the metric it is a sample of (each lower-is-better)
SUITE_FIELDS = {
    "toxicity": "eval/candidate/toxicity",
    "repetition": "eval/candidate/repetition",
    "answer_nll": "eval/candidate/answer_nll",
}


@dataclass(frozen=True)
class Comparison:
    metric: str
    baseline: float
    candidate: float
    delta: float
    delta_low: float
    delta_high: float
    p_worse: float
    n: int
    regressed: bool
    higher_is_better: bool = True

    def as_dict(self) -> dict:
        return asdict(self)


# per-sample field -> the metric it is a sample of: a policy's answers, a reward model's pairs
PER_SAMPLE = {
    "exact_match": "eval/candidate/exact_match",
    "pairwise_correct": "eval/candidate/pairwise_accuracy",
}


def _show(repo: Path, rev: str, rel: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "show", f"{rev}:{rel}"], cwd=repo, capture_output=True, text=True)


def suite_samples_at(repo: Path, rev: str) -> dict[str, dict[str, float]]:
    """field -> {prompt: per-answer score} of eval.suites at `rev`; empty when that commit
    ran no suite (or predates them)."""
    proc = _show(repo, rev, SUITE_SAMPLES)
    rows = (
        [json.loads(x) for x in proc.stdout.splitlines() if x.strip()]
        if not proc.returncode
        else []
    )
    return {
        field: {r["prompt"]: float(r[field]) for r in rows}
        for field in SUITE_FIELDS
        if rows and all(field in r for r in rows)
    }


def samples_at(repo: Path, rev: str) -> tuple[str, dict[str, float]]:
    """The metric and prompt -> per-sample score of the candidate evaluated at `rev` (read
    from git): exact match of a policy's answer, or a reward model's pair ranked right."""
    proc = _show(repo, rev, SAMPLES)
    if proc.returncode != 0:
        raise ForgeError(
            f"{rev}: no {SAMPLES} in that commit",
            hint="is it a commit with a completed `dvc repro`?",
        )
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    fields = {field for field in PER_SAMPLE if rows and field in rows[0]}
    if len(fields) != 1:
        raise ForgeError(
            f"{rev}: {SAMPLES} holds no per-sample scores",
            hint="rerun `dvc repro evaluate` at that commit with this Forge",
        )
    field = fields.pop()
    return PER_SAMPLE[field], {r["prompt"]: float(r[field]) for r in rows}


def paired_bootstrap(
    baseline: list[float],
    candidate: list[float],
    tolerance: float,
    confidence: float,
    resamples: int = 2000,
    seed: int = 0,
    metric: str = "exact_match",
    higher_is_better: bool = True,
) -> Comparison:
    n = len(baseline)
    if n == 0 or n != len(candidate):
        raise ForgeError("paired bootstrap needs the same, non-empty set of samples on both sides")
    diffs = [c - b for b, c in zip(baseline, candidate, strict=True)]
    rng = random.Random(seed)
    deltas = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    low = deltas[int((1 - confidence) * resamples)]
    high = deltas[min(resamples - 1, int(confidence * resamples))]
    return Comparison(
        metric=metric,
        baseline=sum(baseline) / n,
        candidate=sum(candidate) / n,
        delta=sum(diffs) / n,
        delta_low=low,
        delta_high=high,
        p_worse=sum((d < 0) if higher_is_better else (d > 0) for d in deltas) / resamples,
        n=n,
        regressed=high < -tolerance if higher_is_better else low > tolerance,
        higher_is_better=higher_is_better,
    )


def compare_revs(
    repo: Path, baseline_rev: str, candidate_rev: str, tolerance: float, confidence: float
) -> Comparison:
    """The first comparison that regressed (the headline first, then each suite score), or
    the headline's when none did."""
    found = compare_all(repo, baseline_rev, candidate_rev, tolerance, confidence)
    return next((c for c in found if c.regressed), found[0])


def compare_all(
    repo: Path, baseline_rev: str, candidate_rev: str, tolerance: float, confidence: float
) -> list[Comparison]:
    """The headline comparison, then one per eval.suites score both revisions computed."""
    (metric_a, a), (metric_b, b) = samples_at(repo, baseline_rev), samples_at(repo, candidate_rev)
    if metric_a != metric_b:
        raise ForgeError(
            f"{baseline_rev} was scored on {metric_a} and {candidate_rev} on {metric_b}: a "
            "policy and a reward model cannot be compared",
            hint="give the reward model its own artifact or stage",
        )
    if set(a) != set(b):
        raise ForgeError(
            f"{baseline_rev} and {candidate_rev} were evaluated on different test "
            f"prompts ({len(set(a) ^ set(b))} differ); they cannot be paired"
        )
    prompts = sorted(a)
    found = [
        paired_bootstrap(
            [a[p] for p in prompts], [b[p] for p in prompts], tolerance, confidence, metric=metric_a
        )
    ]
    suite_a = suite_samples_at(repo, baseline_rev)
    suite_b = suite_samples_at(repo, candidate_rev)
    for field in sorted(set(suite_a) & set(suite_b)):
        x, y = suite_a[field], suite_b[field]
        if set(x) != set(y):
            raise ForgeError(
                f"{baseline_rev} and {candidate_rev} ran eval.suites on different prompts "
                f"({len(set(x) ^ set(y))} differ; is eval.limit the same?); they cannot be paired"
            )
        keys = sorted(x)
        found.append(
            paired_bootstrap(
                [x[k] for k in keys],
                [y[k] for k in keys],
                tolerance,
                confidence,
                metric=SUITE_FIELDS[field],
                higher_is_better=False,
            )
        )
    return found
