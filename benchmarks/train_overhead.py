# python benchmarks/train_overhead.py [--steps N] [--repeat K] [--json]
"""Throughput of the Forge train stage against a bare TRL SFT script with the same settings.

Both run in one scratch dir (a copy of models/base, data/prepared and params.yaml,
in a committed git + DVC repo as dvclive wants), never touching the repo's own outputs:
`python -m forge.stages.train` as DVC runs it, and BARE_SCRIPT below, a plain SFTTrainer run with
the recipe's settings (same steps, batch, optimiser, schedule, LoRA, checkpoints and evals).
Each is timed as a whole subprocess, bare first, K times alternately; figures are medians.
Tokens are the same for both: the mean chat-templated length of a train example (truncated
to max_length) times the examples the steps consume.

Two figures, since Forge's defaults differ from TRL's (Forge turns TRL's default gradient
checkpointing off): the overhead at identical settings (the bare script with
gradient_checkpointing=False, as Forge trains; the goal), and Forge's defaults against the
library's (the bare script with TRL's default, gradient checkpointing on).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
GOAL = 0.97
DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}

BARE_SCRIPT = '''\
"""Bare TRL SFT: python bare_sft.py SETTINGS.json (run from the benchmark's scratch dir)."""
import json
import sys

import torch
from datasets import Dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import SFTConfig, SFTTrainer


def dataset(path):
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line)["messages"] for line in f if line.strip()]
    return Dataset.from_list([{"prompt": m[:-1], "completion": m[-1:]} for m in rows])


with open(sys.argv[1], encoding="utf-8") as f:
    settings = json.load(f)
tokenizer = AutoTokenizer.from_pretrained("models/base")
if tokenizer.pad_token is None:
    tokenizer.pad_token = tokenizer.eos_token
model = AutoModelForCausalLM.from_pretrained(
    "models/base", dtype=getattr(torch, settings["dtype"]))
trainer = SFTTrainer(
    model=model,
    args=SFTConfig(**settings["args"]),
    train_dataset=dataset("data/prepared/train.jsonl"),
    eval_dataset=dataset("data/prepared/val.jsonl") if settings["has_eval"] else None,
    processing_class=tokenizer,
    peft_config=LoraConfig(**settings["lora"]) if settings["lora"] else None,
)
trainer.train()
trainer.save_model("bare/model")
tokenizer.save_pretrained("bare/model")
'''


def bare_settings(
    recipe: dict[str, Any], hardware: dict[str, Any], has_eval: bool
) -> dict[str, Any]:
    """The SFTConfig, LoRA and dtype that the train stage derives from the same recipe."""
    from forge.hardware.precision import resolve_precision

    precision = resolve_precision(
        hardware["precision"], hardware["device"], hardware.get("architecture", "cpu")
    )
    steps = recipe["max_steps"]
    args = {
        "output_dir": "bare/checkpoints",
        "max_steps": steps,
        "per_device_train_batch_size": recipe["batch_size"],
        "per_device_eval_batch_size": recipe["batch_size"],
        "gradient_accumulation_steps": recipe["gradient_accumulation_steps"],
        "learning_rate": recipe["learning_rate"],
        "lr_scheduler_type": recipe["lr_scheduler"],
        "warmup_steps": max(0, round(recipe["warmup_ratio"] * steps)),
        "weight_decay": recipe["weight_decay"],
        "seed": recipe["seed"],
        "data_seed": recipe["seed"],
        "bf16": precision == "bf16",
        "fp16": precision == "fp16",
        "use_cpu": hardware["device"] == "cpu",
        "save_strategy": "steps",
        "save_steps": recipe["save_steps"],
        "save_total_limit": 2,
        "eval_strategy": "steps" if has_eval and recipe["eval_steps"] else "no",
        "eval_steps": recipe["eval_steps"] or None,
        "logging_steps": 10,
        "report_to": "none",
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
        "max_length": recipe["max_length"],
        "completion_only_loss": True,
        "packing": False,
    }
    adapter = recipe.get("lora")  # a recipe that trains an adapter has recipe.lora
    lora = (
        {
            "r": adapter["rank"],
            "lora_alpha": adapter["alpha"],
            "lora_dropout": adapter["dropout"],
            "target_modules": list(adapter["target_modules"]),
            "task_type": "CAUSAL_LM",
        }
        if "lora" in recipe
        else None
    )
    return {
        "args": args,
        "lora": lora,
        # as the one loader loads it: a LoRA base in the compute precision, full weights fp32
        "dtype": DTYPES[precision if lora else "fp32"],
        "has_eval": has_eval,
    }


def mean_example_tokens(base: Path, train: Path, max_length: int) -> float:
    """Mean tokens of a train example as SFTTrainer sees it: chat template, truncated."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(base))
    with train.open(encoding="utf-8") as f:
        lengths = [
            min(
                max_length,
                len(
                    tokenizer.apply_chat_template(
                        json.loads(line)["messages"], tokenize=True, return_dict=True
                    )["input_ids"]
                ),
            )
            for line in f
            if line.strip()
        ]
    return statistics.fmean(lengths)


def scratch_dir(work: Path, params: dict[str, Any], settings: dict[str, Any]) -> None:
    """The stage's inputs, params.yaml (with any --steps applied) and the bare script, in a
    committed git + DVC repo like the project's (else dvclive runs `dvc init` while timed)."""
    for rel in ("models/base", "data/prepared"):
        shutil.copytree(ROOT / rel, work / rel, ignore=shutil.ignore_patterns("__pycache__"))
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    (work / "bare_sft.py").write_text(BARE_SCRIPT, encoding="utf-8")
    same = {**settings, "args": {**settings["args"], "gradient_checkpointing": False}}
    for name, body in (("bare_same.json", same), ("bare_default.json", settings)):
        (work / name).write_text(json.dumps(body, indent=2), encoding="utf-8")
    git = ["git", "-c", "user.name=forge-bench", "-c", "user.email=forge-bench@localhost"]
    for argv in (
        [*git, "init", "-q"],
        [sys.executable, "-m", "dvc", "init", "-q"],
        [*git, "add", "-A"],
        [*git, "commit", "-q", "-m", "benchmark"],
    ):
        subprocess.run(argv, cwd=work, check=True)


def timed(name: str, argv: list[str], work: Path) -> float:
    """Wall-clock seconds of one run; exits with the tail of its output if it fails."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(
            f"train_overhead: the {name} run failed (exit {proc.returncode}):\n"
            f"{(proc.stdout + proc.stderr)[-4000:]}"
        )
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, help="override recipe.max_steps for both runs")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each, alternating")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    from forge.recipes.base import DataKind
    from forge.recipes.registry import get

    base, data = ROOT / "models/base", ROOT / "data/prepared"
    if not (base.is_dir() and (data / "train.jsonl").is_file() and (data / "val.jsonl").is_file()):
        print(
            "train_overhead: models/base or data/prepared is missing; "
            "run `dvc repro prepare base` first",
            file=sys.stderr,
        )
        sys.exit(2)
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    recipe = params["recipe"]
    if get(str(recipe.get("method"))).data is not DataKind.SFT:
        print(
            f"train_overhead: params.yaml has recipe={recipe.get('method')}; the bare script is "
            "SFT only (compose recipe=lora_sft or full_sft, or see benchmarks/recipes.py)",
            file=sys.stderr,
        )
        sys.exit(2)
    if args.steps is not None:
        recipe["max_steps"] = args.steps
    has_eval = (data / "val.jsonl").stat().st_size > 0
    settings = bare_settings(recipe, params["hardware"], has_eval)
    examples = recipe["max_steps"] * recipe["batch_size"] * recipe["gradient_accumulation_steps"]
    tokens = examples * mean_example_tokens(base, data / "train.jsonl", recipe["max_length"])

    runs: dict[str, list[float]] = {"bare_same": [], "bare_default": [], "forge": []}
    with tempfile.TemporaryDirectory(prefix="forge-train-overhead-") as tmp:
        work = Path(tmp)
        scratch_dir(work, params, settings)
        for _ in range(args.repeat):
            for name in ("bare_same", "bare_default"):
                shutil.rmtree(work / "bare", ignore_errors=True)
                argv = [sys.executable, "bare_sft.py", f"{name}.json"]
                runs[name].append(timed(f"bare TRL ({name})", argv, work))
            runs["forge"].append(timed("forge", [sys.executable, "-m", "forge.stages.train"], work))

    tps = {name: tokens / statistics.median(times) for name, times in runs.items()}
    same = tps["forge"] / tps["bare_same"]
    defaults = tps["forge"] / tps["bare_default"]
    if args.json:
        print(
            json.dumps(
                {
                    "max_steps": recipe["max_steps"],
                    "repeat": args.repeat,
                    "tokens": round(tokens),
                    **{f"{n}_s": [round(x, 3) for x in t] for n, t in runs.items()},
                    **{f"{n}_tok_s": round(v, 1) for n, v in tps.items()},
                    "ratio_identical_settings": round(same, 4),
                    "ratio_forge_vs_trl_defaults": round(defaults, 4),
                    "goal": GOAL,
                },
                indent=2,
            )
        )
    else:
        print(
            f"train_overhead: identical settings: forge {tps['forge']:.0f} tok/s / bare TRL "
            f"{tps['bare_same']:.0f} tok/s = {same:.3f} (goal >= {GOAL})\n"
            f"train_overhead: defaults: forge {tps['forge']:.0f} tok/s / bare TRL with its "
            f"default gradient checkpointing {tps['bare_default']:.0f} tok/s = {defaults:.3f}"
        )


if __name__ == "__main__":
    main()
