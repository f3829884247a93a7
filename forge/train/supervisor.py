"""The body of every training stage (sft, reward, train): run one part of the recipe in a
child process, keep checkpoints between attempts, and on success write the stage's model
directory and results/<stage>/ whole.

Checkpoints live in .forge/checkpoints/<part>-<fingerprint>/, outside DVC's outputs (which
DVC deletes before a stage runs). The fingerprint covers every input of the part, so a
rerun after a crash resumes only the very same training; success removes them.
"""

from __future__ import annotations

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
from forge.record import environment, manifest, tree_hash, write_json
from forge.runtime import Job, get_runtime
from forge.runtime.launch import launch_argv
from forge.train.run import RunSpec

CHECKPOINT_ROOT = Path(".forge/checkpoints")


def fingerprint(recipe: RecipeConfig, hw: HardwareConfig, hashes: dict[str, str], part: str) -> str:
    """Names one training: the part, its recipe and hardware, and its inputs' hashes."""
    from dataclasses import asdict

    h = hashlib.sha256(part.encode())
    h.update(yaml.safe_dump({"recipe": asdict(recipe), "hardware": asdict(hw)}).encode())
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


def _describe_exit(code: int) -> str:
    if code > 128:
        try:
            return f"killed by {signal.Signals(code - 128).name}"
        except ValueError:
            pass
    return f"exit code {code}"


def _cache_key(base_record: dict[str, Any], base: Path) -> str:
    """What a reused container is keyed by: the base model's identity, not its path."""
    key = "@".join(str(base_record[k]) for k in ("source", "revision") if base_record.get(k))
    return key or str(base)


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
    `start` (default: models/base), writing `out` and `results`; returns the worker's facts."""
    from forge.model.base import base_path
    from forge.recipes.parts import data_inputs

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
    attempts = json.loads(attempts_path.read_text()) if attempts_path.is_file() else []
    spec = RunSpec(
        part=part,
        recipe=recipe,
        hardware=hw,
        start=str(start_path),
        data=data,
        out=out,
        checkpoints=ckpt,
        reward_model=reward_model,
    )
    facts_path = spec.facts_path
    facts_path.unlink(missing_ok=True)
    if out.exists():
        shutil.rmtree(out)
    run_file = spec.write()

    base_record = json.loads((base / "forge_base.json").read_text())
    argv = launch_argv([sys.executable, "-m", "forge.train.worker", str(run_file)], hw)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
    runtime = get_runtime(hw.runtime)
    started = time.time()
    # the manifest's git and version facts, read while the worker starts (not after it ends)
    pool = ThreadPoolExecutor(max_workers=1)
    env_facts = pool.submit(environment)
    pool.shutdown(wait=False)
    code = runtime.run(
        Job(argv=argv, env=env, device=hw.device, cache_key=_cache_key(base_record, base))
    )
    attempt = {
        "attempt": len(attempts) + 1,
        "runtime": runtime.name,
        "exit_code": code,
        "seconds": round(time.time() - started, 1),
    }
    if facts_path.is_file():
        attempt["resumed_from"] = json.loads(facts_path.read_text())["resumed_from"]
    attempts.append(attempt)
    write_json(attempts_path, attempts)
    if code != 0:
        raise TrainingFailed(
            f"training failed ({_describe_exit(code)}) on attempt {attempt['attempt']}; "
            f"checkpoints kept in {ckpt}",
            hint="fix the cause and rerun `dvc repro`: it resumes from the last checkpoint",
        )

    facts = json.loads(facts_path.read_text())
    datasets = _datasets(data)
    write_json(
        out / "manifest.json",
        manifest(
            hashes=hashes,
            seeds={"recipe": recipe.seed},
            env=env_facts.result(),
            fingerprint=fp,
            attempts=attempts,
            base_model=base_record,
            part=part,
            datasets=datasets,
            licenses=sorted({d["license"] for d in datasets}),
            train=facts,
            chat_template_sha256=hashlib.sha256(
                (out / "chat_template.jinja").read_bytes()
            ).hexdigest()
            if (out / "chat_template.jinja").is_file()
            else None,
        ),
    )
    from dataclasses import asdict

    (out / "README.md").write_text(model_card(recipe, base_record, datasets), encoding="utf-8")
    (out / "forge_config.yaml").write_text(
        yaml.safe_dump(
            {"recipe": asdict(recipe), "hardware": asdict(hw), "base_model": base_record},
            sort_keys=True,
        )
    )

    if results.exists():
        shutil.rmtree(results)
    shutil.copytree(spec.live_dir, results)
    write_json(
        results / "attempts.json",
        [{k: v for k, v in a.items() if k != "seconds"} for a in attempts],
    )
    shutil.rmtree(ckpt)
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

    recipe = part_recipe(part, load_recipe())
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
