"""dvc repro base   -- models/base/ from model.* (tiny: built and pretrained here; local: a
Hugging Face directory copied or a .gguf file dequantized; hub: the pinned revision)."""

from pathlib import Path

from forge.stages import run_stage


def main() -> None:
    from forge.config.params import load_group
    from forge.model.base import build_base

    record = build_base(load_group("model"), Path("models/base"))
    what = record.get("hub_id") or f"{record.get('parameters') or '?'} parameters"
    print(f"base: {record['name']} ({what})")


if __name__ == "__main__":
    run_stage(main)
