"""Keys for this terminal session only: the environment first, else the Linux kernel's
session keyring, where `forge login` puts them (keyutils `keyctl`). The keyring lives in
kernel memory and ends with the session; nothing is written to disk.

- Linux with keyctl: `forge login` stores each key as a `user` key named `forge:<VAR>` in
  the session keyring (@s), with a timeout; `forge logout` unlinks them.
- Anywhere else (macOS, Windows, Linux without keyutils): login refuses with one line, and
  keys come from the environment only.

The environment always wins: a key set there is used even when the keyring holds another.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from forge.errors import ForgeError

GEMINI_VARS = ("GOOGLE_API_KEY", "GEMINI_API_KEY")  # the SDK's order: GOOGLE_API_KEY first
KEYS = ("GEMINI_API_KEY", "HF_TOKEN")  # what forge login asks for
PREFIX = "forge:"
TTL_S = 12 * 3600  # a forgotten login expires anyway


def _keyctl() -> str | None:
    return shutil.which("keyctl") if sys.platform.startswith("linux") else None


def available() -> str | None:
    """None when the keyring can be used here, else why not (one sentence with the fix)."""
    if not sys.platform.startswith("linux"):
        return (
            f"forge login keeps keys in the Linux kernel session keyring, which {sys.platform} "
            "does not have; set GEMINI_API_KEY and HF_TOKEN in this shell's environment instead"
        )
    if _keyctl() is None:
        return (
            "forge login needs keyutils' keyctl (the kernel session keyring); install it "
            "(apt-get install keyutils), or set GEMINI_API_KEY and HF_TOKEN in the environment"
        )
    return None


def _run(*args: str, data: str | None = None) -> subprocess.CompletedProcess:
    keyctl = _keyctl()
    assert keyctl is not None
    return subprocess.run([keyctl, *args], input=data, capture_output=True, text=True, check=False)


def _key_id(name: str) -> str | None:
    if _keyctl() is None:
        return None
    proc = _run("search", "@s", "user", PREFIX + name)
    return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else None


def store(name: str, value: str, ttl_s: int = TTL_S) -> None:
    """Put `value` in the session keyring as forge:<name>; the value goes through a pipe,
    never the command line (which other users could read in /proc)."""
    why = available()
    if why:
        raise ForgeError(why)
    proc = _run("padd", "user", PREFIX + name, "@s", data=value)
    if proc.returncode != 0:
        raise ForgeError(
            f"keyctl could not store {name} in the session keyring ({proc.stderr.strip()})"
        )
    _run("timeout", proc.stdout.strip(), str(ttl_s))


def clear(name: str) -> bool:
    """Remove forge:<name> from the session keyring; whether one was there."""
    key = _key_id(name)
    if key is None:
        return False
    _run("revoke", key)
    _run("unlink", key, "@s")
    return True


def from_keyring(name: str) -> str | None:
    key = _key_id(name)
    if key is None:
        return None
    proc = _run("pipe", key)
    return proc.stdout if proc.returncode == 0 and proc.stdout else None


def get(name: str) -> tuple[str, str] | None:
    """(value, where) for a key: the environment, else the keyring."""
    if os.environ.get(name):
        return os.environ[name], "environment"
    value = from_keyring(name)
    return (value, "session keyring") if value else None


def session_env() -> dict[str, str]:
    """The logged-in keys the environment lacks, for a child's environment only (`forge run`
    hands HF_TOKEN to its stages this way); never written anywhere."""
    out = {}
    for name in ("HF_TOKEN",):
        if not os.environ.get(name):
            value = from_keyring(name)
            if value:
                out[name] = value
    return out


def gemini_key() -> tuple[str, str] | None:
    """(key, where): GOOGLE_API_KEY or GEMINI_API_KEY from the environment (the SDK's
    order), else the GEMINI_API_KEY that forge login stored."""
    for var in GEMINI_VARS:
        if os.environ.get(var):
            return os.environ[var], f"${var}"
    value = from_keyring("GEMINI_API_KEY")
    return (value, "session keyring (forge login)") if value else None


def status() -> dict[str, str]:
    """Where each key comes from now ('environment', 'session keyring' or 'not set');
    never the value."""
    out = {}
    for name in KEYS:
        found = gemini_key() if name == "GEMINI_API_KEY" else get(name)
        out[name] = found[1] if found else "not set"
    return out
