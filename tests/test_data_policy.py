"""prepare's policies: PII (block, redact, allow), cards, the preference split, duplicates
and contamination, and the data gates that read its report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from forge.config.schema import DataConfig, GatesConfig
from forge.data import cards
from forge.data.prepare import near_key, prepare, split_of
from forge.errors import DataError
from forge.evaluate.gate import decide, summary
from forge.record import file_hash
from forge.train.supervisor import model_card
from tests import pii_planted

PLANTED = {
    "email": "jane.doe@example.com",
    "phone": "+44 20 7946 0958",
    "credit_card": "4111 1111 1111 1111",
    "us_ssn": "123-45-6789",
    "aws_key": "AKIAIOSFODNN7EXAMPLE",
}


def rows_with_pii(n: int = 300) -> list[dict[str, str]]:
    rows = []
    kinds = list(PLANTED)
    for i in range(n):
        kind = kinds[i % len(kinds)]
        if i % 3 == 0:  # in the prompt
            rows.append({"prompt": f"ticket {i}: reach me at {PLANTED[kind]}", "completion": "ok"})
        elif i % 3 == 1:  # in the answer
            rows.append({"prompt": f"ticket {i}", "completion": f"call {PLANTED[kind]} now"})
        else:
            rows.append({"prompt": f"ticket {i}", "completion": "no data here"})
    return rows


def jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def outputs(out: Path) -> str:
    return "".join(p.read_text() for p in sorted(out.rglob("*.jsonl")))


def test_block_fails_and_writes_nothing(tmp_path: Path):
    raw = jsonl(tmp_path / "raw.jsonl", rows_with_pii())
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "train.jsonl").write_text("previous\n")
    with pytest.raises(DataError) as info:
        prepare(DataConfig(name="t", path=str(raw)), tmp_path / "p", tmp_path / "r.json")
    msg = str(info.value)
    assert f"{raw}:" in msg and "PII found (" in msg and "PII policy is block" in msg
    assert "email 40" in msg and "200 records" in msg
    assert (tmp_path / "p" / "train.jsonl").read_text() == "previous\n"
    assert not (tmp_path / "r.json").exists() and not (tmp_path / "p.tmp").exists()


def test_redact_leaves_no_planted_value(tmp_path: Path):
    raw = jsonl(tmp_path / "raw.jsonl", rows_with_pii())
    cfg = DataConfig(name="t", path=str(raw), pii_policy="redact")
    report = prepare(cfg, tmp_path / "p", tmp_path / "r.json")
    text = outputs(tmp_path / "p")
    for value in PLANTED.values():
        assert value not in text
    assert text.count("[REDACTED:") == 200
    assert "reach me at [REDACTED:EMAIL]" in text and "call [REDACTED:US_SSN] now" in text
    pii = json.loads((tmp_path / "r.json").read_text())["pii"]
    assert pii == report["pii"] and pii["policy"] == "redact" and pii["total"] == 200
    assert pii["counts"]["email"] == 40 and pii["records_with_pii"] == 200
    assert all(s["where"].startswith(f"{raw}:") for s in pii["samples"])
    assert all(s["masked"] not in PLANTED.values() for s in pii["samples"])


def test_planted_pii_counts_exactly_and_none_survives_redaction(tmp_path: Path):
    planted = pii_planted.generate(400, seed=7)
    raw = tmp_path / "planted.jsonl"
    pii_planted.write_jsonl(planted.rows, raw)
    with pytest.raises(DataError, match="PII policy is block"):
        prepare(DataConfig(name="t", path=str(raw)), tmp_path / "p", tmp_path / "r.json")
    assert not (tmp_path / "p").exists()
    cfg = DataConfig(name="t", path=str(raw), pii_policy="redact")
    report = prepare(cfg, tmp_path / "p", tmp_path / "r.json")
    assert report["pii"]["counts"] == planted.expected
    assert set(report["datasets"][0]["schemas"]) == {"messages", "prompt_completion"}
    text = outputs(tmp_path / "p")
    survivors = [v for vs in planted.values.values() for v in vs if v in text]
    assert survivors == []
    assert (
        text.count("[REDACTED:")
        >= sum(planted.expected.values()) - report["duplicates_dropped"] * 2
    )


@pytest.mark.parametrize("density", [0.05, 1.0])
def test_the_prefilter_skips_records_and_changes_nothing(tmp_path: Path, monkeypatch, density):
    """prepare and `forge data scan` skip the records of a JSONL file that a hyperscan pass
    over the file does not flag; their reports and outputs equal a scan of every record."""
    from forge.data import formats, pii
    from forge.data.add import scan_file

    if pii.ENGINE != "hyperscan":
        pytest.skip("hyperscan not installed")
    planted = pii_planted.generate(1500, seed=11, density=density)
    raw = tmp_path / "planted.jsonl"
    pii_planted.write_jsonl(planted.rows, raw)
    cfg = DataConfig(name="t", path=str(raw), pii_policy="redact")
    flagged = formats.pii_candidates(raw)
    assert density == 1.0 or len(flagged) < 0.2 * len(planted.rows)
    runs = []
    for engine in ("hyperscan", "re"):
        monkeypatch.setattr(pii, "ENGINE", engine)
        assert (formats.pii_candidates(raw) is None) == (engine == "re")
        report = prepare(cfg, tmp_path / engine, tmp_path / f"{engine}.json")
        runs.append((report["pii"], outputs(tmp_path / engine), scan_file(raw)["pii"]))
    assert runs[0] == runs[1]
    assert runs[0][0]["counts"] == planted.expected


def test_allow_records_and_keeps(tmp_path: Path):
    raw = jsonl(tmp_path / "raw.jsonl", rows_with_pii())
    cfg = DataConfig(name="t", path=str(raw), pii_policy="allow")
    report = prepare(cfg, tmp_path / "p", tmp_path / "r.json")
    assert report["pii"]["total"] == 200 and report["pii"]["action"] == "kept"
    assert PLANTED["email"] in outputs(tmp_path / "p")


def test_card_policy_and_license_reach_the_report(tmp_path: Path):
    raw = jsonl(tmp_path / "raw.jsonl", rows_with_pii())
    cards_dir = tmp_path / "cards"
    cfg = DataConfig(name="t", path=str(raw))
    with pytest.raises(DataError, match=r"raw.jsonl \(data.path\) has no card in .*forge data add"):
        prepare(cfg, tmp_path / "p", tmp_path / "r.json", cards_dir=cards_dir)
    card = {
        "name": "tickets",
        "path": str(raw),
        "license": "CC-BY-NC-4.0",
        "source": "support tickets 2026-10",
        "pii_policy": "redact",
        "sha256": "stale",
    }
    cards.write(card, cards_dir)
    report = prepare(cfg, tmp_path / "p", tmp_path / "r.json", cards_dir=cards_dir)
    assert report["pii"]["policy"] == "redact"  # from the card
    (ds,) = report["datasets"]
    assert (ds["name"], ds["license"], ds["source"]) == (
        "tickets",
        "CC-BY-NC-4.0",
        "support tickets 2026-10",
    )
    assert ds["card_current"] is False and ds["rows"] == 300
    assert json.loads((tmp_path / "p" / "datasets.json").read_text()) == report["datasets"]
    # data.pii_policy overrides the card
    with pytest.raises(DataError, match="PII policy is block"):
        prepare(
            DataConfig(name="t", path=str(raw), pii_policy="block"),
            tmp_path / "p",
            tmp_path / "r.json",
            cards_dir=cards_dir,
        )


def test_preference_split_follows_the_sft_split(tmp_path: Path):
    sft = jsonl(
        tmp_path / "sft.jsonl", [{"prompt": f"q{i}", "completion": f"a{i}"} for i in range(400)]
    )
    pref_rows = [{"prompt": f"Q{i} ", "chosen": f"a{i}", "rejected": f"b{i}"} for i in range(400)]
    pref = jsonl(tmp_path / "pref.jsonl", pref_rows + pref_rows[:5])
    cfg = DataConfig(name="t", path=str(sft), preference_path=str(pref))
    report = prepare(cfg, tmp_path / "p", tmp_path / "r.json")
    split_by_prompt = {}
    for s in ("train", "val", "test"):
        for line in (tmp_path / "p" / f"{s}.jsonl").open():
            split_by_prompt[json.loads(line)["messages"][0]["content"]] = s
    seen = 0
    for s in ("train", "val", "test"):
        for line in (tmp_path / "p" / "preference" / f"{s}.jsonl").open():
            row = json.loads(line)
            assert set(row) == {"prompt", "chosen", "rejected"}
            assert row["prompt"][0]["role"] == "user" and row["chosen"][0]["role"] == "assistant"
            p = row["prompt"][0]["content"]
            assert split_by_prompt[p.strip().lower()] == s == split_of(p, cfg)
            seen += 1
    assert seen == 400 and report["duplicates"]["preference"]["exact"] == 5
    assert report["duplicates"]["exact"] == 0 == report["duplicates_dropped"]
    assert sum(report["preference_counts"].values()) == 400
    assert [d["role"] for d in report["datasets"]] == ["sft", "preference"]


def test_near_duplicates_and_contamination_are_reported(tmp_path: Path):
    cfg = DataConfig(name="t", path=str(tmp_path / "raw.jsonl"))
    rows = [{"prompt": f"item {i}", "completion": f"a{i}"} for i in range(400)]
    # the same prompt, punctuated differently: equal after near_key, split apart by the hash
    twins = []
    for i in range(400):
        p = f"what is {i}?"
        q = f"what is {i} !"
        if split_of(p, cfg) != split_of(q, cfg):
            twins += [{"prompt": p, "completion": "x"}, {"prompt": q, "completion": "x"}]
    assert near_key("What is 1?") == near_key("what is 1 !") != near_key("what is 11")
    rows += twins + [
        {"prompt": "ITEM 1", "completion": "a1"},
        {"prompt": "item 2", "completion": "a2"},
    ]
    jsonl(tmp_path / "raw.jsonl", rows)
    report = prepare(cfg, tmp_path / "p", tmp_path / "r.json")
    d, c = report["duplicates"], report["contamination"]
    assert (d["exact"], d["normalized"]) == (1, 1) and report["duplicates_dropped"] == 2
    assert c["test_in_train"] + c["val_in_train"] > 0
    assert c["test_samples"] or c["val_samples"]

    metrics = tmp_path / "metrics.json"
    metrics.write_text(
        json.dumps(
            {
                "eval/candidate/exact_match": 0.9,
                "eval/base/exact_match": 0.0,
                "eval/candidate/perplexity": 1.5,
            }
        )
    )
    gates = GatesConfig(name="t", exact_match_min=0.8, allowed_licenses=["Apache-2.0"])
    out = decide(gates, metrics, tmp_path / "d.json", report_path=tmp_path / "r.json")
    verdict = {g["gate"]: g["passed"] for g in out["gates"]}
    assert verdict == {
        "gates.exact_match_min": True,
        "gates.exact_match_gain_min": True,
        "gates.contamination_max": False,
        "gates.allowed_licenses": False,  # no card: license unknown
    }
    assert not out["passed"]
    assert "FAIL data/licenses = unknown (needs each in Apache-2.0)" in summary(out)
    allow = GatesConfig(name="t", exact_match_min=0.8, contamination_max=None)
    out = decide(allow, metrics, tmp_path / "d.json", report_path=tmp_path / "r.json")
    assert out["passed"] and len(out["gates"]) == 2


def test_license_gate_and_model_card(tmp_path: Path):
    datasets = [
        {
            "name": "demo",
            "path": "data/raw/demo.jsonl",
            "role": "sft",
            "license": "Apache-2.0",
            "source": "synthetic",
            "rows": 10,
            "sha256": "ab" * 32,
        },
        {
            "name": "chat",
            "path": "data/raw/chat.csv",
            "role": "sft",
            "license": "CC-BY-NC-4.0",
            "source": "forum scrape",
            "rows": 5,
            "sha256": "cd" * 32,
        },
    ]
    report = {"contamination": {"test_in_train": 0, "val_in_train": 0}, "datasets": datasets}
    (tmp_path / "r.json").write_text(json.dumps(report))
    metrics = tmp_path / "m.json"
    metrics.write_text(
        json.dumps({"eval/candidate/exact_match": 1.0, "eval/base/exact_match": 0.0})
    )
    commercial = GatesConfig(name="t", exact_match_min=0.8, allowed_licenses=["Apache-2.0", "MIT"])
    out = decide(commercial, metrics, tmp_path / "d.json", report_path=tmp_path / "r.json")
    lic = out["gates"][-1]
    assert lic["gate"] == "gates.allowed_licenses" and not lic["passed"] and not out["passed"]
    assert lic["value"] == ["Apache-2.0", "CC-BY-NC-4.0"]
    research = GatesConfig(
        name="t", exact_match_min=0.8, allowed_licenses=["Apache-2.0", "CC-BY-NC-4.0"]
    )
    assert decide(research, metrics, tmp_path / "d.json", report_path=tmp_path / "r.json")["passed"]

    class Recipe:
        method, max_steps, learning_rate, seed = "lora_sft", 10, 0.003, 0

    card = model_card(Recipe, {"name": "tiny"}, datasets)
    assert "| chat | sft | CC-BY-NC-4.0 | forum scrape | 5 |" in card
    assert "Dataset licenses: Apache-2.0, CC-BY-NC-4.0." in card


def test_spdx_ids_are_checked():
    assert cards.spdx("apache-2.0") == "Apache-2.0"
    assert cards.spdx("LicenseRef-acme-internal") == "LicenseRef-acme-internal"
    with pytest.raises(
        DataError, match="'apache2' is not a known SPDX id; did you mean 'Apache-2.0'"
    ):
        cards.spdx("apache2")


def test_committed_demo_cards_match_the_demo_data():
    root = Path(__file__).parents[1]
    for card_file in sorted((root / "data/cards").glob("*.yaml")):
        card = yaml.safe_load(card_file.read_text())
        assert (root / card["path"]).is_file(), card_file
        assert card["license"] == cards.spdx(card["license"]) and card["source"]
        assert card["sha256"] == file_hash(root / card["path"]), (
            f"{card_file} is stale: rerun forge data add {card['path']} --name {card['name']} ..."
        )
