"""Every file type and schema converts to the canonical messages form; every malformed file
is one error naming the file and line (or row)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from forge.config.schema import DataConfig
from forge.data import formats
from forge.data.formats import Reader, to_messages
from forge.data.prepare import prepare
from forge.errors import DataError

CHAT = [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": "reverse: abc"},
    {"role": "assistant", "content": "cba"},
]
ROWS = {
    "alpaca": (
        {"instruction": "reverse", "input": "abc", "output": "cba"},
        [
            {"role": "user", "content": "reverse\n\nabc"},
            {"role": "assistant", "content": "cba"},
        ],
    ),
    "sharegpt": (
        {
            "conversations": [
                {"from": "system", "value": "be brief"},
                {"from": "human", "value": "reverse: abc"},
                {"from": "gpt", "value": "cba"},
            ]
        },
        CHAT,
    ),
    "messages": ({"messages": CHAT}, CHAT),
    "prompt_completion": (
        {"prompt": "reverse: abc", "completion": "cba"},
        CHAT[1:],
    ),
    "preference": (
        {"prompt": "reverse: abc", "chosen": "cba", "rejected": "abc"},
        CHAT[1:],
    ),
}


def write(path: Path, rows: list[dict]) -> Path:
    kind = formats.file_type(path)
    if kind == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif kind == "json":
        path.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    elif kind == "csv":
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            for r in rows:
                w.writerow({k: json.dumps(v) if isinstance(v, list) else v for k, v in r.items()})
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)
    return path


@pytest.mark.parametrize("schema", list(ROWS))
@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv", ".parquet"])
def test_every_type_and_schema_converts(tmp_path: Path, suffix: str, schema: str):
    row, expected = ROWS[schema]
    path = write(tmp_path / f"raw{suffix}", [row, row])
    reader = Reader(path)
    got = [(where, to_messages(r, s, where)) for where, r, s in reader]
    assert reader.schema == schema and reader.rows == 2
    assert [m for _, m in got] == [expected, expected]
    first = got[0][0]
    line = {".jsonl": ":1", ".json": ":2", ".csv": ":2", ".parquet": " row 1"}[suffix]
    assert first == f"{path}{line}"


def test_prepare_reads_a_parquet_alpaca_file_and_format_overrides(tmp_path: Path):
    rows = [{"instruction": f"say {i}", "input": "", "output": f"{i}"} for i in range(200)]
    path = write(tmp_path / "raw.parquet", rows)
    cfg = DataConfig(name="t", path=str(path))
    report = prepare(cfg, tmp_path / "p", tmp_path / "r.json")
    assert report["source"]["format"] == "alpaca" and sum(report["counts"].values()) == 200
    line = json.loads((tmp_path / "p" / "train.jsonl").open().readline())
    assert line["messages"][0]["content"].startswith("say ")
    with pytest.raises(DataError, match=r"raw.parquet: missing column\(s\) prompt, completion"):
        prepare(
            DataConfig(name="t", path=str(path), format="prompt_completion"),
            tmp_path / "p",
            tmp_path / "r.json",
        )


def test_a_json_array_streams_across_chunks(tmp_path: Path, monkeypatch):
    from forge.data import files

    monkeypatch.setattr(files, "CHUNK", 7)  # every record spans several reads
    rows = [{"prompt": f"p{i} é", "completion": "x" * (i % 13)} for i in range(50)]
    path = write(tmp_path / "raw.json", rows)
    got = list(Reader(path))
    assert [r for _, r, _ in got] == rows
    assert got[1][0] == f"{path}:6"  # indent=2: each object takes 4 lines after the '['


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("raw.jsonl", b'{"prompt": "a", "completion": "b"}\n{"prompt": "a",\n', ":2: invalid JSON"),
        (
            "raw.json",
            b'[\n {"prompt": "a", "completion": "b"},\n {"prompt": \n]',
            ":4: invalid JSON",
        ),
        ("raw.json", b'[\n {"prompt": "a", "completion": "b"}\n {"a": 1}]', ":3: invalid JSON"),
        ("raw.csv", b"prompt,answer\na,b\n", ":1: cannot tell the format from columns"),
        ("raw.csv", b"prompt,completion\na,b\nc\n", ":3: 1 fields, but the header has 2"),
        ("raw.jsonl", b"", ": no rows (the file is empty)"),
        ("raw.json", b"[]", ": no rows (the file is empty)"),
        ("raw.csv", b"", ": no rows (the file is empty)"),
        ("raw.csv", b"prompt,completion\n", ": no rows (the file is empty)"),
        ("raw.parquet", b"", ": not a readable parquet file"),
        ("raw.csv", b"prompt,completion\na,b\n\xff\xfe,c\n", ":3: not UTF-8"),
        ("raw.json", b'[{"prompt": "a", "completion": "b"},\n{"prompt": "\xff"}]', ":2: not UTF-8"),
        ("raw.jsonl", b'{"conversations": [{"from": "alien", "value": "x"}]}\n', ":1: conversat"),
        ("raw.txt", b"hello\n", ": unknown file type '.txt'"),
    ],
)
def test_malformed_files_name_file_and_line(tmp_path: Path, name: str, content: bytes, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError) as info:
        prepare(DataConfig(name="t", path=str(path)), tmp_path / "p", tmp_path / "r.json")
    assert str(info.value).startswith(f"{path}{message}"), str(info.value)
    assert not (tmp_path / "p").exists() and not (tmp_path / "p.tmp").exists()


def test_parquet_missing_column_and_bad_value_name_the_row(tmp_path: Path):
    path = write(tmp_path / "raw.parquet", [{"prompt": "a", "completion": "b"}] * 3)
    with pytest.raises(DataError, match=r"raw.parquet: missing column\(s\) chosen, rejected"):
        list(Reader(path, "preference"))
    table = pa.Table.from_pylist(
        [{"prompt": "a", "completion": "b"}, {"prompt": "a", "completion": None}]
    )
    pq.write_table(table, path)
    with pytest.raises(
        DataError, match=r"raw.parquet row 2: missing or non-text field\(s\) completion"
    ):
        for where, row, schema in Reader(path):
            to_messages(row, schema, where)
