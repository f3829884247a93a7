"""The real DAG on the tiny model, in a temporary git repo, with real DVC."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import psutil
import pytest
import yaml

from .conftest import BIN, GIT_ENV, make_project, sh

METRICS = "results/eval/metrics.json"
STAGES = ["base", "prepare", "sft", "reward", "train", "contract", "evaluate", "gate"]


def relock(project: Path, rel: str) -> None:
    """Make dvc.lock agree with a hand-edited output, as a careful forger would."""
    import hashlib

    lock = yaml.safe_load((project / "dvc.lock").read_text())
    for stage in lock["stages"].values():
        for out in stage.get("outs", []) + stage.get("deps", []):
            if out["path"] == rel:
                data = (project / rel).read_bytes()
                out["md5"], out["size"] = hashlib.md5(data).hexdigest(), len(data)
    (project / "dvc.lock").write_text(yaml.safe_dump(lock, sort_keys=False))


def ran(output: str) -> list[str]:
    return [s for s in STAGES if f"Running stage '{s}'" in output]


def metrics(project: Path) -> dict[str, float]:
    return json.loads((project / "results/eval/metrics.json").read_text())


def data_hashes(project: Path) -> dict[str, str]:
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    return {o["path"]: o["md5"] for o in lock["stages"]["prepare"]["outs"]}


@pytest.fixture(scope="module")
def done(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess, dict]:
    """One real `forge run`; also what it produced, before later tests change the project."""
    project = make_project(tmp_path_factory.mktemp("dag") / "proj")
    proc = sh(str(BIN / "forge"), "run", cwd=project, check=False)
    first = (
        {"metrics": metrics(project), "data": data_hashes(project)} if proc.returncode == 0 else {}
    )
    return project, proc, first


def test_forge_run_learns_and_passes_the_gate(done):
    project, proc, _ = done
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ran(proc.stdout + proc.stderr) == STAGES
    m = metrics(project)
    assert m["eval/base/exact_match"] <= 0.1
    assert m["eval/candidate/exact_match"] >= 0.8
    assert m["eval/candidate/perplexity"] < m["eval/base/perplexity"]
    decision = json.loads((project / "results/gate/decision.json").read_text())
    assert decision["passed"] and all(g["passed"] for g in decision["gates"])
    assert "gate: PASSED" in proc.stdout
    samples = [json.loads(x) for x in (project / "results/eval/samples_candidate.jsonl").open()]
    assert len(samples) == m["eval/n_test"]
    # the candidate records itself
    manifest = json.loads((project / "models/candidate/manifest.json").read_text())
    assert manifest["versions"]["trl"] == "1.16.0"
    # what differs between runs of the same inputs is in .forge/volatile/, not the manifest
    assert not {"git_sha", "timing"} & set(manifest) and "platform" not in manifest["versions"]
    assert json.loads((project / ".forge/volatile/train.json").read_text())["git_sha"]
    assert set(manifest["inputs"]) == {"base", "train", "val"}
    assert (
        manifest["chat_template_sha256"]
        == json.loads((project / "results/contract/report.json").read_text())[
            "chat_template_sha256"
        ]
    )
    assert json.loads((project / "models/sft/unused.json").read_text())["used"] is False
    assert manifest["licenses"] == ["Apache-2.0"]  # from data/cards/, via prepare
    assert "| demo | sft | Apache-2.0 |" in (project / "models/candidate/README.md").read_text()
    assert (project / "models/candidate/adapter_model.safetensors").is_file()
    assert (project / "models/candidate/chat_template.jinja").is_file()
    assert (project / "results/train/metrics.json").is_file()
    assert not list((project / ".forge/checkpoints").glob("train-*"))


def pty_session(argv: list[str], cwd: Path, lines: list[str], timeout: float = 120) -> str:
    """Run argv on a real pseudo-terminal, typing `lines` one per prompt; its whole output."""
    import os
    import pty
    import select

    pid, fd = pty.fork()
    if pid == 0:  # the child: the command, with the test's PATH and env
        os.chdir(cwd)
        os.environ["PATH"] = f"{BIN}:{os.environ['PATH']}"
        os.execv(argv[0], argv)
    out, pending, deadline = b"", list(lines), time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
            if pending and out.rstrip().endswith(b"you>"):
                os.write(fd, (pending.pop(0) + "\n").encode())
                out += b"\n"  # keep the prompt count honest: the echo may come late
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    text = out.decode(errors="replace").replace("\r\n", "\n")
    assert os.waitstatus_to_exitcode(status) == 0, text
    return text


def test_chat_streams_the_candidates_answers_on_a_terminal(done):
    project, first, _ = done
    assert first.returncode == 0
    text = pty_session(
        [str(BIN / "forge"), "chat"],
        project,
        [
            "reverse: abcd",
            "/set temperature 0.7",
            "/set top_p 2",
            "/system be brief",
            "/system",  # the demo never trained with a system turn: clear it again
            "/clear",
            "/set temperature 0",
            "reverse: hello",
            "/nope",
            "/exit",
        ],
    )
    answers = [x.split("model>", 1)[1].strip() for x in text.splitlines() if "model>" in x]
    assert answers == ["dcba", "olleh"], text
    assert "(temperature = 0.7)" in text and "(conversation cleared)" in text
    assert "(system prompt set)" in text and "(system prompt cleared)" in text
    assert "forge: error: /set top_p: 2 is out of range (0.0 to 1.0)" in text
    assert "forge: error: /nope: unknown command" in text
    once = forge(project, "chat", "--prompt", "reverse: abcd", "--json")
    assert once.returncode == 0, once.stderr
    assert json.loads(once.stdout)["answer"] == "dcba"
    missing = forge(project, "chat", "assistant@v9.9.9", "-p", "x")
    assert missing.returncode == 2 and missing.stderr.startswith(
        "forge: error: assistant@v9.9.9: no such version tag"
    ), missing.stderr


def forge(project: Path, *args: str) -> subprocess.CompletedProcess:
    return sh(str(BIN / "forge"), *args, cwd=project, check=False)


def tags(project: Path) -> list[str]:
    return sh("git", "tag", cwd=project).stdout.split()


def test_promote_only_behind_the_gate_and_rollback(done):
    project, first, _ = done
    assert first.returncode == 0
    sh("git", "add", "-A", cwd=project)
    sh("git", "commit", "-qm", "demo run", cwd=project)

    # a passing model promotes, and GTO reads our tags
    proc = forge(project, "promote", "assistant", "--stage", "prod")
    assert proc.returncode == 0, proc.stderr
    head = sh("git", "rev-parse", "--short=7", "HEAD", cwd=project).stdout.strip()
    assert proc.stdout == f"promoted assistant@v0.0.1 to prod ({head})\n"
    assert sorted(tags(project)) == ["assistant#prod#1", "assistant@v0.0.1"]
    assert "v0.0.1" in sh("gto", "show", "assistant", cwd=project).stdout
    note = sh("git", "tag", "-l", "--format=%(contents)", "assistant@v0.0.1", cwd=project).stdout
    assert json.loads(note)["gates"] == {
        "gates.allowed_licenses": True,
        "gates.contamination_max": True,
        "gates.exact_match_gain_min": True,
        "gates.exact_match_min": True,
    }

    # promoting it again is a no-op that says so
    proc = forge(project, "promote", "assistant", "--stage", "prod")
    assert (proc.returncode, proc.stdout) == (
        0,
        f"assistant@v0.0.1 is already in prod ({head}); nothing to do\n",
    )
    assert sorted(tags(project)) == ["assistant#prod#1", "assistant@v0.0.1"]

    # lineage names every input hash, read at the tag
    proc = forge(project, "lineage", "assistant@v0.0.1", "--json")
    assert proc.returncode == 0, proc.stderr
    lineage = json.loads(proc.stdout)
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    for name, stage in lock["stages"].items():
        locked = {(e["path"], e["md5"]) for e in stage["deps"] + stage["outs"]}
        listed = {(e["path"], e["md5"]) for e in lineage["stages"][name]["deps"]}
        listed |= {(e["path"], e["md5"]) for e in lineage["stages"][name]["outs"]}
        assert listed == locked, name
    assert lineage["eval"] == json.loads((project / "results/eval/metrics.json").read_text())
    assert lineage["manifest"]["fingerprint"] and lineage["train_config"]["recipe"]["max_steps"]
    assert "data/raw/demo.jsonl" in [s["path"] for s in lineage["sources"]]
    cards = {p.name: yaml.safe_load(p.read_text()) for p in (project / "data/cards").glob("*")}
    assert len(cards) >= 2  # demo and demo_preference
    assert {(d["name"], d["license"], d["source"]) for d in lineage["datasets"]} == {
        (c["name"], c["license"], c["source"]) for c in cards.values()
    }

    # a hand-edited metrics.json is refused, naming the hash mismatch
    metrics_file = project / "results/eval/metrics.json"
    edited = json.loads(metrics_file.read_text())
    edited["eval/candidate/exact_match"] = 0.999
    metrics_file.write_text(json.dumps(edited, indent=2, sort_keys=True) + "\n")
    sh("git", "commit", "-qam", "tamper", cwd=project)
    proc = forge(project, "promote", "assistant", "--stage", "staging")
    assert proc.returncode == 1
    assert (
        "results/eval/metrics.json: hash" in proc.stderr
        and "does not match dvc.lock" in proc.stderr
    )
    sh("git", "reset", "-q", "--hard", "HEAD~1", cwd=project)

    # metrics or a decision edited together with their hashes in dvc.lock are still refused:
    # promotion recomputes every gate from the committed metrics and params.yaml
    decision_file = project / "results/gate/decision.json"
    for rel, edit in (
        ("results/eval/metrics.json", lambda d: {**d, "eval/candidate/exact_match": 0.1}),
        ("results/gate/decision.json", lambda d: {**d, "gates": [
            {**g, "threshold": 0.05} if g["gate"] == "gates.exact_match_min" else g
            for g in d["gates"]
        ]}),
    ):  # fmt: skip
        path = project / rel
        path.write_text(json.dumps(edit(json.loads(path.read_text())), indent=2) + "\n")
        relock(project, rel)
        sh("git", "commit", "-qam", f"tamper {rel} and its lock", cwd=project)
        assert "Data and pipelines are up to date" in sh("dvc", "status", cwd=project).stdout
        proc = forge(project, "promote", "assistant", "--stage", "staging")
        assert proc.returncode == 1, proc.stdout
        assert (
            "forge: error: results/gate/decision.json disagrees with the gates recomputed "
            "from results/eval/metrics.json and params.yaml"
        ) in proc.stderr
        if rel.endswith("metrics.json"):
            assert "gates.exact_match_min failed: eval/candidate/exact_match = 0.1" in proc.stderr
        sh("git", "reset", "-q", "--hard", "HEAD~1", cwd=project)
    assert json.loads(decision_file.read_text())["passed"] is True

    # a detached HEAD is refused
    sh("git", "checkout", "-q", "--detach", cwd=project)
    proc = forge(project, "promote", "assistant", "--stage", "staging")
    assert proc.returncode == 1 and "forge: error: HEAD is detached at" in proc.stderr
    sh("git", "checkout", "-q", "-", cwd=project)

    # a dirty tree is refused
    with (project / "params.yaml").open("a") as f:
        f.write("# local note\n")
    proc = forge(project, "promote", "assistant", "--stage", "staging")
    assert proc.returncode == 1
    assert proc.stderr == (
        "forge: error: the git tree is dirty (params.yaml); commit or stash first\n"
    )
    sh("git", "checkout", "-q", "params.yaml", cwd=project)

    # a stale pipeline is refused
    sh(str(BIN / "forge"), "compose", "gates.perplexity_max=1.0", cwd=project)
    sh("git", "commit", "-qam", "stricter gates", cwd=project)
    proc = forge(project, "promote", "assistant", "--stage", "staging")
    assert proc.returncode == 1 and "the pipeline is not up to date (stale: gate)" in proc.stderr

    # failing thresholds fail `dvc repro` once the gate wrote its decision; refused, no tag
    repro = sh("dvc", "repro", cwd=project, check=False)
    assert repro.returncode != 0, repro.stdout
    assert "the gate did not pass (gates.perplexity_max)" in repro.stdout + repro.stderr
    assert json.loads(decision_file.read_text())["passed"] is False
    # forge run (the recorded config again) reports that verdict, not a broken pipeline
    proc = forge(project, "run")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "gate: FAILED" in proc.stdout and "dvc repro failed" not in proc.stderr
    sh("git", "commit", "-qam", "gate rerun", cwd=project)
    proc = forge(project, "promote", "assistant", "--stage", "staging")
    assert proc.returncode == 1
    assert "forge: error: gates.perplexity_max failed: eval/candidate/perplexity = " in proc.stderr
    assert "(needs <= 1.0)" in proc.stderr
    assert sorted(tags(project)) == ["assistant#prod#1", "assistant@v0.0.1"]

    # a second version, then rollback restores the first
    sh(str(BIN / "forge"), "compose", cwd=project)
    sh("dvc", "repro", cwd=project)
    sh("git", "commit", "-qam", "default gates again", cwd=project)
    assert forge(project, "promote", "assistant", "--stage", "prod").returncode == 0
    models = json.loads(forge(project, "models", "--json").stdout)
    assert models["assistant"]["stage"] == {"prod": "v0.0.2"}
    # rollback needs the older model in the DVC cache or the remote
    v1 = sh("git", "rev-list", "-n", "1", "assistant@v0.0.1", cwd=project).stdout.strip()
    v1_lock = yaml.safe_load(sh("git", "show", f"{v1}:dvc.lock", cwd=project).stdout)
    md5 = next(
        o["md5"] for o in v1_lock["stages"]["train"]["outs"] if o["path"] == "models/candidate"
    )
    cached = project / ".dvc/cache/files/md5" / md5[:2] / md5[2:]
    remote = project.parent / "remote"
    sh("dvc", "remote", "add", "--local", "-d", "store", str(remote), cwd=project)
    sh("dvc", "push", "-q", "--all-tags", cwd=project)
    sh("dvc", "remote", "remove", "--local", "store", cwd=project)
    cached.rename(cached.with_name("aside"))
    proc = forge(project, "rollback", "assistant", "--stage", "prod")
    assert proc.returncode == 2 and "in neither the DVC cache nor the default remote" in proc.stderr
    sh("dvc", "remote", "add", "--local", "-d", "store", str(remote), cwd=project)
    proc = forge(project, "rollback", "assistant", "--stage", "prod")
    cached.with_name("aside").rename(cached)
    sh("dvc", "remote", "remove", "--local", "store", cwd=project)
    assert proc.stdout == "rolled back assistant#prod: v0.0.2 -> v0.0.1\n", proc.stderr
    models = json.loads(forge(project, "models", "--json").stdout)
    assert models["assistant"]["stage"] == {"prod": "v0.0.1"}
    gto_show = json.loads(sh("gto", "show", "--json", cwd=project).stdout)
    shown = {k: v for k, v in models["assistant"].items() if k not in ("metrics", "unverified")}
    assert shown == gto_show["assistant"]
    assert models["assistant"]["unverified"] == {"versions": {}, "stages": {}}
    at_tag = json.loads(sh("git", "show", f"assistant@v0.0.1:{METRICS}", cwd=project).stdout)
    assert models["assistant"]["metrics"]["v0.0.1"] == {
        k: at_tag[k] for k in ("eval/candidate/exact_match", "eval/candidate/perplexity")
    }
    assert sorted(models["assistant"]["metrics"]) == ["v0.0.1", "v0.0.2"]
    table = forge(project, "models").stdout
    assert "v0.0.2" in table and "latest" in table and "prod" in table

    # a weaker model that passes (lowered) gates is refused as a regression against prod
    good = sh("git", "rev-parse", "HEAD", cwd=project).stdout.strip()
    sh(
        str(BIN / "forge"),
        "compose",
        "recipe.max_steps=30",
        "gates.exact_match_min=0.0",
        "gates.exact_match_gain_min=0.0",
        cwd=project,
    )
    sh("dvc", "repro", cwd=project)
    sh("git", "commit", "-qam", "a weak model", cwd=project)
    proc = forge(project, "promote", "assistant", "--stage", "prod")
    assert proc.returncode == 1
    assert "forge: error: regression against assistant@v0.0.1 in prod: " in proc.stderr
    assert not any(t.startswith("assistant@v0.0.3") for t in tags(project))
    proc = forge(project, "eval", "compare", "assistant@v0.0.1", "HEAD")
    assert proc.returncode == 1 and proc.stdout.endswith(": REGRESSED\n")
    sh("git", "reset", "-q", "--hard", good, cwd=project)
    sh("dvc", "checkout", "-q", cwd=project)
    assert sh("dvc", "status", "--json", cwd=project).stdout.strip() == "{}"


def test_chat_fetches_a_registry_version_from_the_dvc_cache(done):
    project, first, _ = done
    assert first.returncode == 0
    if "assistant@v0.0.1" not in tags(project):
        pytest.skip("the promote test did not tag a version")
    proc = forge(project, "chat", "assistant#prod", "--prompt", "reverse: abcd", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    v1 = sh("git", "rev-list", "-n", "1", "assistant@v0.0.1", cwd=project).stdout.strip()
    assert out["model"] == f"assistant@v0.0.1 ({v1[:7]})" and out["answer"] == "dcba"
    fetched = project / ".forge/models" / v1
    assert (fetched / "models/candidate/adapter_config.json").is_file()
    assert (fetched / "models/base/config.json").is_file()  # the adapter's base, same commit
    assert sh("git", "status", "--porcelain", cwd=project).stdout == ""


def test_second_repro_does_nothing_and_lr_reruns_only_downstream(done):
    project, first, _ = done
    assert first.returncode == 0
    proc = sh("dvc", "repro", cwd=project)
    assert ran(proc.stdout) == [] and "Data and pipelines are up to date" in proc.stdout
    sh(str(BIN / "forge"), "compose", "recipe.learning_rate=0.002", cwd=project)
    status = sh("dvc", "status", "--json", cwd=project).stdout
    assert sorted(json.loads(status)) == ["train"]
    proc = sh("dvc", "repro", cwd=project)
    assert ran(proc.stdout) == ["train", "contract", "evaluate", "gate"]


@pytest.mark.slow
def test_two_clean_runs_are_identical(done, tmp_path: Path):
    _, proc, first = done
    assert proc.returncode == 0
    other = make_project(tmp_path / "again")
    sh(str(BIN / "forge"), "run", cwd=other)
    assert data_hashes(other) == first["data"]
    assert metrics(other) == first["metrics"]


@pytest.mark.slow
def test_sigkill_mid_training_then_repro_resumes(tmp_path: Path):
    project = make_project(tmp_path / "proj")
    sh(str(BIN / "forge"), "compose", "recipe.save_steps=20", cwd=project)
    env = {**psutil.os.environ, **GIT_ENV, "PATH": f"{BIN}:{psutil.os.environ['PATH']}"}
    repro = subprocess.Popen(
        ["dvc", "repro"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.time() + 900  # base and prepare run first
    while not list(project.glob(".forge/checkpoints/train-*/checkpoint-40")):
        assert time.time() < deadline and repro.poll() is None, "no checkpoint appeared"
        time.sleep(0.5)
    workers = [
        p
        for p in psutil.Process(repro.pid).children(recursive=True)
        if "forge.train.worker" in " ".join(p.cmdline())
    ]
    assert len(workers) == 1
    workers[0].kill()
    out, _ = repro.communicate(timeout=120)
    assert repro.returncode != 0
    assert "training failed (killed by SIGKILL) on attempt 1" in out

    proc = sh("dvc", "repro", cwd=project)
    assert ran(proc.stdout) == ["train", "contract", "evaluate", "gate"]
    attempts = json.loads((project / "results/train/attempts.json").read_text())
    assert [a["exit_code"] for a in attempts] == [137, 0]
    assert attempts[1]["resumed_from"].startswith("checkpoint-")
    assert int(attempts[1]["resumed_from"].split("-")[1]) >= 40
    assert metrics(project)["eval/candidate/exact_match"] >= 0.8


def readme_data_commands() -> list[str]:
    """The README's bring-your-own-data commands (section "## Data"), as written: the
    `forge data add` (with its continuation line) and the `forge compose ... && dvc repro`."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = readme.split("\n## Data\n", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    commands, current = [], ""
    for line in block.splitlines():
        code = line.split("  #", 1)[0].rstrip()
        current += code.rstrip("\\").rstrip() + " " if code.endswith("\\") else code
        if not code.endswith("\\"):
            if current.startswith(("forge data add", "forge compose")):
                commands.append(current)
            current = ""
    return commands


@pytest.mark.slow
def test_readme_bring_your_own_data_trains_on_that_csv_alone(done, tmp_path: Path):
    import csv
    import random
    import shutil

    from forge.data.demo import reversal

    commands = readme_data_commands()
    assert [c.split()[1] for c in commands] == ["data", "compose"], commands
    project = tmp_path / "byo"
    shutil.copytree(done[0], project, symlinks=True)  # its DVC cache holds the base model
    rng = random.Random(7)
    rows = [reversal(rng) for _ in range(1500)]
    with (project / "data/raw/tickets.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["prompt", "completion"])
        writer.writeheader()
        writer.writerows(rows)
    for command in commands:
        proc = sh("bash", "-c", command, cwd=project, check=False)
        assert proc.returncode == 0, f"{command}\n{proc.stdout}\n{proc.stderr}"
    params = yaml.safe_load((project / "params.yaml").read_text())["data"]
    assert (params["format"], params["preference_path"]) == ("auto", None)
    datasets = json.loads((project / "data/prepared/datasets.json").read_text())
    assert [(d["name"], d["path"], d["rows"]) for d in datasets] == [
        ("tickets", "data/raw/tickets.csv", 1500)
    ]
    prompts = {r["prompt"] for r in rows}
    for split in ("train", "val", "test"):
        lines = (project / f"data/prepared/{split}.jsonl").read_text().splitlines()
        assert lines and all(
            json.loads(line)["messages"][0]["content"] in prompts for line in lines
        ), split
    assert not any(project.glob("data/prepared/preference/*.jsonl")) or all(
        p.stat().st_size == 0 for p in project.glob("data/prepared/preference/*.jsonl")
    )
    assert metrics(project)["eval/candidate/exact_match"] >= 0.8
