"""The base stage: make models/base/ from `model.*`.

- source=tiny: build and pretrain a small Llama here (forge/model/tiny.py).
- source=hub: resolve hub_id at the pinned revision into the local HF cache, and record
  the resolved commit. Without network or a filled cache, a clear error.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from forge.config.schema import ModelConfig
from forge.errors import BadHubId, ForgeError
from forge.record import write_json

BASE_RECORD = "forge_base.json"


def resolve_hub(cfg: ModelConfig) -> dict[str, Any]:
    import os

    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError, LocalEntryNotFoundError

    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false")
    try:
        local = snapshot_download(
            cfg.hub_id,
            revision=cfg.revision,
            local_files_only=offline,
            allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja"],
        )
    except HFValidationError as exc:
        raise BadHubId(str(cfg.hub_id)) from exc
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as exc:
        why = "the hub is offline (HF_HUB_OFFLINE=1)" if offline else "the hub cannot be reached"
        raise ForgeError(
            f"model.hub_id: {cfg.hub_id}@{cfg.revision} is not in the local Hugging Face cache "
            f"and {why}",
            hint="run once with network (HF_TOKEN for gated models), or use model=tiny",
        ) from exc
    return {"local_path": local, "resolved_revision": Path(local).name}


def build_base(cfg: ModelConfig, out_dir: Path) -> dict[str, Any]:
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    record: dict[str, Any] = {"name": cfg.name, "source": cfg.source}
    if cfg.source == "tiny":
        from forge.model import tiny

        assert cfg.tiny is not None  # validated at compose
        record.update(tiny.build(cfg.tiny, out_dir), seed=cfg.tiny.seed)
    else:
        record.update(hub_id=cfg.hub_id, revision=cfg.revision, **resolve_hub(cfg))
    write_json(out_dir / BASE_RECORD, record)
    return record


def base_path(base_dir: Path) -> str:
    """What from_pretrained should load for models/base: the dir itself, or the hub snapshot."""
    record = json.loads((base_dir / BASE_RECORD).read_text())
    return record.get("local_path") or str(base_dir)
