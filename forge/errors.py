"""One error family. Every ForgeError is a user's mistake or a refused action, said in
the user's words: what was wrong, where (key, file, line) and how to fix it.

`entry` is the one place a ForgeError becomes what the user sees: every entry point
(the `forge` CLI, each stage script, the training child) runs its main through it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NoReturn

INTERRUPTED_EXIT = 130  # 128 + SIGINT, what a shell reports for Ctrl-C


class ForgeError(Exception):
    """A failure the user can act on. The CLI prints it on one line and exits `exit_code`."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


def report(exc: ForgeError) -> None:
    """Print a ForgeError the way every Forge entry point does: one line per problem."""
    import sys

    for problem in getattr(exc, "problems", None) or [str(exc)]:
        print(f"forge: error: {problem}", file=sys.stderr)


def debugging(argv: Sequence[str] | None = None) -> bool:
    """`--debug` on the command line (anywhere) or FORGE_DEBUG=1 in the environment."""
    import os
    import sys

    args = sys.argv[1:] if argv is None else argv
    return "--debug" in args or os.environ.get("FORGE_DEBUG") == "1"


def _from_interrupt(exc: BaseException) -> bool:
    """Whether `exc` was raised while handling Ctrl-C (typer turns it into Exit(130))."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, KeyboardInterrupt):
            return True
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return False


def entry(main: Callable[[], Any], *, argv: Sequence[str] | None = None) -> NoReturn:
    """Run an entry point's `main` and exit the way every Forge entry point does.

    - returns: exit with its return value (None is 0; an int is the exit code).
    - ForgeError: one `forge: error: ...` line per problem, exit `exc.exit_code`.
    - Ctrl-C: one `forge: error: interrupted` line, exit 130.
    - `--debug` in `argv` (default sys.argv[1:]) or FORGE_DEBUG=1: the traceback goes to
      stderr first; the line and the exit code stay the same.

    Anything else is a bug in Forge and propagates with its traceback."""
    import sys
    import traceback

    debug = debugging(argv)
    try:
        code = main()
    except ForgeError as exc:
        if debug:
            traceback.print_exc()
        report(exc)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        if debug:
            traceback.print_exc()
        print("forge: error: interrupted", file=sys.stderr)
        sys.exit(INTERRUPTED_EXIT)
    except SystemExit as exc:  # typer/click exit on their own; Ctrl-C arrives as Exit(130)
        if exc.code == INTERRUPTED_EXIT and _from_interrupt(exc):
            print("forge: error: interrupted", file=sys.stderr)
        raise
    sys.exit(code or 0)


class Problems(ForgeError):
    """Every problem found, not just the first; the CLI prints one line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class ConfigError(Problems):
    """A config key, type or value is wrong."""


class BadHubId(ConfigError):
    """model.hub_id is not something the Hugging Face hub accepts as a repo id."""

    def __init__(self, hub_id: str) -> None:
        self.hub_id = hub_id
        looks_like_path = hub_id.startswith(("/", ".", "~")) or hub_id.count("/") > 1
        why = (
            f"a path on disk is not a repo id: use model.source=local model.path={hub_id}"
            if looks_like_path
            else "a repo id is org/name in letters, digits, '-', '_' and '.'"
        )
        super().__init__(
            [
                f"model.hub_id: {hub_id!r} is not a Hugging Face repo id ({why}); "
                "use a Hugging Face repo id like 'Qwen/Qwen2.5-0.5B-Instruct'"
            ]
        )


class PromotionRefused(Problems):
    """A check before tagging failed; no tag was written."""

    exit_code = 1


class DataError(ForgeError):
    """A data file is missing, malformed or violates a policy (names file and line)."""


class HardwareError(ForgeError):
    """A hardware profile or `${forge_hw:KEY}` cannot be resolved."""


class TrainingFailed(ForgeError):
    """The training child process failed; the exit code is the child's."""

    exit_code = 1


class PipelineFailed(ForgeError):
    """`dvc repro` failed; the failing stage's own output says why."""

    exit_code = 1
