"""Paired bootstrap: the regression check behind `forge promote` and `forge eval compare`."""

from __future__ import annotations

import pytest

from forge.errors import ForgeError
from forge.evaluate.compare import paired_bootstrap


def test_identical_models_do_not_regress():
    a = [1.0, 0.0] * 100
    c = paired_bootstrap(a, a, tolerance=0.02, confidence=0.95)
    assert (c.delta, c.delta_low, c.delta_high, c.regressed) == (0.0, 0.0, 0.0, False)


def test_a_clear_drop_regresses():
    base = [1.0] * 200
    worse = [1.0] * 120 + [0.0] * 80
    c = paired_bootstrap(base, worse, tolerance=0.02, confidence=0.95)
    assert c.delta == pytest.approx(-0.4)
    assert c.delta_high < -0.3 and c.regressed and c.p_worse == 1.0


def test_a_drop_within_tolerance_or_noise_does_not():
    base = [1.0] * 200
    slightly = [1.0] * 198 + [0.0] * 2  # -0.01
    assert not paired_bootstrap(base, slightly, tolerance=0.02, confidence=0.95).regressed
    noisy = [1.0, 0.0] * 5
    flipped = [0.0, 1.0] * 4 + [0.0, 0.0]  # -0.1 on 10 samples: not significant
    assert not paired_bootstrap(noisy, flipped, tolerance=0.02, confidence=0.95).regressed


def test_unpaired_inputs_are_refused():
    with pytest.raises(ForgeError):
        paired_bootstrap([1.0], [1.0, 0.0], tolerance=0.0, confidence=0.95)


def _commit(repo, rows: list[dict]) -> str:
    import json
    import subprocess

    path = repo / "results/eval/samples_candidate.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "eval"], cwd=repo, check=True)
    out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True)
    return out.stdout.strip()


def test_reward_models_compare_on_their_pairs_and_never_with_a_policy(tmp_path):
    import subprocess

    from forge.evaluate.compare import compare_revs

    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    pairs = [f"pair {i}" for i in range(100)]
    good = _commit(tmp_path, [{"prompt": p, "pairwise_correct": 1.0, "margin": 1} for p in pairs])
    bad = _commit(
        tmp_path,
        [{"prompt": p, "pairwise_correct": float(i % 2), "margin": 0} for i, p in enumerate(pairs)],
    )
    c = compare_revs(tmp_path, good, bad, tolerance=0.02, confidence=0.95)
    assert c.metric == "eval/candidate/pairwise_accuracy" and c.n == 100
    assert c.baseline == 1.0 and c.candidate == 0.5 and c.regressed
    assert not compare_revs(tmp_path, bad, good, tolerance=0.02, confidence=0.95).regressed
    policy = _commit(tmp_path, [{"prompt": p, "exact_match": 1.0} for p in pairs])
    with pytest.raises(ForgeError, match="a policy and a reward model cannot be compared"):
        compare_revs(tmp_path, policy, good, tolerance=0.02, confidence=0.95)
    empty = _commit(tmp_path, [])
    with pytest.raises(ForgeError, match="holds no per-sample scores"):
        compare_revs(tmp_path, empty, good, tolerance=0.02, confidence=0.95)
