"""The resolved run file, and the `Run` a recipe's train() gets.

The training stage resolves everything once (which part, its typed recipe, the hardware
profile, every path) and writes one run file beside the checkpoints. The worker and every
runtime read only that file: the config crosses the process boundary once, and nothing
parses argv or params.yaml back.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from forge.config.schema import HardwareConfig, RecipeConfig
from forge.record import write_json

RUN_FILE = "run.json"


@dataclass(frozen=True)
class RunSpec:
    """Everything one training attempt needs, resolved by the stage."""

    part: str  # sft, reward or train
    recipe: RecipeConfig
    hardware: HardwareConfig
    start: str  # the model training starts from
    data: Path  # data/prepared
    out: Path  # the stage's model directory
    checkpoints: Path  # .forge/checkpoints/<part>-<fingerprint>
    reward_model: Path | None = None
    attempt: int = 1  # counted over the stage's runs (results/train/attempts.json)

    @property
    def facts_path(self) -> Path:
        return self.checkpoints / "facts.json"

    @property
    def live_dir(self) -> Path:
        return self.checkpoints / "live"

    def write(self) -> Path:
        path = self.checkpoints / RUN_FILE
        write_json(
            path,
            {
                "part": self.part,
                "recipe": asdict(self.recipe),
                "hardware": asdict(self.hardware),
                "start": self.start,
                "data": str(self.data),
                "out": str(self.out),
                "checkpoints": str(self.checkpoints),
                "reward_model": str(self.reward_model) if self.reward_model else None,
                "attempt": self.attempt,
            },
        )
        return path

    @classmethod
    def read(cls, path: Path) -> RunSpec:
        from forge.config.fields import build
        from forge.recipes.registry import get

        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            part=raw["part"],
            recipe=build(get(raw["recipe"]["method"]).config, raw["recipe"]),
            hardware=build(HardwareConfig, raw["hardware"]),
            start=raw["start"],
            data=Path(raw["data"]),
            out=Path(raw["out"]),
            checkpoints=Path(raw["checkpoints"]),
            reward_model=Path(raw["reward_model"]) if raw["reward_model"] else None,
            attempt=raw.get("attempt", 1),
        )


class TrainRun:
    """The `Run` (forge/recipes/base.py) of one attempt: the loader, TrainingArguments,
    dvclive, checkpoints and resume, the same for every recipe."""

    def __init__(self, spec: RunSpec) -> None:
        from forge.model import load

        self.spec = spec
        self.hardware = spec.hardware
        self.data = spec.data
        self.start = spec.start
        self.reward_model = spec.reward_model
        self._load = load
        self.resume = last_checkpoint(spec.checkpoints)
        self.guard: Any = None  # forge/train/guard.py, made with the callbacks

    def tokenizer(self) -> Any:
        return self._load.load_tokenizer(self.start)

    def model(self, cfg: RecipeConfig) -> Any:
        return self._load.for_training(
            self.start, self.hardware, cfg.adapter, cfg.max_length, cfg.seed
        )

    def reward_model_to_train(self, tokenizer: Any) -> Any:
        return self._load.reward_model(self.start, self.hardware, tokenizer, train=True)

    def peft_config(self, model: Any, cfg: RecipeConfig) -> Any:
        return self._load.peft_config(model, cfg.adapter)

    def args(self, cfg: RecipeConfig, has_eval: bool) -> dict[str, Any]:
        precision = self._load.precision(self.hardware)
        return dict(
            output_dir=str(self.spec.checkpoints),
            max_steps=cfg.max_steps,
            per_device_train_batch_size=cfg.batch_size,
            per_device_eval_batch_size=cfg.batch_size,
            gradient_accumulation_steps=cfg.gradient_accumulation_steps,
            learning_rate=cfg.learning_rate,
            lr_scheduler_type=cfg.lr_scheduler,
            warmup_steps=max(0, round(cfg.warmup_ratio * cfg.max_steps)),
            weight_decay=cfg.weight_decay,
            seed=cfg.seed,
            data_seed=cfg.seed,
            bf16=precision == "bf16",
            fp16=precision == "fp16",
            use_cpu=self.hardware.device == "cpu",
            save_strategy="steps",
            save_steps=cfg.save_steps,
            save_total_limit=2,
            eval_strategy="steps" if has_eval and cfg.eval_steps else "no",
            eval_steps=cfg.eval_steps or None,
            logging_steps=10,
            report_to="none",
            disable_tqdm=True,
            dataloader_num_workers=0,
            # TRL's configs default to True (slower, for big models); healing may turn it on
            activation_checkpointing=cfg.gradient_checkpointing,
            activation_checkpointing_kwargs={"use_reentrant": False}
            if cfg.gradient_checkpointing
            else None,
            max_grad_norm=cfg.max_grad_norm,
        )

    def callbacks(self) -> list[Any]:
        """dvclive inside a DVC pipeline: our own Live, no dvc.yaml of its own; and the
        guard (NaN and divergence checks, resumed counters, the test-only fault switch)."""
        from transformers.integrations import DVCLiveCallback

        from forge.train.guard import Guard

        live = quiet_live()(
            dir=str(self.spec.live_dir),
            dvcyaml=False,
            save_dvc_exp=False,
            resume=self.resume is not None,
            report=None,
            monitor_system=False,
        )
        self.guard = Guard(self.spec.recipe, self._load.precision(self.hardware), self.spec.attempt)
        return [DVCLiveCallback(live=live), self.guard]

    def fit(self, trainer: Any, adapter: bool) -> dict[str, Any]:
        """Train (from the last checkpoint, if any), save the model to the stage's output
        and the tokenizer beside it; returns what the recipe reports to the supervisor."""
        out = self.spec.out
        if self.guard is not None:
            self.guard.trainer = trainer
            step = trainer.training_step

            def checked(*args: Any, **kwargs: Any) -> Any:
                loss = step(*args, **kwargs)
                self.guard.check_loss(loss)
                return loss

            trainer.training_step = checked
        result = trainer.train(resume_from_checkpoint=self.resume)
        trainer.save_model(str(out))
        if trainer.is_world_process_zero():  # one writer under DDP
            trainer.processing_class.save_pretrained(str(out))
        facts = {
            "resumed_from": Path(self.resume).name if self.resume else None,
            "train_loss": result.training_loss,
            "global_step": result.global_step,
            "train_tokens": trainer.state.num_input_tokens_seen or None,
            "train_runtime_s": result.metrics.get("train_runtime"),
            "adapter": adapter,
        }
        curve = [row["reward"] for row in trainer.state.log_history if "reward" in row]
        if curve:  # online RL: the mean reward over the first and last 10% of steps
            k = max(1, len(curve) // 10)
            summary = {
                "steps_logged": len(curve),
                "reward_first_10pct": sum(curve[:k]) / k,
                "reward_last_10pct": sum(curve[-k:]) / k,
            }
            write_json(self.spec.live_dir / "reward_summary.json", summary)
            facts.update(summary)
        return facts


def quiet_live() -> type:
    """dvclive's Live, less one cost: on every step dvclive builds a Studio payload (it
    re-reads the logged params YAML and every metric file) before it checks whether Studio
    is configured at all. That was ~10% of a 200-step demo run here. With Studio off
    ("data" in its skip set, decided once at start) the payload is not built."""
    from dvclive import Live

    class QuietLive(Live):
        def post_data_to_studio(self) -> None:
            if "data" not in self._studio_events_to_skip:
                super().post_data_to_studio()

    return QuietLive


def checkpoints(checkpoint_dir: Path) -> list[tuple[int, Path]]:
    """(step, path) of every complete checkpoint, oldest first. The trainer writes
    trainer_state.json last, so a checkpoint without one was cut off mid-save (a kill, a full
    disk) and is not resumed from."""
    found = []
    for path in checkpoint_dir.glob("checkpoint-*") if checkpoint_dir.is_dir() else ():
        step = path.name.removeprefix("checkpoint-")
        if step.isdigit() and (path / "trainer_state.json").is_file():
            try:
                json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
            except ValueError:
                continue
            found.append((int(step), path))
    return sorted(found)


def last_checkpoint(checkpoint_dir: Path) -> str | None:
    """The newest complete checkpoint; incomplete newer ones are removed so that the trainer
    can write that step again."""
    import shutil

    done = checkpoints(checkpoint_dir)
    newest = done[-1][0] if done else -1
    for path in checkpoint_dir.glob("checkpoint-*") if checkpoint_dir.is_dir() else ():
        step = path.name.removeprefix("checkpoint-")
        if step.isdigit() and int(step) > newest and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
    return str(done[-1][1]) if done else None
