"""API keys for `forge serve`: two scopes, read and write (write may also read).

Keys come from FORGE_API_KEYS (`SCOPE:KEY` pairs, comma-separated) or from a keys file of
salted hashes (`forge serve --add-key --scope read|write` makes one, prints the key once
and stores only `sha256(salt + key)`). A plaintext key never reaches disk.

The keys are 32 random bytes, so one salted SHA-256 suffices: a slow hash protects guessable
passwords, and these cannot be guessed. Comparison is constant-time."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from forge.errors import ForgeError

SCOPES = ("read", "write")
ENV = "FORGE_API_KEYS"
KEYS_FILE = Path(".forge/api-keys.json")


@dataclass(frozen=True)
class Entry:
    scope: str
    salt: str
    digest: str
    name: str


def _digest(salt: str, key: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + key.encode()).hexdigest()


def _entry(scope: str, key: str, name: str) -> Entry:
    salt = secrets.token_hex(16)
    return Entry(scope, salt, _digest(salt, key), name)


class Keys:
    """The keys a server accepts; empty means an open server (loopback only)."""

    def __init__(self, entries: list[Entry]) -> None:
        self.entries = entries

    def __bool__(self) -> bool:
        return bool(self.entries)

    def scope_of(self, key: str) -> str | None:
        """The scope of `key`, or None when no entry matches."""
        found = None
        for e in self.entries:  # every entry is checked: the time says nothing about which
            if hmac.compare_digest(_digest(e.salt, key), e.digest):
                found = e.scope
        return found


def _check_scope(scope: str, where: str) -> str:
    if scope not in SCOPES:
        raise ForgeError(f"{where}: scope '{scope}' is not read or write")
    return scope


def from_env(value: str | None) -> list[Entry]:
    entries = []
    for i, item in enumerate(p.strip() for p in (value or "").split(",")):
        if not item:
            continue
        scope, sep, key = item.partition(":")
        if not sep or not key:
            raise ForgeError(f"{ENV}: entry {i + 1} is not SCOPE:KEY (e.g. write:...)")
        if len(key) < 16:
            raise ForgeError(f"{ENV}: entry {i + 1}'s key is shorter than 16 characters")
        entries.append(_entry(_check_scope(scope, ENV), key, f"env #{i + 1}"))
    return entries


def from_file(path: Path) -> list[Entry]:
    if not path.is_file():
        return []
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
        entries = [Entry(r["scope"], r["salt"], r["sha256"], r["name"]) for r in rows]
    except (ValueError, KeyError, TypeError) as exc:
        raise ForgeError(
            f"{path}: not a Forge keys file ({exc})", hint="recreate it with forge serve --add-key"
        ) from None
    for e in entries:
        _check_scope(e.scope, str(path))
    return entries


def load(path: Path = KEYS_FILE) -> Keys:
    return Keys(from_env(os.environ.get(ENV)) + from_file(path))


def add_key(scope: str, name: str | None = None, path: Path = KEYS_FILE) -> str:
    """Make a key, store its salted hash in `path` (mode 600) and return the key itself."""
    _check_scope(scope, "--scope")
    entries = from_file(path)
    key = "fk_" + secrets.token_urlsafe(32)
    e = _entry(scope, key, name or f"{scope}-{len(entries) + 1}")
    rows = [
        {"scope": x.scope, "salt": x.salt, "sha256": x.digest, "name": x.name}
        for x in [*entries, e]
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    os.chmod(tmp, 0o600)
    tmp.replace(path)
    return key


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, keys: Keys) -> None:
    """Refuse to serve an open API beyond this machine."""
    if not keys and not is_loopback(host):
        raise ForgeError(
            f"--host {host}: refusing a non-loopback bind without API keys",
            hint=f"set {ENV} or create a key with `forge serve --add-key --scope read`",
        )
