"""dvc repro contract   -- results/contract/report.json: the chat-template contract. The same
val conversations give identical token ids in the training formatter, the candidate's
saved tokenizer and the prompts evaluate sends; a mismatch fails the DAG here."""

from pathlib import Path

from forge.stages import run_stage


def main() -> None:
    from forge.data.splits import read_split
    from forge.evaluate.contract import check
    from forge.model.base import base_path
    from forge.recipes.parts import start_model
    from forge.record import write_json

    start = start_model(Path("models/sft")) or Path(base_path(Path("models/base")))
    report = check(
        str(start), Path("models/candidate"), read_split(Path("data/prepared/val.jsonl"))
    )
    write_json(Path("results/contract/report.json"), report)
    print(
        f"contract: {report['conversations_checked']} conversations identical in "
        f"{', '.join(report['places'])} (template sha256 {report['chat_template_sha256'][:12]})"
    )


if __name__ == "__main__":
    run_stage(main)
