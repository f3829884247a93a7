"""RulesAdvisor: the default advisor. Offline and deterministic: the same brief always gets
the same answer, and it reads nothing but the brief (what Gemini would be sent).

plan: the goal's words choose the method (reward -> reward_model; a reasoning task with a
checkable answer -> grpo; preference or alignment -> dpo, or kto for unpaired thumbs-up/down
feedback; otherwise chat or instruction SFT with LoRA); a preference file chooses dpo too.
The model is the largest option whose estimate fits the device (tiny on a CPU, where a hub
model would take hours a step), at full weights before 4-bit. Steps, learning rate and
length come from the recipe's measured defaults for the tiny model, and from the data's
rows and token lengths for hub models.

advise: one fix per finding of the study (format, duplicates, overlong, PII, license).

script: a standard-library program for the raw file's profile: its columns mapped to the
canonical form by their names, repeated header rows and malformed rows skipped, HTML
stripped, empty rows dropped.
"""

from __future__ import annotations

import math
import re
from typing import Any

from forge.copilot.schema import checked

GOAL_RULES = (  # (recipe, words that choose it, why), first match wins
    (
        "reward_model",
        r"\breward model|\bscor(e|es|ing) (answers|responses)|\brank(s|ing)? (answers|responses)"
        r"|\bjudge\b|\bgrader\b|\bpreference model",
        "the goal is a model that scores answers: a reward model on preference pairs",
    ),
    (
        "grpo",
        r"\breason|\bmath|\barithmetic|\bverifiabl|\bcheckable|\bsolv(e|es|ing)\b|\bpuzzle"
        r"|\bunit tests?\b|\bexact answer",
        "a reasoning task whose answers can be checked: GRPO against a reward function",
    ),
    (
        "kto",
        r"\bthumbs|\bunpaired|\blike/dislike|\bbinary feedback|\bupvote|\bdownvote",
        "unpaired good/bad feedback: KTO needs no pairs",
    ),
    (
        "dpo",
        r"\bprefer|\balign|\bharmless|\bhelpful and harmless|\bsafer\b|\bsafety|\bchosen\b"
        r"|\brejected\b|\bhuman feedback|\brlhf\b|\btone\b",
        "preference or alignment: DPO on chosen/rejected pairs, from an SFT warm start",
    ),
)
SFT_WHY = "chat or instruction following: supervised fine-tuning with a LoRA adapter"
HUB_LR = {"lora_sft": 2e-4, "full_sft": 2e-5, "dpo": 5e-6, "kto": 5e-6, "reward_model": 1e-5}
EPOCHS = {"lora_sft": 2.0, "full_sft": 2.0}


class RulesAdvisor:
    backend = "rules"
    model = "rules"

    def ask(self, task: str, brief: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
        answer = {"plan": plan, "advise": advise, "script": script}[task](brief)
        return checked(answer, schema, "rules")


# ---------------------------------------------------------------- plan


def _recipe(goal: str, data: dict[str, Any], recipes: dict[str, Any]) -> tuple[str, str]:
    text = goal.lower()
    for name, words, why in GOAL_RULES:
        if name in recipes and re.search(words, text):
            return name, why
    if data.get("schema") == "preference" and "dpo" in recipes:
        return "dpo", "the data holds preference pairs: DPO"
    return "lora_sft", SFT_WHY


def _pick_model(models: list[dict[str, Any]], device: str) -> tuple[dict[str, Any], str]:
    """The largest model that fits, at full weights before 4-bit."""
    if device != "cuda":
        tiny = [m for m in models if m["source"] == "tiny"]
        if tiny:
            return tiny[0], (
                f"no GPU: a hub model would take hours per step here; tiny builds and trains "
                f"locally (~{tiny[0]['memory_gib']:.2f} GiB)"
            )
    fitting = [m for m in models if m["fits"]]
    if not fitting:
        smallest = min(models, key=lambda m: m["memory_gib"])
        return smallest, (
            f"nothing fits the device; the smallest estimate is {smallest['model']} "
            f"(~{smallest['memory_gib']:.1f} GiB)"
        )
    best = max(fitting, key=lambda m: (m["params"], m["quantization"] == "none"))
    quant = "" if best["quantization"] == "none" else f" with {best['quantization']} weights"
    return best, (
        f"the largest option that fits{quant}: ~{best['memory_gib']:.1f} GiB of "
        f"{best['memory_available_gib']:g} (LoRA, batch {best['batch_size']})"
    )


def plan(brief: dict[str, Any]) -> dict[str, Any]:
    hw, data, recipes = brief["hardware"], brief["data"], brief["recipes"]
    recipe, recipe_why = _recipe(brief["goal"], data, recipes)
    model, model_why = _pick_model(brief["models"], hw["device"])
    defaults = recipes[recipe]["defaults"]
    tiny = model["source"] == "tiny"
    if hw["device"] == "cuda":
        precision = "bf16" if all(g["bf16"] for g in hw["gpus"]) else "fp16"
        precision_why = f"{precision}: the GPU's fastest training precision"
    else:
        precision, precision_why = "fp32", "CPU: fp32 is faster than bf16 for small models"
    quant = model["quantization"] if "lora" in recipe or recipe in ("dpo", "kto") else "none"
    quant_why = (
        "4-bit base weights (QLoRA): full weights do not fit"
        if quant == "4bit"
        else "full weights fit; quantization would cost quality and speed"
    )
    batch = int(defaults.get("batch_size", 32))
    accumulation = int(defaults.get("gradient_accumulation_steps", 1))
    if not tiny and model["memory_gib"] > 0.8 * model["memory_available_gib"]:
        batch, accumulation = max(1, batch // 4), accumulation * 4
        batch_why = f"micro-batch {batch} x {accumulation} accumulated: memory is tight"
    else:
        batch_why = f"the recipe's batch {batch} fits (~{model['memory_gib']:.2f} GiB)"
    acc_why = f"effective batch {batch * accumulation}"
    if tiny:
        steps = int(defaults["max_steps"])
        steps_why = "the recipe's measured steps for the tiny model"
        lr = float(defaults["learning_rate"])
        lr_why = "the recipe's measured rate for the tiny model (tiny models like it hot)"
    else:
        epochs = EPOCHS.get(recipe, 1.0)
        steps = max(20, min(5000, math.ceil(epochs * data["rows"] / (batch * accumulation))))
        steps_why = (
            f"{epochs:g} epochs of {data['rows']} rows at effective batch {batch * accumulation}"
        )
        lr = HUB_LR.get(recipe, 5e-6)
        lr_why = f"a usual rate for {recipe} on a pretrained model"
    length = int(defaults.get("max_length", 64))
    p95 = int(data["tokens"]["p95"])
    if not tiny:
        length = max(128, min(4096, 64 * math.ceil(1.3 * p95 / 64)))
        length_why = f"p95 of the data is {p95} tokens ({data['tokenizer']}), with room"
    elif p95 > length:
        length = min(128, 32 * math.ceil(p95 / 32))
        length_why = f"p95 of the data is {p95} tokens; the tiny model's context is 128"
    else:
        length_why = f"p95 of the data is {p95} tokens, under the recipe's {length}"
    return {
        "choices": {
            "model": {"value": model["model"], "why": model_why},
            "recipe": {"value": recipe, "why": recipe_why},
            "precision": {"value": precision, "why": precision_why},
            "quantization": {"value": quant, "why": quant_why},
            "batch_size": {"value": batch, "why": batch_why},
            "gradient_accumulation_steps": {"value": accumulation, "why": acc_why},
            "max_steps": {"value": steps, "why": steps_why},
            "learning_rate": {"value": lr, "why": lr_why},
            "max_length": {"value": length, "why": length_why},
        },
        "summary": f"{recipe} of {model['model']} on {hw['profile']}",
    }


# ---------------------------------------------------------------- advise


def advise(brief: dict[str, Any]) -> dict[str, Any]:
    s = brief["study"]
    fixes = []

    def fix(area: str, finding: str, change: str, command: str = "") -> None:
        fixes.append({"area": area, "finding": finding, "fix": change, "command": command})

    if s["schema"] in (None, "mixed"):
        fix(
            "format_mapping",
            f"records are in {s['schema'] or 'no known'} format",
            "convert every record to one canonical form (messages or preference)",
            f"forge prepare {s['file']}",
        )
    else:
        fix(
            "format_mapping",
            f"records are {s['schema']} ({', '.join(s['fields'])})",
            f"set data.format={s['schema']} so detection cannot drift",
            f"data.format={s['schema']}",
        )
    d = s["duplicates"]
    if d["exact"] or d["normalized"]:
        fix(
            "dedup",
            f"{d['exact']} exact and {d['normalized']} normalized duplicates",
            "prepare drops both kinds and counts them; remove them at the source if they "
            "are not deliberate upsampling",
            "dvc repro prepare",
        )
    o, t = s["overlong"], s["tokens"]
    if o["count"]:
        cut = 32 * math.ceil(t["p95"] / 32)
        fix(
            "length_cutoff",
            f"{o['count']} records exceed max_length {o['max_length']} (p95 {t['p95']}, "
            f"max {t['max']} tokens)",
            f"raise recipe.max_length to {cut} (p95), or drop the longest records",
            f"recipe.max_length={cut}",
        )
    elif o["max_length"] and t["p95"] < o["max_length"] // 2:
        fix(
            "length_cutoff",
            f"p95 is {t['p95']} tokens, under half of max_length {o['max_length']}",
            "a shorter max_length saves activation memory",
            f"recipe.max_length={max(8, 32 * math.ceil(t['p95'] / 32))}",
        )
    if s["empty"]:
        fix("other", f"{s['empty']} records have an empty message", "drop or fill them")
    p, card = s["pii"], s.get("card")
    if p["total"]:
        kinds = ", ".join(f"{k} {n}" for k, n in p["counts"].items())
        fix(
            "pii_policy",
            f"{p['total']} PII findings in {p['records_with_pii']} records ({kinds})",
            "redact them at prepare (or block, and clean the source)",
            "data.pii_policy=redact",
        )
    elif card is not None and card.get("pii_policy") != "block":
        fix(
            "pii_policy",
            "no PII found",
            "keep the policy at block so new rows with PII stop prepare",
            "data.pii_policy=block",
        )
    if card is None:
        fix(
            "license",
            "the file has no card, so its license and source are unknown",
            "record both before training on it",
            f"forge data add {s['file']} --name NAME --license SPDX --source TEXT",
        )
    elif not card.get("license") or str(card["license"]).startswith("LicenseRef-"):
        fix(
            "license",
            f"license {card.get('license')!r} is outside the SPDX list",
            "check that it allows training, and list it in gates.allowed_licenses",
        )
    return {"fixes": fixes}


# ---------------------------------------------------------------- script

PROMPT_WORDS = (
    "prompt", "question", "instruction", "query", "input", "customer", "user", "ask",
    "request", "message", "issue", "ticket", "human", "q",
)  # fmt: skip
ANSWER_WORDS = (
    "completion", "answer", "response", "reply", "output", "agent", "assistant", "resolution",
    "support", "bot", "gpt", "a",
)  # fmt: skip
CHOSEN_WORDS = ("chosen", "preferred", "good", "accepted", "better", "winner")
REJECTED_WORDS = ("rejected", "dispreferred", "bad", "worse", "loser")
SYSTEM_WORDS = ("system", "persona", "context")


def _words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    return re.findall(r"[a-z0-9]+", spaced.lower())


def _find(columns: list[dict[str, Any]], words: tuple[str, ...], taken: set[str]) -> str | None:
    best, score = None, 0
    for c in columns:
        if c["name"] in taken or not c["kinds"].get("text"):
            continue
        ws = _words(c["name"])
        s = max((len(words) - words.index(w) for w in ws if w in words), default=0)
        if s > score:
            best, score = c["name"], s
    return best


def mapping(profile: dict[str, Any]) -> dict[str, str | None]:
    cols = profile["columns"]
    taken: set[str] = set()
    out: dict[str, str | None] = {}
    chosen = _find(cols, CHOSEN_WORDS, taken)
    rejected = _find(cols, REJECTED_WORDS, taken | {chosen} if chosen else taken)
    if chosen and rejected:
        taken |= {chosen, rejected}
        out = {"chosen": chosen, "rejected": rejected}
    for role, words in (("prompt", PROMPT_WORDS), ("answer", ANSWER_WORDS)):
        if role == "answer" and out.get("chosen"):
            continue
        found = _find(cols, words, taken)
        if found:
            taken.add(found)
        out[role] = found
    out["system"] = _find(cols, SYSTEM_WORDS, taken)
    if out.get("prompt") is None or (out.get("answer") is None and not out.get("chosen")):
        texts = sorted(
            (c for c in cols if c["kinds"].get("text") and c["name"] not in taken),
            key=lambda c: -c["chars"]["p50"],
        )
        for role in ("prompt", "answer"):
            if out.get(role) is None and texts and not (role == "answer" and out.get("chosen")):
                out[role] = texts.pop()["name"]
    return out


SCRIPT = '''"""Generated by forge prepare (rules advisor): {source} -> canonical {fmt} JSON lines.
Run: python3 prepare.py INPUT OUTPUT_DIR   (standard library only)."""

import csv
import html
import json
import re
import sys

MAPPING = {mapping}
FORMAT = {fmt!r}
TAG = re.compile(r"<[^>]+>")


def clean(value):
    if value is None:
        return ""
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False)
    text = html.unescape(TAG.sub(" ", value))
    return " ".join(text.split())


def rows(path):
    """(line, record) for each well-formed record; malformed and repeated header rows are
    counted, not raised."""
    counts = {{"malformed": 0, "header_repeats": 0}}
    if path.lower().endswith(".csv"):
        with open(path, encoding="utf-8", errors="replace", newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None) or []
            norm = [h.strip() for h in header]
            for cells in reader:
                if not any(c.strip() for c in cells):
                    continue
                if len(cells) != len(header):
                    counts["malformed"] += 1
                    continue
                if [c.strip() for c in cells] == norm:
                    counts["header_repeats"] += 1
                    continue
                yield reader.line_num, dict(zip(header, cells)), counts
    else:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        if text.lstrip().startswith("["):
            for i, rec in enumerate(json.loads(text), start=1):
                if isinstance(rec, dict):
                    yield i, rec, counts
                else:
                    counts["malformed"] += 1
            return
        for i, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                counts["malformed"] += 1
                continue
            if isinstance(rec, dict):
                yield i, rec, counts
            else:
                counts["malformed"] += 1


def convert(rec):
    prompt = clean(rec.get(MAPPING["prompt"]))
    system = clean(rec.get(MAPPING["system"])) if MAPPING.get("system") else ""
    if FORMAT == "preference":
        chosen = clean(rec.get(MAPPING["chosen"]))
        rejected = clean(rec.get(MAPPING["rejected"]))
        if not (prompt and chosen and rejected):
            return None
        return {{"prompt": prompt, "chosen": chosen, "rejected": rejected}}
    answer = clean(rec.get(MAPPING["answer"]))
    if not (prompt and answer):
        return None
    messages = [{{"role": "system", "content": system}}] if system else []
    messages += [{{"role": "user", "content": prompt}}, {{"role": "assistant", "content": answer}}]
    return {{"messages": messages}}


def main():
    src, out_dir = sys.argv[1], sys.argv[2]
    written = dropped = 0
    counts = {{"malformed": 0, "header_repeats": 0}}
    with open(out_dir.rstrip("/") + "/data.jsonl", "w", encoding="utf-8") as out:
        for _, rec, counts in rows(src):
            row = convert(rec)
            if row is None:
                dropped += 1
                continue
            out.write(json.dumps(row, ensure_ascii=False) + "\\n")
            written += 1
    print(
        f"wrote {{written}} rows; skipped {{counts['malformed']}} malformed, "
        f"{{counts['header_repeats']}} repeated headers, {{dropped}} empty",
        file=sys.stderr,
    )
    if written == 0:
        sys.exit("no rows written")


if __name__ == "__main__":
    main()
'''

CANONICAL = {  # a schema Forge detects -> the mapping to canonical form
    "prompt_completion": {"prompt": "prompt", "answer": "completion", "system": None},
    "alpaca": {"prompt": "instruction", "answer": "output", "system": "system"},
    "preference": {"prompt": "prompt", "chosen": "chosen", "rejected": "rejected"},
}


def script(brief: dict[str, Any]) -> dict[str, Any]:
    prof = brief["profile"]
    detected = prof.get("detected_schema")
    if detected in CANONICAL:
        m: dict[str, str | None] = dict(CANONICAL[detected])
        how = f"detected {detected}"
    else:
        m = mapping(prof)
        how = "columns mapped by name: " + ", ".join(f"{k}<-{v!r}" for k, v in m.items() if v)
    fmt = "preference" if m.get("chosen") and m.get("rejected") else "messages"
    if m.get("prompt") is None or (fmt == "messages" and m.get("answer") is None):
        names = ", ".join(repr(c["name"]) for c in prof["columns"])
        return {
            "script": "import sys\nsys.exit('no prompt/answer columns found')\n",
            "requires": [],
            "output_format": fmt,
            "notes": f"rules found no prompt and answer among the columns {names}",
        }
    body = SCRIPT.format(source=prof["file"], fmt=fmt, mapping=repr(dict(sorted(m.items()))))
    return {
        "script": body,
        "requires": [],
        "output_format": fmt,
        "notes": f"{how}; skips malformed and repeated header rows, strips HTML, drops empty rows",
    }
