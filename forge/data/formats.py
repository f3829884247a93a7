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

import codecs
import csv
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from forge.data import pii
from forge.errors import DataError

FILE_TYPES = ("csv", "jsonl", "json", "parquet")
SCHEMAS = ("alpaca", "sharegpt", "messages", "prompt_completion", "preference")
FORMATS = ("auto", *SCHEMAS)
SUFFIXES = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
    ".pq": "parquet",
}
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
MAX_RECORD_CHARS = 64 << 20  # a JSON array element larger than this is refused, not buffered
CHUNK = 1 << 20

Messages = list[dict[str, str]]


def file_type(path: Path) -> str:
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise DataError(
            f"{path}: unknown file type '{path.suffix or '(none)'}' "
            f"(expected {', '.join(sorted(SUFFIXES))})"
        )
    return kind


# ---------------------------------------------------------------- records per file type


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) for every line; bad UTF-8 names the line."""
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(
                    f"{path}:{lineno}: not UTF-8 ({exc.reason} at byte {exc.start}); "
                    "re-encode the file as UTF-8"
                ) from exc
            if lineno == 1:
                line = line.removeprefix("\ufeff")
            yield lineno, line


def _where(path: Path, lineno: int) -> str:
    return f"{path}:{lineno}"


def pii_candidates(path: Path) -> set[str] | None:
    """The `where` of every record of a JSONL file that may hold PII, from one hyperscan
    pass over the raw file (`pii.lines_to_scan`): the other records hold none, so a scan
    may skip them. None where every record must be scanned (other file types; no
    hyperscan)."""
    if not path.is_file() or file_type(path) != "jsonl":
        return None
    lines = pii.lines_to_scan(path)
    return None if lines is None else {_where(path, n) for n in lines}


def _jsonl(path: Path) -> Iterator[tuple[str, Any]]:
    for lineno, line in _lines(path):
        if not line.strip():
            continue
        where = _where(path, lineno)
        line = line.rstrip("\r\n")
        try:
            yield where, json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: invalid JSON ({exc.msg}, column {exc.pos + 1})") from exc


def _csv(path: Path) -> Iterator[tuple[str, Any]]:
    lines = _lines(path)
    reader = csv.reader(line for _, line in lines)
    try:
        header = next(reader, None)
        if header is None:
            return
        if len(set(header)) != len(header) or any(not h.strip() for h in header):
            raise DataError(f"{path}:1: the header has empty or repeated column names {header}")
        header = [h.strip() for h in header]
        for cells in reader:
            where = f"{path}:{reader.line_num}"
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue
            if len(cells) != len(header):
                raise DataError(
                    f"{where}: {len(cells)} fields, but the header has {len(header)} "
                    f"({', '.join(header)})"
                )
            yield where, dict(zip(header, cells, strict=True))
    except csv.Error as exc:
        raise DataError(f"{path}:{reader.line_num}: malformed CSV ({exc})") from exc


def _json(path: Path) -> Iterator[tuple[str, Any]]:
    """A top-level JSON array, element by element, without loading the file; a .json file
    that does not start with '[' is read as JSON lines."""
    with path.open("rb") as f:
        head = f.read(4096).decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if not head.startswith("["):
        yield from _jsonl(path)
        return
    decoder = json.JSONDecoder()
    utf8 = codecs.getincrementaldecoder("utf-8")()
    buf, pos, line, eof, done_bytes = "", 0, 1, False, 0

    with path.open("rb") as f:

        def fill() -> None:
            nonlocal buf, pos, line, eof, done_bytes
            line += buf.count("\n", 0, pos)
            buf = buf[pos:]
            pos = 0
            chunk = f.read(CHUNK)
            try:
                buf += utf8.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                bad = line + buf.count("\n") + chunk.count(b"\n", 0, exc.start)
                raise DataError(
                    f"{path}:{bad}: not UTF-8 ({exc.reason}); re-encode the file as UTF-8"
                ) from exc
            done_bytes += len(chunk)
            eof = not chunk

        def skip_ws() -> str:
            nonlocal pos
            while True:
                while pos < len(buf) and buf[pos] in " \t\r\n\ufeff":
                    pos += 1
                if pos < len(buf) or eof:
                    return buf[pos] if pos < len(buf) else ""
                fill()

        def here() -> str:
            return f"{path}:{line + buf.count(chr(10), 0, pos)}"

        fill()
        skip_ws()
        pos += 1  # the '['
        if skip_ws() == "]":
            return
        while True:
            skip_ws()
            while True:
                try:
                    value, end = decoder.raw_decode(buf, pos)
                    break
                except json.JSONDecodeError as exc:
                    if eof or len(buf) - pos > MAX_RECORD_CHARS:
                        where = f"{path}:{line + buf.count(chr(10), 0, exc.pos)}"
                        raise DataError(
                            f"{where}: invalid JSON ({exc.msg}, column {exc.colno})"
                        ) from exc
                    fill()
            where = here()
            pos = end
            yield where, value
            c = skip_ws()
            if c == "]":
                return
            if c != ",":
                found = repr(c) if c else "the end of the file"
                raise DataError(f"{here()}: invalid JSON (expected ',' or ']', found {found})")
            pos += 1


def _parquet(path: Path) -> Iterator[tuple[str, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        n = 0
        for batch in pf.iter_batches(batch_size=1024):
            for row in batch.to_pylist():
                n += 1
                yield f"{path} row {n}", row
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{path}: not a readable parquet file ({exc})") from exc


READERS = {"csv": _csv, "jsonl": _jsonl, "json": _json, "parquet": _parquet}


def columns(path: Path) -> list[str] | None:
    """The declared columns of a csv or parquet file (None for JSON)."""
    kind = file_type(path)
    if kind == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            return list(pq.read_schema(path).names)
        except (pa.ArrowException, OSError) as exc:
            raise DataError(f"{path}: not a readable parquet file ({exc})") from exc
    if kind == "csv":
        for _, line in _lines(path):
            return [h.strip() for h in next(csv.reader([line]), [])]
    return None


def records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, record) for every record of a file; each record must be an object."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    for where, row in READERS[file_type(path)](path):
        if not isinstance(row, dict):
            raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
        yield where, row


# ---------------------------------------------------------------- schemas


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


def check_columns(path: Path, cols: list[str], schema: str) -> None:
    missing = [c for c in REQUIRED[schema] if c not in cols]
    if missing:
        where = f"{path}:1" if file_type(path) == "csv" else str(path)
        raise DataError(
            f"{where}: missing column(s) {', '.join(missing)} for format {schema} "
            f"(columns: {', '.join(cols)})"
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
                        f"{where}: cannot tell the format from columns {cols} "
                        f"(expected one of {', '.join(SCHEMAS)}; set {self.setting})"
                    )
            check_columns(path, cols, self.schema)
        fixed = self.schema if self.fmt != "auto" or cols is not None else None
        for where, row in records(path):
            schema = fixed or detect_schema(row)
            if schema is None:
                raise DataError(
                    f"{where}: cannot tell the format from keys {sorted(row)} "
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
