"""The body of every training stage (sft, reward, train): run one part of the recipe in a
child process, keep checkpoints between attempts, and on success write the stage's model
directory and results/<stage>/ whole.

Checkpoints live in .forge/checkpoints/<part>-<fingerprint>/, outside DVC's outputs (which
DVC deletes before a stage runs). The fingerprint covers every input of the part, so a
rerun after a crash resumes only the very same training; success removes them.

What differs on every run stays out of both results/<stage>/ (tracked by git) and the
model's manifest.json (a DVC-cached output), so that a rerun of the same training, here or
in a fresh clone on a machine of the same kind, writes the same bytes and dvc.lock keeps its
hashes: each attempt's seconds, dvclive's runtime and throughput metrics and series, the
trainer's runtime, the git commit and the full platform string go into the untracked
.forge/volatile/<stage>.json (forge/record.py write_volatile), rewritten by each successful
run. results/<stage>/attempts.json and the manifest keep the rest of each attempt (class,
evidence, fix, the step it resumed from).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from forge.config.schema import HardwareConfig, RecipeConfig
from forge.errors import TrainingFailed
from forge.record import environment, manifest, tree_hash, volatile, write_json, write_volatile
from forge.runtime import Job, get_runtime
from forge.runtime.launch import launch_argv
from forge.train.run import RunSpec

CHECKPOINT_ROOT = Path(".forge/checkpoints")
# dvclive metrics measured in wall-clock time (HF's train_runtime, eval_samples_per_second...)
TIMING = ("runtime", "samples_per_second", "steps_per_second", "step_time")
VOLATILE_ROW_KEYS = ("seconds",)  # an attempt's duration: in .forge/volatile/ alone
VOLATILE_FACT_KEYS = ("train_runtime_s",)  # the worker's facts measured in wall-clock time


def fingerprint(recipe: RecipeConfig, hw: HardwareConfig, hashes: dict[str, str], part: str) -> str:
    """Names one training: the part, its recipe and hardware, and its inputs' hashes (not
    recipe.heal, which says how to recover, not what is trained)."""
    from dataclasses import asdict

    h = hashlib.sha256(part.encode())
    declared = {k: v for k, v in asdict(recipe).items() if k != "heal"}
    h.update(yaml.safe_dump({"recipe": declared, "hardware": asdict(hw)}).encode())
    for name in sorted(hashes):
        h.update(f"{name}\0{hashes[name]}".encode())
    return h.hexdigest()[:16]


def _datasets(data: Path) -> list[dict[str, Any]]:
    """Each source file of the prepared data, with its card's license and source
    (data/prepared/datasets.json, written by prepare)."""
    path = data / "datasets.json"
    return json.loads(path.read_text()) if path.is_file() else []


def model_card(
    recipe: RecipeConfig, base_record: dict[str, Any], datasets: list[dict[str, Any]]
) -> str:
    """models/candidate/README.md: what the model is and the data (and licenses) it saw."""
    lines = [
        f"# {base_record.get('name', 'model')} + {recipe.method}",
        "",
        f"Trained by Forge: recipe `{recipe.method}`, {recipe.max_steps} steps, "
        f"learning rate {recipe.learning_rate}, seed {recipe.seed}.",
        "",
        "## Training data",
        "",
        "| dataset | role | license | source | rows | sha256 |",
        "|---|---|---|---|---|---|",
    ]
    for d in datasets:
        lines.append(
            f"| {d.get('name') or d['path']} | {d['role']} | {d['license']} | {d['source']} "
            f"| {d['rows']} | {d['sha256'][:12]} |"
        )
    licenses = sorted({d["license"] for d in datasets})
    lines += ["", f"Dataset licenses: {', '.join(licenses) or 'none recorded'}.", ""]
    return "\n".join(lines)


def _cache_key(base_record: dict[str, Any], base: Path) -> str:
    """What a reused container is keyed by: the base model's identity, not its path."""
    key = "@".join(str(base_record[k]) for k in ("source", "revision") if base_record.get(k))
    return key or str(base)


def _model_shape(start: Path) -> Any:
    """The start model's shape for the memory estimator, from its config.json (None if not
    readable)."""
    from forge.hardware.memory import Shape

    try:
        config = json.loads((start / "config.json").read_text())
        return Shape.from_hf_config(config.get("text_config", config))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _drop_checkpoints_from(ckpt: Path, step: int) -> None:
    """A NaN or a divergence poisons the checkpoints saved from `step` on."""
    for path in ckpt.glob("checkpoint-*"):
        n = path.name.removeprefix("checkpoint-")
        if n.isdigit() and int(n) >= step:
            shutil.rmtree(path, ignore_errors=True)


def _load_attempts(path: Path) -> list[dict[str, Any]]:
    """The attempts of earlier runs of this training (an unreadable file, cut off by a full
    disk, starts the count again)."""
    try:
        rows = json.loads(path.read_text()) if path.is_file() else []
    except (OSError, ValueError):
        return []
    return rows if isinstance(rows, list) else []


def _save_attempts(path: Path, attempts: list[dict[str, Any]]) -> None:
    """Record the attempts; on a full disk, first drop what a failed attempt left half
    written (a cut-off checkpoint, the worker's log), so that the record and the one-line
    error still get out."""
    from forge.train.heal import LOG_FILE
    from forge.train.run import last_checkpoint

    try:
        write_json(path, attempts)
        return
    except OSError:
        last_checkpoint(path.parent)  # removes checkpoints cut off mid-save
        (path.parent / LOG_FILE).unlink(missing_ok=True)
    try:
        write_json(path, attempts)
    except OSError as exc:
        print(f"forge: could not record the attempts in {path}: {exc}", file=sys.stderr)


def _pop_timing(metrics: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Remove the TIMING entries (at any depth) from `metrics`; returns them by full key."""
    out: dict[str, Any] = {}
    for key in list(metrics):
        if isinstance(metrics[key], dict):
            out.update(_pop_timing(metrics[key], f"{prefix}{key}/"))
            if not metrics[key]:
                del metrics[key]
        elif key in TIMING:
            out[prefix + key] = metrics.pop(key)
    return out


def split_timing(live: Path) -> dict[str, Any]:
    """Take the wall-clock metrics and series out of dvclive's directory `live` (before it is
    copied to results/): {"metrics": {key: value}, "series": {key: [[step, value], ...]}}."""
    timing: dict[str, Any] = {"metrics": {}, "series": {}}
    metrics_path = live / "metrics.json"
    if metrics_path.is_file():
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
        timing["metrics"] = _pop_timing(metrics)
        write_json(metrics_path, metrics)
    plots = live / "plots" / "metrics"
    for tsv in sorted(plots.rglob("*.tsv")) if plots.is_dir() else ():
        if tsv.stem not in TIMING:
            continue
        series = []
        for line in tsv.read_text(encoding="utf-8").splitlines()[1:]:
            cells = line.split("\t")
            if len(cells) >= 2:
                series.append([int(float(cells[0])), float(cells[-1])])
        timing["series"][tsv.relative_to(plots).with_suffix("").as_posix()] = series
        tsv.unlink()
    for d in sorted(plots.rglob("*"), reverse=True) if plots.is_dir() else ():
        if d.is_dir() and not any(d.iterdir()):
            d.rmdir()
    return timing


def stable_rows(attempts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The attempts as results/<stage>/attempts.json and the manifest keep them: without
    their durations."""
    return [{k: v for k, v in row.items() if k not in VOLATILE_ROW_KEYS} for row in attempts]


def _die_with_parent() -> None:
    """Under `dvc repro` (DVC_STAGE is set): SIGTERM when DVC dies, which then stops the
    worker too (the runtime forwards it), instead of training on as an orphan."""
    if "DVC_STAGE" not in os.environ:
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def run_train(
    recipe: RecipeConfig,
    hw: HardwareConfig,
    base: Path,
    data: Path,
    out: Path,
    results: Path,
    part: str = "train",
    start: Path | None = None,
    reward_model: Path | None = None,
) -> dict[str, Any]:
    """Train `part` (sft: the warm start; reward: the reward model; train: the recipe) from
    `start` (default: models/base), writing `out` and `results`; returns the worker's facts.

    A failed attempt is classified and, when retryable and `recipe.heal` allows, retried from
    the last checkpoint with the next fix of its class (forge/train/heal.py); every attempt
    is a row of attempts.json."""
    from forge.model.base import base_path
    from forge.recipes.parts import data_inputs
    from forge.train import heal
    from forge.train.run import checkpoints

    _die_with_parent()
    start_path = Path(base_path(base)) if start is None else start
    # models/base, not a hub snapshot it points to (hashing a hub model's weights is slow)
    inputs = {"base": base if start is None else start, **data_inputs(recipe, data)}
    if reward_model is not None:
        inputs["reward_model"] = reward_model
    hashes = {name: tree_hash(path) for name, path in inputs.items()}  # once, for both uses
    fp = fingerprint(recipe, hw, hashes, part)
    ckpt = CHECKPOINT_ROOT / f"{part}-{fp}"
    ckpt.mkdir(parents=True, exist_ok=True)
    attempts_path = ckpt / "attempts.json"
    attempts = _load_attempts(attempts_path)
    # a rerun after a failed stage continues with the fixes its attempts made
    eff_recipe, eff_hw = heal.apply(heal.merged(attempts), recipe, hw)

    base_record = json.loads((base / "forge_base.json").read_text())
    # PYTHONHASHSEED: sets iterate in one order, so peft's adapter_config.json (target_modules
    # is a set) is written the same by every run
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONHASHSEED": "0",
    }
    runtime = get_runtime(hw.runtime)
    # the version facts (manifest) and the git commit (.forge/volatile/), read while the
    # worker starts (not after it ends)
    started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    pool = ThreadPoolExecutor(max_workers=1)
    env_facts = pool.submit(lambda: (environment(), volatile()))
    pool.shutdown(wait=False)
    budget = recipe.heal.max_attempts if recipe.heal.enabled else 1
    fix: heal.Fix | None = None
    for tries in range(1, budget + 1):
        spec = RunSpec(
            part=part,
            recipe=eff_recipe,
            hardware=eff_hw,
            start=str(start_path),
            data=data,
            out=out,
            checkpoints=ckpt,
            reward_model=reward_model,
            attempt=len(attempts) + 1,
        )
        for stale in (spec.facts_path, ckpt / heal.LOG_FILE, *ckpt.glob(heal.FAILURE_GLOB)):
            stale.unlink(missing_ok=True)
        if out.exists():
            shutil.rmtree(out)
        resumed = checkpoints(ckpt)
        run_file = spec.write()
        argv = launch_argv([sys.executable, "-m", "forge.train.worker", str(run_file)], eff_hw)
        kills = heal.oom_kills()
        started = time.time()
        code = runtime.run(
            Job(argv=argv, env=env, device=eff_hw.device, cache_key=_cache_key(base_record, base))
        )
        row: dict[str, Any] = {
            "attempt": spec.attempt,
            "runtime": runtime.name,
            "exit_code": code,
            "seconds": round(time.time() - started, 1),
            "fix": fix.diff if fix else {},
            "fix_reason": fix.reason if fix else None,
            "resumed_from": resumed[-1][1].name if resumed else None,
            "resumed_from_step": resumed[-1][0] if resumed else 0,
        }
        if fix is not None and fix.predicted:
            row["predicted"] = fix.predicted  # what the memory estimator expected
        if fix is not None and fix.by != "rules":
            row["fix_by"] = fix.by  # the advisor (forge/train/heal.py use_advisor)
        if code == 0:
            row["class"] = "ok"
            attempts.append(row)
            write_json(attempts_path, attempts)
            break
        # the OOM killer's record: this process's cgroup (a local worker is in it), else the
        # runtime's (a container's cgroup, forge/runtime/docker/runtime.py)
        oom = heal.oom_record(kills, None) or getattr(runtime, "last", {}).get("oom_record")
        failure = heal.read_failure(ckpt) or heal.classify_exit(
            code, heal.log_tail(ckpt / heal.LOG_FILE), oom
        )
        if failure.cls == "host_oom" and failure.memory_gib is None:
            failure.memory_gib = heal.memory_limit_gib()  # the worker's cgroup is this one's
        row.update({"class": failure.cls, "retryable": failure.retryable})
        row.update({"evidence": failure.evidence, "failed_at_step": failure.step})
        attempts.append(row)
        _save_attempts(attempts_path, attempts)
        if out.exists():  # nothing half-written is left where DVC looks
            shutil.rmtree(out)
        how = f"training failed ({heal.describe_exit(code)}) on attempt {row['attempt']}"
        what = f"{failure.cls}: {failure.evidence[-1]}" if failure.evidence else failure.cls
        if not failure.retryable and failure.cls != "unknown":
            raise TrainingFailed(f"{how}: {what}", hint=heal.fix_line(failure))
        fix = None
        why = ""
        if recipe.heal.enabled:
            fix = heal.next_fix(failure, eff_recipe, eff_hw, _model_shape(start_path))
            if fix is None and failure.cls == "unknown":
                fix, why = heal.advise(failure, eff_recipe, eff_hw)
                if why and not why.startswith("no rule"):  # asked, and refused or failed
                    row["advice"] = why
                    _save_attempts(attempts_path, attempts)
        if fix is None:
            if failure.cls == "unknown":
                advisor = f"; {why}" if why and not why.startswith("no rule") else ""
                raise TrainingFailed(
                    f"{how}: {what}{advisor}; checkpoints kept in {ckpt}",
                    hint="fix the cause and rerun `dvc repro`: it resumes from the last checkpoint",
                )
            reason = (
                "healing is off (recipe.heal.enabled)"
                if not recipe.heal.enabled
                else (why or f"no {failure.cls} fix is left")
            )
            raise TrainingFailed(
                f"{how}: {what}; {reason} ({heal.history(attempts)}); checkpoints kept in {ckpt}",
                hint="change the config and rerun `dvc repro`",
            )
        if tries == budget:
            raise TrainingFailed(
                f"training failed on {tries} attempts (recipe.heal.max_attempts={budget}): "
                f"{heal.history(attempts)}; next fix would be {heal.describe_fix(fix.diff)}; "
                f"checkpoints kept in {ckpt}",
                hint="raise recipe.heal.max_attempts or change the config, then rerun `dvc repro`",
            )
        eff_recipe, eff_hw = heal.apply(fix.diff, eff_recipe, eff_hw)
        if failure.cls in ("nan_loss", "divergence") and failure.first_bad_step is not None:
            _drop_checkpoints_from(ckpt, failure.first_bad_step)
        print(
            f"forge: attempt {row['attempt']} failed ({failure.cls}: {failure.evidence[-1]}); "
            f"attempt {row['attempt'] + 1}: {fix.reason} [{heal.describe_fix(fix.diff)}]",
            file=sys.stderr,
            flush=True,
        )

    facts = json.loads(spec.facts_path.read_text())
    timing = split_timing(spec.live_dir)
    healed = heal.merged(attempts)
    facts_healed = {"diff": healed, "overrides": heal.describe_fix(healed)} if healed else None
    datasets = _datasets(data)
    from dataclasses import asdict

    effective = {"recipe": asdict(eff_recipe), "hardware": asdict(eff_hw)}
    stable_env, volatile_env = env_facts.result()
    write_json(
        out / "manifest.json",
        manifest(
            hashes=hashes,
            seeds={"recipe": recipe.seed},
            env=stable_env,
            fingerprint=fp,
            attempts=stable_rows(attempts),
            healed=facts_healed,
            effective_config=effective,
            base_model=base_record,
            part=part,
            datasets=datasets,
            licenses=sorted({d["license"] for d in datasets}),
            train={k: v for k, v in facts.items() if k not in VOLATILE_FACT_KEYS},
            chat_template_sha256=hashlib.sha256(
                (out / "chat_template.jinja").read_bytes()
            ).hexdigest()
            if (out / "chat_template.jinja").is_file()
            else None,
        ),
    )
    (out / "README.md").write_text(model_card(eff_recipe, base_record, datasets), encoding="utf-8")
    (out / "forge_config.yaml").write_text(
        yaml.safe_dump(
            {**effective, "base_model": base_record, "healed": facts_healed}, sort_keys=True
        )
    )

    if results.exists():
        shutil.rmtree(results)
    shutil.copytree(spec.live_dir, results)
    write_json(results / "attempts.json", stable_rows(attempts))
    write_volatile(
        part,
        {
            **volatile_env,
            "part": part,
            "fingerprint": fp,
            "started": started_at,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "attempts": attempts,
            "timing": timing,
            "train": {k: facts[k] for k in VOLATILE_FACT_KEYS if k in facts},
        },
    )
    shutil.rmtree(ckpt)
    if facts_healed:
        print(
            f"forge: {part} healed ({heal.history(attempts)}); it trained with "
            f"{facts_healed['overrides']} instead of params.yaml's values. To make that "
            f"permanent, add them to your overrides: forge compose [...] "
            f"{facts_healed['overrides']}",
            file=sys.stderr,
        )
    return facts


def write_unused(out: Path, results: Path, reason: str) -> None:
    """A stage of the static DAG that this recipe does not use: a marker in each output."""
    for path in (out, results):
        if path.exists():
            shutil.rmtree(path)
        write_json(path / "unused.json", {"used": False, "reason": reason})


def run_part_stage(part: str, out: Path, results: Path, unused: str) -> None:
    """Stages sft and reward: train `part` of the recipe, or write the `unused` marker when
    the recipe has no such part (forge/recipes/parts.py)."""
    from forge.config.params import load_group
    from forge.recipes.parts import part_recipe, start_model
    from forge.recipes.registry import load_recipe

    declared = load_recipe()
    recipe = part_recipe(part, declared)
    if recipe is not None:  # a part heals as the recipe says (recipe.heal)
        recipe = dataclasses.replace(recipe, heal=declared.heal)
    if recipe is None:
        write_unused(out, results, unused)
        print(f"{part}: not used ({unused})")
        return
    facts = run_train(
        recipe,
        load_group("hardware"),
        base=Path("models/base"),
        data=Path("data/prepared"),
        out=out,
        results=results,
        part=part,
        start=None if part == "sft" else start_model(Path("models/sft")),
    )
    print(f"{part}: {facts['global_step']} steps, loss {facts['train_loss']:.4f}")
