"""conf/copilot.yaml, typed. The co-pilot's settings stay out of params.yaml: no stage reads
them, and a key there that no stage lists would break the rule that every params.yaml key
is read by the DAG. `--backend` and `--model` on a command override the file."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from forge.config.fields import setting, sorted_fields
from forge.errors import ConfigError

BACKENDS = ("rules", "gemini")


@sorted_fields
@dataclass
class CopilotConfig:
    api_version: str = setting(
        "v1", "Gemini API version, pinned (the SDK's default changed from v1beta to v1)."
    )
    attempts: int = setting(4, "Tries per request; 429 and 5xx are retried.", ge=1, le=10)
    backend: str = setting(
        "rules",
        "rules: offline, deterministic; gemini: Google's Gemini API (needs a key).",
        choices=BACKENDS,
    )
    model: str = setting("gemini-2.5-flash", "Gemini model name, for backend gemini.")
    retry_delay_s: float = setting(1.0, "First backoff between tries; doubles each retry.", ge=0)
    timeout_s: float = setting(60.0, "Seconds per request.", gt=0)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def load(
    path: Path = Path("conf/copilot.yaml"), overrides: dict[str, Any] | None = None
) -> CopilotConfig:
    """The file's settings (the schema's defaults where there is no file), then `overrides`
    (None values are skipped); one ConfigError line per bad key or value."""
    import yaml

    from forge.config.params import typed

    data: dict[str, Any] = {}
    if path.is_file():
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError([f"{path}: not valid YAML ({exc})"]) from exc
        if not isinstance(data, dict):
            raise ConfigError([f"{path}: expected a mapping of copilot settings"])
    data = {**data, **{k: v for k, v in (overrides or {}).items() if v is not None}}
    known = set(CopilotConfig.__dataclass_fields__)
    unknown = [f"copilot.{k}: unknown key ({path})" for k in data if k not in known]
    if unknown:
        raise ConfigError(unknown)
    return typed(CopilotConfig, data, "copilot")
