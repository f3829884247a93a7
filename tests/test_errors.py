"""One error entry (forge.errors.entry): what every Forge entry point prints and exits with."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from forge.errors import (
    BadHubId,
    ConfigError,
    ForgeError,
    PipelineFailed,
    PromotionRefused,
    entry,
)

from .conftest import BIN, make_project, sh

TYPO = "forge: error: recipe.lora_rnak: unknown key"  # then a did-you-mean


@pytest.fixture(scope="module")
def proj(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("errors") / "proj")


def forge(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return sh(str(BIN / "forge"), *args, cwd=cwd, check=False)


def _exit(main, argv: list[str] | None = None) -> int:
    with pytest.raises(SystemExit) as exc:
        entry(main, argv=argv or [])
    return exc.value.code


def _raise(exc: BaseException):
    def main() -> None:
        raise exc

    return main


# -- the CLI, as a subprocess ------------------------------------------------------------


def test_error_is_one_line_and_its_exit_code(proj: Path, monkeypatch):
    monkeypatch.delenv("FORGE_DEBUG", raising=False)
    proc = forge("compose", "recipe.lora_rnak=8", "--params", str(proj / "p.yaml"), cwd=proj)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr.startswith(TYPO) and proc.stderr.count("\n") == 1, proc.stderr


@pytest.mark.parametrize("how", ["--debug", "FORGE_DEBUG=1"])
def test_debug_shows_the_traceback_and_keeps_the_exit_code(proj: Path, monkeypatch, how):
    monkeypatch.delenv("FORGE_DEBUG", raising=False)
    args = ["compose", "recipe.lora_rnak=8", "--params", str(proj / "p.yaml")]
    if how == "--debug":
        args.append("--debug")
    else:
        monkeypatch.setenv("FORGE_DEBUG", "1")
    proc = forge(*args, cwd=proj)
    assert proc.returncode == 2
    assert "Traceback (most recent call last)" in proc.stderr
    assert "forge.errors.ConfigError" in proc.stderr
    *trace, last = proc.stderr.splitlines()  # the traceback first, then the same one line
    assert last.startswith(TYPO) and not any(x.startswith("forge: error:") for x in trace)


def test_bad_hub_id_is_one_line(proj: Path, monkeypatch):
    monkeypatch.delenv("FORGE_DEBUG", raising=False)
    proc = forge(
        "compose",
        "--params",
        str(proj / "p.yaml"),
        "model=qwen2_5_0_5b_instruct",
        "hardware=cpu",  # a profile with memory_gb, so the memory check reads the model's shape
        "model.hub_id=/tmp/x",
        cwd=proj,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("forge: error: model.hub_id: '/tmp/x' ")
    assert "'Qwen/Qwen2.5-0.5B-Instruct'" in lines[0]
    assert not (proj / "p.yaml").exists()


# -- entry, in process -------------------------------------------------------------------


def test_entry_exits_with_what_main_returns():
    assert _exit(lambda: None) == 0
    assert _exit(lambda: 3) == 3


def test_entry_prints_one_line_per_problem(capsys):
    assert _exit(_raise(ConfigError(["a: wrong", "b: wrong too"]))) == 2
    assert capsys.readouterr().err == "forge: error: a: wrong\nforge: error: b: wrong too\n"
    assert _exit(_raise(PromotionRefused(["gate failed"]))) == 1
    assert capsys.readouterr().err == "forge: error: gate failed\n"
    assert _exit(_raise(ForgeError("x.yaml not found", hint="run `forge compose`"))) == 2
    assert capsys.readouterr().err == "forge: error: x.yaml not found (run `forge compose`)\n"


def test_entry_debug_keeps_the_exit_code(capsys, monkeypatch):
    monkeypatch.delenv("FORGE_DEBUG", raising=False)
    assert _exit(_raise(PromotionRefused(["gate failed"])), ["--debug"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last)")
    assert err.endswith("forge: error: gate failed\n")
    monkeypatch.setenv("FORGE_DEBUG", "1")
    assert _exit(_raise(ForgeError("bad"))) == 2
    assert "Traceback" in capsys.readouterr().err


def test_ctrl_c_exits_130_with_one_line(capsys, monkeypatch):
    monkeypatch.delenv("FORGE_DEBUG", raising=False)
    assert _exit(_raise(KeyboardInterrupt())) == 130
    assert capsys.readouterr().err == "forge: error: interrupted\n"


def test_ctrl_c_inside_a_typer_command_is_the_same_line(capsys, monkeypatch):
    import typer

    app = typer.Typer(add_completion=False)

    @app.command()
    def slow() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("sys.argv", ["forge"])
    monkeypatch.delenv("FORGE_DEBUG", raising=False)
    assert _exit(app) == 130  # typer turns Ctrl-C into Exit(130); entry still says why
    assert capsys.readouterr().err == "forge: error: interrupted\n"


def test_bugs_are_not_swallowed():
    with pytest.raises(ZeroDivisionError):
        entry(lambda: 1 / 0, argv=[])


def test_run_reports_a_failed_repro_as_a_forge_error(capsys, monkeypatch, tmp_path):
    from forge.cli import run
    from forge.config import compose

    (tmp_path / "params.yaml").write_text("gates: {}\n")
    sh("git", "init", "-q", cwd=tmp_path)  # forge run needs a repository with a commit
    sh("git", "commit", "-q", "--allow-empty", "-m", "init", cwd=tmp_path)
    monkeypatch.chdir(tmp_path)  # the run lock goes to tmp_path/.forge
    monkeypatch.setattr(compose, "write", lambda *a, **k: "")
    monkeypatch.setattr(run, "repro", lambda extra, env=None: 3)
    assert (
        _exit(lambda: run.main(overrides=[], force=False, wait=False))
        == PipelineFailed.exit_code
        == 1
    )
    assert capsys.readouterr().err == (
        "forge: error: dvc repro failed (exit code 3); see the stage output above\n"
    )


def test_stage_scripts_use_the_same_entry(capsys, monkeypatch):
    from forge.stages import run_stage

    monkeypatch.setattr("sys.argv", ["stages/x.py"])
    monkeypatch.delenv("FORGE_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exc:
        run_stage(_raise(ForgeError("models/base: missing")))
    assert exc.value.code == 2
    assert capsys.readouterr().err == "forge: error: models/base: missing\n"


# -- a bad model.hub_id, where it is read ------------------------------------------------


@pytest.mark.parametrize("hub_id", ["/some/path", "./rel", "bad id!!"])
def test_bad_hub_id_names_the_key_and_the_fix(hub_id):
    from forge.hardware.memory import model_shape

    with pytest.raises(BadHubId) as exc:
        model_shape({"source": "hub", "hub_id": hub_id, "revision": None})
    (problem,) = exc.value.problems
    assert problem.startswith(f"model.hub_id: {hub_id!r} is not a Hugging Face repo id")
    assert "'Qwen/Qwen2.5-0.5B-Instruct'" in problem


def test_memory_check_lists_a_bad_hub_id_as_a_problem():
    from forge.hardware.memory import check

    cfg = {
        "model": {"name": "x", "source": "hub", "hub_id": "/tmp/x", "revision": None},
        "recipe": {"method": "lora_sft", "batch_size": 1, "max_length": 64, "lora_rank": 8},
        "hardware": {
            "memory_gb": 16,
            "precision": "fp32",
            "quantization": "none",
            "strategy": "ddp",
            "device": "cpu",
            "num_processes": 1,
        },
    }
    (problem,) = check(cfg)
    assert problem.startswith("model.hub_id: '/tmp/x' is not a Hugging Face repo id")


def test_base_stage_refuses_a_bad_hub_id_before_the_network():
    from forge.model.base import resolve_hub

    with pytest.raises(BadHubId, match=r"model.hub_id: '/tmp/x' is not a Hugging Face repo id"):
        resolve_hub(SimpleNamespace(hub_id="/tmp/x", revision="0" * 40))
