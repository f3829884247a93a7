"""The local runtime propagates exit codes and signals; the gate decides from metrics."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from forge.config.schema import GatesConfig
from forge.evaluate.gate import decide
from forge.runtime.base import Job
from forge.runtime.local import LocalRuntime


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("pass", 0),
        ("raise SystemExit(3)", 3),
        ("raise RuntimeError('boom')", 1),
        ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", 137),
    ],
)
def test_local_runtime_exit_codes(code: str, expected: int):
    assert LocalRuntime().run(Job([sys.executable, "-c", code], dict(os.environ))) == expected


def test_training_crash_fails_the_stage(tmp_path: Path, monkeypatch):
    """A worker that dies is reported with its exit code; nothing is silently written."""
    from forge.errors import TrainingFailed
    from forge.train import supervisor

    jobs = []

    class Killed:
        name = "local"

        def run(self, job):
            jobs.append(job)
            kill = "import os,signal; os.kill(os.getpid(), signal.SIGKILL)"
            return LocalRuntime().run(Job([sys.executable, "-c", kill], job.env))

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(supervisor, "get_runtime", lambda name: Killed())
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "forge_base.json").write_text('{"name": "tiny", "source": "tiny"}')
    (tmp_path / "data").mkdir()
    for s in ("train", "val"):
        (tmp_path / "data" / f"{s}.jsonl").write_text("{}\n")
    from forge.config.schema import HardwareConfig
    from forge.recipes.sft import LoraSFTConfig

    recipe = LoraSFTConfig(method="lora_sft", learning_rate=1e-3, max_steps=1)
    hw = HardwareConfig(name="cpu", device="cpu", precision="fp32", memory_gb=16, peak_tflops=1)
    with pytest.raises(TrainingFailed, match=r"training failed \(killed by SIGKILL\) on attempt 1"):
        supervisor.run_train(recipe, hw, Path("base"), Path("data"), Path("out"), Path("results"))
    assert not Path("out").exists() and not Path("results").exists()
    attempts = list(Path(".forge/checkpoints").glob("train-*/attempts.json"))
    assert json.loads(attempts[0].read_text())[0]["exit_code"] == 137
    # the worker got one resolved run file, which reads back as the same recipe and hardware
    from forge.train.run import RunSpec

    (job,) = jobs
    assert job.argv[1:3] == ["-m", "forge.train.worker"] and len(job.argv) == 4
    spec = RunSpec.read(Path(job.argv[3]))
    assert (spec.part, spec.recipe, spec.hardware) == ("train", recipe, hw)


def _metrics(tmp_path: Path, cand: float, base: float) -> Path:
    p = tmp_path / "metrics.json"
    p.write_text(
        json.dumps(
            {
                "eval/candidate/exact_match": cand,
                "eval/base/exact_match": base,
                "eval/candidate/perplexity": 1.5,
                "eval/base/perplexity": 40.0,
            }
        )
    )
    return p


def test_gate_passes_and_fails(tmp_path: Path):
    gates = GatesConfig(name="t", exact_match_min=0.8, exact_match_gain_min=0.5, perplexity_max=2.0)
    ok = decide(gates, _metrics(tmp_path, 0.9, 0.0), tmp_path / "d.json")
    assert ok["passed"] and [g["passed"] for g in ok["gates"]] == [True, True, True]
    bad = decide(gates, _metrics(tmp_path, 0.7, 0.3), tmp_path / "d.json")
    assert not bad["passed"]
    assert [(g["gate"], g["value"], g["passed"]) for g in bad["gates"]] == [
        ("gates.exact_match_min", 0.7, False),
        ("gates.exact_match_gain_min", 0.4, False),
        ("gates.perplexity_max", 1.5, True),
    ]
    assert json.loads((tmp_path / "d.json").read_text()) == bad
