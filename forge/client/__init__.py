"""The Python SDK for `forge serve`: `ForgeClient(base_url, api_key)` on httpx.

It knows only the wire: it imports nothing of Forge, so it works wherever httpx does.
API errors are raised as `ForgeError` subclasses carrying the server's one-line reason."""

from forge.client.client import ForgeClient
from forge.client.errors import (
    BadRequest,
    ForgeError,
    NotFound,
    PermissionDenied,
    Refused,
    ServerError,
    Timeout,
    Unauthorized,
)
from forge.client.types import Comparison, Dataset, Job, Metrics, Model, Point, Promotion, Run

__all__ = [
    "BadRequest",
    "Comparison",
    "Dataset",
    "ForgeClient",
    "ForgeError",
    "Job",
    "Metrics",
    "Model",
    "NotFound",
    "PermissionDenied",
    "Point",
    "Promotion",
    "Refused",
    "Run",
    "ServerError",
    "Timeout",
    "Unauthorized",
]
