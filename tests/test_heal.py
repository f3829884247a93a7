"""Self-healing (forge/train/heal.py): the failure taxonomy from real exceptions and exit
codes, the ordered fixes that keep the effective batch, the advisor hook's validation, and
the supervisor's attempt loop (with a stand-in worker process). The training runs that heal
real faults are in tests/test_heal_train.py (slow tier)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from forge.config.schema import HardwareConfig, HealConfig
from forge.recipes.sft import FullSFTConfig, LoraSFTConfig
from forge.train import heal
from forge.train.heal import Failure, classify_exception, classify_exit, next_fix

CPU = HardwareConfig(device="cpu", name="cpu", precision="fp32", memory_gb=16, peak_tflops=1)
GPU = HardwareConfig(
    device="cuda", name="a10", architecture="ampere", memory_gb=24, peak_tflops=125
)
LORA = LoraSFTConfig(method="lora_sft", learning_rate=1e-3, max_steps=10, batch_size=32)
FULL = FullSFTConfig(method="full_sft", learning_rate=1e-3, max_steps=10, batch_size=32)


def raised(fn) -> BaseException:
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001 - the test wants whatever it raised
        return exc
    raise AssertionError("nothing was raised")


# -- the taxonomy, from real exceptions ------------------------------------------------------


def test_real_exceptions_are_classified_by_type():
    import torch

    oom = torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB.")
    assert classify_exception(oom).cls == "cuda_oom"
    host = raised(lambda: torch.empty(2**50, dtype=torch.uint8))  # the real allocator's error
    assert classify_exception(host).cls == "host_oom"
    assert "DefaultCPUAllocator" in classify_exception(host).evidence[0]
    full = raised(lambda: open("/dev/full", "w").write("x" * 65536) and None)
    assert classify_exception(full).cls == "disk_full"
    assert classify_exception(raised(lambda: __import__("forge_no_such_pkg"))).cls == "dependency"
    assert classify_exception(KeyboardInterrupt()).cls == "interrupted"
    assert classify_exception(ZeroDivisionError("x")).cls == "unknown"


def test_data_errors_are_classified_from_the_data_reader(tmp_path: Path):
    from forge.data.splits import read_split

    bad = tmp_path / "train.jsonl"
    bad.write_text('{"messages": []}\n{not json\n')
    assert classify_exception(raised(lambda: read_split(bad))).cls == "data"
    bad.write_text('{"text": "no messages key"}\n')
    failure = classify_exception(raised(lambda: read_split(bad)))
    assert failure.cls == "data" and "KeyError" in failure.evidence[0]
    assert not failure.retryable


def test_a_missing_model_is_model_access_through_its_cause(tmp_path: Path):
    from transformers import AutoTokenizer

    from forge.model.load import _from_pretrained

    exc = raised(lambda: _from_pretrained(AutoTokenizer, str(tmp_path / "gone")))
    assert classify_exception(exc).cls == "model_access"


def test_a_real_gloo_collective_timeout_is_retryable():
    from forge.train.guard import collective_timeout

    failure = classify_exception(raised(collective_timeout))
    assert failure.cls == "collective_timeout" and failure.retryable
    assert "Timed out waiting" in failure.evidence[0]


def test_precision_and_nan_carry_what_the_fix_needs():
    bf16 = RuntimeError(
        "Current CUDA Device does not support bfloat16. Please switch dtype to float16."
    )
    assert (classify_exception(bf16).cls, classify_exception(bf16).dtype) == ("precision", "bf16")
    nan = classify_exception(heal.NonFiniteLoss("loss is nan at step 7", 7))
    assert (nan.cls, nan.first_bad_step, nan.retryable) == ("nan_loss", 7, True)


@pytest.mark.parametrize(
    ("code", "tail", "record", "cls"),
    [
        (137, [], "cgroup x: memory.oom_control oom_kill 0 -> 1", "host_oom"),
        (137, ["step 3"], None, "unknown"),
        (1, ["torch.OutOfMemoryError: CUDA out of memory. Tried to allocate"], None, "cuda_oom"),
        (
            134,
            ["[Rank 0] Watchdog caught collective operation timeout: WorkNCCL(SeqNum=9, "
             "OpType=ALLREDUCE) ran for 600000 milliseconds before timing out."],
            None,
            "collective_timeout",
        ),
        (1, ["huggingface_hub.errors.GatedRepoError: 401 Client Error"], None, "model_access"),
        (143, ["Epoch 1"], None, "interrupted"),
        (130, [], None, "interrupted"),
    ],
)  # fmt: skip
def test_exits_are_classified_from_signal_record_and_log_tail(code, tail, record, cls):
    failure = classify_exit(code, tail, record)
    assert failure.cls == cls
    if code == 137:
        assert failure.evidence[0] == "killed by SIGKILL"


def test_this_machines_cgroup_counts_oom_kills_or_says_none():
    kills = heal.oom_kills()
    assert kills is None or kills >= 0
    assert heal.oom_record(kills, None) is None  # nothing was killed since
    assert (heal.memory_limit_gib() or 1) > 0


def test_the_most_specific_failure_record_wins(tmp_path: Path):
    heal.write_failure(tmp_path, Failure("unknown", ["a"]), rank=1)
    heal.write_failure(tmp_path, Failure("collective_timeout", ["b"], step=4), rank=0)
    got = heal.read_failure(tmp_path)
    assert (got.cls, got.step) == ("collective_timeout", 4)


# -- the policy -------------------------------------------------------------------------------


def oom(memory: float | None = None) -> Failure:
    return Failure("cuda_oom", ["CUDA out of memory"], memory_gib=memory)


def test_oom_halves_the_micro_batch_keeping_the_effective_batch():
    fix = next_fix(oom(), LORA, CPU)
    assert fix.diff == {"recipe.batch_size": 16, "recipe.gradient_accumulation_steps": 2}
    odd = replace(LORA, batch_size=6, gradient_accumulation_steps=3)
    ladder = heal.oom_ladder(odd, CPU, odd.heal)
    assert [(f.diff["recipe.batch_size"], f.diff["recipe.gradient_accumulation_steps"])
            for f in ladder] == [(3, 6), (1, 18), (1, 18)]  # fmt: skip
    assert ladder[-1].diff["recipe.gradient_checkpointing"] is True  # then, at micro-batch 1


def test_at_micro_batch_1_oom_turns_on_checkpointing_then_4bit_for_lora_on_cuda():
    one = replace(LORA, batch_size=1, gradient_accumulation_steps=32)
    assert next_fix(oom(), one, CPU).diff == {"recipe.gradient_checkpointing": True}
    spent = replace(one, gradient_checkpointing=True)
    assert next_fix(oom(), spent, CPU) is None  # no 4-bit on CPU
    assert next_fix(oom(), spent, GPU).diff == {"hardware.quantization": "4bit"}
    full = replace(FULL, batch_size=1, gradient_checkpointing=True)
    assert next_fix(oom(), full, GPU) is None  # 4-bit is for LoRA recipes
    order = replace(LORA, heal=HealConfig(oom_fixes=["gradient_checkpointing", "halve_batch"]))
    assert next_fix(oom(), order, CPU).diff == {"recipe.gradient_checkpointing": True}


def test_the_memory_estimator_predicts_the_first_micro_batch_that_fits():
    from forge.hardware.memory import KNOWN_SHAPES, estimate

    shape = KNOWN_SHAPES["meta-llama/Llama-3.1-8B-Instruct"]
    recipe = replace(LORA, batch_size=64, max_length=1024)
    fix = next_fix(oom(24.0), recipe, GPU, shape)
    assert fix.predicted["by"] == "memory estimator" and fix.predicted["estimate_gib"] <= 24
    ladder = heal.oom_ladder(recipe, GPU, recipe.heal)
    i = [f.diff for f in ladder].index(fix.diff)
    assert i > 0  # it skipped halvings the estimator knew would not fit
    before = heal.apply(ladder[i - 1].diff, recipe, GPU)
    assert estimate(heal._plan(*before, shape)).total_gib > 24
    r, _ = heal.apply(fix.diff, recipe, GPU)
    assert r.batch_size * r.gradient_accumulation_steps == 64
    # when the estimator thinks the current config fits, it cannot say why it did not
    assert next_fix(oom(1000.0), recipe, GPU, shape).diff == ladder[0].diff


def test_precision_falls_back_bf16_fp16_fp32():
    bf16 = Failure("precision", ["x"], dtype="bf16")
    assert next_fix(bf16, LORA, GPU).diff == {"hardware.precision": "fp16"}
    fp16 = replace(GPU, precision="fp16")
    assert next_fix(Failure("precision", ["x"]), LORA, fp16).diff == {"hardware.precision": "fp32"}
    assert next_fix(Failure("precision", ["x"]), LORA, CPU) is None  # fp32 has no fallback


def test_nan_halves_the_learning_rate_and_clips():
    fix = next_fix(Failure("nan_loss", ["x"], first_bad_step=5), LORA, CPU)
    assert fix.diff == {"recipe.learning_rate": 5e-4, "recipe.max_grad_norm": 0.5}
    tight = replace(LORA, max_grad_norm=0.3)
    assert next_fix(Failure("divergence", ["x"]), tight, CPU).diff == {"recipe.learning_rate": 5e-4}


def test_collective_timeout_retries_as_is_and_deterministic_classes_have_no_fix():
    assert next_fix(Failure("collective_timeout", ["x"]), LORA, CPU).diff == {}
    for cls in ("data", "dependency", "model_access", "disk_full", "unknown", "interrupted"):
        assert next_fix(Failure(cls, ["x"]), LORA, CPU) is None
        assert not Failure(cls, ["x"]).retryable


def test_apply_validates_against_the_schema():
    r, h = heal.apply({"recipe.lora.rank": 8, "hardware.precision": "fp16"}, LORA, CPU)
    assert (r.lora.rank, h.precision, LORA.lora.rank) == (8, "fp16", 16)
    for diff, why in [
        ({"recipe.batch_sise": 4}, "recipe.batch_sise: unknown key"),
        ({"recipe.batch_size": "4"}, "recipe.batch_size: expected int, got str"),
        ({"recipe.batch_size": 0}, "recipe.batch_size: 0 is outside [1, inf)"),
        ({"hardware.precision": "fp8"}, "hardware.precision: 'fp8' is not one of"),
        ({"model.name": "x"}, "model.name: a fix may change recipe.* or hardware.* only"),
    ]:
        with pytest.raises(ValueError, match=__import__("re").escape(why)):
            heal.apply(diff, LORA, CPU)


# -- the advisor hook ------------------------------------------------------------------------


class Proposes:
    """An advisor that proposes a fixed diff (what a co-pilot backend would return)."""

    def __init__(self, diff):
        self.diff = diff
        self.asked: list = []

    def propose_fix(self, failure, config):
        self.asked.append((failure.cls, failure.evidence, config["recipe"]["batch_size"]))
        return self.diff


@pytest.mark.parametrize(
    ("diff", "refused"),
    [
        ({"recipe.learning_rate": 2e-4, "recipe.weight_decay": 0.01}, None),
        ({"recipe.seed": 1}, "recipe.seed: a fix may not change what the experiment is"),
        ({"recipe.batch_size": 8}, "the effective batch"),
        ({"recipe.learning_rate": 2.0}, "recipe.learning_rate: 2.0 is outside (0, 1)"),
        ("lower the lr", "the advisor proposed no param diff"),
        ({"recipe.learning_rate": 1e-3}, "the proposal changes nothing"),
    ],
)
def test_the_advisor_is_asked_only_when_no_rule_matches_and_its_diff_is_validated(diff, refused):
    advisor = Proposes(diff)
    heal.use_advisor(advisor)
    try:
        unknown = Failure("unknown", ["SomeError: odd"])
        fix, why = heal.advise(unknown, LORA, CPU)
    finally:
        heal.use_advisor(None)
    assert advisor.asked == [("unknown", ["SomeError: odd"], 32)]
    if refused is None:
        assert (fix.diff, fix.by) == (diff, "advisor")
    else:
        assert fix is None and refused in why
    assert heal.advise(unknown, LORA, CPU) == (None, "no rule matches and no advisor is registered")


def test_the_permanent_override_replaces_the_users_own_values():
    diff = {"recipe.batch_size": 4, "recipe.gradient_accumulation_steps": 8, "recipe.x": True}
    assert heal.override(diff, ["recipe=dpo", "recipe.batch_size=32"]) == (
        "forge compose recipe=dpo recipe.batch_size=4 recipe.gradient_accumulation_steps=8 "
        "recipe.x=true"
    )
    assert heal.override({}) is None
    rows = [{"fix": {}}, {"fix": {"a": 1}}, {"fix": {"a": 2, "b": 3}}]
    assert heal.merged(rows) == {"a": 2, "b": 3}


# -- the worker's pieces ---------------------------------------------------------------------


def test_only_complete_checkpoints_are_resumed_from(tmp_path: Path):
    from forge.train.run import checkpoints, last_checkpoint

    for step, complete in ((2, True), (4, True), (6, False)):
        d = tmp_path / f"checkpoint-{step}"
        d.mkdir()
        if complete:
            (d / "trainer_state.json").write_text("{}")
    assert [s for s, _ in checkpoints(tmp_path)] == [2, 4]
    assert last_checkpoint(tmp_path) == str(tmp_path / "checkpoint-4")
    assert not (tmp_path / "checkpoint-6").exists()  # cut off mid-save: removed, rewritten


def test_a_resumed_attempt_runs_at_its_own_learning_rate():
    import torch
    from transformers import TrainerControl, TrainerState, TrainingArguments, get_scheduler

    from forge.train.guard import Guard

    model = torch.nn.Linear(2, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sched = get_scheduler("cosine", opt, num_warmup_steps=0, num_training_steps=10)
    for _ in range(4):
        opt.step()
        sched.step()
    before = opt.param_groups[0]["lr"]
    state = TrainerState(global_step=4)
    guard = Guard(replace(LORA, learning_rate=5e-4), "fp32", attempt=2)
    args = TrainingArguments(output_dir="/tmp/unused", use_cpu=True, report_to="none")
    guard.on_train_begin(args, state, TrainerControl(), optimizer=opt, lr_scheduler=sched)
    assert opt.param_groups[0]["lr"] == pytest.approx(before / 2)
    sched.step()
    assert sched.base_lrs == [pytest.approx(5e-4)]


def test_the_fault_switch_reads_kinds_steps_and_attempts():
    from forge.train.guard import Injection, injections

    assert injections("cuda_oom@step=3,max_batch=2; nan@step=1,attempts=2") == [
        Injection("cuda_oom", 3, 1, 2),
        Injection("nan", 1, 2, None),
    ]
    assert injections(None) == []


def test_the_unknown_fault_is_one_no_rule_knows():
    from forge.train.guard import Guard, Injection

    guard = Guard(LORA, "fp32", attempt=1)
    exc = raised(lambda: guard._inject(Injection("unknown", 2), None))
    failure = classify_exception(exc)
    assert failure.cls == "unknown" and next_fix(failure, LORA, CPU) is None


# -- the supervisor's loop, with a stand-in worker -------------------------------------------


@pytest.fixture
def stub_stage(tmp_path: Path, monkeypatch):
    """A stage directory and a runtime whose job writes a cuda_oom failure record, as the
    worker does, and exits 1."""
    from forge.runtime.base import Job
    from forge.runtime.local import LocalRuntime
    from forge.train import supervisor

    jobs: list = []

    class OomWorker:
        name = "local"

        def run(self, job):
            from forge.train.run import RunSpec

            jobs.append(RunSpec.read(Path(job.argv[3])))  # the run file as this attempt saw it
            ckpt = Path(job.argv[-1]).parent
            record = {"cls": "cuda_oom", "evidence": ["torch.OutOfMemoryError: CUDA out of memory"]}
            code = f"import pathlib; pathlib.Path({str(ckpt / 'failure-0.json')!r}).write_text({json.dumps(json.dumps(record))}); raise SystemExit(1)"  # noqa: E501
            return LocalRuntime().run(Job([sys.executable, "-c", code], dict(os.environ)))

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(supervisor, "get_runtime", lambda name: OomWorker())
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "forge_base.json").write_text('{"name": "tiny", "source": "tiny"}')
    (tmp_path / "data").mkdir()
    for s in ("train", "val"):
        (tmp_path / "data" / f"{s}.jsonl").write_text("{}\n")
    return supervisor, jobs


def _run(supervisor, recipe):
    return supervisor.run_train(
        recipe, CPU, Path("base"), Path("data"), Path("out"), Path("results")
    )


def test_exhausted_attempts_list_every_class_and_fix(stub_stage):
    from forge.errors import TrainingFailed

    supervisor, jobs = stub_stage
    recipe = replace(LORA, heal=HealConfig(max_attempts=3))
    with pytest.raises(TrainingFailed) as info:
        _run(supervisor, recipe)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(
        "training failed on 3 attempts (recipe.heal.max_attempts=3): attempt 1: cuda_oom; "
        "attempt 2 after recipe.batch_size=16 recipe.gradient_accumulation_steps=2: cuda_oom; "
        "attempt 3 after recipe.batch_size=8 recipe.gradient_accumulation_steps=4: cuda_oom; "
        "next fix would be recipe.batch_size=4 recipe.gradient_accumulation_steps=8"
    )
    # each attempt's run file held the config it ran with; params were never touched
    batches = [spec.recipe.batch_size for spec in jobs]
    assert batches == [32, 16, 8]
    assert not Path("out").exists() and not Path("results").exists()
    rows = json.loads(next(Path(".forge/checkpoints").glob("train-*/attempts.json")).read_text())
    assert [(r["class"], r["retryable"]) for r in rows] == [("cuda_oom", True)] * 3


def test_with_healing_off_a_retryable_failure_fails_at_once(stub_stage):
    from forge.errors import TrainingFailed

    supervisor, jobs = stub_stage
    recipe = replace(LORA, heal=HealConfig(enabled=False))
    with pytest.raises(TrainingFailed, match=r"healing is off \(recipe.heal.enabled\)"):
        _run(supervisor, recipe)
    assert len(jobs) == 1


# -- signals ----------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_the_worker_reaches_its_whole_process_group(sig):
    """The worker leads its own process group and passes SIGTERM/SIGINT to all of it (a
    child that would outlive it otherwise: here a `sleep`); SIGINT ends it as Ctrl-C does."""
    import psutil

    script = (
        "import subprocess, sys, time\n"
        "from forge.train.worker import _own_process_group\n"
        "_own_process_group()\n"
        "child = subprocess.Popen(['sleep', '60'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    child = psutil.Process(int(proc.stdout.readline()))
    assert os.getpgid(child.pid) == os.getpgid(proc.pid) == proc.pid
    proc.send_signal(sig)
    assert proc.wait(timeout=30) == -sig  # SIGINT: an uncaught KeyboardInterrupt, as Ctrl-C
    child.wait(timeout=30)  # raises if the child outlives its group's signal
    assert not child.is_running()


def test_the_worker_and_its_group_die_with_the_stage():
    """SIGKILL of the stage (nothing to forward the signal) still ends the worker: it asked
    for SIGTERM on its parent's death (PR_SET_PDEATHSIG), then passes that to its group."""
    import psutil

    worker = (
        "import subprocess, time\n"
        "from forge.train.worker import _own_process_group\n"
        "_own_process_group()\n"
        "child = subprocess.Popen(['sleep', '60'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    stage = (
        "import subprocess, sys, time\n"
        f"w = subprocess.Popen([sys.executable, '-c', {worker!r}], stdout=subprocess.PIPE,\n"
        "                      text=True)\n"
        "print(w.pid, w.stdout.readline().strip(), flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", stage], stdout=subprocess.PIPE, text=True)
    pids = [psutil.Process(int(p)) for p in proc.stdout.readline().split()]
    proc.kill()
    proc.wait(timeout=30)
    for p in pids:
        p.wait(timeout=30)  # raises if it outlives the stage
        assert not p.is_running()


# -- the co-pilot as advisor (recipe.heal.advisor), against a real generateContent server -----


@pytest.fixture
def advised_stage(tmp_path: Path, monkeypatch):
    """A stage directory, conf/copilot.yaml with backend gemini, a local Gemini server, and a
    stand-in worker: attempt 1 fails with an error no rule knows (its failure record, as the
    worker writes it), later attempts succeed and write what the worker leaves (facts, the
    model directory, dvclive's metrics and series, timing ones included)."""
    from forge.copilot.heal import register
    from forge.runtime.base import Job
    from forge.runtime.local import LocalRuntime
    from forge.train import supervisor
    from forge.train.run import RunSpec

    from .gemini_fake import KEY, FakeGemini

    jobs: list = []

    class Worker:
        name = "local"

        def run(self, job):
            spec = RunSpec.read(Path(job.argv[3]))
            jobs.append(spec)
            code = 1
            if spec.attempt == 1:
                record = {"cls": "unknown", "evidence": ["builtins.RuntimeError: an odd fault"]}
                (spec.checkpoints / "failure-0.json").write_text(json.dumps(record))
            else:
                code = 0
                spec.out.mkdir(parents=True)
                (spec.out / "weights.txt").write_text("w")
                spec.facts_path.write_text('{"global_step": 4, "train_loss": 0.5}')
                plots = spec.live_dir / "plots" / "metrics"
                (plots / "train").mkdir(parents=True)
                (plots / "loss.tsv").write_text("step\tloss\n2\t0.9\n4\t0.5\n")
                (plots / "train" / "runtime.tsv").write_text("step\truntime\n4\t1.25\n")
                metrics = {"loss": 0.5, "step": 4, "train": {"runtime": 1.25, "loss": 0.7}}
                (spec.live_dir / "metrics.json").write_text(json.dumps(metrics))
            return LocalRuntime().run(
                Job([sys.executable, "-c", f"raise SystemExit({code})"], dict(os.environ))
            )

    for k in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GEMINI_BASE_URL"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(supervisor, "get_runtime", lambda name: Worker())
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "forge_base.json").write_text('{"name": "tiny", "source": "tiny"}')
    (tmp_path / "data").mkdir()
    for s in ("train", "val"):
        (tmp_path / "data" / f"{s}.jsonl").write_text("{}\n")
    conf = tmp_path / "copilot.yaml"
    conf.write_text("backend: gemini\nattempts: 1\nretry_delay_s: 0.01\n")
    with FakeGemini() as fake:
        monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", fake.url)
        monkeypatch.setenv("GEMINI_API_KEY", KEY)
        assert register(conf) is not None
        try:
            yield supervisor, jobs, fake
        finally:
            heal.use_advisor(None)


def test_the_copilot_advisors_valid_diff_is_applied_and_recorded(advised_stage):
    from .gemini_fake import KEY

    supervisor, jobs, fake = advised_stage
    diff = {"recipe.learning_rate": 5e-4, "recipe.gradient_checkpointing": True}
    fake.reply_json({"diff": diff, "why": "a lower learning rate, less activation memory"})
    facts = _run(supervisor, LORA)
    assert facts["global_step"] == 4
    # what was sent: the class, the evidence and the effective config, under a schema of the
    # recipe's own settings
    (request,) = fake.requests
    sent = fake.sent_text()
    assert '"class": "unknown"' in sent and "builtins.RuntimeError: an odd fault" in sent
    assert '"batch_size": 32' in sent
    schema = request["body"]["generationConfig"]["responseJsonSchema"]
    settings = schema["properties"]["diff"]["properties"]
    assert settings["recipe.learning_rate"]["type"] == "number"
    assert settings["hardware.precision"]["enum"] == ["auto", "bf16", "fp16", "fp32"]
    assert "recipe.heal.max_attempts" not in settings
    # attempt 2 ran with the diff, and the tracked record says who proposed it
    assert (jobs[1].recipe.learning_rate, jobs[1].recipe.gradient_checkpointing) == (5e-4, True)
    rows = json.loads(Path("results/attempts.json").read_text())
    assert [(r["class"], r["fix"], r.get("fix_by")) for r in rows] == [
        ("unknown", {}, None),
        ("ok", diff, "advisor"),
    ]
    assert rows[1]["fix_reason"] == (
        "proposed by gemini (gemini-2.5-flash): a lower learning rate, less activation memory"
    )
    # durations and dvclive's timing series are in .forge/volatile/ (untracked), neither in
    # results/ (tracked by git) nor in the manifest (DVC-cached)
    assert all("seconds" not in r for r in rows)
    manifest = json.loads(Path("out/manifest.json").read_text())
    assert [r["class"] for r in manifest["attempts"]] == ["unknown", "ok"]
    assert all("seconds" not in r for r in manifest["attempts"])
    assert not {"timing", "git_sha"} & set(manifest)
    assert "platform" not in manifest["versions"]
    volatile = json.loads(Path(".forge/volatile/train.json").read_text())
    assert all(r["seconds"] >= 0 for r in volatile["attempts"]) and len(volatile["attempts"]) == 2
    assert volatile["timing"] == {
        "metrics": {"train/runtime": 1.25},
        "series": {"train/runtime": [[4, 1.25]]},
    }
    assert volatile["fingerprint"] == manifest["fingerprint"] and volatile["platform"]
    assert json.loads(Path("results/metrics.json").read_text()) == {
        "loss": 0.5,
        "step": 4,
        "train": {"loss": 0.7},
    }
    assert (Path("results/plots/metrics/loss.tsv")).is_file()
    assert not Path("results/plots/metrics/train").exists()
    assert manifest["healed"]["diff"] == diff
    for path in (*Path("results").rglob("*"), *Path("out").rglob("*")):
        assert path.is_dir() or KEY not in path.read_text()


@pytest.mark.parametrize(
    ("answer", "refused"),
    [
        (
            {"diff": {"recipe.batch_size": 8}, "why": "smaller batches"},
            "the advisor's proposal recipe.batch_size=8 was refused: the effective batch "
            "(batch_size x gradient_accumulation_steps) must stay",
        ),
        (
            {"diff": {"recipe.learning_rate": "low"}, "why": "x"},
            "the advisor failed: AdvisorError: gemini (gemini-2.5-flash): the answer does not "
            "follow the schema, refused ($.diff.recipe.learning_rate: expected number, got str",
        ),
    ],
)
def test_an_invalid_advisor_proposal_is_refused_with_its_reason(advised_stage, answer, refused):
    from forge.errors import TrainingFailed

    supervisor, jobs, fake = advised_stage
    fake.reply_json(answer)
    with pytest.raises(TrainingFailed) as info:
        _run(supervisor, LORA)
    assert refused in str(info.value) and "\n" not in str(info.value)
    assert len(jobs) == 1 and len(fake.requests) == 1
    (row,) = json.loads(next(Path(".forge/checkpoints").glob("train-*/attempts.json")).read_text())
    assert row["class"] == "unknown" and refused in row["advice"]
    assert not Path("out").exists() and not Path("results").exists()


def test_with_backend_rules_no_advisor_is_registered(tmp_path: Path, monkeypatch):
    from forge.copilot.heal import register
    from forge.copilot.schema import AdvisorError

    conf = tmp_path / "copilot.yaml"
    conf.write_text("backend: rules\n")
    assert register(conf) is None
    # backend gemini without a key: one line before anything trains
    for k in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setattr("forge.copilot.secrets.gemini_key", lambda: None)
    conf.write_text("backend: gemini\n")
    with pytest.raises(AdvisorError, match="copilot.backend: gemini needs a key"):
        register(conf)
    assert heal.advise(Failure("unknown", ["x"]), LORA, CPU) == (
        None,
        "no rule matches and no advisor is registered",
    )


def test_a_container_oom_kill_is_host_oom_from_the_runtimes_record(stub_stage, monkeypatch):
    """A container's cgroup is not the supervisor's: a SIGKILLed run is host_oom when the
    runtime recorded the OOM killer (DockerRuntime: State.OOMKilled or the container cgroup's
    oom_kill count), not unknown."""
    from forge.runtime.base import Job
    from forge.runtime.docker.runtime import oom_kill_count
    from forge.runtime.local import LocalRuntime
    from forge.train import supervisor
    from forge.train.run import RunSpec

    assert oom_kill_count("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n") == 3  # v1
    assert oom_kill_count("low 0\nhigh 0\nmax 5\noom 2\noom_kill 2\n") == 2  # v2
    assert oom_kill_count("") is None

    class Killed:
        name = "docker"
        last: dict = {}

        def run(self, job):
            spec = RunSpec.read(Path(job.argv[3]))
            kill = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
            code = LocalRuntime().run(Job([sys.executable, "-c", kill], dict(os.environ)))
            self.last = {"oom_record": "container forge-x: cgroup oom_kill 0 -> 1"}
            if spec.attempt > 1:
                self.last = {}
            return code

    monkeypatch.setattr(supervisor, "get_runtime", lambda name: Killed())
    from forge.errors import TrainingFailed

    with pytest.raises(TrainingFailed):
        _run(supervisor, replace(LORA, heal=HealConfig(max_attempts=2)))
    rows = json.loads(next(Path(".forge/checkpoints").glob("train-*/attempts.json")).read_text())
    assert [(r["class"], r["exit_code"]) for r in rows] == [("host_oom", 137), ("unknown", 137)]
    assert rows[0]["evidence"] == [
        "killed by SIGKILL",
        "container forge-x: cgroup oom_kill 0 -> 1",
    ]
    assert rows[1]["fix"] == {"recipe.batch_size": 16, "recipe.gradient_accumulation_steps": 2}


@pytest.mark.parametrize("part", ["sft", "reward"])
def test_the_sft_and_reward_parts_heal_as_the_recipe_says(part, tmp_path: Path, monkeypatch):
    """A part's own recipe (the warm start's full SFT, the reward model) is derived from the
    user's recipe, and carries its recipe.heal: healing settings apply to every stage."""
    import yaml

    from forge.train import supervisor

    params = yaml.safe_load((Path(__file__).parents[1] / "params.yaml").read_text())
    params["recipe"]["heal"]["max_attempts"] = 7
    params["recipe"]["heal"]["oom_fixes"] = ["gradient_checkpointing"]
    params["recipe"]["warm_start"]["steps"] = 5
    params["recipe"]["reward_model"]["steps"] = 5
    monkeypatch.chdir(tmp_path)
    Path("params.yaml").write_text(yaml.safe_dump(params))
    got = []
    monkeypatch.setattr(
        supervisor,
        "run_train",
        lambda recipe, *a, **kw: got.append(recipe) or {"global_step": 5, "train_loss": 1.0},
    )
    supervisor.run_part_stage(part, tmp_path / "out", tmp_path / "results", "unused")
    (recipe,) = got
    assert recipe.method == {"sft": "full_sft", "reward": "reward_model"}[part]
    assert (recipe.heal.max_attempts, recipe.heal.oom_fixes) == (7, ["gradient_checkpointing"])
