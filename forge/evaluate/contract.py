"""The chat-template contract (stage contract): the same conversations must give identical
token ids in three places, or the model is evaluated on prompts it was not trained on.

1. training: TRL's own tokenizer call for conversational prompt/completion rows
   (`trl.data_utils._tokenize`, as SFTTrainer uses it), with the tokenizer training
   started from (models/sft or models/base);
2. candidate: the tokenizer saved with the candidate (what users and `forge chat` load);
3. evaluate: the prompt string lm-eval's HF model renders (`HFLM.apply_chat_template`)
   and encodes (`HFLM.tok_batch_encode`) from the candidate's tokenizer.

The prompt (with generation prompt) is compared in all three; the whole conversation
(prompt and answer) in 1 and 2. A mismatch names both renderings.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from forge.errors import ForgeError

SAMPLES = 8


def training_ids(tokenizer: Any, messages: list[dict[str, str]]) -> dict[str, list[int]]:
    from trl.data_utils import _tokenize

    return {
        "prompt": _tokenize(tokenizer, messages[:-1], add_generation_prompt=True)["input_ids"],
        "conversation": _tokenize(tokenizer, messages)["input_ids"],
    }


def candidate_ids(tokenizer: Any, messages: list[dict[str, str]]) -> dict[str, list[int]]:
    def ids(conv: list[dict[str, str]], **kw: Any) -> list[int]:
        return list(
            tokenizer.apply_chat_template(conv, tokenize=True, return_dict=True, **kw)["input_ids"]
        )

    return {
        "prompt": ids(messages[:-1], add_generation_prompt=True),
        "conversation": ids(messages),
    }


def evaluate_ids(tokenizer: Any, messages: list[dict[str, str]]) -> dict[str, list[int]]:
    """lm-eval's own methods on its HF model, without loading weights."""
    from lm_eval.models.huggingface import HFLM

    lm = HFLM.__new__(HFLM)
    lm.tokenizer, lm.chat_template_args, lm.add_bos_token = tokenizer, {}, None
    lm.backend, lm.custom_prefix_token_id = "causal", None
    text = lm.apply_chat_template(messages[:-1], add_generation_prompt=True)
    ids, mask = lm.tok_batch_encode([text])
    return {"prompt": ids[0][mask[0].bool()].tolist()}


def _show(tokenizer: Any, ids: list[int]) -> str:
    return repr(tokenizer.decode(ids))


def check(start: str, candidate: Path, conversations: list[list[dict[str, str]]]):
    """Raise ForgeError on the first mismatch; returns the report (template hash, counts)."""
    from forge.model.load import load_tokenizer

    train_tok = load_tokenizer(start)  # as training loads it
    cand_tok = load_tokenizer(candidate)
    for messages in conversations[:SAMPLES]:
        places = {
            "training": training_ids(train_tok, messages),
            "candidate": candidate_ids(cand_tok, messages),
            "evaluate": evaluate_ids(cand_tok, messages),
        }
        for part in ("prompt", "conversation"):
            have = [(name, ids[part]) for name, ids in places.items() if part in ids]
            (name0, ids0), rest = have[0], have[1:]
            for name, ids in rest:
                if ids != ids0:
                    raise ForgeError(
                        f"chat-template contract: the {part} of {messages[-2]['content']!r} "
                        f"renders differently in {name0} ({_show(train_tok, ids0)}) and {name} "
                        f"({_show(cand_tok, ids)})",
                        hint="train and evaluate must use the same chat template; "
                        "check the tokenizer saved with the candidate",
                    )
    template = cand_tok.chat_template or ""
    return {
        "chat_template_sha256": hashlib.sha256(template.encode()).hexdigest(),
        "conversations_checked": min(len(conversations), SAMPLES),
        "places": ["training", "candidate", "evaluate"],
        "start": start,
    }
