"""GeminiAdvisor: Google's Gemini API through google-genai (pinned in pyproject.toml).

- Structured output: `response_mime_type="application/json"` with `response_json_schema`
  (forge/copilot/schema.py). `response.parsed` is silently None on bad JSON, so the answer
  is parsed from `response.text` here and checked against the schema.
- `finish_reason` must be STOP: an answer cut off at MAX_TOKENS, or stopped for SAFETY, is
  refused by name.
- 408, 429 and 5xx are retried by the SDK's HttpRetryOptions (exponential backoff,
  `copilot.attempts`, `copilot.retry_delay_s`); without them the SDK never retries.
- The API version is pinned (`copilot.api_version`): 3.x defaults to v1, older releases to
  v1beta.
- The key is passed in (forge/copilot/secrets.py: the environment, else `forge login`); the
  base URL is the SDK's own: `GOOGLE_GEMINI_BASE_URL` when set (tests point it at a local
  server), else Google's.
"""

from __future__ import annotations

import json
from typing import Any

from forge.copilot import share
from forge.copilot.config import CopilotConfig
from forge.copilot.schema import AdvisorError, checked, for_wire

RETRY_CODES = [408, 429, 500, 502, 503, 504]


class GeminiAdvisor:
    backend = "gemini"

    def __init__(self, cfg: CopilotConfig, key: str) -> None:
        from google import genai
        from google.genai import types

        self.cfg = cfg
        self.model = cfg.model
        self._types = types
        self.client = genai.Client(
            api_key=key,
            http_options=types.HttpOptions(
                api_version=cfg.api_version,
                timeout=int(cfg.timeout_s * 1000),
                retry_options=types.HttpRetryOptions(
                    attempts=cfg.attempts,
                    initial_delay=cfg.retry_delay_s,
                    max_delay=max(cfg.retry_delay_s * 8, 1e-3),
                    exp_base=2,
                    jitter=0,
                    http_status_codes=RETRY_CODES,
                ),
            ),
        )

    def request_config(self, schema: dict[str, Any]) -> Any:
        return self._types.GenerateContentConfig(
            response_mime_type="application/json",
            response_json_schema=for_wire(schema),
            temperature=0.0,
        )

    def ask(self, task: str, brief: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
        from google.genai import errors

        try:  # the SDK's HTTP client (google-genai 3.x depends on httpx2)
            from httpx2 import HTTPError as transport_error
        except ImportError:  # pragma: no cover - an older SDK on httpx
            from httpx import HTTPError as transport_error

        who = f"gemini ({self.model})"
        try:
            response = self.client.models.generate_content(
                model=self.model,
                contents=share.prompt(task, brief),
                config=self.request_config(schema),
            )
        except errors.APIError as exc:
            retried = " after retries" if exc.code in RETRY_CODES else ""
            raise AdvisorError(
                f"{who}: HTTP {exc.code} {exc.status or ''}{retried}: "
                f"{(exc.message or '').strip()[:200]}".replace("  ", " ")
            ) from None
        except (transport_error, OSError) as exc:
            raise AdvisorError(
                f"{who}: cannot reach the API ({type(exc).__name__}: {exc})"
            ) from None
        candidates = response.candidates or []
        if not candidates:
            block = getattr(response.prompt_feedback, "block_reason", None)
            raise AdvisorError(f"{who}: no answer (prompt blocked: {block or 'no reason given'})")
        finish = candidates[0].finish_reason
        finish_name = getattr(finish, "name", str(finish))
        if finish_name != "STOP":
            why = {
                "MAX_TOKENS": "it was cut off at the output token limit",
                "SAFETY": "it was stopped by a safety filter",
            }.get(finish_name, "the model stopped early")
            raise AdvisorError(f"{who}: answer refused: finish_reason {finish_name} ({why})")
        text = response.text or ""
        try:
            answer = json.loads(text)
        except json.JSONDecodeError as exc:
            raise AdvisorError(
                f"{who}: the answer is not JSON ({exc.msg} at char {exc.pos}), refused"
            ) from None
        return checked(answer, schema, who)
