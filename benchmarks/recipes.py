# python benchmarks/recipes.py [--steps N] [--recipes dpo,grpo] [--project DIR] [--json]
"""Tokens/s of the Forge train stage per recipe, as a ratio to bare TRL, same run.

Each recipe's train stage is compared with a bare TRL script with the same settings.

For each recipe, a scratch dir (a committed git + DVC repo, as dvclive wants) holds a copy
of models/base, data/prepared and conf/, and params.yaml composed for the recipe with
`recipe.max_steps=N`. Stage sft is marked unused, so both start from models/base; rlhf
first gets a reward model from `python -m forge.stages.reward`, untimed. Then, timed as whole
subprocesses, bare first: BARE_SCRIPT (the plain TRL trainer of the method, with the
TrainingArguments, LoRA and method settings the stage derives from the same recipe) and
`python -m forge.stages.train`. Both see the same examples, so the token count is the same and
the ratio is bare seconds over forge seconds; tokens/s uses the mean chat-templated length
of a train example (prompt and chosen answer for preference methods, prompt plus
max_completion_length for the RL methods, prompt and answer for KTO's unpaired rows) times
the examples the steps consume. The recipes are those of forge/recipes/registry.py, and the
stage's settings come from the same code the worker uses (forge/train/run.py TrainRun.args,
forge/model/load.py).
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from forge.recipes.registry import RECIPES  # noqa: E402 - after the repo is on sys.path

BARE_SCRIPT = '''\
"""Bare TRL: python bare.py SETTINGS.json (from the benchmark's scratch dir)."""
import json
import sys

import torch
from datasets import Dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

s = json.load(open(sys.argv[1]))
method, start = s["method"], s["start"]


def rows(path):
    return [json.loads(line) for line in open(path) if line.strip()]


tok = AutoTokenizer.from_pretrained(start)
lora = LoraConfig(**s["lora"]) if s["lora"] else None
dtype = getattr(torch, s["dtype"])
if method in ("lora_sft", "full_sft"):
    from trl import SFTConfig as Config, SFTTrainer as Trainer

    data = [{"prompt": r["messages"][:-1], "completion": r["messages"][-1:]}
            for r in rows("data/prepared/train.jsonl")]
    kw = dict(peft_config=lora)
elif method == "dpo":
    from trl import DPOConfig as Config, DPOTrainer as Trainer

    data, kw = rows("data/prepared/preference/train.jsonl"), dict(peft_config=lora)
elif method == "kto":
    from trl import KTOConfig as Config, KTOTrainer as Trainer

    data, kw = rows("data/prepared/unpaired/train.jsonl"), dict(peft_config=lora)
elif method == "reward_model":
    from trl import RewardConfig as Config, RewardTrainer as Trainer

    data, kw = rows("data/prepared/preference/train.jsonl"), {}
elif method == "grpo":
    from trl import GRPOConfig as Config, GRPOTrainer as Trainer

    def reward(prompts, completions, **_):
        out = []
        for p, c in zip(prompts, completions):
            target = p[-1]["content"].split(": ", 1)[1][::-1]
            answer = c[0]["content"].strip()
            right = sum(a == b for a, b in zip(answer, target))
            out.append(1.0 if answer == target else 0.5 * right / max(len(answer), len(target), 1))
        return out

    data = [{"prompt": r["messages"][:-1]} for r in rows("data/prepared/train.jsonl")]
    kw = dict(peft_config=lora, reward_funcs=[reward])
else:  # rlhf
    from trl import RLOOConfig as Config, RLOOTrainer as Trainer

    rm = AutoModelForSequenceClassification.from_pretrained("models/reward", num_labels=1)
    rm_tok = AutoTokenizer.from_pretrained("models/reward")
    penalty = s["length_penalty"]

    def length(completions, chosen_chars, **_):
        return [-penalty * abs(len(c[0]["content"].strip()) - n)
                for c, n in zip(completions, chosen_chars)]

    data = [{"prompt": r["prompt"], "chosen_chars": len(r["chosen"][-1]["content"])}
            for r in rows("data/prepared/preference/train.jsonl")]
    kw = dict(peft_config=lora, reward_funcs=[rm, length], reward_processing_classes=[rm_tok, None])
if method == "reward_model":
    model = AutoModelForSequenceClassification.from_pretrained(start, num_labels=1, dtype=dtype)
    model.config.pad_token_id = tok.pad_token_id
else:
    model = AutoModelForCausalLM.from_pretrained(start, dtype=dtype)
trainer = Trainer(model=model, args=Config(**s["args"]), train_dataset=Dataset.from_list(data),
                  processing_class=tok, **kw)
trainer.train()
trainer.save_model("bare/model")
'''


def settings(recipe: Any, hw: Any) -> dict[str, Any]:
    """What the train stage passes to TRL for this recipe, as plain JSON for BARE_SCRIPT."""
    from dataclasses import asdict

    from forge.model import load
    from forge.recipes.rlhf import sampling_args
    from forge.train.run import RunSpec, TrainRun

    spec = RunSpec(
        part="train",
        recipe=recipe,
        hardware=hw,
        start="models/base",
        data=Path("data/prepared"),
        out=Path("bare/model"),
        checkpoints=Path("bare/checkpoints"),
    )
    args = TrainRun(spec).args(recipe, has_eval=False)
    method = recipe.method
    if method in ("lora_sft", "full_sft"):
        args.update(max_length=recipe.max_length, completion_only_loss=True, packing=False)
    elif method == "dpo":
        args.update(
            max_length=recipe.max_length,
            beta=recipe.beta,
            loss_type=list(recipe.loss_type),
            loss_weights=list(recipe.loss_weights) or None,
        )
    elif method == "kto":
        args.update(
            max_length=recipe.max_length,
            beta=recipe.beta,
            loss_type=recipe.loss_type,
            desirable_weight=recipe.desirable_weight,
            undesirable_weight=recipe.undesirable_weight,
        )
    elif method == "reward_model":
        args.update(
            max_length=recipe.max_length,
            center_rewards_coefficient=recipe.center_rewards_coefficient,
        )
    else:
        args.update(sampling_args(recipe))
    adapter = recipe.adapter
    lora = None
    if adapter is not None:
        lora = {
            "r": adapter.rank,
            "lora_alpha": adapter.alpha,
            "lora_dropout": adapter.dropout,
            "target_modules": list(adapter.target_modules),
            "task_type": "CAUSAL_LM",
        }
    # as the one loader loads it: a LoRA base in the compute precision, full weights in fp32
    precision = load.precision(hw) if adapter is not None else "fp32"
    dtype = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}[precision]
    return {
        "method": method,
        "start": "models/base",
        "args": args,
        "lora": lora,
        "dtype": dtype,
        "length_penalty": getattr(recipe, "length_penalty", 0.0),
        "recipe": asdict(recipe),
    }


def example_tokens(recipe: Any, src: Path) -> float:
    """Mean tokens of one training example, as the method's trainer sees it."""
    from transformers import AutoTokenizer

    from forge.recipes.base import DataKind
    from forge.recipes.registry import get

    tok = AutoTokenizer.from_pretrained(str(src / "models/base"))
    data = src / "data/prepared"

    def n(conv: list[dict[str, str]], **kw: Any) -> int:
        return len(
            tok.apply_chat_template(conv, tokenize=True, return_dict=True, **kw)["input_ids"]
        )

    def rows(path: Path) -> list[dict[str, Any]]:
        return [json.loads(x) for x in path.open() if x.strip()]

    kind = get(recipe.method).data
    if hasattr(recipe, "max_completion_length"):  # online RL: prompts, answers sampled
        if kind is DataKind.PREFERENCE:
            prompts = [r["prompt"] for r in rows(data / "preference/train.jsonl")]
        else:
            prompts = [r["messages"][:-1] for r in rows(data / "train.jsonl")]
        return statistics.fmean(
            n(p, add_generation_prompt=True) + recipe.max_completion_length for p in prompts
        )
    if kind is DataKind.PREFERENCE:
        return statistics.fmean(
            n(r["prompt"] + r["chosen"]) + n(r["prompt"] + r["rejected"])
            for r in rows(data / "preference/train.jsonl")
        )
    if kind is DataKind.UNPAIRED:
        return statistics.fmean(
            n(r["prompt"] + r["completion"]) for r in rows(data / "unpaired/train.jsonl")
        )
    return statistics.fmean(
        min(recipe.max_length, n(r["messages"])) for r in rows(data / "train.jsonl")
    )


def run(name: str, argv: list[str], work: Path) -> float:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(
            f"recipes: {name} failed (exit {proc.returncode}):\n"
            f"{(proc.stdout + proc.stderr)[-4000:]}"
        )
    return time.perf_counter() - start


def scratch(work: Path, src: Path, method: str, steps: int) -> None:
    from forge.config import compose
    from forge.recipes.registry import get

    for rel in ("models/base", "data/prepared"):
        shutil.copytree(src / rel, work / rel)
    for rel in ("conf",):
        shutil.copytree(ROOT / rel, work / rel, ignore=shutil.ignore_patterns("__pycache__"))
    # No warm start is trained: models/sft is marked unused below, so both start from
    # models/base (recipe.warm_start.steps stays as composed; validate needs it on tiny).
    overrides = [f"recipe={method}", f"recipe.max_steps={steps}"]
    if get(method).reward_model:
        overrides.append(f"recipe.reward_model.steps={steps}")
    compose.write(work / "params.yaml", overrides, work / "conf")
    (work / "bare.py").write_text(BARE_SCRIPT, encoding="utf-8")
    (work / "models/sft").mkdir(parents=True)
    (work / "models/sft/unused.json").write_text('{"used": false}\n')
    git = ["git", "-c", "user.name=forge-bench", "-c", "user.email=forge-bench@localhost"]
    for argv in (
        [*git, "init", "-q"],
        [sys.executable, "-m", "dvc", "init", "-q"],
        [*git, "add", "-A"],
        [*git, "commit", "-q", "-m", "benchmark"],
    ):
        subprocess.run(argv, cwd=work, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="recipe.max_steps for every run")
    parser.add_argument("--recipes", default=",".join(RECIPES), help="comma-separated")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--project", type=Path, default=ROOT, help="where models/base and data/prepared are"
    )
    args = parser.parse_args()
    src = args.project.resolve()
    if (
        not (src / "data/prepared/preference/train.jsonl").is_file()
        or not (src / "data/prepared/unpaired/train.jsonl").is_file()
        or not (src / "models/base").is_dir()
    ):
        sys.exit(
            "recipes: models/base or data/prepared/{preference,unpaired} is missing; "
            "run `dvc repro prepare base`"
        )

    from forge.config.params import load_group
    from forge.recipes.registry import get, load_recipe

    methods = args.recipes.split(",")
    for method in methods:
        get(method)  # an unknown name: one line naming recipe.method, before any work
    report = []
    for method in methods:
        with tempfile.TemporaryDirectory(prefix=f"forge-bench-{method}-") as tmp:
            work = Path(tmp)
            scratch(work, src, method, args.steps)
            recipe = load_recipe(work / "params.yaml")
            hw = load_group("hardware", work / "params.yaml")
            (work / "settings.json").write_text(json.dumps(settings(recipe, hw), indent=2))
            if get(method).reward_model:
                run("stage reward", [sys.executable, "-m", "forge.stages.reward"], work)
            else:
                (work / "models/reward").mkdir(parents=True)
            bare = run(f"bare TRL {method}", [sys.executable, "bare.py", "settings.json"], work)
            forge = run(f"forge {method}", [sys.executable, "-m", "forge.stages.train"], work)
            examples = recipe.max_steps * recipe.batch_size * recipe.gradient_accumulation_steps
            tokens = examples * example_tokens(recipe, src)
            report.append(
                {
                    "recipe": method,
                    "steps": recipe.max_steps,
                    "tokens": round(tokens),
                    "bare_s": round(bare, 2),
                    "forge_s": round(forge, 2),
                    "bare_tok_s": round(tokens / bare, 1),
                    "forge_tok_s": round(tokens / forge, 1),
                    "ratio": round(bare / forge, 3),
                }
            )
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for r in report:
        print(
            f"recipes: {r['recipe']:<12} forge {r['forge_tok_s']:>8.0f} tok/s / bare TRL "
            f"{r['bare_tok_s']:>8.0f} tok/s = {r['ratio']:.3f}"
        )


if __name__ == "__main__":
    main()
