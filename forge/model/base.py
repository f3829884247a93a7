"""The base stage: make models/base/ from `model.*`.

- source=tiny: build and pretrain a small Llama here (forge/model/tiny.py).
- source=local: model.path, a Hugging Face model directory (its model files copied) or a
  .gguf file (dequantized and saved by forge/model/load.py, the one loader).
- source=hub: resolve hub_id at the pinned revision into the local HF cache, and record
  the resolved commit. Without network or a filled cache, or for an id the hub does not
  have, one clear error.

The record (forge_base.json) names contents, never places: a content hash for a local
model, the hub id and commit for a hub one (found again in the cache by `base_path`). So
models/base has the same bytes on every checkout, wherever it lives.
"""

from __future__ import annotations

import json
import shutil
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from forge.config.schema import ModelConfig
from forge.errors import BadHubId, ForgeError
from forge.record import file_hash, tree_hash, write_json

BASE_RECORD = "forge_base.json"
MODEL_FILES = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja"]


def local_model_problem(path: str | None, root: Path = Path(".")) -> str | None:
    """Why model.path (from the project `root`) cannot be a source=local model, or None."""
    fix = "a Hugging Face model directory (with config.json) or a .gguf file"
    if not path:
        return f"model.path: required when model.source is 'local' ({fix})"
    p = root / path
    if p.is_file():
        return (
            None if p.suffix == ".gguf" else f"model.path: {path} is not a .gguf file; give {fix}"
        )
    if p.is_dir():
        return (
            None
            if (p / "config.json").is_file()
            else f"model.path: {path} has no config.json; give {fix}"
        )
    return f"model.path: {path} does not exist (a relative path is from the repo root); give {fix}"


def _hub_errors():
    from huggingface_hub.errors import (
        HfHubHTTPError,
        HFValidationError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    return (
        HfHubHTTPError,
        HFValidationError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )


def hub_snapshot(hub_id: str, revision: str | None, *, offline: bool) -> str:
    """The local snapshot directory of hub_id@revision (downloaded unless offline)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # its retry warnings would bury the one error line
    http, invalid, not_local, no_repo, no_revision = _hub_errors()
    try:
        return snapshot_download(
            hub_id, revision=revision, local_files_only=offline, allow_patterns=MODEL_FILES
        )
    except invalid as exc:
        raise BadHubId(str(hub_id)) from exc
    except (no_repo, no_revision) as exc:
        raise ForgeError(
            f"model.hub_id: the hub has no {hub_id}@{revision} (or it is gated)",
            hint="check model.hub_id and model.revision; for a gated model set HF_TOKEN",
        ) from exc
    except (not_local, http, OSError) as exc:
        why = "the hub is offline (HF_HUB_OFFLINE=1)" if offline else "the hub cannot be reached"
        raise ForgeError(
            f"model.hub_id: {hub_id}@{revision} is not in the local Hugging Face cache and {why}",
            hint="run once with network (HF_TOKEN for gated models), use model.source=local "
            "with a downloaded copy, or model=tiny",
        ) from exc


def _offline() -> bool:
    import os

    return os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false")


def resolve_hub(cfg: ModelConfig) -> dict[str, Any]:
    local = hub_snapshot(str(cfg.hub_id), cfg.revision, offline=_offline())
    return {"resolved_revision": Path(local).name}


def copy_local(cfg: ModelConfig, out_dir: Path) -> dict[str, Any]:
    """model.path into out_dir: a directory's model files copied, a .gguf file converted."""
    if problem := local_model_problem(cfg.path):
        raise ForgeError(problem)
    src = Path(str(cfg.path))
    if src.is_file():
        from forge.model.load import from_gguf

        model, tokenizer = from_gguf(src)
        model.save_pretrained(out_dir)
        tokenizer.save_pretrained(out_dir)
        return {
            "format": "gguf",
            "content_sha256": file_hash(src),
            "parameters": sum(p.numel() for p in model.parameters()),
        }
    for f in sorted(src.iterdir()):
        if f.is_file() and any(fnmatch(f.name, pat) for pat in MODEL_FILES):
            shutil.copyfile(f, out_dir / f.name)
    return {"format": "hf", "content_sha256": tree_hash(out_dir)}


def build_base(cfg: ModelConfig, out_dir: Path) -> dict[str, Any]:
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    record: dict[str, Any] = {"name": cfg.name, "source": cfg.source}
    if cfg.source == "tiny":
        from forge.model import tiny

        assert cfg.tiny is not None  # validated at compose
        record.update(tiny.build(cfg.tiny, out_dir), seed=cfg.tiny.seed)
    elif cfg.source == "local":
        from forge.model.load import load_tokenizer

        record.update(copy_local(cfg, out_dir))
        load_tokenizer(out_dir)  # an instruct model: its chat template is what training uses
    else:
        record.update(hub_id=cfg.hub_id, revision=cfg.revision, **resolve_hub(cfg))
    write_json(out_dir / BASE_RECORD, record)
    return record


def base_path(base_dir: Path) -> str:
    """What from_pretrained should load for models/base: the dir itself, or the hub
    snapshot of the recorded commit in the local cache."""
    record = json.loads((base_dir / BASE_RECORD).read_text())
    if record.get("source") == "hub":
        return hub_snapshot(record["hub_id"], record["resolved_revision"], offline=True)
    return str(base_dir)
