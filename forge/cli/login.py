"""forge login [--gemini/--no-gemini] [--hf/--no-hf]   |   forge logout"""

from __future__ import annotations

import sys

import typer


def _ask(name: str) -> str:
    """A key from a hidden prompt (getpass), or one line of standard input when it is not a
    terminal (`printf %s "$KEY" | forge login --no-hf`)."""
    import getpass

    if sys.stdin.isatty():
        return getpass.getpass(f"{name} (hidden; empty to skip): ").strip()
    return sys.stdin.readline().strip()


def login(
    gemini: bool = typer.Option(True, "--gemini/--no-gemini", help="Ask for GEMINI_API_KEY."),
    hf: bool = typer.Option(True, "--hf/--no-hf", help="Ask for HF_TOKEN."),
) -> None:
    """Keep GEMINI_API_KEY and HF_TOKEN for this terminal session only.

    They go to the Linux kernel session keyring (keyctl): in memory, never on disk, gone when
    the session ends (or after 12 hours). A key set in the environment always wins."""
    from forge.copilot import secrets
    from forge.errors import ForgeError

    why = secrets.available()
    if why:
        raise ForgeError(why)
    asked = [n for n, on in (("GEMINI_API_KEY", gemini), ("HF_TOKEN", hf)) if on]
    for name in asked:
        value = _ask(name)
        if not value:
            typer.echo(f"{name}: skipped")
            continue
        secrets.store(name, value)
        shadow = " (the environment's value still wins in this shell)" if name in _env() else ""
        typer.echo(f"{name}: kept in the session keyring{shadow}")


def _env() -> set[str]:
    import os

    return {n for n in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "HF_TOKEN") if os.environ.get(n)}


def logout() -> None:
    """Remove the keys forge login kept from the session keyring.

    Environment variables belong to the shell: unset them there."""
    from forge.copilot import secrets

    if secrets.available():
        typer.echo("no session keyring here; nothing to clear")
        return
    for name in secrets.KEYS:
        typer.echo(f"{name}: {'cleared' if secrets.clear(name) else 'was not set'}")
    left = sorted(_env())
    if left:
        typer.echo(f"still set in the environment: {', '.join(left)} (unset them in the shell)")
