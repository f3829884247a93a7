"""prepare: canonical messages, leak-free splits, errors that name file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forge.config.schema import DataConfig
from forge.data import demo
from forge.data.prepare import prepare
from forge.errors import DataError


def cfg(path: Path, **kw) -> DataConfig:
    return DataConfig(name="t", path=str(path), **kw)


def run(tmp_path: Path, raw: Path):
    return prepare(cfg(raw), tmp_path / "prepared", tmp_path / "report.json")


def test_demo_splits_are_disjoint_and_canonical(tmp_path: Path):
    raw = demo.write(tmp_path / "demo.jsonl", n=2000, seed=3)
    report = run(tmp_path, raw)
    splits = {
        s: [json.loads(x) for x in (tmp_path / "prepared" / f"{s}.jsonl").open()]
        for s in ("train", "val", "test")
    }
    prompts = {s: {r["messages"][0]["content"] for r in rows} for s, rows in splits.items()}
    assert not prompts["test"] & prompts["train"] and not prompts["val"] & prompts["train"]
    c = report["contamination"]
    assert (c["test_in_train"], c["val_in_train"]) == (0, 0)
    assert sum(report["counts"].values()) + report["duplicates_dropped"] == 2000
    row = splits["test"][0]["messages"]
    assert [m["role"] for m in row] == ["user", "assistant"]
    assert row[1]["content"] == row[0]["content"].removeprefix("reverse: ")[::-1]


def test_same_prompt_lands_in_one_split(tmp_path: Path):
    raw = tmp_path / "raw.jsonl"
    rows = [{"prompt": f"q{i}", "completion": f"a{i}"} for i in range(300)]
    rows += [
        {"prompt": f"Q{i}  ", "completion": f"other{i}"} for i in range(300)
    ]  # same, normalized
    raw.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run(tmp_path, raw)
    where: dict[str, set[str]] = {}
    for s in ("train", "val", "test"):
        for line in (tmp_path / "prepared" / f"{s}.jsonl").open():
            p = " ".join(json.loads(line)["messages"][0]["content"].lower().split())
            where.setdefault(p, set()).add(s)
    assert all(len(v) == 1 for v in where.values())


def test_prepare_is_deterministic(tmp_path: Path):
    raw = demo.write(tmp_path / "demo.jsonl", n=500)
    a = prepare(cfg(raw), tmp_path / "a", tmp_path / "ra.json")
    b = prepare(cfg(raw), tmp_path / "b", tmp_path / "rb.json")
    assert a == b
    for s in ("train", "val", "test"):
        assert (tmp_path / "a" / f"{s}.jsonl").read_bytes() == (
            tmp_path / "b" / f"{s}.jsonl"
        ).read_bytes()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"prompt": "a", "completion": "b"}\n{"prompt": "a"\n', "raw.jsonl:2: invalid JSON"),
        (
            b'{"prompt": "a", "completion": "b"}\n{"prompt": "x"}\n',
            "raw.jsonl:2: cannot tell the format from keys ['prompt']",
        ),
        (b'{"prompt": "a", "completion": "b"}\n\xff\xfe\n', "raw.jsonl:2: not UTF-8"),
        (b"[1, 2]\n", "raw.jsonl:1: expected a JSON object, got list"),
        (
            b'{"messages": [{"role": "user", "content": "hi"}]}\n',
            "raw.jsonl:1: the last message of 'messages' must be the assistant's answer",
        ),
        (b"", "raw.jsonl: no rows (the file is empty)"),
        (b"\n\n", "raw.jsonl: no rows (the file is empty)"),
    ],
)
def test_malformed_input_names_file_and_line(tmp_path: Path, content: bytes, message: str):
    raw = tmp_path / "raw.jsonl"
    raw.write_bytes(content)
    out = tmp_path / "prepared"
    out.mkdir()
    (out / "train.jsonl").write_text("previous good output\n")
    with pytest.raises(DataError) as info:
        run(tmp_path, raw)
    assert message in str(info.value)
    # nothing is lost or half-written
    assert (out / "train.jsonl").read_text() == "previous good output\n"
    assert not (tmp_path / "prepared.tmp").exists()


def test_missing_file(tmp_path: Path):
    with pytest.raises(DataError, match=r"nope.jsonl: file not found \(data.path\)"):
        run(tmp_path, tmp_path / "nope.jsonl")


def test_explicit_format_is_enforced(tmp_path: Path):
    raw = tmp_path / "raw.jsonl"
    raw.write_text(
        '{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}\n'
    )
    with pytest.raises(
        DataError, match=r"raw.jsonl:1: missing or non-text field\(s\) prompt, completion"
    ):
        prepare(cfg(raw, format="prompt_completion"), tmp_path / "p", tmp_path / "r.json")
