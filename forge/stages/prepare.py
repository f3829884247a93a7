"""dvc repro prepare   -- data/prepared/ ({train,val,test}.jsonl, preference/, datasets.json)
and results/prepare/report.json (counts, formats, PII, duplicates, contamination, licenses)."""

from pathlib import Path

from forge.stages import run_stage


def main() -> None:
    from forge.config.params import load_group
    from forge.data.prepare import prepare

    report = prepare(
        load_group("data"),
        Path("data/prepared"),
        Path("results/prepare/report.json"),
        cards_dir=Path("data/cards"),
    )
    pii = report["pii"]
    print(
        f"prepare: {report['counts']} ({report['duplicates_dropped']} duplicates dropped); "
        f"PII {pii['total']} ({pii['policy']}: {pii['action']}); "
        f"licenses {', '.join(report['licenses'])}"
    )
    if "preference_counts" in report:
        print(f"prepare: preference {report['preference_counts']}")
    for d in report["datasets"]:
        if not d["card_current"]:
            print(
                f"prepare: warning: {d['path']} changed since {d['card']} was written; "
                f"rerun `forge data add` to refresh its card"
            )


if __name__ == "__main__":
    run_stage(main)
