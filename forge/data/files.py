"""Raw data files -> records, one at a time: csv, jsonl, json (a top-level array, or JSON
lines) and parquet. Everything streams, so memory does not grow with the file; a malformed
record raises DataError naming the file and its line (csv, json, jsonl) or row (parquet).
The records' schemas and their canonical chat form are forge/data/formats.py's."""

from __future__ import annotations

import codecs
import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from forge.data import pii
from forge.errors import DataError

FILE_TYPES = ("csv", "jsonl", "json", "parquet")
SUFFIXES = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
    ".pq": "parquet",
}
MAX_RECORD_CHARS = 64 << 20  # a JSON array element larger than this is refused, not buffered
CHUNK = 1 << 20


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


def _first_line(exc: BaseException) -> str:
    """An exception's message as one line (pyarrow's span several)."""
    return " ".join(str(exc).split())[:200] or type(exc).__name__


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
        raise DataError(f"{path}: not a readable parquet file ({_first_line(exc)})") from exc


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
            raise DataError(f"{path}: not a readable parquet file ({_first_line(exc)})") from exc
    if kind == "csv":
        for _, line in _lines(path):
            try:
                return [h.strip() for h in next(csv.reader([line]), [])]
            except csv.Error as exc:
                raise DataError(f"{path}:1: malformed CSV header ({exc})") from exc
    return None


def inside_project(path: Path, root: Path | None = None) -> None:
    """Refuse a data path that a symlink leads out of the project (the working directory):
    a link in a repository must not make Forge read, and echo in an error, a file
    elsewhere. A path outside the project given without a link is the user's own choice."""
    real = Path(os.path.realpath(path))
    if real == Path(os.path.abspath(path)):
        return
    top = Path(os.path.realpath(root or Path.cwd()))
    if real != top and top not in real.parents:
        raise DataError(
            f"{path}: a link to {real}, outside the project; Forge reads data inside the "
            "project only (copy the file in)"
        )


def records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, record) for every record of a file; each record must be an object."""
    if path.is_dir():
        raise DataError(f"{path}: is a directory, not a file")
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    for where, row in READERS[file_type(path)](path):
        if not isinstance(row, dict):
            raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
        yield where, row


# ---------------------------------------------------------------- schemas
