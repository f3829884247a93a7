"""`model=tiny`: a byte-level BPE tokenizer and a small Llama, built and briefly pretrained
here, deterministic by seed. Pretraining sees chat-shaped text in which the assistant
echoes the user's words, so the base model learns the alphabet, the template and copying,
but not the demo task (reversal): its exact match on the demo is ~0 until fine-tuned.
"""

from __future__ import annotations

import random
import string
from pathlib import Path

from forge.config.schema import TinyModelConfig

USER, ASSISTANT, SYSTEM, END, PAD = "<|user|>", "<|assistant|>", "<|system|>", "<|end|>", "<|pad|>"
# {% generation %} marks the assistant's tokens, so TRL can mask everything else.
CHAT_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'assistant' %}<|assistant|>{% generation %}{{ m['content'] }}<|end|>"
    "{% endgeneration %}"
    "{% else %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def _word(rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 7)))


def corpus(seed: int, n: int) -> list[str]:
    """Chat-shaped lines: "<verb>: words" answered by the same words (an echo)."""
    rng = random.Random(seed)
    verbs = ["copy", "say", "repeat", "echo"]
    lines = []
    for _ in range(n):
        words = " ".join(_word(rng) for _ in range(rng.randint(1, 2)))
        lines.append(f"{USER}{rng.choice(verbs)}: {words}{END}{ASSISTANT}{words}{END}")
    return lines


def build_tokenizer(cfg: TinyModelConfig, texts: list[str]):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    # Letters and digits stay single tokens (the demo tasks act per character); merges
    # form only from other runs, e.g. the instruction words and punctuation.
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(r"[a-z0-9]"), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=cfg.vocab_size,
        special_tokens=[PAD, END, USER, ASSISTANT, SYSTEM],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=END, pad_token=PAD, model_max_length=cfg.context_length
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_model(cfg: TinyModelConfig, tokenizer):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(cfg.seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_heads,
        max_position_embeddings=cfg.context_length,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    return LlamaForCausalLM(config)


def pretrain(model, tokenizer, texts: list[str], cfg: TinyModelConfig) -> list[float]:
    """A short next-token run; returns the loss per step."""
    import torch

    if cfg.pretrain_steps == 0:
        return []
    g = torch.Generator().manual_seed(cfg.seed)
    enc = tokenizer(
        texts, padding=True, truncation=True, max_length=cfg.context_length, return_tensors="pt"
    )
    ids, mask = enc["input_ids"], enc["attention_mask"]
    labels = ids.masked_fill(mask == 0, -100)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.pretrain_learning_rate)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.pretrain_learning_rate, total_steps=cfg.pretrain_steps, pct_start=0.1
    )
    model.train()
    losses = []
    for _ in range(cfg.pretrain_steps):
        idx = torch.randint(0, ids.shape[0], (cfg.pretrain_batch_size,), generator=g)
        out = model(input_ids=ids[idx], attention_mask=mask[idx], labels=labels[idx])
        out.loss.backward()
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(round(out.loss.item(), 4))
    model.eval()
    return losses


def build(cfg: TinyModelConfig, out_dir: Path) -> dict:
    """Tokenizer + model + pretraining, saved to out_dir; returns facts for the record.

    Bit-for-bit the same on every machine of one kind (CPU and library versions): one
    intra-op thread, because torch splits its reductions by thread count (7 threads give
    other weights than 1 to 4), and nothing of the path, time or host is saved."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _build(cfg, out_dir)
    finally:
        torch.set_num_threads(threads)


def _build(cfg: TinyModelConfig, out_dir: Path) -> dict:
    import torch

    torch.manual_seed(cfg.seed)
    texts = corpus(cfg.seed, n=max(2000, cfg.pretrain_steps * cfg.pretrain_batch_size))
    tokenizer = build_tokenizer(cfg, texts)
    model = build_model(cfg, tokenizer)
    losses = pretrain(model, tokenizer, texts, cfg)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "vocab_size": len(tokenizer),
        "pretrain_loss_first": losses[0] if losses else None,
        "pretrain_loss_last": losses[-1] if losses else None,
    }
