"""dvc repro base   -- models/base/ from model.* (tiny: built and pretrained here)."""

from pathlib import Path

from forge.stage import run_stage


def main() -> None:
    from forge.config.params import load_group
    from forge.model.base import build_base

    record = build_base(load_group("model"), Path("models/base"))
    print(f"base: {record['name']} ({record.get('parameters', record.get('hub_id'))})")


if __name__ == "__main__":
    run_stage(main)
