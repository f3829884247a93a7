"""One advisor interface, two backends. An advisor answers three kinds of question, each
with a brief (forge/copilot/share.py) and a JSON schema (forge/copilot/schema.py):

    plan    a goal, the hardware, data statistics, estimates -> model, recipe, settings
    advise  a data study                                      -> concrete fixes
    script  a raw file's profile (+ failed attempts)          -> a preprocessing program

Every answer, the rules advisor's too, is checked against its schema before it is used.
"""

from __future__ import annotations

from typing import Any, Protocol

from forge.copilot.config import CopilotConfig
from forge.copilot.schema import AdvisorError


class Advisor(Protocol):
    backend: str  # rules or gemini
    model: str  # the Gemini model, or "rules" for the rules advisor

    def ask(self, task: str, brief: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
        """The answer to `task` about `brief`, a value that holds to `schema`."""
        ...


def make(cfg: CopilotConfig) -> Advisor:
    """The configured advisor; backend gemini without a key is one line saying how to get
    one going (or to use rules)."""
    if cfg.backend == "rules":
        from forge.copilot.rules import RulesAdvisor

        return RulesAdvisor()
    from forge.copilot import secrets
    from forge.copilot.gemini import GeminiAdvisor

    found = secrets.gemini_key()
    if found is None:
        raise AdvisorError(
            "copilot.backend: gemini needs a key and none is set; run `forge login`, or set "
            "GEMINI_API_KEY, or use --backend rules (offline)"
        )
    return GeminiAdvisor(cfg, found[0])
