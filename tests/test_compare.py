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
