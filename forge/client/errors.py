"""The SDK's errors: one per kind of refusal, each with the server's reason."""

from __future__ import annotations


class ForgeError(Exception):
    """An API error: `reason` is the server's one line (what the CLI would print),
    `problems` each problem, `status` the HTTP status (None for a failed job's own)."""

    def __init__(self, reason: str, status: int | None = None, problems: list[str] | None = None):
        self.reason = reason
        self.status = status
        self.problems = problems or [reason]
        super().__init__(reason)


class BadRequest(ForgeError):
    """400 or 422: a bad key, id, override or body."""


class Unauthorized(ForgeError):
    """401: no API key, or an unknown one."""


class PermissionDenied(ForgeError):
    """403: a read key on a write."""


class NotFound(ForgeError):
    """404: no such dataset, run, job or version."""


class Refused(ForgeError):
    """409: a gate refused the promotion, the workspace is busy, or the run has ended."""


class ServerError(ForgeError):
    """500 or anything unexpected: a bug in the server."""


class Timeout(ForgeError):
    """wait_for gave up before the run or job finished."""


BY_STATUS: dict[int, type[ForgeError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: PermissionDenied,
    404: NotFound,
    409: Refused,
    422: BadRequest,
}


def for_status(status: int | None) -> type[ForgeError]:
    return BY_STATUS.get(status or 0, ServerError)
