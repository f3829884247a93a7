"""dvc repro prepare   -- data/prepared/{train,val,test}.jsonl and results/prepare/report.json."""

from pathlib import Path

from forge.stage import run_stage


def main() -> None:
    from forge.config.compose import load_group
    from forge.data.prepare import prepare

    report = prepare(load_group("data"), Path("data/prepared"), Path("results/prepare/report.json"))
    print(f"prepare: {report['counts']} ({report['duplicates_dropped']} duplicates dropped)")


if __name__ == "__main__":
    run_stage(main)
