"""Names and revisions as the API takes them, checked before they reach a path, a git
command or a ref: no '/', '..', leading '-', whitespace or newline where a name is meant."""

from __future__ import annotations

import re

from forge.errors import ForgeError

NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")  # artifacts and stages (forge/registry/refs.py)
DATASET = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")  # data cards (forge/data/cards.py)
VERSION = re.compile(r"v\d{1,6}\.\d{1,6}\.\d{1,6}")
REV = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@#/~^-]{0,199}")


class NotFound(ForgeError):
    """The named dataset, run, job or version does not exist."""


class Conflict(ForgeError):
    """The thing exists but is in a state that refuses the request."""

    exit_code = 1


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 62 else text[:60] + "..."


def check(what: str, value: str, pattern: re.Pattern[str] = NAME) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value) or ".." in value:
        raise ForgeError(f"{what} {_shown(value)}: not a valid {what} (pattern {pattern.pattern})")
    return value


def check_rev(value: str) -> str:
    """A git revision: a commit, tag or branch name, never an option or a path escape."""
    bad = (
        not isinstance(value, str)
        or not REV.fullmatch(value)
        or ".." in value
        or "@{" in value
        or "//" in value
        or value.endswith((".lock", "/", "."))
    )
    if bad:
        raise ForgeError(f"revision {_shown(value)}: not a commit, tag or branch name")
    return value


def check_model_ref(value: str) -> str:
    """NAME, NAME@vX.Y.Z or NAME#STAGE."""
    name, sep, rest = value.partition("@") if "@" in value else value.partition("#")
    check("artifact", name)
    if sep == "@":
        check("version", rest, VERSION)
    elif sep == "#":
        check("stage", rest)
    return value
