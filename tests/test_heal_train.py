"""Self-healing with real faults (slow tier): each test trains the same tiny setup for a few
steps, checkpointing every 2, and the faults are real: the exception types torch raises
(through the test-only switch FORGE_TEST_INJECT, forge/train/guard.py), a memory cgroup the
worker does not fit in, a corrupt data file, a missing package, a full tmpfs, and signals."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from forge.config.schema import HardwareConfig, HealConfig
from forge.recipes.sft import LoraSFTConfig

from .conftest import BIN, ROOT, sh

pytestmark = pytest.mark.slow

CPU = HardwareConfig(device="cpu", name="cpu", precision="fp32", memory_gb=16, peak_tflops=1)
RECIPE = LoraSFTConfig(
    method="lora_sft", learning_rate=1e-3, max_steps=6, batch_size=8, eval_steps=0, save_steps=2
)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """A tiny base model (models/base as stage base writes it) and prepared SFT data whose
    examples are ~64 tokens, so that a large micro-batch costs real memory."""
    import random

    from forge.config.schema import ModelConfig, TinyModelConfig
    from forge.model.base import build_base

    root = tmp_path_factory.mktemp("heal")
    tiny = TinyModelConfig(hidden_size=64, intermediate_size=128, num_layers=2, pretrain_steps=0)
    build_base(ModelConfig(name="tiny", source="tiny", tiny=tiny), root / "base")
    rng = random.Random(0)
    (root / "data").mkdir()
    for split, n in (("train", 1024), ("val", 8)):
        with (root / "data" / f"{split}.jsonl").open("w") as f:
            for _ in range(n):
                word = "".join(rng.choice("abcdefghij") for _ in range(rng.randint(24, 40)))
                messages = [
                    {"role": "user", "content": f"reverse: {word}"},
                    {"role": "assistant", "content": word[::-1]},
                ]
                f.write(json.dumps({"messages": messages}) + "\n")
    return root


@pytest.fixture
def stage(world: Path, tmp_path: Path, monkeypatch) -> Path:
    """A stage's working directory: models/base and data/prepared from the world."""
    monkeypatch.chdir(tmp_path)
    os.symlink(world / "base", tmp_path / "base")
    shutil.copytree(world / "data", tmp_path / "data")
    return tmp_path


def train(recipe=RECIPE, hw=CPU) -> dict:
    from forge.train.supervisor import run_train

    return run_train(recipe, hw, Path("base"), Path("data"), Path("out"), Path("results"))


def rows(path: Path = Path("results/attempts.json")) -> list[dict]:
    return json.loads(path.read_text())


def ckpt_rows() -> list[dict]:
    return rows(next(Path(".forge/checkpoints").glob("train-*/attempts.json")))


# -- injected faults -------------------------------------------------------------------------


def test_bf16_nan_and_a_collective_timeout_heal_from_checkpoints(stage, monkeypatch):
    """One run, three real faults in turn: attempt 1 (bf16) hits torch's bf16 error at step 2;
    attempt 2 (fp16, from checkpoint-2) gets a NaN loss at step 4; attempt 3 (half the
    learning rate, clipping, from checkpoint-2 again) hits a gloo all_reduce timeout at step 4;
    attempt 4 (as is, from checkpoint-4) finishes."""
    monkeypatch.setenv(
        "FORGE_TEST_INJECT",
        "bf16@step=2; nan@step=3,attempts=2; collective_timeout@step=4,attempts=3",
    )
    facts = train(hw=replace(CPU, precision="bf16"))
    assert facts["global_step"] == 6
    got = [(r["class"], r["fix"], r["resumed_from_step"]) for r in rows()]
    assert got == [
        ("precision", {}, 0),
        ("nan_loss", {"hardware.precision": "fp16"}, 2),
        ("collective_timeout", {"recipe.learning_rate": 5e-4, "recipe.max_grad_norm": 0.5}, 2),
        ("ok", {}, 4),
    ]
    first, nan, timeout, _ = rows()
    assert "does not support bfloat16" in first["evidence"][0]
    assert "NonFiniteLoss: loss is nan at step 4" in nan["evidence"][0]
    assert "Timed out waiting" in timeout["evidence"][0]
    # durations are in .forge/volatile/ (untracked): neither in results/ (git-tracked) nor in
    # the model's manifest (DVC-cached)
    assert all("seconds" not in r for r in rows())
    manifest = json.loads(Path("out/manifest.json").read_text())
    assert [r["class"] for r in manifest["attempts"]] == [r["class"] for r in rows()]
    assert all("seconds" not in r for r in manifest["attempts"])
    volatile = json.loads(Path(".forge/volatile/train.json").read_text())
    assert [r["class"] for r in volatile["attempts"]] == [r["class"] for r in rows()]
    assert all(r["seconds"] > 0 for r in volatile["attempts"])
    assert volatile["timing"]["metrics"]["train/runtime"] > 0
    assert not list(Path("results").rglob("runtime.tsv"))
    # the effective config is recorded with the model; the declared one is untouched
    config = yaml.safe_load(Path("out/forge_config.yaml").read_text())
    assert config["hardware"]["precision"] == "fp16"
    assert config["recipe"]["learning_rate"] == 5e-4 and RECIPE.learning_rate == 1e-3
    assert manifest["healed"]["diff"] == {
        "hardware.precision": "fp16",
        "recipe.learning_rate": 5e-4,
        "recipe.max_grad_norm": 0.5,
    }
    assert manifest["effective_config"]["recipe"]["max_grad_norm"] == 0.5
    assert not list(Path(".forge/checkpoints").glob("train-*"))  # success cleans up


def test_a_rerun_of_the_same_training_leaves_results_and_the_model_byte_for_byte(stage):
    """results/ is tracked by git (cache: false) and the model directory's hash is in
    dvc.lock: what a rerun writes there must not change when nothing changed (a fresh clone
    that retrains keeps dvc.lock). Wall-clock time (each attempt's seconds, dvclive's runtime
    and throughput), the git commit and the kernel version go to .forge/volatile/ instead."""
    recipe = replace(RECIPE, max_steps=2, save_steps=2)

    def snapshot() -> dict[str, bytes]:
        return {
            p.as_posix(): p.read_bytes()
            for p in (*Path("results").rglob("*"), *Path("out").rglob("*"))
            if p.is_file()
        }

    train(recipe)
    first = snapshot()
    volatile = json.loads(Path(".forge/volatile/train.json").read_text())
    train(recipe)
    assert snapshot() == first
    assert {"results/metrics.json", "results/attempts.json", "out/manifest.json"} <= set(first)
    assert "out/adapter_model.safetensors" in first and "out/adapter_config.json" in first
    manifest = json.loads(first["out/manifest.json"])
    assert not {"timing", "git_sha"} & set(manifest) and "platform" not in manifest["versions"]
    assert "seconds" not in manifest["attempts"][0]
    assert "train_runtime_s" not in manifest["train"] and manifest["train"]["global_step"] == 2
    again = json.loads(Path(".forge/volatile/train.json").read_text())
    assert volatile["attempts"][0]["seconds"] > 0 and again["attempts"][0]["seconds"] > 0
    assert set(again["timing"]["series"]) >= {"train/runtime", "train/samples_per_second"}
    assert again["train"]["train_runtime_s"] > 0 and again["platform"]


def test_a_retrained_reward_model_is_byte_for_byte_the_same(stage):
    """Stage reward's model: its new score head is initialised from the recipe seed (a
    worker's torch starts from a random seed), so a rerun writes the same weights."""
    import random

    from forge.recipes.reward_model import RewardModelRecipeConfig
    from forge.train.supervisor import run_train

    rng = random.Random(0)
    for split, n in (("train", 32), ("val", 0)):
        (Path("data/preference")).mkdir(parents=True, exist_ok=True)
        with Path(f"data/preference/{split}.jsonl").open("w") as f:
            for _ in range(n):
                word = "".join(rng.choice("abcdefghij") for _ in range(6))
                row = {
                    "prompt": [{"role": "user", "content": f"reverse: {word}"}],
                    "chosen": [{"role": "assistant", "content": word[::-1]}],
                    "rejected": [{"role": "assistant", "content": word}],
                }
                f.write(json.dumps(row) + "\n")
    recipe = RewardModelRecipeConfig(
        method="reward_model", learning_rate=1e-3, max_steps=2, batch_size=8, eval_steps=0,
        save_steps=2,
    )  # fmt: skip

    def retrain() -> dict[str, bytes]:
        run_train(recipe, CPU, Path("base"), Path("data"), Path("rm"), Path("rm-results"), "reward")
        return {p.name: p.read_bytes() for p in Path("rm").iterdir() if p.is_file()}

    first = retrain()
    assert "model.safetensors" in first and "manifest.json" in first
    assert retrain() == first
    assert json.loads(Path(".forge/volatile/reward.json").read_text())["part"] == "reward"


def test_exhausted_attempts_fail_listing_each_class_and_fix(stage, monkeypatch):
    from forge.errors import TrainingFailed

    monkeypatch.setenv("FORGE_TEST_INJECT", "cuda_oom@step=0,attempts=9")
    with pytest.raises(TrainingFailed) as info:
        train(replace(RECIPE, heal=HealConfig(max_attempts=2)))
    assert str(info.value).startswith(
        "training failed on 2 attempts (recipe.heal.max_attempts=2): attempt 1: cuda_oom; "
        "attempt 2 after recipe.batch_size=4 recipe.gradient_accumulation_steps=2: cuda_oom; "
        "next fix would be recipe.batch_size=2 recipe.gradient_accumulation_steps=4"
    )
    assert [r["class"] for r in ckpt_rows()] == ["cuda_oom", "cuda_oom"]
    assert not Path("out").exists() and not Path("results").exists()


def test_cuda_oom_heals_under_dvc_repro_and_dvc_status_stays_clean(
    world: Path, tmp_path: Path, monkeypatch
):
    """The train stage under `dvc repro`: the micro-batch halves (8 -> 4) with the effective
    batch kept (8), the second attempt resumes from checkpoint-2, params.yaml stays as
    declared, and DVC records the healed run as up to date."""
    proj = tmp_path / "proj"
    shutil.copytree(ROOT / "conf", proj / "conf")
    shutil.copytree(world / "base", proj / "models" / "base")
    shutil.copytree(world / "data", proj / "data" / "prepared")
    hw_keys = ("backend", "device", "name", "num_processes", "precision", "quantization",
               "runtime", "strategy")  # fmt: skip
    stage = {
        "cmd": "python -m forge.stages.train",
        "deps": ["models/base", "data/prepared"],
        "params": ["recipe", *(f"hardware.{k}" for k in hw_keys)],
        "outs": ["models/candidate", {"results/train": {"cache": False}}],
    }
    (proj / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"train": stage}}))
    sh("git", "init", "-q", cwd=proj)
    sh("dvc", "init", "-q", cwd=proj)
    overrides = ["hardware=cpu", "recipe.max_steps=4", "recipe.save_steps=2",
                 "recipe.batch_size=8", "recipe.eval_steps=0"]  # fmt: skip
    sh(str(BIN / "forge"), "compose", *overrides, cwd=proj)
    sh("git", "add", "-A", cwd=proj)
    sh("git", "commit", "-qm", "init", cwd=proj)  # dvclive needs a commit
    declared = (proj / "params.yaml").read_text()

    monkeypatch.setenv("FORGE_TEST_INJECT", "cuda_oom@step=2,max_batch=4")
    proc = sh("dvc", "repro", cwd=proj)
    out = proc.stdout + proc.stderr
    attempts = rows(proj / "results/train/attempts.json")
    assert [(r["class"], r["fix"], r["resumed_from_step"]) for r in attempts] == [
        ("cuda_oom", {}, 0),
        ("ok", {"recipe.batch_size": 4, "recipe.gradient_accumulation_steps": 2}, 2),
    ]
    assert "add them to your overrides: forge compose [...] recipe.batch_size=4 " \
        "recipe.gradient_accumulation_steps=2" in out  # fmt: skip
    assert (proj / "params.yaml").read_text() == declared
    config = yaml.safe_load((proj / "models/candidate/forge_config.yaml").read_text())
    recipe = config["recipe"]
    assert (recipe["batch_size"], recipe["gradient_accumulation_steps"]) == (4, 2)
    assert not list(proj.glob(".forge/checkpoints/train-*"))  # success leaves no checkpoints
    status = sh("dvc", "status", cwd=proj)
    assert "up to date" in status.stdout, status.stdout
    # the gate's summary (what `forge run` prints) says the candidate was healed
    from forge.evaluate.gate import summary

    note = summary({"passed": True, "gates": []}, attempts).splitlines()[1]
    assert note == (
        "  note: the candidate was healed (failed: 1 cuda_oom; then attempt 2: "
        "recipe.batch_size=4 recipe.gradient_accumulation_steps=2)"
    )


# -- a real memory ceiling -------------------------------------------------------------------


def _memory_cgroup(tmp_name: str, limit: int) -> Path | None:
    """A child memory cgroup (v2 or v1) of this process's own, limited to `limit` bytes."""
    from forge.train.heal import _cgroup_dir

    found = _cgroup_dir()
    if found is None:
        return None
    parent, version = found
    child = parent / tmp_name
    try:
        child.mkdir(exist_ok=True)
        name = "memory.max" if version == "v2" else "memory.limit_in_bytes"
        (child / name).write_text(str(limit))
        if version == "v2":
            (child / "memory.swap.max").write_text("0")
    except OSError:
        return None
    return child


def test_host_oom_under_a_memory_cgroup_halves_keeping_the_effective_batch(stage):
    """The whole stage (supervisor and worker) in a 1 GiB memory cgroup: a micro-batch of 1024
    (~64 tokens each) does not fit, the OOM killer SIGKILLs the worker, the supervisor reads
    the cgroup's OOM record and halves until it fits; effective batch 1024 throughout."""
    cgroup = _memory_cgroup(f"forge-heal-{os.getpid()}", 1024 * 2**20)
    if cgroup is None:
        pytest.skip("no writable memory cgroup here (needs root and cgroup v1 or v2)")
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from forge.config.schema import HardwareConfig\n"
        "from forge.recipes.sft import LoraSFTConfig\n"
        "from forge.train.supervisor import run_train\n"
        "from forge.errors import entry\n"
        "hw = HardwareConfig(device='cpu', name='cpu', precision='fp32', memory_gb=1, "
        "peak_tflops=1)\n"
        "r = LoraSFTConfig(method='lora_sft', learning_rate=1e-3, max_steps=1, batch_size=1024,"
        " eval_steps=0, save_steps=1, max_length=64)\n"
        "entry(lambda: print(run_train(r, hw, Path('base'), Path('data'), Path('out'), "
        "Path('results'))))\n"
    )
    procs = cgroup / "cgroup.procs"
    try:
        proc = subprocess.run(
            [sys.executable, "-c", script],
            preexec_fn=lambda: procs.write_text(str(os.getpid())),  # noqa: PLW1509
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        for _ in range(50):  # the cgroup is empty once its processes have exited
            try:
                cgroup.rmdir()
                break
            except OSError:
                time.sleep(0.1)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    attempts = rows()
    assert attempts[0]["class"] == "host_oom" and attempts[-1]["class"] == "ok"
    assert attempts[0]["evidence"][0] == "killed by SIGKILL"
    assert "oom_kill" in attempts[0]["evidence"][1]
    assert len(attempts) >= 2
    micro = [1024] + [r["fix"]["recipe.batch_size"] for r in attempts[1:]]
    assert micro == sorted(micro, reverse=True) and len(set(micro)) == len(micro)
    assert all(b in (512, 256, 128, 64) for b in micro[1:])  # halvings
    for r in attempts[1:]:
        fix = r["fix"]
        assert fix["recipe.batch_size"] * fix["recipe.gradient_accumulation_steps"] == 1024


# -- deterministic failures fail at once -----------------------------------------------------


def _tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True)  # fmt: skip
    return done.returncode == 0


@pytest.mark.parametrize("fault", ["data", "dependency", "disk_full"])
def test_deterministic_failures_fail_on_the_first_attempt_with_one_line(stage, fault):
    from forge.errors import TrainingFailed

    hw, mounted = CPU, None
    if fault == "data":
        with open("data/train.jsonl", "a") as f:
            f.write('{"messages": [{"role": "user", "content": "cut off"\n')
    elif fault == "dependency":
        hw = replace(CPU, backend="unsloth")  # the Unsloth path, without unsloth installed
    else:
        mounted = Path(".forge")
        if not _tmpfs(mounted, "256k"):
            pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        with pytest.raises(TrainingFailed) as info:
            train(hw=hw)
        attempts = ckpt_rows()
    finally:
        if mounted is not None:
            subprocess.run(["umount", "-l", str(mounted)], check=False)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"training failed (exit code 1) on attempt 1: {fault}: ")
    assert [(r["class"], r["retryable"]) for r in attempts] == [(fault, False)]
    assert info.value.hint  # the one line names the fix
    assert not Path("out").exists() and not Path("results").exists()


# -- signals, and counters across a resume ---------------------------------------------------


def test_sigterm_to_the_stage_stops_the_worker_group_and_a_rerun_continues_counters(stage):
    """SIGTERM to the stage reaches the worker and every process in its group; the
    checkpoints left are complete; the rerun resumes from the newest and TRL's num_tokens
    continues from the checkpoint's count instead of restarting at 0."""
    import psutil

    script = (
        "from pathlib import Path\n"
        "from forge.config.schema import HardwareConfig\n"
        "from forge.recipes.sft import LoraSFTConfig\n"
        "from forge.train.supervisor import run_train\n"
        "from forge.errors import entry\n"
        "hw = HardwareConfig(device='cpu', name='cpu', precision='fp32', memory_gb=16, "
        "peak_tflops=1)\n"
        "r = LoraSFTConfig(method='lora_sft', learning_rate=1e-3, max_steps=6, batch_size=8,"
        " eval_steps=0, save_steps=2)\n"
        "entry(lambda: print(run_train(r, hw, Path('base'), Path('data'), Path('out'), "
        "Path('results'))))\n"
    )
    argv = [sys.executable, "-c", script]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not list(Path(".forge/checkpoints").glob("train-*/checkpoint-2/trainer_state.json")):
        assert time.time() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    (worker,) = [p for p in psutil.Process(proc.pid).children()
                 if "forge.train.worker" in " ".join(p.cmdline())]  # fmt: skip
    assert os.getpgid(worker.pid) == worker.pid  # the worker leads its own process group
    child = subprocess.Popen(["sleep", "300"], process_group=worker.pid)  # one of its group
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert child.wait(timeout=30) == -signal.SIGTERM
    assert not worker.is_running() or worker.status() == psutil.STATUS_ZOMBIE
    assert proc.returncode == 1
    assert "training failed (killed by SIGTERM) on attempt 1: interrupted" in err
    (first,) = ckpt_rows()
    assert (first["class"], first["retryable"]) == ("interrupted", False)

    from forge.train.run import checkpoints

    (ckpt,) = Path(".forge/checkpoints").glob("train-*")
    step, newest = checkpoints(ckpt)[-1]
    state = json.loads((newest / "trainer_state.json").read_text())
    tokens_at_checkpoint = state["stateful_callbacks"]["forge_counters"]["num_tokens"]
    assert tokens_at_checkpoint > 0

    train()  # the rerun (dvc repro would run the stage again)
    attempts = rows()
    assert [(r["class"], r["resumed_from_step"]) for r in attempts] == [
        ("interrupted", 0),
        ("ok", step),
    ]
    final = json.loads(Path("results/metrics.json").read_text())
    per_step = tokens_at_checkpoint / step
    assert final["num_tokens"] == pytest.approx(
        tokens_at_checkpoint + per_step * (6 - step), rel=0.2
    )
