"""One error family. Every ForgeError is a user's mistake or a refused action, said in
the user's words: what was wrong, where (key, file, line) and how to fix it."""

from __future__ import annotations


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


class Problems(ForgeError):
    """Every problem found, not just the first; the CLI prints one line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class ConfigError(Problems):
    """A config key, type or value is wrong."""


class PromotionRefused(Problems):
    """A check before tagging failed; no tag was written."""

    exit_code = 1


class DataError(ForgeError):
    """A data file is missing, malformed or violates a policy (names file and line)."""


class TrainingFailed(ForgeError):
    """The training child process failed; the exit code is the child's."""

    exit_code = 1
