"""pytest tests/test_model_local.py   -- model.source=local and the hub's one-line errors.

A local Hugging Face directory becomes models/base by content: the record holds its hash,
never its path, so the same model at two places gives the same bytes. Problems with
model.path, and a hub model that cannot be had offline, are one `forge: error:` line.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forge.config import compose as c
from forge.config.schema import ModelConfig, TinyModelConfig
from forge.config.validate import check_files
from forge.errors import ConfigError, ForgeError
from forge.model.base import BASE_RECORD, base_path, build_base, local_model_problem
from forge.record import tree_hash
from tests.conftest import ROOT, sh

SMALL = TinyModelConfig(
    vocab_size=300, hidden_size=16, intermediate_size=32, num_layers=1, num_heads=2,
    pretrain_steps=0,
)  # fmt: skip


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory) -> Path:
    """A small model saved in Hugging Face format, as a user would bring one."""
    from forge.model import tiny

    out = tmp_path_factory.mktemp("hf") / "my-model"
    out.mkdir()
    tiny.build(SMALL, out)
    return out


def local(path: str) -> ModelConfig:
    return ModelConfig(name="mine", source="local", path=path)


def files(tree: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(tree.iterdir())}


def test_a_local_directory_is_the_base_by_content_not_place(hf_dir, tmp_path):
    import shutil

    moved = tmp_path / "elsewhere" / "copy"
    shutil.copytree(hf_dir, moved)
    one = build_base(local(str(hf_dir)), tmp_path / "a" / "models" / "base")
    two = build_base(local(str(moved)), tmp_path / "b" / "models" / "base")

    a, b = tmp_path / "a" / "models" / "base", tmp_path / "b" / "models" / "base"
    assert files(a) == files(b)  # the same model at two places: the same base, byte for byte
    assert one == two
    assert one["content_sha256"] == tree_hash(hf_dir)
    assert one["format"] == "hf" and "path" not in one
    record = (a / BASE_RECORD).read_text()
    assert str(tmp_path) not in record and str(hf_dir) not in record
    assert {n for n in files(a) if n != BASE_RECORD} == set(files(hf_dir))
    assert base_path(a) == str(a)  # consumers load models/base itself


def test_a_local_model_without_a_chat_template_is_refused(hf_dir, tmp_path):
    import shutil

    bare = tmp_path / "bare"
    shutil.copytree(hf_dir, bare)
    (bare / "chat_template.jinja").unlink()
    cfg = json.loads((bare / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (bare / "tokenizer_config.json").write_text(json.dumps(cfg))
    with pytest.raises(ForgeError, match="the tokenizer has no chat template"):
        build_base(local(str(bare)), tmp_path / "models" / "base")


def test_model_path_problems_name_the_key_and_the_fix(hf_dir, tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"x")
    (tmp_path / "empty").mkdir()
    assert local_model_problem(str(hf_dir)) is None
    assert local_model_problem("nope", tmp_path) == (
        "model.path: nope does not exist (a relative path is from the repo root); give a "
        "Hugging Face model directory (with config.json) or a .gguf file"
    )
    assert local_model_problem("weights.bin", tmp_path).startswith(
        "model.path: weights.bin is not a .gguf file; give a Hugging Face model directory"
    )
    assert local_model_problem("empty", tmp_path).startswith("model.path: empty has no config.json")
    with pytest.raises(ForgeError, match="model.path: nope does not exist"):
        build_base(local("nope"), tmp_path / "models" / "base")


def test_compose_requires_model_path_and_validate_checks_it(tmp_path):
    with pytest.raises(ConfigError, match="model.path: required when model.source is 'local'"):
        c.compose(["model.source=local", "model.name=mine"], ROOT / "conf")
    cfg = c.to_container(c.compose(["model=smollm2_135m_instruct"], ROOT / "conf"))
    assert cfg["model"]["source"] == "local"
    assert cfg["model"]["path"] == "models/src/SmolLM2-135M-Instruct.Q4_1.gguf"
    assert any(
        p.startswith("model.path: models/src/SmolLM2-135M-Instruct.Q4_1.gguf does not exist")
        for p in check_files(cfg, tmp_path)
    )
    gguf = tmp_path / "models" / "src" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    gguf.parent.mkdir(parents=True)
    gguf.write_bytes(b"GGUF")
    assert not [p for p in check_files(cfg, tmp_path) if p.startswith("model.")]


def test_a_disk_path_as_hub_id_points_to_source_local():
    with pytest.raises(ConfigError, match="use model.source=local model.path=/tmp/x"):
        c.compose(
            ["model=qwen2_5_0_5b_instruct", "model.hub_id=/tmp/x", "hardware=a100_80gb"],
            ROOT / "conf",
        )


def test_a_hub_model_offline_is_one_error_line(project, tmp_path, monkeypatch):
    sh("forge", "compose", "model=qwen2_5_0_5b_instruct", "hardware=a100_80gb", cwd=project)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-cache"))
    proc = sh("python", "-m", "forge.stages.base", cwd=project, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "forge: error: model.hub_id: Qwen/Qwen2.5-0.5B-Instruct@"
        "7ae557604adf67be50417f59c2c2f167def9a775 is not in the local Hugging Face cache and "
        "the hub is offline (HF_HUB_OFFLINE=1) (run once with network (HF_TOKEN for gated "
        "models), use model.source=local with a downloaded copy, or model=tiny)"
    ]
