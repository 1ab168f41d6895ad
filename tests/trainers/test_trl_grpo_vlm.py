"""A real ``trl.GRPOTrainer`` run with a vision-language model and our detection rewards.

A tiny random Qwen2.5-VL (built from a config, no download; see ``_tiny_vlm.py``) trains for two
steps on conversational prompts with PIL images and Visual-RFT detection solutions, with our
``detection`` preset as ``reward_funcs``. After each logged step the test reads TRL's own record
of what it scored (``trainer._logs``: the completions and each function's reward per completion,
filled in ``_generate_and_score_completions``; present from TRL 1.0 to 1.16) and checks it against
a direct call of our functions on those completions, per completion and in the logged means.

Run by ``pytest -m trainers`` with the installed TRL (the newest) and again with the lowest TRL
that pyproject.toml allows (``test_in_envs.py``, environment ``trl-1.0.0``).
"""

from __future__ import annotations

import asyncio
import math
import re

import numpy as np
import pytest

import _tiny_vlm
from _recipes import recipe
from vrft_rewards.integrations.trl import AsyncNamedReward, trl_reward_funcs, trl_reward_weights
from vrft_rewards.rewards import RewardSet, resolve_reward_set

trl = pytest.importorskip("trl")
torch = pytest.importorskip("torch")
datasets = pytest.importorskip("datasets")
transformers = pytest.importorskip("transformers")

pytestmark = [
    pytest.mark.trainers,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
]

TRL = tuple(int(x) for x in re.findall(r"\d+", trl.__version__)[:2])


@pytest.fixture(autouse=True)
def _one_thread():
    # On 2 shared cores an oversubscribed tiny model trains 10-30x slower.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


class Snapshot(transformers.TrainerCallback):
    """At every log with rewards: TRL's record of the last generation batch and the logged values."""

    def __init__(self):
        self.trainer = None
        self.steps = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs is None or "reward" not in logs:
            return
        record = self.trainer._logs
        self.steps.append(
            {
                "logs": dict(logs),
                "prompt": list(record["prompt"]),
                "completion": list(record["completion"]),
                "rewards": {k: list(v) for k, v in record["rewards"].items()},
            }
        )


def _asyncify(f):
    async def wrapper(completions, **kwargs):
        await asyncio.sleep(0)
        return f(completions=completions, **kwargs)

    return wrapper


def _train(tmp_path, funcs, weights, *, processor=None, tools=None):
    rows = _tiny_vlm.detection_rows(4)
    processor = processor or _tiny_vlm.make_processor()
    tok = processor.tokenizer
    model = _tiny_vlm.make_scripted_model(tok)
    args = trl.GRPOConfig(
        output_dir=str(tmp_path),
        use_cpu=True,
        bf16=False,
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=max(len(tok.encode(s)) for s in _tiny_vlm.SCRIPTS) + 2,
        max_steps=2,
        logging_steps=1,
        report_to=[],
        save_strategy="no",
        seed=0,
        learning_rate=1e-4,
        reward_weights=weights,
        generation_kwargs={"use_cache": False},  # the scripting hook must see the whole sequence
        log_completions=False,
    )
    extra = {"tools": tools} if tools else {}
    trainer = trl.GRPOTrainer(
        model=model,
        reward_funcs=funcs,
        args=args,
        train_dataset=datasets.Dataset.from_dict(rows),
        processing_class=processor,
        **extra,
    )
    snap = Snapshot()
    snap.trainer = trainer
    trainer.add_callback(snap)
    trainer.train()
    assert len(snap.steps) == 2
    solution_of = dict(enumerate(rows["solution"]))
    for step in snap.steps:  # the prompt (messages or text, by TRL release) names its row: "(image i)"
        step["solution"] = [solution_of[int(re.search(r"\(image (\d+)\)", str(p)).group(1))] for p in step["prompt"]]
    return snap.steps


def _check_logged_equals_direct(steps, rs):
    spread = 0.0
    for step in steps:
        direct = rs(step["completion"], solution=step["solution"])
        for j, name in enumerate(rs.names):
            logged = np.array(step["rewards"][name], dtype=np.float64)
            np.testing.assert_allclose(
                logged, direct.matrix[:, j], rtol=1e-6, atol=1e-7, err_msg=name
            )  # float32 in TRL
            assert math.isclose(
                step["logs"][f"rewards/{name}/mean"], float(np.nanmean(direct.matrix[:, j])), rel_tol=1e-5, abs_tol=1e-6
            )
            spread = max(spread, float(np.std(direct.matrix[:, j])))
        assert math.isclose(step["logs"]["reward"], float(np.nanmean(direct.overall)), rel_tol=1e-5, abs_tol=1e-6)
    assert spread > 0  # the scripted answers differ: a check that could fail


def _recipe_arguments():
    """The reward_funcs= and reward_weights= expressions of docs/integrations.md's TRL recipe, evaluated."""
    code = recipe("trl")
    names = {"trl_reward_funcs": trl_reward_funcs, "trl_reward_weights": trl_reward_weights}
    funcs = re.search(r"reward_funcs=(trl_reward_funcs\([^)]*\))", code).group(1)
    weights = re.search(r"reward_weights=(trl_reward_weights\([^)]*\))", code).group(1)
    return eval(funcs, names), eval(weights, names)  # noqa: S307 - our own doc's two calls


def test_grpo_vlm_logs_our_detection_rewards(tmp_path):
    funcs, weights = _recipe_arguments()
    assert [f.__name__ for f in funcs] == list(resolve_reward_set("detection").names)
    steps = _train(tmp_path, funcs, weights)
    assert isinstance(steps[0]["completion"][0], (str, list))
    _check_logged_equals_direct(steps, resolve_reward_set("detection"))
    logged_format = [v for s in steps for v in s["rewards"]["format_reward"]]
    assert 0.0 in logged_format and 1.0 in logged_format


def test_grpo_vlm_with_renamed_async_rewards(tmp_path):
    # Renamed async rewards come back as AsyncNamedReward instances; TRL < 1.14 tells async rewards
    # by inspect.iscoroutinefunction (before the fix: "'coroutine' object is not iterable").
    base = resolve_reward_set("detection")
    rs = RewardSet([_asyncify(f) for f in base.funcs], names=[f"async_{n}" for n in base.names])
    funcs = trl_reward_funcs(rs)
    assert all(isinstance(f, AsyncNamedReward) for f in funcs)
    steps = _train(tmp_path, funcs, trl_reward_weights(rs))
    renamed = RewardSet(list(base.funcs), names=list(rs.names))
    _check_logged_equals_direct(steps, renamed)


@pytest.mark.skipif(TRL < (1, 15), reason="TRL < 1.15 logs the decoded text, not the messages the rewards got")
def test_grpo_vlm_with_reasoning_content(tmp_path):
    # With a response template (set by hand here, by TRL itself when tools= are given) GRPO parses
    # each completion with parse_response, which moves <think>...</think> into reasoning_content.
    from trl.chat_template_utils import qwen3_template

    processor = _tiny_vlm.make_processor()
    processor.tokenizer.response_template = qwen3_template
    steps = _train(tmp_path, trl_reward_funcs("detection"), trl_reward_weights("detection"), processor=processor)
    messages = [c[-1] for s in steps for c in s["completion"]]
    assert any(m.get("reasoning_content") for m in messages)  # the split happened
    _check_logged_equals_direct(steps, resolve_reward_set("detection"))
    # the format reward saw the completion as the model wrote it, think block included
    rejoined = [
        "<think>%s</think>%s" % (m["reasoning_content"], m["content"]) if m.get("reasoning_content") else m["content"]
        for m in messages
    ]
    logged = [v for s in steps for v in s["rewards"]["format_reward"]]
    format_reward = dict(zip(resolve_reward_set("detection").names, resolve_reward_set("detection").funcs))[
        "format_reward"
    ]
    assert logged == format_reward(rejoined)
    assert 1.0 in logged
