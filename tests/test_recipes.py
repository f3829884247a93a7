"""Recipes (forge/recipes/): the registry and each recipe's declaration, the demo's preference
split and reward, what each stage trains for each recipe, and the chat-template contract.
Short real TRL runs of every method are in test_recipes_train.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forge.config import compose as c
from forge.data import demo
from forge.errors import ConfigError, ForgeError
from forge.recipes import parts
from forge.recipes.registry import RECIPES, get

from .conftest import ROOT

CONF = ROOT / "conf"


def _typed(cfg):
    """The typed recipe, as load_recipe gives it to a stage."""
    from omegaconf import OmegaConf

    return OmegaConf.to_object(cfg.recipe)


# --- the registry ------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(RECIPES))
def test_every_recipe_has_a_conf_file_composed_by_its_config_class(name: str):
    from omegaconf import OmegaConf

    recipe = RECIPES[name]
    assert recipe.name == name and (CONF / "recipe" / f"{name}.yaml").is_file()
    cfg = c.compose([f"recipe={name}"], CONF)
    assert OmegaConf.get_type(cfg.recipe) is recipe.config
    typed = _typed(cfg)
    assert type(typed) is recipe.config and typed.method == name
    assert (typed.adapter is not None) == recipe.trains_adapter == ("lora" in cfg.recipe)


def test_every_conf_recipe_is_registered():
    assert sorted(p.stem for p in (CONF / "recipe").glob("*.yaml")) == sorted(RECIPES)


def test_no_method_is_named_outside_the_recipes():
    """`grep -rn "method ==" forge/`: only forge/recipes/ may branch on a method."""
    forge = ROOT / "forge"
    hits = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in sorted(forge.rglob("*.py"))
        if forge / "recipes" not in path.parents
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "method ==" in line
    ]
    assert hits == [], "\n".join(hits)


@pytest.mark.parametrize(
    ("method", "problem"),
    [
        ("lora_sfy", "recipe.method: unknown method 'lora_sfy'; did you mean 'lora_sft'?"),
        (
            "ppo",
            "recipe.method: PPO was removed from TRL in 1.13; use recipe=rlhf "
            "(RLOO against a reward model)",
        ),
    ],
)
def test_an_unknown_method_is_one_line_naming_recipe_method(method: str, problem: str):
    with pytest.raises(ConfigError) as info:
        get(method)
    assert info.value.problems == [problem]


def test_kto_is_registered_with_its_unpaired_data():
    from forge.recipes.base import DataKind, Metric
    from forge.recipes.kto import KTOConfig

    kto = get("kto")
    assert (kto.config, kto.data, kto.warm_start, kto.reward_model) == (
        KTOConfig,
        DataKind.UNPAIRED,
        True,
        False,
    )
    assert Metric.IMPLICIT_REWARD in kto.metrics and kto.trains_adapter


# --- demo data -------------------------------------------------------------------------


def test_preference_rows_pair_each_demo_prompt_with_a_wrong_answer():
    rows = demo.preferences(500)
    sft = demo.generate(500)
    assert [r["prompt"] for r in rows] == [r["prompt"] for r in sft]
    assert all(r["chosen"] == s["completion"] for r, s in zip(rows, sft, strict=True))
    assert all(r["rejected"] != r["chosen"] and r["rejected"] for r in rows)
    echoes = sum(r["rejected"] == r["prompt"].removeprefix("reverse: ") for r in rows)
    assert 0.2 < echoes / len(rows) < 0.5  # a mix of mistakes, not one kind


def test_committed_preference_file_is_what_the_generator_writes():
    lines = (ROOT / "data/raw/demo_preference.jsonl").read_text().splitlines()
    assert [json.loads(x) for x in lines] == demo.preferences()


@pytest.mark.parametrize(
    ("answer", "reward"),
    [("dcba", 1.0), (" dcba ", 1.0), ("dcbx", 0.375), ("abcd", 0.0), ("", 0.0), ("dcbaa", 0.4)],
)
def test_programmatic_reward_gives_partial_credit(answer: str, reward: float):
    assert demo.reward("reverse: abcd", answer) == pytest.approx(reward)


# --- what each stage trains ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "sft", "reward"),
    [
        ("lora_sft", False, False),
        ("full_sft", False, False),
        ("dpo", True, False),
        ("kto", True, False),
        ("reward_model", True, False),
        ("rlhf", True, True),
        ("grpo", True, False),
    ],
)
def test_each_recipe_uses_the_stages_it_needs(name: str, sft: bool, reward: bool):
    r = _typed(c.compose([f"recipe={name}"], CONF))
    assert r.method == name
    assert (get(name).warm_start, get(name).reward_model) == (sft, reward)  # as declared
    warm = parts.part_recipe("sft", r)
    assert (warm is not None) == sft
    if warm is not None:
        assert warm.method == "full_sft" and warm.max_steps == r.warm_start.steps
        assert type(warm) is get("full_sft").config and warm.adapter is None
    rm = parts.part_recipe("reward", r)
    assert (rm is not None) == reward
    if rm is not None:
        assert rm.method == "reward_model" and rm.max_steps == r.reward_model.steps
        assert type(rm) is get("reward_model").config
    assert parts.part_recipe("train", r) is r


def test_an_unknown_part_is_refused():
    r = _typed(c.compose([], CONF))
    with pytest.raises(ForgeError, match=r"unknown training part 'eval'"):
        parts.part_recipe("eval", r)


DATA = Path("data/prepared")


@pytest.mark.parametrize(
    ("name", "files"),
    [
        ("lora_sft", {"train": DATA / "train.jsonl", "val": DATA / "val.jsonl"}),
        ("full_sft", {"train": DATA / "train.jsonl", "val": DATA / "val.jsonl"}),
        ("grpo", {"train": DATA / "train.jsonl", "val": DATA / "val.jsonl"}),
        (
            "dpo",
            {
                "preference_train": DATA / "preference/train.jsonl",
                "preference_val": DATA / "preference/val.jsonl",
            },
        ),
        (
            "reward_model",
            {
                "preference_train": DATA / "preference/train.jsonl",
                "preference_val": DATA / "preference/val.jsonl",
            },
        ),
        (
            "rlhf",
            {
                "preference_train": DATA / "preference/train.jsonl",
                "preference_val": DATA / "preference/val.jsonl",
            },
        ),
        (
            "kto",
            {
                "unpaired_train": DATA / "unpaired/train.jsonl",
                "unpaired_val": DATA / "unpaired/val.jsonl",
            },
        ),
    ],
)
def test_each_recipe_reads_its_prepared_split(name: str, files: dict[str, Path]):
    r = _typed(c.compose([f"recipe={name}"], CONF))
    assert parts.data_inputs(r, DATA) == files


def test_derived_parts_read_their_own_split():
    r = _typed(c.compose(["recipe=rlhf"], CONF))
    sft, reward = parts.part_recipe("sft", r), parts.part_recipe("reward", r)
    assert set(parts.data_inputs(sft, DATA)) == {"train", "val"}
    assert set(parts.data_inputs(reward, DATA)) == {"preference_train", "preference_val"}


def test_start_and_reward_model_come_from_the_earlier_stages(tmp_path: Path):
    sft_dir, reward_dir = tmp_path / "sft", tmp_path / "reward"
    assert parts.start_model(sft_dir) is None  # no warm start: models/base
    sft_dir.mkdir()
    (sft_dir / "config.json").write_text("{}")
    assert parts.start_model(sft_dir) == sft_dir

    rlhf = _typed(c.compose(["recipe=rlhf"], CONF))
    dpo = _typed(c.compose(["recipe=dpo"], CONF))
    assert parts.reward_model_for(dpo, reward_dir) is None
    with pytest.raises(ForgeError, match=r"no reward model; recipe=rlhf needs one"):
        parts.reward_model_for(rlhf, reward_dir)
    reward_dir.mkdir()
    (reward_dir / "config.json").write_text("{}")
    assert parts.reward_model_for(rlhf, reward_dir) == reward_dir


def test_rlhf_without_a_reward_model_is_refused_at_validate():
    with pytest.raises(ConfigError) as info:
        c.compose(["recipe=rlhf", "recipe.reward_model.steps=0"], CONF)
    assert info.value.problems == [
        "recipe.reward_model.steps: rlhf optimises against a learned reward model; "
        "set it > 0 (stage reward trains it)"
    ]


def test_num_generations_must_divide_the_batch():
    with pytest.raises(ConfigError) as info:
        c.compose(["recipe=grpo", "recipe.num_generations=5"], CONF)
    assert info.value.problems == ["recipe.num_generations: 5 must divide recipe.batch_size 64"]
    with pytest.raises(ConfigError) as info:
        c.compose(["recipe=grpo", "recipe.num_generations=1"], CONF)
    assert info.value.problems == ["recipe.num_generations: 1 is outside [2, inf)"]


def test_ppo_is_refused_naming_rlhf():
    with pytest.raises(ConfigError) as info:
        c.compose(["recipe=ppo"], CONF)
    assert "use recipe=rlhf" in info.value.problems[0]


def test_a_bad_reward_function_names_the_key():
    from forge.recipes.grpo import programmatic_reward

    with pytest.raises(ForgeError, match=r"recipe.reward_function: cannot import 'nope:fn'"):
        programmatic_reward("nope:fn")
    fn = programmatic_reward("forge.data.demo:reward")
    prompts = [[{"role": "user", "content": "reverse: abc"}]] * 2
    completions = [
        [{"role": "assistant", "content": "cba"}],
        [{"role": "assistant", "content": "abc"}],
    ]
    assert fn(prompts=prompts, completions=completions) == [1.0, 0.5 * 1 / 3]


def test_length_control_costs_each_character_off_the_preferred_length():
    from forge.recipes.rlhf import length_control

    fn = length_control(0.1)
    completions = [[{"role": "assistant", "content": x}] for x in ("abcd", "ab", "abcdef")]
    assert fn(completions=completions, chosen_chars=[4, 4, 4]) == pytest.approx([0, -0.2, -0.2])


# --- the chat-template contract ------------------------------------------------------


@pytest.fixture(scope="module")
def tokenizer_dirs(tmp_path_factory) -> tuple[Path, Path]:
    from forge.config.schema import TinyModelConfig
    from forge.model import tiny

    root = tmp_path_factory.mktemp("tok")
    cfg = TinyModelConfig()
    tok = tiny.build_tokenizer(cfg, tiny.corpus(0, 200))
    tok.save_pretrained(root / "start")
    tok.chat_template = tiny.CHAT_TEMPLATE.replace(
        "<|assistant|>{% endif %}", "<|assistant|> {% endif %}"
    )
    tok.save_pretrained(root / "drifted")
    return root / "start", root / "drifted"


CONVERSATIONS = [
    [{"role": "user", "content": "reverse: abc"}, {"role": "assistant", "content": "cba"}],
    [{"role": "user", "content": "reverse: hello"}, {"role": "assistant", "content": "olleh"}],
]


def test_contract_holds_for_the_same_tokenizer(tokenizer_dirs):
    from forge.evaluate.contract import check

    start, _ = tokenizer_dirs
    report = check(str(start), start, CONVERSATIONS)
    assert report["conversations_checked"] == 2
    assert report["places"] == ["training", "candidate", "evaluate"]
    assert len(report["chat_template_sha256"]) == 64


def test_contract_names_both_renderings_on_a_mismatch(tokenizer_dirs):
    from forge.evaluate.contract import check

    start, drifted = tokenizer_dirs
    with pytest.raises(ForgeError) as info:
        check(str(start), drifted, CONVERSATIONS)
    msg = str(info.value)
    assert "the prompt of 'reverse: abc' renders differently in training" in msg
    assert "'<|user|>reverse: abc<|end|><|assistant|>'" in msg
    assert "'<|user|>reverse: abc<|end|><|assistant|> '" in msg
