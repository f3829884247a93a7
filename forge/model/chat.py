"""Talk to a model: `forge chat`. The model loads through the one loader (so `hardware.*`
means what it means in training and evaluate), answers with its own chat template, and a
LoRA adapter goes on the base it was trained from (`base_model_name_or_path` in its
adapter_config.json, relative to the repository the adapter came from).

Answers stream token by token: generate runs in a thread feeding a TextIteratorStreamer,
whose timeout bounds a stalled generation, and an error in the thread is raised in the
caller instead of leaving it waiting. Temperature 0 (the default) is greedy, so an answer
is reproducible and equals what evaluate scored.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forge.config.schema import HardwareConfig
from forge.errors import ForgeError
from forge.model import load

# Seconds the streamer waits for the next token before it calls generation stalled.
TOKEN_TIMEOUT = 120.0


@dataclass
class Settings:
    temperature: float = 0.0
    max_new_tokens: int = 128
    top_p: float = 1.0
    system: str | None = None

    def set(self, key: str, value: str) -> None:
        """`/set KEY VALUE` in a chat: one of temperature, max_new_tokens, top_p."""
        kinds = {"temperature": float, "max_new_tokens": int, "top_p": float}
        if key not in kinds:
            raise ForgeError(f"/set {key}: unknown setting", hint=f"one of {', '.join(kinds)}")
        try:
            parsed = kinds[key](value)
        except ValueError:
            raise ForgeError(f"/set {key}: {value!r} is not a {kinds[key].__name__}") from None
        limits = {"temperature": (0.0, 5.0), "max_new_tokens": (1, 8192), "top_p": (0.0, 1.0)}
        lo, hi = limits[key]
        if not lo <= parsed <= hi or (key == "top_p" and parsed == 0):
            raise ForgeError(f"/set {key}: {value} is out of range ({lo} to {hi})")
        setattr(self, key, parsed)


def adapter_base(adapter_dir: Path, root: Path) -> Path:
    """The base an adapter was trained on: its adapter_config's base, relative to `root`."""
    cfg = json.loads((adapter_dir / "adapter_config.json").read_text())
    base = Path(cfg.get("base_model_name_or_path") or "")
    base = base if base.is_absolute() else root / base
    if not (base / "config.json").is_file():
        raise ForgeError(
            f"{adapter_dir}: its base model {cfg.get('base_model_name_or_path')!r} is not here",
            hint="run `dvc pull` (or `dvc repro`) so the base the adapter was trained on exists",
        )
    return base


@dataclass
class Chat:
    """A conversation with one model: the history, the settings, and a streaming reply."""

    model: Any
    tokenizer: Any
    settings: Settings = field(default_factory=Settings)
    history: list[dict[str, str]] = field(default_factory=list)

    @classmethod
    def open(cls, model_dir: Path, hw: HardwareConfig, root: Path = Path(".")) -> Chat:
        """Load `model_dir` (full weights, or an adapter on its base under `root`)."""
        if not (model_dir / "config.json").is_file() and not load.is_adapter(model_dir):
            raise ForgeError(
                f"{model_dir}: not a model directory (no config.json or adapter_config.json)",
                hint="name a trained model: the candidate, a directory, NAME@vX.Y.Z or NAME#STAGE",
            )
        import warnings

        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # the chat owns the terminal
        tokenizer = load.load_tokenizer(model_dir)
        with warnings.catch_warnings():  # peft asks a deprecated transformers property
            warnings.filterwarnings("ignore", category=FutureWarning)
            return cls(cls._model(model_dir, hw, root), tokenizer)

    @staticmethod
    def _model(model_dir: Path, hw: HardwareConfig, root: Path) -> Any:
        if load.is_adapter(model_dir):
            return load.for_inference(adapter_base(model_dir, root), hw, model_dir)
        return load.for_inference(model_dir, hw)

    def clear(self) -> None:
        self.history.clear()

    def conversation(self, text: str) -> list[dict[str, str]]:
        system = [{"role": "system", "content": self.settings.system}]
        return [*(system if self.settings.system else []), *self.history, _user(text)]

    def reply(self, text: str) -> Iterator[str]:
        """Stream the answer to `text`; the exchange joins the history once it is whole."""
        import torch
        from transformers import TextIteratorStreamer

        enc = self.tokenizer.apply_chat_template(
            self.conversation(text),
            add_generation_prompt=True,
            tokenize=True,
            return_tensors="pt",
            return_dict=True,
        )
        device = load.device_of(self.model)
        enc = {k: v.to(device) for k, v in enc.items()}
        streamer = TextIteratorStreamer(
            self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=TOKEN_TIMEOUT
        )
        s = self.settings
        kw: dict[str, Any] = {"do_sample": s.temperature > 0}
        if s.temperature > 0:
            kw.update(temperature=s.temperature, top_p=s.top_p)
        failure: list[BaseException] = []

        def generate() -> None:
            try:
                with torch.no_grad():
                    self.model.generate(
                        **enc,
                        streamer=streamer,
                        max_new_tokens=s.max_new_tokens,
                        pad_token_id=self.tokenizer.pad_token_id,
                        eos_token_id=self.tokenizer.eos_token_id,
                        **kw,
                    )
            except BaseException as exc:  # surfaced in the caller's thread below
                failure.append(exc)
                streamer.end()

        thread = threading.Thread(target=generate, name="forge-chat-generate", daemon=True)
        thread.start()
        parts: list[str] = []
        try:
            for piece in streamer:
                parts.append(piece)
                yield piece
        except Exception as exc:  # queue.Empty: no token within TOKEN_TIMEOUT
            if failure:
                break_with(failure[0])
            raise ForgeError(
                f"generation stalled: no token for {TOKEN_TIMEOUT:.0f} s",
                hint="use a smaller model or max_new_tokens, or check the device",
            ) from exc
        thread.join()
        if failure:
            break_with(failure[0])
        self.history += [_user(text), {"role": "assistant", "content": "".join(parts)}]

    def answer(self, text: str) -> str:
        return "".join(self.reply(text))


def _user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def break_with(exc: BaseException) -> None:
    """Raise the generation thread's error in the caller, in the user's words."""
    if isinstance(exc, ForgeError):
        raise exc
    first = (str(exc).splitlines() or [type(exc).__name__])[0]
    raise ForgeError(f"generation failed: {type(exc).__name__}: {first}") from exc
