"""Raw data files -> records -> the canonical chat-messages form, one record at a time.

File types: csv, jsonl, json (a top-level array, or JSON lines) and parquet. Schemas:
alpaca (instruction, input, output), sharegpt (conversations), messages (OpenAI),
prompt_completion and preference (prompt, chosen, rejected). The schema is detected from
the columns (csv, parquet) or each record's keys (JSON); `data.format` overrides detection.

Everything streams: a record is read, converted and handed on before the next is read, so
memory does not grow with the file. A malformed record raises DataError naming the file
and its line (csv, json, jsonl) or row (parquet).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from forge.data.files import (  # noqa: F401 - the file layer, re-exported for callers
    FILE_TYPES,
    SUFFIXES,
    columns,
    file_type,
    pii_candidates,
    records,
)
from forge.errors import DataError

SCHEMAS = ("alpaca", "sharegpt", "messages", "prompt_completion", "preference")
FORMATS = ("auto", *SCHEMAS)
# The fields a schema needs (for a clear "missing column" error before any row is read).
REQUIRED = {
    "alpaca": ("instruction", "output"),
    "sharegpt": ("conversations",),
    "messages": ("messages",),
    "prompt_completion": ("prompt", "completion"),
    "preference": ("prompt", "chosen", "rejected"),
}
ROLES = ("system", "user", "assistant")
SHAREGPT_ROLES = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "model": "assistant",
    "chatgpt": "assistant",
}

Messages = list[dict[str, str]]


def detect_schema(row: dict[str, Any]) -> str | None:
    keys = set(row)
    if "messages" in keys:
        return "messages"
    if "conversations" in keys:
        return "sharegpt"
    if {"chosen", "rejected"} <= keys:
        return "preference"
    if {"instruction", "output"} <= keys:
        return "alpaca"
    if {"prompt", "completion"} <= keys:
        return "prompt_completion"
    return None


def names(items: list[Any], width: int = 200) -> str:
    """Column names or keys as an error shows them: escaped, one line, cut short."""
    text = ", ".join(repr(str(x)) for x in items)
    return text if len(text) <= width else text[: width - 3] + "..."


def check_columns(path: Path, cols: list[str], schema: str) -> None:
    missing = [c for c in REQUIRED[schema] if c not in cols]
    if missing:
        where = f"{path}:1" if file_type(path) == "csv" else str(path)
        raise DataError(
            f"{where}: missing column(s) {', '.join(missing)} for format {schema} "
            f"(columns: {names(cols)})"
        )


def _text(value: Any, where: str, field: str) -> str:
    if not isinstance(value, str):
        got = "missing" if value is None else type(value).__name__
        raise DataError(f"{where}: '{field}' must be text, got {got}")
    return value


def _maybe_json(value: Any) -> Any:
    """A list cell in a csv file arrives as JSON text."""
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _content(value: Any, where: str, field: str) -> str:
    """OpenAI content: text, or a list of {"type": "text", "text": ...} parts."""
    if isinstance(value, list):
        parts = []
        for i, part in enumerate(value):
            if not (isinstance(part, dict) and isinstance(part.get("text"), str)):
                raise DataError(f"{where}: {field}[{i}] is not a text part")
            parts.append(part["text"])
        return "".join(parts)
    return _text(value, where, field)


def _chat(value: Any, where: str, field: str, sharegpt: bool = False) -> Messages:
    value = _maybe_json(value)
    if not isinstance(value, list) or not value:
        raise DataError(f"{where}: '{field}' must be a non-empty list of messages")
    out = []
    for i, m in enumerate(value):
        if not isinstance(m, dict):
            raise DataError(f"{where}: {field}[{i}] must be an object")
        if sharegpt and "from" in m:
            role = SHAREGPT_ROLES.get(str(m.get("from")).lower())
            if role is None:
                raise DataError(
                    f"{where}: {field}[{i}].from is '{m.get('from')}' "
                    f"(expected one of {', '.join(SHAREGPT_ROLES)})"
                )
            content = _content(m.get("value"), where, f"{field}[{i}].value")
        else:
            role = m.get("role")
            if role not in ROLES:
                raise DataError(f"{where}: {field}[{i}] needs a role of system, user or assistant")
            content = _content(m.get("content"), where, f"{field}[{i}].content")
        out.append({"role": role, "content": content})
    return out


def _ends_with_answer(messages: Messages, where: str, field: str) -> Messages:
    if messages[-1]["role"] != "assistant":
        raise DataError(f"{where}: the last message of '{field}' must be the assistant's answer")
    if not any(m["role"] == "user" for m in messages):
        raise DataError(f"{where}: '{field}' has no user message")
    return messages


def _turn(value: Any, where: str, field: str, role: str) -> Messages:
    """Text becomes one message with `role`; a list is taken as messages."""
    value = _maybe_json(value)
    if isinstance(value, list):
        return _chat(value, where, field)
    return [{"role": role, "content": _text(value, where, field)}]


def preference_parts(row: dict[str, Any], where: str) -> tuple[Messages, Messages, Messages]:
    """(prompt, chosen, rejected) as message lists, in TRL's conversational form."""
    if "prompt" not in row:
        raise DataError(f"{where}: missing field 'prompt' (format preference)")
    prompt = _turn(row["prompt"], where, "prompt", "user")
    chosen = _turn(row.get("chosen"), where, "chosen", "assistant")
    rejected = _turn(row.get("rejected"), where, "rejected", "assistant")
    for field, msgs in (("chosen", chosen), ("rejected", rejected)):
        if msgs[-1]["role"] != "assistant":
            raise DataError(f"{where}: the last message of '{field}' must be the assistant's")
    if not any(m["role"] == "user" for m in prompt):
        raise DataError(f"{where}: 'prompt' has no user message")
    return prompt, chosen, rejected


def to_messages(row: dict[str, Any], schema: str, where: str) -> Messages:
    """One record of `schema` -> canonical messages ending with the assistant's answer."""
    if schema == "prompt_completion":
        missing = [k for k in ("prompt", "completion") if not isinstance(row.get(k), str)]
        if missing:
            raise DataError(f"{where}: missing or non-text field(s) {', '.join(missing)}")
        return [
            {"role": "user", "content": row["prompt"]},
            {"role": "assistant", "content": row["completion"]},
        ]
    if schema == "alpaca":
        instruction = _text(row.get("instruction"), where, "instruction")
        extra = row.get("input")
        if extra is not None and not isinstance(extra, str):
            raise DataError(f"{where}: 'input' must be text, got {type(extra).__name__}")
        prompt = f"{instruction}\n\n{extra}" if extra and extra.strip() else instruction
        messages = [{"role": "user", "content": prompt}]
        if isinstance(row.get("system"), str) and row["system"].strip():
            messages.insert(0, {"role": "system", "content": row["system"]})
        return messages + [
            {"role": "assistant", "content": _text(row.get("output"), where, "output")}
        ]
    if schema == "sharegpt":
        return _ends_with_answer(
            _chat(row.get("conversations"), where, "conversations", sharegpt=True),
            where,
            "conversations",
        )
    if schema == "messages":
        return _ends_with_answer(_chat(row.get("messages"), where, "messages"), where, "messages")
    if schema == "preference":
        prompt, chosen, _ = preference_parts(row, where)
        return prompt + chosen
    raise DataError(f"{where}: unknown format '{schema}' (expected one of {', '.join(SCHEMAS)})")


def texts(row: dict[str, Any]) -> list[str]:
    """Every string in a record, in order (what a PII scan of the raw record reads)."""
    out: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list | tuple):
            for x in v:
                walk(x)

    walk(row)
    return out


class Reader:
    """Streams one file as (where, record, schema). The schema is `fmt`, or detected from
    the columns of a csv or parquet file, or from each JSON record's keys (`schema` is then
    "mixed" when records differ). Declared columns are checked before any row is read."""

    def __init__(self, path: Path, fmt: str = "auto", setting: str = "data.format") -> None:
        if fmt not in FORMATS:
            raise DataError(f"{setting}: '{fmt}' is not one of {', '.join(FORMATS)}")
        self.path = path
        self.fmt = fmt
        self.setting = setting
        self.file_type = file_type(path) if path.is_file() else None
        self.schema: str | None = None if fmt == "auto" else fmt
        self.fields: list[str] = []
        self.schemas: Counter[str] = Counter()
        self.rows = 0

    def __iter__(self) -> Iterator[tuple[str, dict[str, Any], str]]:
        path = self.path
        if path.is_dir():
            raise DataError(f"{path}: is a directory, not a file")
        if not path.is_file():
            raise DataError(f"{path}: file not found ({self.setting.replace('format', 'path')})")
        cols = columns(path)
        if cols is not None:
            self.fields = cols
            if self.schema is None:
                self.schema = detect_schema(dict.fromkeys(cols))
                if self.schema is None:
                    where = f"{path}:1" if self.file_type == "csv" else str(path)
                    raise DataError(
                        f"{where}: cannot tell the format from columns [{names(cols)}] "
                        f"(expected one of {', '.join(SCHEMAS)}; set {self.setting})"
                    )
            check_columns(path, cols, self.schema)
        fixed = self.schema if self.fmt != "auto" or cols is not None else None
        for where, row in records(path):
            schema = fixed or detect_schema(row)
            if schema is None:
                raise DataError(
                    f"{where}: cannot tell the format from keys [{names(sorted(row))}] "
                    f"(expected one of {', '.join(SCHEMAS)}; set {self.setting})"
                )
            self.schemas[schema] += 1
            if self.schema is None:
                self.schema = schema
            elif self.schema != schema:
                self.schema = "mixed"
            if not self.fields:
                self.fields = sorted(row)
            self.rows += 1
            yield where, row, schema

    def summary(self) -> dict[str, Any]:
        """Path, file type, schema, fields and rows of the file once read; an empty file is
        an error."""
        if self.rows == 0:
            raise DataError(f"{self.path}: no rows (the file is empty)")
        return {
            "path": self.path.as_posix(),
            "file_type": self.file_type,
            "schema": self.schema,
            "fields": self.fields,
            "rows": self.rows,
        }
