"""forge chat [MODEL] [--prompt TEXT] [--json]"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

HELP_LINES = (
    "/clear  forget the conversation",
    "/system TEXT  set the system prompt (/system alone clears it)",
    "/set temperature 0.7  (also max_new_tokens, top_p; temperature 0 is greedy)",
    "/exit  leave (or Ctrl-D)",
)


def main(
    model: str = typer.Argument(
        None,
        help="The candidate (default), a model directory, NAME@vX.Y.Z or NAME#STAGE "
        "(fetched from the DVC cache or remote at the tagged commit).",
        show_default=False,
    ),
    prompt: str = typer.Option(
        None, "--prompt", "-p", help="Answer this once and exit (no interactive chat)."
    ),
    system: str = typer.Option(None, "--system", help="A system prompt."),
    temperature: float = typer.Option(0.0, help="0 is greedy; above 0 samples."),
    max_new_tokens: int = typer.Option(128, help="Longest answer, in tokens."),
    as_json: bool = typer.Option(
        False, "--json", help="With --prompt: print {model, prompt, answer} as JSON."
    ),
) -> None:
    """Talk to a trained model with its own chat template; answers stream as they come.

    A LoRA adapter is put on the base it was trained from. Loading follows params.yaml's
    hardware.* (device, precision, quantization), so chat runs where training ran. In a
    chat: /clear, /system TEXT, /set temperature 0.7, /exit."""
    from forge.api.registry import resolve_model
    from forge.errors import ForgeError
    from forge.model.chat import Chat, Settings

    if as_json and prompt is None:
        raise ForgeError("--json needs --prompt", hint="forge chat --prompt TEXT --json")
    resolved = resolve_model(model)
    settings = Settings(system=system or None)
    settings.set("temperature", str(temperature))
    settings.set("max_new_tokens", str(max_new_tokens))
    chat = Chat.open(Path(resolved["path"]), _hardware(), Path(resolved["root"]))
    chat.settings = settings
    if prompt is not None:
        if as_json:
            answer = chat.answer(prompt)
            out = {"model": resolved["label"], "prompt": prompt, "answer": answer}
            typer.echo(json.dumps(out, ensure_ascii=False))
        else:
            for piece in chat.reply(prompt):
                typer.echo(piece, nl=False)
            typer.echo()
        return
    _interactive(chat, resolved["label"])


def _hardware():
    """params.yaml's hardware group where there is one, else the CPU profile's defaults."""
    from forge.config.params import load_group
    from forge.config.schema import HardwareConfig

    if Path("params.yaml").is_file():
        return load_group("hardware")
    return HardwareConfig(name="cpu", device="cpu", memory_gb=1.0, precision="fp32")


def _interactive(chat, label: str) -> None:
    from forge.errors import ForgeError, report

    typer.echo(f"chatting with {label}; /exit or Ctrl-D to leave, /help for commands")
    while True:
        try:
            line = input("you> ")
        except EOFError:
            typer.echo()
            return
        text = line.strip()
        if not text:
            continue
        if text.startswith("/"):
            try:
                if _command(chat, text):
                    return
            except ForgeError as exc:
                report(exc)
            continue
        sys.stdout.write("model> ")
        for piece in chat.reply(text):
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n")
        sys.stdout.flush()


def _command(chat, text: str) -> bool:
    """Run an in-chat /command; True means leave."""
    from forge.errors import ForgeError

    word, _, rest = text.partition(" ")
    if word in ("/exit", "/quit"):
        return True
    if word == "/clear":
        chat.clear()
        typer.echo("(conversation cleared)")
    elif word == "/system":
        chat.settings.system = rest.strip() or None
        typer.echo(f"(system prompt {'set' if chat.settings.system else 'cleared'})")
    elif word == "/set":
        key, _, value = rest.strip().partition(" ")
        if not value.strip():
            raise ForgeError("/set needs a key and a value", hint="e.g. /set temperature 0.7")
        chat.settings.set(key, value.strip())
        typer.echo(f"({key} = {getattr(chat.settings, key)})")
    elif word == "/help":
        typer.echo("\n".join(HELP_LINES))
    else:
        raise ForgeError(f"{word}: unknown command", hint="/help lists them")
    return False
