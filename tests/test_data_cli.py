"""forge data add / scan / study as a user runs them, in a real git + DVC project."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import yaml

from .conftest import BIN, sh

TICKETS = [
    {"instruction": f"Summarize ticket {i}", "input": f"printer {i} is jammed", "output": "jam"}
    for i in range(120)
]
TICKETS[7]["input"] = "my mail is jane.doe@example.com, printer jammed"


def forge(project: Path, *args: str) -> subprocess.CompletedProcess:
    return sh(str(BIN / "forge"), *args, cwd=project, check=False)


def write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def test_add_tracks_with_dvc_and_writes_the_card(project: Path):
    write_csv(project / "data/raw/tickets.csv", TICKETS)
    proc = forge(
        project,
        "data",
        "add",
        "data/raw/tickets.csv",
        "--name",
        "tickets",
        "--license",
        "cc-by-4.0",
        "--source",
        "support tickets 2026-10",
        "--pii-policy",
        "redact",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (
        "added tickets: data/raw/tickets.csv (120 rows, csv, alpaca), license CC-BY-4.0, "
        "tracked by dvc\n"
        "PII: 1 findings in 1 records (email 1)\n"
        "  data/raw/tickets.csv:9: email j***@e***.com\n"
        "card: data/cards/tickets.yaml (PII policy redact)\n"
        "next: git add data/cards/tickets.yaml data/raw/tickets.csv.dvc data/raw/.gitignore; "
        "point conf/data/ at data/raw/tickets.csv\n"
    )
    card = yaml.safe_load((project / "data/cards/tickets.yaml").read_text())
    assert card["license"] == "CC-BY-4.0" and card["source"] == "support tickets 2026-10"
    assert (card["rows"], card["file_type"], card["schema"]) == (120, "csv", "alpaca")
    assert card["fields"] == ["instruction", "input", "output"] and card["tracked_by"] == "dvc"
    assert card["pii"]["counts"]["email"] == 1 and card["pii_policy"] == "redact"
    assert len(card["sha256"]) == 64 and card["added_at"].endswith("Z")
    dvc_file = yaml.safe_load((project / "data/raw/tickets.csv.dvc").read_text())
    assert dvc_file["outs"][0]["path"] == "tickets.csv"
    assert "/tickets.csv" in (project / "data/raw/.gitignore").read_text()

    # the card and the PII summary as JSON
    scan = json.loads(forge(project, "data", "scan", "data/raw/tickets.csv", "--json").stdout)
    assert scan["pii"]["counts"]["email"] == 1 and scan["rows"] == 120
    assert scan["pii"]["samples"] == [
        {"kind": "email", "where": "data/raw/tickets.csv:9", "masked": "j***@e***.com"}
    ]


def test_add_refuses_bad_input_and_writes_nothing(project: Path):
    bad = project / "data/raw/bad.jsonl"
    bad.write_text('{"prompt": "a", "completion": "b"}\n{"prompt": "a", "completion": \n')
    proc = forge(project, "data", "add", str(bad.relative_to(project)), "--name", "bad",
                 "--license", "MIT", "--source", "x")  # fmt: skip
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == (
        "forge: error: data/raw/bad.jsonl:2: invalid JSON (Expecting value, column 31)\n"
    )
    assert not (project / "data/cards/bad.yaml").exists()
    assert not (project / "data/raw/bad.jsonl.dvc").exists()

    write_csv(project / "data/raw/ok.csv", TICKETS)
    proc = forge(project, "data", "add", "data/raw/ok.csv", "--name", "ok", "--license",
                 "apache2", "--source", "x")  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr == (
        "forge: error: --license: 'apache2' is not a known SPDX id; did you mean 'Apache-2.0'? "
        "(use LicenseRef-<name> for a license outside the SPDX list)\n"
    )
    assert not (project / "data/raw/ok.csv.dvc").exists()


def test_study_reports_and_plots(project: Path):
    rows = [{"prompt": f"reverse: {'ab' * (i % 9)}", "completion": "x" * i} for i in range(60)]
    rows += [
        rows[3],
        {"prompt": "REVERSE:  " + rows[4]["prompt"][9:], "completion": rows[4]["completion"]},
    ]
    rows += [{"prompt": "Привет мир", "completion": ""}]
    path = project / "data/raw/study.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    proc = forge(project, "data", "study", "data/raw/study.jsonl", "--max-length", "40", "--json")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert (r["rows"], r["schema"], r["file_type"]) == (63, "prompt_completion", "jsonl")
    assert r["tokenizer"] == "whitespace (models/base not built)"
    assert r["duplicates"]["exact"] == 1 and r["duplicates"]["normalized"] == 1
    assert r["empty"] == {
        "count": 2,
        "samples": ["data/raw/study.jsonl:1", "data/raw/study.jsonl:63"],
    }
    assert r["scripts"] == {"LATIN": 61, "CYRILLIC": 1, "none": 1} or r["scripts"]["CYRILLIC"] == 1
    assert sum(b["count"] for b in r["tokens"]["histogram"]) == 63
    assert r["overlong"]["max_length"] == 40
    assert (project / r["plot"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = forge(project, "data", "study", "data/raw/study.jsonl", "--max-length", "40")
    assert table.returncode == 0 and "duplicates" in table.stdout and "CYRILLIC 1" in table.stdout


def changed(project: Path) -> set[str]:
    """Stages `dvc repro` would rerun because their own deps, params or outs changed."""
    return set(json.loads(sh(str(BIN / "dvc"), "status", "--json", cwd=project).stdout))


def test_data_add_then_repro_reruns_from_prepare_on(project: Path):
    """After base and prepare ran, `forge data add` and pointing data/ at the new file make
    prepare (and so everything downstream of it) rerun, and never base."""
    sh(str(BIN / "forge"), "compose", "model.tiny.pretrain_steps=0", cwd=project)
    sh(str(BIN / "dvc"), "repro", "base", "prepare", cwd=project)
    report = json.loads((project / "results/prepare/report.json").read_text())
    assert report["licenses"] == ["Apache-2.0"] and report["datasets"][0]["name"] == "demo"
    sh("git", "add", "-A", cwd=project)
    sh("git", "commit", "-qm", "base and prepare", cwd=project)
    assert not {"base", "prepare"} & changed(project)

    write_csv(project / "data/raw/tickets.csv", TICKETS)
    sh(str(BIN / "forge"), "data", "add", "data/raw/tickets.csv", "--name", "tickets",
       "--license", "CC-BY-NC-4.0", "--source", "support tickets", "--pii-policy", "redact",
       cwd=project)  # fmt: skip
    assert {"base", "prepare"} & changed(project) == {"prepare"}
    sh(str(BIN / "forge"), "compose", "model.tiny.pretrain_steps=0", "data.name=tickets",
       "data.path=data/raw/tickets.csv", "data.format=auto", "data.preference_path=null",
       cwd=project)  # fmt: skip
    assert {"base", "prepare"} & changed(project) == {"prepare"}
    proc = sh(str(BIN / "dvc"), "repro", "prepare", cwd=project)
    assert "Stage 'base'" not in proc.stdout and "Running stage 'prepare'" in proc.stdout
    report = json.loads((project / "results/prepare/report.json").read_text())
    (ds,) = report["datasets"]
    assert (ds["name"], ds["license"], ds["source"]) == (
        "tickets",
        "CC-BY-NC-4.0",
        "support tickets",
    )
    assert report["pii"]["counts"]["email"] == 1 and report["pii"]["policy"] == "redact"
    prepared = "".join(p.read_text() for p in (project / "data/prepared").glob("*.jsonl"))
    assert "jane.doe@example.com" not in prepared and "[REDACTED:EMAIL]" in prepared
    assert not {"base", "prepare"} & changed(project)


def test_add_keeps_a_git_tracked_file_in_git(project: Path):
    proc = forge(project, "data", "add", "data/raw/demo.jsonl", "--name", "demo", "--license",
                 "Apache-2.0", "--source", "regenerated demo", "--json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    card = json.loads(proc.stdout)
    assert card["tracked_by"] == "git" and card["source"] == "regenerated demo"
    assert yaml.safe_load((project / "data/cards/demo.yaml").read_text()) == card
    assert not (project / "data/raw/demo.jsonl.dvc").exists()
    proc = forge(project, "data", "add", "data/raw/demo.jsonl", "--name", "other", "--license",
                 "MIT", "--source", "x")  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr == (
        "forge: error: data/raw/demo.jsonl: already has a card, "
        "data/cards/demo.yaml (name 'demo')\n"
    )


def test_block_policy_stops_the_dag_at_prepare(project: Path):
    write_csv(project / "data/raw/tickets.csv", TICKETS)
    sh(str(BIN / "forge"), "data", "add", "data/raw/tickets.csv", "--name", "tickets",
       "--license", "MIT", "--source", "support tickets", cwd=project)  # fmt: skip
    sh(str(BIN / "forge"), "compose", "data.name=tickets", "data.path=data/raw/tickets.csv",
       "data.format=auto", "data.preference_path=null", cwd=project)  # fmt: skip
    proc = sh(str(BIN / "dvc"), "repro", "prepare", cwd=project, check=False)
    assert proc.returncode != 0
    assert (
        "forge: error: data/raw/tickets.csv:9: PII found (email 1; 1 records) and the PII "
        "policy is block; nothing was written (see `forge data scan`; set "
        "data.pii_policy=redact or clean the file)"
    ) in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (project / "data/prepared").exists()
    assert not (project / "results/prepare/report.json").exists()


def test_study_counts_with_the_built_bases_tokenizer(project: Path):
    """Once the base stage has run, lengths are in the base model's tokens (the one
    loader's base_path resolves where its tokenizer lies)."""
    from forge.config.schema import TinyModelConfig
    from forge.model.tiny import build_tokenizer

    base = project / "models/base"
    base.mkdir(parents=True)
    build_tokenizer(TinyModelConfig(), ["reverse: abcd dcba"] * 20).save_pretrained(base)
    (base / "forge_base.json").write_text(json.dumps({"name": "tiny", "source": "tiny"}))
    path = project / "data/raw/study.jsonl"
    path.write_text(json.dumps({"prompt": "reverse: abc", "completion": "cba"}) + "\n")
    proc = forge(project, "data", "study", "data/raw/study.jsonl", "--json")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["tokenizer"] == "models/base/tokenizer.json"


def test_study_finds_a_hub_bases_tokenizer_in_the_cache(project: Path, tmp_path: Path):
    """A hub base keeps its files in the Hugging Face cache (models/base holds the record):
    the study counts with the tokenizer of the recorded snapshot."""
    import os

    from forge.config.schema import TinyModelConfig
    from forge.model.tiny import build_tokenizer

    rev = "ab" * 20
    snapshot = tmp_path / "hf/hub/models--org--small/snapshots" / rev
    snapshot.mkdir(parents=True)
    build_tokenizer(TinyModelConfig(), ["reverse: abcd dcba"] * 20).save_pretrained(snapshot)
    (project / "models/base").mkdir(parents=True)
    record = {"source": "hub", "hub_id": "org/small", "resolved_revision": rev}
    (project / "models/base/forge_base.json").write_text(json.dumps(record))
    path = project / "data/raw/study.jsonl"
    path.write_text(json.dumps({"prompt": "reverse: abc", "completion": "cba"}) + "\n")
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    env.pop("HF_HUB_CACHE", None)
    proc = subprocess.run(
        [str(BIN / "forge"), "data", "study", "data/raw/study.jsonl", "--json"],
        cwd=project, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["tokenizer"] == f"{snapshot}/tokenizer.json"
