"""The co-pilot (forge/copilot/): both advisors, what leaves the machine, forge plan, data
study --advise, forge prepare in the bubblewrap sandbox, and session-only keys.

Gemini is a real HTTP server on 127.0.0.1 speaking generateContent (tests/gemini_fake.py);
the sandbox is the real bwrap; keys go through the real kernel keyring, each test in its
own anonymous session keyring (`keyctl session -`)."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from forge.copilot import config, plan, rules, sandbox, schema, secrets, share
from forge.copilot import prepare as prep
from forge.copilot.gemini import GeminiAdvisor
from forge.copilot.rules import RulesAdvisor
from forge.copilot.schema import AdvisorError
from forge.errors import ConfigError, ForgeError

from .conftest import BIN, GIT_ENV
from .gemini_fake import KEY, FakeGemini

HAS_SANDBOX = sandbox.probe() is None
HAS_KEYCTL = secrets.available() is None
needs_sandbox = pytest.mark.skipif(not HAS_SANDBOX, reason=f"no sandbox: {sandbox.probe()}")
needs_keyctl = pytest.mark.skipif(not HAS_KEYCTL, reason="no keyctl (apt-get install keyutils)")
KEY_VARS = ("GEMINI_API_KEY", "GOOGLE_API_KEY", "HF_TOKEN", "GOOGLE_GEMINI_BASE_URL")
GOAL = "a support chatbot that answers politely"

# Planted personal data (each found by forge.data.pii) and a row marker for "no raw row".
PII = ["jane.doe@example.com", "+44 20 7946 0958", "123-45-6789", "4111 1111 1111 1111"]


def forge(*args: str, cwd: Path, env: dict[str, str] | None = None, session: bool = True,
          stdin: str | None = None) -> subprocess.CompletedProcess:  # fmt: skip
    """`forge ARGS` in `cwd`, with no key in its environment but `env`'s, in a fresh
    session keyring (so a key from a real `forge login` on this machine cannot leak in)."""
    base = {k: v for k, v in os.environ.items() if k not in KEY_VARS}
    full = {**base, **GIT_ENV, "PATH": f"{BIN}:{os.environ['PATH']}", **(env or {})}
    cmd = [str(BIN / "forge"), *args]
    if session and HAS_KEYCTL:
        cmd = ["keyctl", "session", "-", *cmd]
    proc = subprocess.run(cmd, cwd=cwd, env=full, capture_output=True, text=True, input=stdin)
    return _unjoined(proc)


def _unjoined(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    """Without the line `keyctl session` prints to stderr."""
    proc.stderr = "".join(
        x for x in proc.stderr.splitlines(keepends=True) if not x.startswith("Joined session")
    )
    return proc


def advisor_for(fake: FakeGemini, attempts: int = 3) -> GeminiAdvisor:
    cfg = config.CopilotConfig(backend="gemini", attempts=attempts, retry_delay_s=0.01)
    return GeminiAdvisor(cfg, KEY)


@pytest.fixture
def gemini_env(monkeypatch):
    for k in KEY_VARS:
        monkeypatch.delenv(k, raising=False)
    with FakeGemini() as fake:
        monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", fake.url)
        yield fake


# ---------------------------------------------------------------- config


def test_copilot_config_defaults_to_rules_and_names_a_bad_value(tmp_path: Path):
    from .conftest import ROOT

    cfg = config.load(ROOT / "conf" / "copilot.yaml")
    assert (cfg.backend, cfg.api_version) == ("rules", "v1")
    bad = tmp_path / "copilot.yaml"
    bad.write_text("backend: gpt\nmodle: x\n")
    with pytest.raises(ConfigError) as exc:
        config.load(bad)
    assert exc.value.problems == [f"copilot.modle: unknown key ({bad})"]
    with pytest.raises(ConfigError, match=r"copilot.backend: 'gpt' is not one of rules, gemini"):
        config.load(overrides={"backend": "gpt"})


# ---------------------------------------------------------------- GeminiAdvisor over HTTP


def test_gemini_request_is_pinned_structured_and_retries_429_and_500(gemini_env):
    fake = gemini_env
    fake.reply_status(429)
    fake.reply_status(500)
    fake.reply_json({"fixes": []})
    answer = advisor_for(fake).ask("advise", {"study": {"rows": 3}}, schema.advice_schema())
    assert answer == {"fixes": []}
    assert len(fake.requests) == 3
    for r in fake.requests:
        assert r["path"] == "/v1/models/gemini-2.5-flash:generateContent"  # version pinned
        assert r["headers"]["x-goog-api-key"] == KEY
        gen = r["body"]["generationConfig"]
        assert gen["responseMimeType"] == "application/json"
        assert gen["responseJsonSchema"] == schema.for_wire(schema.advice_schema())
    assert '"rows": 3' in fake.sent_text()


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (lambda f: f.reply_text("{'fixes': [}"), r"the answer is not JSON \(.*\), refused"),
        (
            lambda f: f.reply_json({"fixes": []}, finish="MAX_TOKENS"),
            r"answer refused: finish_reason MAX_TOKENS \(it was cut off at the output token",
        ),
        (
            lambda f: f.reply_json({"fixes": [{"area": "vibes", "fix": "x"}]}),
            r"does not follow the schema, refused \(\$\.fixes\[0\]\.finding: missing; .*"
            r"\$\.fixes\[0\]\.area: 'vibes' is not one of format_mapping",
        ),
        (
            lambda f: [f.reply_status(500) for _ in range(3)],
            r"HTTP 500 INTERNAL after retries: fake 500",
        ),
    ],
    ids=["malformed-json", "max-tokens", "schema-violation", "500-exhausted"],
)
def test_gemini_bad_answers_are_refused_by_name(gemini_env, reply, message):
    reply(gemini_env)
    with pytest.raises(AdvisorError, match=message):
        advisor_for(gemini_env).ask("advise", {"study": {}}, schema.advice_schema())


def test_without_a_key_gemini_is_one_line(project: Path):
    proc = forge("plan", GOAL, "--backend", "gemini", cwd=project)
    assert proc.returncode == 1
    assert proc.stderr == (
        "forge: error: copilot.backend: gemini needs a key and none is set; run `forge login`, "
        "or set GEMINI_API_KEY, or use --backend rules (offline)\n"
    )


# ---------------------------------------------------------------- forge plan


def _plan_answer(**values) -> dict:
    v = {
        "model": "tiny", "recipe": "lora_sft", "precision": "fp32", "quantization": "none",
        "batch_size": 16, "gradient_accumulation_steps": 2, "max_steps": 120,
        "learning_rate": 0.002, "max_length": 64, **values,
    }  # fmt: skip
    return {
        "choices": {k: {"value": x, "why": f"server chose {k}"} for k, x in v.items()},
        "summary": "the fake server's plan",
    }


def test_rules_plan_writes_an_overlay_that_composes(project: Path, monkeypatch):
    monkeypatch.chdir(project)
    p = plan.make(GOAL, RulesAdvisor(), conf=Path("conf"))
    assert p.slug == "support_chatbot_answers_politely"
    ch = {k: c["value"] for k, c in p.answer["choices"].items()}
    assert (ch["model"], ch["recipe"], ch["precision"]) == ("tiny", "lora_sft", "fp32")
    assert p.figures and p.figures["fits"] and p.figures["memory_gib"] > 0
    path = plan.write(p)
    text = path.read_text()
    assert text.startswith("# @package _global_\n# forge compose experiment=support_chatbot_")
    assert "  - override /recipe: lora_sft  # chat or instruction following" in text
    assert all(f"  {k}: " in text for k in ("batch_size", "max_steps", "learning_rate"))
    from forge.config import compose as c

    cfg = c.to_container(c.compose([f"experiment={p.slug}"], Path("conf")))
    assert cfg["recipe"]["method"] == "lora_sft" and cfg["recipe"]["max_steps"] == ch["max_steps"]
    with pytest.raises(ForgeError, match="exists; nothing was written"):
        plan.write(p)


GOALS = {
    GOAL: "lora_sft",
    "align the assistant to answers users prefer": "dpo",
    "learn from thumbs up and thumbs down feedback": "kto",
    "a reward model that scores answers": "reward_model",
    "math reasoning with a checkable answer": "grpo",
}


def test_rules_choose_the_method_from_the_goal_and_it_composes(project, monkeypatch):
    from forge.config import compose as c

    monkeypatch.chdir(project)
    facts, _ = plan.brief(GOAL, None, Path("conf"))
    for goal, recipe in GOALS.items():
        answer = rules.plan({**facts, "goal": goal})
        assert schema.check(answer, schema.plan_schema()) == []
        assert answer["choices"]["recipe"]["value"] == recipe, goal
        c.compose(plan.overrides_of(answer), Path("conf"))  # validates (warm starts, memory)


def test_gemini_plan_is_validated_and_a_schema_violation_refused(project, monkeypatch, gemini_env):
    monkeypatch.chdir(project)
    fake = gemini_env
    fake.reply_json(_plan_answer())
    p = plan.make(GOAL, advisor_for(fake))
    assert p.advisor == "gemini gemini-2.5-flash"
    assert "recipe.batch_size=16" in p.overrides and "recipe.max_steps=120" in p.overrides
    assert "# server chose batch_size" in plan.overlay(p)
    sent = json.loads(fake.sent_text().split("\n\n", 1)[1])
    assert sent["goal"] == GOAL and sent["hardware"]["device"] == "cpu"
    assert {m["model"] for m in sent["models"]} >= {"tiny"}

    fake.reply_json(_plan_answer(recipe="ppo", batch_size=0))
    with pytest.raises(AdvisorError) as exc:
        plan.make(GOAL, advisor_for(fake))
    assert "$.choices.recipe.value: 'ppo' is not one of dpo, full_sft" in str(exc.value)
    assert "$.choices.batch_size.value: 0 is outside [1, inf)" in str(exc.value)
    assert not list(Path("conf/experiment").glob("support_*"))


def test_a_plan_that_does_not_fit_is_refused_naming_what_fits(project, monkeypatch, gemini_env):
    monkeypatch.chdir(project)
    gemini_env.reply_json(_plan_answer(model="llama3_1_8b_instruct", recipe="full_sft"))
    with pytest.raises(ConfigError) as exc:
        plan.make(GOAL, advisor_for(gemini_env))
    (line,) = [p for p in exc.value.problems if "memory_gb" in p]
    assert line.startswith("plan refused (gemini gemini-2.5-flash): hardware.memory_gb: full_sft")
    assert "GiB per device, profile cpu has 16" in line
    assert line.endswith("GiB of 16)") and "on this hardware model=tiny fits" in line


def test_show_prompt_prints_exactly_what_is_sent_and_sends_nothing(
    project, monkeypatch, gemini_env
):
    from typer.testing import CliRunner

    from forge.cli.main import app

    monkeypatch.chdir(project)
    shown = CliRunner().invoke(app, ["plan", GOAL, "--show-prompt", "--backend", "gemini"])
    assert shown.exit_code == 0, shown.output
    assert gemini_env.connections == 0
    body = json.loads(shown.stdout)
    assert body["url"] == "{base_url}/v1/models/gemini-2.5-flash:generateContent"
    gemini_env.reply_json(_plan_answer())
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    sent = CliRunner().invoke(app, ["plan", GOAL, "--backend", "gemini"])
    assert sent.exit_code == 0, sent.output
    assert "plan (gemini gemini-2.5-flash): the fake server's plan" in sent.stdout
    assert gemini_env.requests[-1]["body"] == body["body"]


# ---------------------------------------------------------------- data study --advise


def test_advise_proposes_a_fix_per_finding(tmp_path: Path, monkeypatch):
    from forge.copilot import advise
    from forge.data.study import study

    monkeypatch.chdir(tmp_path)
    rows = [{"prompt": f"q{i % 5}", "completion": "w " * (3 if i % 7 else 90)} for i in range(40)]
    rows[3]["completion"] = "mail jane.doe@example.com"
    f = tmp_path / "x.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = study(f, "auto", tmp_path / "none", 64)
    fixes = advise.advise(result, f, RulesAdvisor())
    by = {x["area"]: x for x in fixes}
    assert set(by) == {"format_mapping", "dedup", "length_cutoff", "pii_policy", "license"}
    assert by["length_cutoff"]["command"].startswith("recipe.max_length=")
    assert by["pii_policy"]["command"] == "data.pii_policy=redact"
    assert by["license"]["command"].startswith("forge data add x.jsonl --name NAME")
    brief = json.dumps(advise.make_brief(result, f))
    assert "jane" not in brief and "q1" not in brief  # counts, never rows or masked hints


# ---------------------------------------------------------------- the sandbox


@pytest.fixture
def host_server():
    """A TCP listener on the host's 127.0.0.1 that counts connections."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    srv.settimeout(0.2)
    seen = []
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                seen.append(srv.accept()[0])
            except OSError:
                pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield srv.getsockname()[1], seen
    stop.set()
    t.join()
    srv.close()


ESCAPES = {
    "socket": ("import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=3)\n",
               "network: connect to ('127.0.0.1', {port})"),
    "write": ("open({outside!r}, 'w').write('escaped')\n",
              "write outside the output directory: {outside}"),
    "home": ("print(open({home_file!r}).read())\n", "read outside the input: {home_file}"),
    "fork bomb": ("import os\nwhile True:\n    os.fork()\n", "process limit: "),
    "endless loop": ("while True:\n    pass\n", "CPU-time limit: 1 s"),
}  # fmt: skip


@needs_sandbox
@pytest.mark.parametrize("attack", list(ESCAPES))
def test_escape_attempts_are_blocked_and_named(tmp_path: Path, host_server, attack: str):
    port, seen = host_server
    home = Path(os.environ.get("HOME", "/root"))
    home_file = home / ".forge-sandbox-test-secret"
    outside = tmp_path / "escaped.txt"
    fill = {"port": port, "outside": str(outside), "home_file": str(home_file)}
    code, expected = (s.format(**fill) for s in ESCAPES[attack])
    script = tmp_path / "attack.py"
    script.write_text(code)
    raw = tmp_path / "in.csv"
    raw.write_text("a,b\n1,2\n")
    home_file.write_text("SECRET-IN-HOME")
    try:
        r = sandbox.run(script, raw, tmp_path / "out", sandbox.Limits(cpu_s=1, wall_s=20))
    finally:
        home_file.unlink()
    assert not r.ok
    assert any(b.startswith(expected) for b in r.blocked), r.describe() + r.stderr[-500:]
    assert seen == [] and not outside.exists() and "SECRET-IN-HOME" not in r.stdout


@needs_sandbox
def test_sandbox_runs_a_script_with_the_input_read_only(tmp_path: Path):
    script = tmp_path / "s.py"
    script.write_text(
        "import os, sys\nprint(os.getuid())\n"
        "open(sys.argv[2] + '/data.jsonl', 'w').write(open(sys.argv[1]).read())\n"
        "open(sys.argv[1], 'a')\n"
    )
    raw = tmp_path / "in.csv"
    raw.write_text("a,b\n")
    r = sandbox.run(script, raw, tmp_path / "out")
    assert r.stdout.strip() == "65534"
    assert "blocked: write outside the output directory: /data/in/in.csv" in r.stderr
    assert (tmp_path / "out" / "data.jsonl").read_text() == "a,b\n" and raw.read_text() == "a,b\n"


def test_without_bwrap_generated_code_never_runs(project: Path, monkeypatch, tmp_path: Path):
    empty = tmp_path / "bin"
    empty.mkdir()
    for tool in ("prlimit", "setpriv", "keyctl"):
        if shutil.which(tool):
            (empty / tool).symlink_to(shutil.which(tool))
    monkeypatch.setenv("PATH", str(empty))
    assert sandbox.probe().startswith("bubblewrap (bwrap) is not installed; install bubblewrap")
    asked = []

    class Counting(RulesAdvisor):
        def ask(self, *a, **kw):
            asked.append(a)
            return super().ask(*a, **kw)

    monkeypatch.chdir(project)
    messy_csv(Path("data/raw/tickets.csv"))
    with pytest.raises(sandbox.SandboxUnavailable, match="never runs generated code outside"):
        prep.run(Path("data/raw/tickets.csv"), Counting(), license_id="MIT", source="t")
    assert asked == [] and not Path("stages/generated").exists()


# ---------------------------------------------------------------- forge prepare


def messy_csv(path: Path, pii: bool = False) -> None:
    """Odd column names, a header row repeated mid-file, HTML in the text, one broken row
    (and, with `pii`, planted personal data in rows 2-5)."""
    header = ["Customer Question ", "Agent_Reply", "ticket id"]
    rows = [header]
    for i in range(40):
        q = f"<p>How do I reset my password, case {i}?</p>"
        if pii and 1 <= i <= 4:
            q += f" reach me at {PII[i - 1]}"
        rows.append([q, f"Hello! Open <b>Settings</b> &amp; click reset ({i}).", f"T-{1000 + i}"])
        if i == 20:
            rows.append(header)
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    lines = buf.getvalue().splitlines()
    lines.insert(10, '"a broken row, with", too, many, fields')
    path.write_text("\n".join(lines) + "\n")


def dvc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, **GIT_ENV, "PATH": f"{BIN}:{os.environ['PATH']}"}
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=cwd, env=env,
                          capture_output=True, text=True)  # fmt: skip


@needs_sandbox
def test_rules_prepare_a_messy_csv_into_a_stage_prepare_accepts(project: Path):
    messy_csv(project / "data/raw/tickets.csv")
    proc = forge("prepare", "data/raw/tickets.csv", "--license", "MIT", "--source", "tickets",
                 cwd=project)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith(
        "attempt 1/3 (rules): columns mapped by name: prompt<-'Customer Question ', "
        "answer<-'Agent_Reply'"
    )
    assert "-> ok: 40 rows (messages)" in proc.stdout
    rows = [json.loads(x) for x in (project / "data/generated/tickets/data.jsonl").open()]
    assert rows[0]["messages"] == [
        {"role": "user", "content": "How do I reset my password, case 0?"},
        {"role": "assistant", "content": "Hello! Open Settings & click reset (0)."},
    ]
    card = json.loads(json.dumps(__import__("yaml").safe_load(
        (project / "data/cards/tickets.yaml").read_text())))  # fmt: skip
    assert card["generated_by"]["backend"] == "rules" and card["rows"] == 40
    assert (
        (project / "stages/generated/prepare_tickets.py")
        .read_text()
        .startswith("# Generated by `forge prepare data/raw/tickets.csv` (rules, attempt 1)")
    )
    assert forge("compose", "data=tickets", cwd=project).returncode == 0
    first = dvc("repro", "prepare", cwd=project)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "prepare: {'train':" in first.stdout
    again = dvc("repro", "prepare", cwd=project)
    assert "Running stage" not in again.stdout, again.stdout
    assert "Stage 'prepare_tickets' didn't change, skipping" in again.stdout


BROKEN = "import sys\nrows = {}\nprint(rows['no such column'])\n"


def _script_answer(script: str) -> dict:
    return {"script": script, "requires": [], "output_format": "messages", "notes": "fake"}


@needs_sandbox
def test_gemini_prepare_heals_on_attempt_2_and_sends_no_raw_row_or_pii(project, gemini_env):
    fake = gemini_env
    messy_csv(project / "data/raw/tickets.csv", pii=True)
    good = rules.script({"profile": share.profile(project / "data/raw/tickets.csv")})["script"]
    fake.reply_json(_script_answer(BROKEN))
    fake.reply_json(_script_answer(good))
    proc = forge("prepare", "data/raw/tickets.csv", "--backend", "gemini", "--share-samples",
                 "2", "--license", "MIT", "--source", "tickets", "--pii-policy", "redact",
                 cwd=project, env=fake.env())  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout.splitlines()
    assert out[0] == "attempt 1/3 (gemini gemini-2.5-flash): fake -> failed: exit 1"
    assert "KeyError: 'no such column'" in out[1]
    assert out[2].startswith("attempt 2/3 (gemini gemini-2.5-flash): fake -> ok: 40 rows")
    assert len(fake.requests) == 2
    retry = json.loads(fake.sent_text(1).split("\n\n", 1)[1])
    assert retry["previous_attempts"][0]["result"] == "exit 1"
    assert "KeyError" in retry["previous_attempts"][0]["stderr_tail"]
    # What left the machine: two redacted rows, no planted value, no raw row.
    everything = "\n".join(r["raw"] for r in fake.requests)
    for value in PII:
        assert value not in everything and json.dumps(value) not in everything
    raw_lines = (project / "data/raw/tickets.csv").read_text().splitlines()
    assert not any(line in everything for line in raw_lines[1:] if len(line) > 20)
    samples = retry["samples"]
    assert len(samples) == 2 and "[REDACTED:EMAIL]" in samples[1]["Customer Question "]
    assert "case 5" not in everything  # row 6 was not shared
    card = (project / "data/cards/tickets.yaml").read_text()
    assert "backend: gemini" in card and "model: gemini-2.5-flash" in card


@needs_sandbox
def test_without_share_samples_no_cell_value_is_sent(project, gemini_env):
    messy_csv(project / "data/raw/tickets.csv", pii=True)
    shown = forge("prepare", "data/raw/tickets.csv", "--show-prompt", cwd=project)
    assert shown.returncode == 0 and gemini_env.connections == 0
    text = json.loads(shown.stdout)["body"]["contents"][0]["parts"][0]["text"]
    brief = json.loads(text.split("\n\n", 1)[1])
    assert brief["samples"] == [] and brief["profile"]["malformed_count"] == 1
    assert brief["profile"]["repeated_header_lines"] == [24]  # line 11 is the broken row
    assert brief["profile"]["pii"]["counts"] == {
        "credit_card": 1, "email": 1, "phone": 1, "us_ssn": 1
    }  # fmt: skip
    assert "password" not in text and "Settings" not in text and "T-1000" not in text


# ---------------------------------------------------------------- session-only keys


@needs_keyctl
def test_login_keeps_keys_in_the_session_keyring_and_env_wins(project: Path, gemini_env):
    fake = gemini_env
    fake.reply_json({"fixes": []})
    fake.reply_json({"fixes": []})
    ask = (
        "python -c 'from forge.copilot import advisor, config, schema; "
        'advisor.make(config.load(overrides={"backend": "gemini"}))'
        '.ask("advise", {}, schema.advice_schema())\'\n'
    )
    script = (
        "set -e\n"
        "printf 'keyring-gemini-key-123\\nhf_keyring_token_456\\n' | forge login\n"
        + ask
        + "export GEMINI_API_KEY=env-gemini-key-789\n"
        + ask
        + "unset GEMINI_API_KEY\n"
        "forge logout\n" + ask.strip() + " || echo refused\n"
    )
    env = {"GOOGLE_GEMINI_BASE_URL": fake.url, "PATH": f"{BIN}:{os.environ['PATH']}"}
    base = {k: v for k, v in os.environ.items() if k not in KEY_VARS}
    proc = subprocess.run(["keyctl", "session", "-", "bash", "-c", script], cwd=project,
                          env={**base, **env}, capture_output=True, text=True)  # fmt: skip
    proc = _unjoined(proc)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[:2] == [
        "GEMINI_API_KEY: kept in the session keyring",
        "HF_TOKEN: kept in the session keyring",
    ]
    assert "GEMINI_API_KEY: cleared\nHF_TOKEN: cleared\nrefused" in proc.stdout
    assert "gemini needs a key and none is set" in proc.stderr
    keys = [r["headers"]["x-goog-api-key"] for r in fake.requests]
    assert keys == ["keyring-gemini-key-123", "env-gemini-key-789"]


def test_login_refuses_without_keyctl_saying_how(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert secrets.available() == (
        "forge login needs keyutils' keyctl (the kernel session keyring); install it "
        "(apt-get install keyutils), or set GEMINI_API_KEY and HF_TOKEN in the environment"
    )
    monkeypatch.setattr(sys, "platform", "darwin")
    assert secrets.available().startswith(
        "forge login keeps keys in the Linux kernel session keyring, which darwin does not have"
    )


@needs_sandbox
def test_packages_are_installed_only_with_a_yes(project, gemini_env):
    messy_csv(project / "data/raw/tickets.csv")
    gemini_env.reply_json({**_script_answer("print(1)\n"), "requires": ["chardet==5.2.0"]})
    proc = forge("prepare", "data/raw/tickets.csv", "--backend", "gemini", "--license", "MIT",
                 "--source", "t", cwd=project, env=gemini_env.env())  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr == (
        "forge: error: the generated script needs chardet==5.2.0; nothing was installed "
        "(rerun with --allow-install to install them into a sandbox-only environment)\n"
    )
    assert not (project / ".forge/sandbox-env").exists()
    assert not (project / "stages/generated").exists()


def test_data_study_advise_cli(project, monkeypatch, gemini_env):
    from typer.testing import CliRunner

    from forge.cli.main import app

    monkeypatch.chdir(project)
    args = ["data", "study", "data/raw/demo.jsonl", "--max-length", "64"]
    out = CliRunner().invoke(app, [*args, "--advise", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["advisor"] == "rules" and data["advice"][0]["area"] == "format_mapping"
    shown = CliRunner().invoke(app, [*args, "--show-prompt", "--backend", "gemini"])
    assert shown.exit_code == 0 and gemini_env.connections == 0
    brief = json.loads(json.loads(shown.stdout)["body"]["contents"][0]["parts"][0]["text"]
                       .split("\n\n", 1)[1])  # fmt: skip
    assert brief["study"]["rows"] == 4000 and brief["study"]["card"]["license"] == "Apache-2.0"
