"""The evaluate stage: the base model and the candidate on the same data, so the rise shows.

- exact match on the test split: lm-eval, greedy, with a local YAML task (no hub) and the
  chat template saved with each model; also for the warm start (models/sft) that
  preference and RL recipes started from, as `eval/sft/*`;
- perplexity of the assistant's answer on the val split, rendered by the same template;
- dpo: held-out preference accuracy and mean reward margin of DPO's implicit reward
  (beta times the policy's log-ratio to the warm start, chosen minus rejected);
- reward_model: held-out pairwise accuracy and mean margin of the learned reward (the
  candidate is a scorer, so it gets no exact match or perplexity);
- merge_adapter: the merged weights' greedy answers equal the adapter's (or the stage fails).
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import yaml

from forge.config.schema import EvalConfig
from forge.data.prepare import read_split
from forge.errors import ForgeError
from forge.record import write_json

TASK = "forge_exact_match"


def task_yaml(test_file: Path, stop: str, cfg: EvalConfig) -> dict[str, Any]:
    return {
        "task": TASK,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(test_file.resolve())}},
        "test_split": "test",
        "output_type": "generate_until",
        "doc_to_text": "{{messages[-2].content}}",
        "doc_to_target": "{{messages[-1].content}}",
        "target_delimiter": "",
        "generation_kwargs": {
            "until": [stop],
            "do_sample": False,
            "max_gen_toks": cfg.max_new_tokens,
        },
        "filter_list": [
            {
                "name": "strip",
                "filter": [{"function": "remove_whitespace"}, {"function": "take_first"}],
            }
        ],
        "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}],
        "metadata": {"version": 1.0},
    }


def sequence_logprob(model: Any, tok: Any, prompt: list, answer: list) -> float:
    """Sum of log-probabilities of the answer's tokens after the prompt (chat template)."""
    import torch

    p = tok.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True, return_dict=True)
    full = tok.apply_chat_template(prompt + answer, tokenize=True, return_dict=True)["input_ids"]
    n = len(p["input_ids"])
    ids = torch.tensor([full])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), -1)
    targets = ids[0, 1:]
    return float(logp[n - 1 :].gather(-1, targets[n - 1 :, None]).sum())


def dpo_preferences(start: str, candidate: Path, rows: list[dict], beta: float):
    """(accuracy, mean margin) of DPO's implicit reward on held-out preference pairs."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(candidate))
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(start), str(candidate))
    model.eval()
    margins = []
    for row in rows:
        reward = {}
        for side in ("chosen", "rejected"):
            policy = sequence_logprob(model, tok, row["prompt"], row[side])
            with model.disable_adapter():
                ref = sequence_logprob(model, tok, row["prompt"], row[side])
            reward[side] = beta * (policy - ref)
        margins.append(reward["chosen"] - reward["rejected"])
    n = max(len(margins), 1)
    return sum(m > 0 for m in margins) / n, sum(margins) / n


def model_args(base: str, candidate: Path | None) -> dict[str, Any]:
    """lm-eval's HF model arguments: an adapter goes through `peft=`."""
    if candidate is None:
        return {"pretrained": base, "tokenizer": base}
    if (candidate / "adapter_config.json").is_file():
        return {"pretrained": base, "peft": str(candidate), "tokenizer": str(candidate)}
    return {"pretrained": str(candidate), "tokenizer": str(candidate)}


def exact_match(args: dict[str, Any], test_file: Path, cfg: EvalConfig, device: str):
    """(score, per-sample rows) from lm-eval's generate_until task."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager
    from transformers import AutoTokenizer

    stop = AutoTokenizer.from_pretrained(args["tokenizer"]).eos_token
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / f"{TASK}.yaml").write_text(yaml.safe_dump(task_yaml(test_file, stop, cfg)))
        tm = TaskManager(include_path=tmp, include_defaults=False)
        out = simple_evaluate(
            model="hf",
            model_args={**args, "device": device, "dtype": "float32"},
            tasks=[TASK],
            task_manager=tm,
            batch_size=cfg.batch_size,
            limit=cfg.limit,
            apply_chat_template=True,
            log_samples=True,
            random_seed=0,
            numpy_random_seed=0,
            torch_random_seed=0,
            fewshot_random_seed=0,
        )
    score = out["results"][TASK]["exact_match,strip"]
    rows = [
        {
            "prompt": s["doc"]["messages"][-2]["content"],
            "target": s["target"],
            "output": s["filtered_resps"][0],
            "exact_match": s["exact_match"],
        }
        for s in sorted(out["samples"][TASK], key=lambda s: s["doc_id"])
    ]
    return score, rows


def perplexity(args: dict[str, Any], val_file: Path, batch_size: int) -> float:
    """exp(mean NLL) over the assistant's tokens of every val example."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(args["tokenizer"])
    model = AutoModelForCausalLM.from_pretrained(args["pretrained"])
    if "peft" in args:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, args["peft"])
    model.eval()
    total_nll, total_tokens = 0.0, 0
    examples = read_split(val_file)
    for i in range(0, len(examples), batch_size):
        ids, labels = [], []
        for messages in examples[i : i + batch_size]:
            prompt = tok.apply_chat_template(
                messages[:-1], add_generation_prompt=True, tokenize=True, return_dict=True
            )["input_ids"]
            full = tok.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"]
            ids.append(full)
            labels.append([-100] * len(prompt) + full[len(prompt) :])
        width = max(map(len, ids))
        pad = tok.pad_token_id
        input_ids = torch.tensor([x + [pad] * (width - len(x)) for x in ids])
        label_t = torch.tensor([x + [-100] * (width - len(x)) for x in labels])
        mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids])
        with torch.no_grad():
            logits = model(input_ids=input_ids, attention_mask=mask).logits[:, :-1]
        target = label_t[:, 1:]
        nll = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            target.reshape(-1),
            ignore_index=-100,
            reduction="sum",
        )
        total_nll += nll.item()
        total_tokens += int((target != -100).sum())
    return math.exp(total_nll / max(total_tokens, 1))


def write_samples(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")


def candidate_method(candidate: Path) -> str:
    """The recipe method the candidate was trained with (its effective config)."""
    return yaml.safe_load((candidate / "forge_config.yaml").read_text())["recipe"]["method"]


def preference_metrics(
    start: str, candidate: Path, data: Path, method: str, candidate_samples: Path
) -> dict[str, float]:
    """dpo and reward_model: how often held-out chosen answers outscore rejected ones (a
    reward model's per-pair results go to `candidate_samples`)."""
    from forge.config.schema import HardwareConfig
    from forge.train import common, reward

    test = data / "preference" / "test.jsonl"
    if not test.is_file():
        raise ForgeError(f"{test} not found", hint="set data.preference_path and rerun prepare")
    rows = common.read_preferences(test)
    if method == "dpo":
        beta = yaml.safe_load((candidate / "forge_config.yaml").read_text())["recipe"]["beta"]
        acc, margin = dpo_preferences(start, candidate, rows, beta)
        return {"eval/candidate/preference_accuracy": acc, "eval/candidate/reward_margin": margin}
    model, tok = reward.load(
        str(candidate), HardwareConfig(device="cpu", name="eval", precision="fp32")
    )
    margins = reward.margins(model, tok, rows)
    write_samples(candidate_samples, pair_samples(rows, margins))
    n = max(len(margins), 1)
    return {
        "eval/candidate/pairwise_accuracy": sum(m > 0 for m in margins) / n,
        "eval/candidate/reward_margin": sum(margins) / n,
    }


def pair_samples(rows: list[dict[str, Any]], margins: list[float]) -> list[dict[str, Any]]:
    """A reward model's per-sample results, for `forge eval compare` and promotion's
    regression check: each held-out pair (its key) with whether it was ranked right."""
    return [
        {
            "prompt": json.dumps([r["prompt"], r["chosen"], r["rejected"]], sort_keys=True),
            "pairwise_correct": float(m > 0),
            "margin": round(m, 6),
        }
        for r, m in zip(rows, margins, strict=True)
    ]


def evaluate(
    cfg: EvalConfig,
    base: str,
    candidate: Path,
    data: Path,
    out_dir: Path,
    device: str = "cpu",
    start: str | None = None,
) -> dict[str, float]:
    """Score base, warm start (`start`, if any) and candidate; write metrics and samples."""
    if not (data / "test.jsonl").is_file():
        raise ForgeError(f"{data}/test.jsonl not found", hint="run `dvc repro prepare`")
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics: dict[str, float] = {}
    method = candidate_method(candidate)
    origin = start or base
    if method in ("dpo", "reward_model"):
        metrics.update(
            {
                k: round(v, 6)
                for k, v in preference_metrics(
                    origin, candidate, data, method, out_dir / "samples_candidate.jsonl"
                ).items()
            }
        )
    if (candidate / "merged").is_dir():
        from forge.train.export import check_merged

        sample = [m[:-1] for m in read_split(data / "test.jsonl")[:8]]
        metrics["eval/candidate/merged_matches_adapter"] = check_merged(
            origin, candidate, sample, cfg.max_new_tokens
        )
    roles = [("base", model_args(base, None))]
    if start is not None:
        roles.append(("sft", model_args(start, None)))
    if method != "reward_model":  # a scorer does not generate
        roles.append(("candidate", model_args(origin, candidate)))
    for role, args in roles:
        score, rows = exact_match(args, data / "test.jsonl", cfg, device)
        metrics[f"eval/{role}/exact_match"] = round(score, 6)
        metrics[f"eval/{role}/perplexity"] = round(
            perplexity(args, data / "val.jsonl", cfg.batch_size), 6
        )
        if role != "sft":  # the declared outputs: samples_base and samples_candidate
            write_samples(out_dir / f"samples_{role}.jsonl", rows)
    metrics["eval/n_test"] = len(rows)
    write_json(out_dir / "metrics.json", metrics)
    return metrics
