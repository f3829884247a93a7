"""The train stage's body: run the recipe in a child process, keep checkpoints between
attempts, and on success write models/candidate/ and results/train/ whole.

Checkpoints live in .forge/checkpoints/train-<fingerprint>/, outside DVC's outputs (which
DVC deletes before a stage runs). The fingerprint covers every input of the stage, so a
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
from pathlib import Path
from typing import Any

import yaml

from forge.config.schema import HardwareConfig
from forge.errors import TrainingFailed
from forge.record import manifest, tree_hash, write_json
from forge.runtime.base import get_runtime

CHECKPOINT_ROOT = Path(".forge/checkpoints")


def fingerprint(recipe: Any, hw: HardwareConfig, base: Path, data: Path) -> str:
    from dataclasses import asdict

    h = hashlib.sha256()
    h.update(yaml.safe_dump({"recipe": asdict(recipe), "hardware": asdict(hw)}).encode())
    h.update(tree_hash(base).encode())
    h.update(tree_hash(data / "train.jsonl").encode())
    h.update(tree_hash(data / "val.jsonl").encode())
    return h.hexdigest()[:16]


def _describe_exit(code: int) -> str:
    if code > 128:
        try:
            return f"killed by {signal.Signals(code - 128).name}"
        except ValueError:
            pass
    return f"exit code {code}"


def run_train(
    recipe: Any, hw: HardwareConfig, params: Path, base: Path, data: Path, out: Path, results: Path
) -> dict[str, Any]:
    fp = fingerprint(recipe, hw, base, data)
    ckpt = CHECKPOINT_ROOT / f"train-{fp}"
    ckpt.mkdir(parents=True, exist_ok=True)
    attempts_path = ckpt / "attempts.json"
    attempts = json.loads(attempts_path.read_text()) if attempts_path.is_file() else []
    facts_path = ckpt / "facts.json"
    facts_path.unlink(missing_ok=True)
    if out.exists():
        shutil.rmtree(out)

    argv = [
        sys.executable,
        "-m",
        "forge.train.worker",
        "--params",
        str(params),
        "--base",
        str(base),
        "--data",
        str(data),
        "--out",
        str(out),
        "--checkpoints",
        str(ckpt),
        "--facts",
        str(facts_path),
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
    runtime = get_runtime(hw.runtime)
    started = time.time()
    code = runtime.run(argv, env)
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
    base_record = json.loads((base / "forge_base.json").read_text())
    write_json(
        out / "manifest.json",
        manifest(
            inputs={"base": base, "train": data / "train.jsonl", "val": data / "val.jsonl"},
            seeds={"recipe": recipe.seed},
            fingerprint=fp,
            attempts=attempts,
            base_model=base_record,
            train=facts,
            chat_template_sha256=hashlib.sha256(
                (out / "chat_template.jinja").read_bytes()
            ).hexdigest()
            if (out / "chat_template.jinja").is_file()
            else None,
        ),
    )
    from dataclasses import asdict

    (out / "forge_config.yaml").write_text(
        yaml.safe_dump(
            {"recipe": asdict(recipe), "hardware": asdict(hw), "base_model": base_record},
            sort_keys=True,
        )
    )

    if results.exists():
        shutil.rmtree(results)
    shutil.copytree(ckpt / "live", results)
    write_json(
        results / "attempts.json",
        [{k: v for k, v in a.items() if k != "seconds"} for a in attempts],
    )
    shutil.rmtree(ckpt)
    return facts
