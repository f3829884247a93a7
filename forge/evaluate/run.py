"""The evaluate stage: the base model and the candidate on the same data, so the rise shows.

Which metrics a candidate gets is its recipe's declaration (forge/recipes/); each family is
implemented here. Every model loads through the one loader (forge/model/load.py), so
`hardware.device` and `precision` apply, and `eval.limit` bounds every metric.

- generation: exact match on the test split (lm-eval, greedy, a local YAML task, each model's
  own chat template) and perplexity of the assistant's answer on val; for the base model,
  the warm start (models/sft, as `eval/sft/*`) and the candidate;
- implicit_reward (dpo, kto): held-out preference accuracy and mean reward margin of the
  implicit reward, beta times the policy's log-ratio to the warm start, chosen minus rejected;
- pairwise_reward (reward_model): held-out pairwise accuracy and mean margin of the learned
  reward (the candidate is a scorer, so it gets no generation metrics);
- lora.merge: the merged weights' greedy answers equal the adapter's (or the stage fails);
- eval.tasks: lm-eval tasks (local YAML files, or names) beside exact match, per role;
- eval.suites: toxicity and coherence of the candidate's answers (forge/evaluate/suites.py).
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import yaml

from forge.config.schema import EvalConfig, HardwareConfig, RecipeConfig
from forge.data.splits import read_rows, read_split
from forge.errors import ForgeError
from forge.model import load
from forge.recipes.base import Metric
from forge.recipes.registry import of
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


def answer_logprobs(
    model: Any, tok: Any, pairs: list[tuple[list, list]], batch_size: int
) -> list[tuple[float, int]]:
    """Per (prompt, answer) pair: the summed log-probability of the answer's tokens after
    the prompt (chat template) and their count, in batches of forward passes."""
    import torch

    device = load.device_of(model)
    out: list[tuple[float, int]] = []
    for i in range(0, len(pairs), batch_size):
        ids, starts = [], []
        for prompt, answer in pairs[i : i + batch_size]:
            p = tok.apply_chat_template(
                prompt, add_generation_prompt=True, tokenize=True, return_dict=True
            )["input_ids"]
            full = tok.apply_chat_template(prompt + answer, tokenize=True, return_dict=True)
            ids.append(list(full["input_ids"]))
            starts.append(len(p))
        width = max(map(len, ids))
        input_ids = torch.tensor([x + [tok.pad_token_id] * (width - len(x)) for x in ids])
        mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids])
        with torch.no_grad():
            logits = model(input_ids=input_ids.to(device), attention_mask=mask.to(device)).logits
        logp = torch.log_softmax(logits[:, :-1].float(), -1)
        token_logp = logp.gather(-1, input_ids[:, 1:, None].to(device))[..., 0].cpu()
        for row, (x, start) in enumerate(zip(ids, starts, strict=True)):
            out.append((float(token_logp[row, start - 1 : len(x) - 1].sum()), len(x) - start))
    return out


def implicit_reward(
    start: str, candidate: Path, rows: list[dict], beta: float, hw: HardwareConfig, batch: int
) -> tuple[float, float]:
    """(accuracy, mean margin) of the implicit reward beta * log(policy / start) on held-out
    preference pairs: the quantity DPO and KTO optimise."""
    tok = load.load_tokenizer(candidate)
    model = load.for_inference(start, hw, candidate)
    pairs = [(r["prompt"], r[side]) for r in rows for side in ("chosen", "rejected")]
    policy = answer_logprobs(model, tok, pairs, batch)
    with model.disable_adapter():
        ref = answer_logprobs(model, tok, pairs, batch)
    reward = [beta * (p - r) for (p, _), (r, _) in zip(policy, ref, strict=True)]
    margins = [reward[2 * i] - reward[2 * i + 1] for i in range(len(rows))]
    n = max(len(margins), 1)
    return sum(m > 0 for m in margins) / n, sum(margins) / n


def exact_match(
    model_path: str,
    adapter: Path | None,
    test_file: Path,
    cfg: EvalConfig,
    hw: HardwareConfig,
    tasks: tuple[dict[str, Path], list[str]] = ({}, []),
):
    """(score, per-sample rows, model, tokenizer, lm-eval's results) from lm-eval's
    generate_until task, and `tasks` (eval.tasks: {name: YAML file}, [hub task names]) in
    the same run, on a model the loader loaded (lm-eval's HF wrapper around it)."""
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    tok = load.load_tokenizer(adapter or model_path)
    model = load.for_inference(model_path, hw, adapter)
    lm = HFLM(pretrained=model, tokenizer=tok, batch_size=cfg.batch_size, backend="causal")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / f"{TASK}.yaml").write_text(
            yaml.safe_dump(task_yaml(test_file, tok.eos_token, cfg))
        )
        local, hub = tasks
        # the ~15k built-in tasks are indexed (16 s) only when a task is named from them
        tm = TaskManager(include_path=tmp, include_defaults=bool(hub))
        out = simple_evaluate(
            model=lm,
            tasks=[TASK, *(str(p.resolve()) for p in local.values()), *hub],
            task_manager=tm,
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
    return score, rows, model, tok, out["results"]


def perplexity(model: Any, tok: Any, examples: list[list[dict]], batch_size: int) -> float:
    """exp(mean NLL) over the assistant's tokens of every example."""
    scored = answer_logprobs(model, tok, [(m[:-1], m[-1:]) for m in examples], batch_size)
    return math.exp(-sum(lp for lp, _ in scored) / max(sum(n for _, n in scored), 1))


def write_samples(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")


def candidate_recipe(candidate: Path) -> RecipeConfig:
    """The recipe the candidate was trained with (its effective config)."""
    from forge.config.params import typed
    from forge.recipes.registry import get

    node = yaml.safe_load((candidate / "forge_config.yaml").read_text())["recipe"]
    return typed(get(node["method"]).config, node, "recipe")


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


def _first(items: list, limit: int | None) -> list:
    return items if limit is None else items[:limit]


def _preference_test(data: Path, limit: int | None) -> list[dict[str, Any]]:
    test = data / "preference" / "test.jsonl"
    if not test.is_file():
        raise ForgeError(f"{test} not found", hint="set data.preference_path and rerun prepare")
    return _first(read_rows(test), limit)


def evaluate(
    cfg: EvalConfig,
    hw: HardwareConfig,
    base: str,
    candidate: Path,
    data: Path,
    out_dir: Path,
    start: str | None = None,
) -> dict[str, float]:
    """Score base, warm start (`start`, if any) and candidate; write metrics and samples."""
    from forge.evaluate.suites import resolve_tasks, task_metrics
    from forge.recipes.reward_model import margins as reward_margins

    tasks = resolve_tasks(list(cfg.tasks), Path("."))  # offline hub tasks fail here, first
    if not (data / "test.jsonl").is_file():
        raise ForgeError(f"{data}/test.jsonl not found", hint="run `dvc repro prepare`")
    out_dir.mkdir(parents=True, exist_ok=True)
    recipe = candidate_recipe(candidate)
    families = of(recipe).metrics
    origin = start or base
    metrics: dict[str, float] = {}
    if Metric.IMPLICIT_REWARD in families:
        acc, margin = implicit_reward(
            origin, candidate, _preference_test(data, cfg.limit), recipe.beta, hw, cfg.batch_size
        )
        metrics["eval/candidate/preference_accuracy"] = round(acc, 6)
        metrics["eval/candidate/reward_margin"] = round(margin, 6)
    if Metric.PAIRWISE_REWARD in families:
        rows = _preference_test(data, cfg.limit)
        tok = load.load_tokenizer(candidate)
        m = reward_margins(load.reward_model(str(candidate), hw, tok), tok, rows, cfg.batch_size)
        write_samples(out_dir / "samples_candidate.jsonl", pair_samples(rows, m))
        n = max(len(m), 1)
        metrics["eval/candidate/pairwise_accuracy"] = round(sum(x > 0 for x in m) / n, 6)
        metrics["eval/candidate/reward_margin"] = round(sum(m) / n, 6)
    if (candidate / "merged").is_dir():
        from forge.model.export import check_merged

        sample = [m[:-1] for m in read_split(data / "test.jsonl")[:8]]
        metrics["eval/candidate/merged_matches_adapter"] = check_merged(
            origin, candidate, sample, cfg.max_new_tokens, hw
        )
    roles: list[tuple[str, str, Path | None]] = [("base", base, None)]
    if start is not None:
        roles.append(("sft", start, None))
    if Metric.GENERATION in families:
        adapter = candidate if load.is_adapter(candidate) else None
        roles.append(("candidate", origin if adapter else str(candidate), adapter))
    val = _first(read_split(data / "val.jsonl"), cfg.limit)
    suite_rows: list[dict[str, Any]] = []
    for role, path, adapter in roles:
        score, rows, model, tok, results = exact_match(
            path, adapter, data / "test.jsonl", cfg, hw, tasks
        )
        metrics[f"eval/{role}/exact_match"] = round(score, 6)
        metrics[f"eval/{role}/perplexity"] = round(perplexity(model, tok, val, cfg.batch_size), 6)
        metrics.update(task_metrics(role, results, [*tasks[0], *tasks[1]]))
        if role != "sft":  # the declared outputs: samples_base and samples_candidate
            write_samples(out_dir / f"samples_{role}.jsonl", rows)
        if role == "candidate" and cfg.suites:
            found, suite_rows = suites(cfg, hw, base, model, tok)
            metrics.update(found)
    metrics["eval/n_test"] = len(rows)
    write_samples(out_dir / "samples_suite.jsonl", suite_rows)  # empty without eval.suites
    write_json(out_dir / "metrics.json", metrics)
    return metrics


def suites(cfg: EvalConfig, hw: HardwareConfig, base: str, model: Any, tok: Any):
    """eval.suites on the candidate (`model`, `tok`): its greedy answers to the shipped
    prompts, scored; coherence also loads the base model to score them."""
    from forge.evaluate.suites import run_suites
    from forge.model.export import greedy

    def answer(conversations: list[list[dict]]) -> list[str]:
        out: list[str] = []
        for i in range(0, len(conversations), cfg.batch_size):
            out += greedy(model, tok, conversations[i : i + cfg.batch_size], cfg.max_new_tokens)
        return out

    def base_logprobs(pairs: list[tuple[list, list]]) -> list[tuple[float, int]]:
        base_tok = load.load_tokenizer(base)
        return answer_logprobs(load.for_inference(base, hw), base_tok, pairs, cfg.batch_size)

    return run_suites(list(cfg.suites), answer, base_logprobs, cfg.limit)
