"""The generateContent request body, as google-genai posts it for GeminiAdvisor.ask, so
`--show-prompt` prints exactly what would be sent (tests compare it with what a local
server received)."""

from __future__ import annotations

from typing import Any

from forge.copilot import share
from forge.copilot.config import CopilotConfig
from forge.copilot.schema import for_wire


def request_body(
    cfg: CopilotConfig, task: str, brief: dict[str, Any], schema: dict[str, Any]
) -> dict[str, Any]:
    return {
        "url": f"{{base_url}}/{cfg.api_version}/models/{cfg.model}:generateContent",
        "body": {
            "contents": [{"parts": [{"text": share.prompt(task, brief)}], "role": "user"}],
            "generationConfig": {
                "temperature": 0.0,
                "responseMimeType": "application/json",
                "responseJsonSchema": for_wire(schema),
            },
        },
    }
