"""slime adapter: reward_func loaded and awaited the way slime's reward hub does (re-stated).

slime is not on PyPI (PyPI's "slime" is an unrelated package), so its call sites are re-stated
from THUDM/slime:
* ``slime/utils/misc.py`` at 582d0e8fd7a03758182e2348d25c21b4bad3d9dd, ``load_function``:
  ``module_path, _, attr = path.rpartition(".")``; ``getattr(importlib.import_module(module_path), attr)``;
* ``slime/rollout/rm_hub/__init__.py`` at 701749b73cc0a292b76659beb937b74f0a8f1915: ``async_rm``
  awaits ``load_function(args.custom_rm_path)(args, sample, **kwargs)``; ``batched_async_rm``
  awaits the same function with the list of samples;
* ``slime/utils/types.py`` at 0d234f3e3a83c81b7d37209994e0b994deacbb24: ``Sample`` (``response``,
  ``label``, ``metadata``, ``reward``) and ``get_reward_value(args)`` =
  ``reward if not args.reward_key else reward[args.reward_key]``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import pickle
import types

import pytest

from _recipes import arguments, flag_values
from _toy_rewards import TOY_SET
from vrft_rewards.integrations.slime import TASK_ENV, make_reward_func
from vrft_rewards.integrations.verl import compute_score


@dataclasses.dataclass
class Sample:  # the fields of slime's Sample that a reward reads or writes
    prompt: str = ""
    response: str = ""
    label: str | None = None
    reward: float | dict | None = None
    metadata: dict = dataclasses.field(default_factory=dict)

    def get_reward_value(self, args):
        return self.reward if not args.reward_key else self.reward[args.reward_key]


def load_function(path):
    module_path, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(module_path), attr)


async def async_rm(args, sample, **kwargs):
    return await load_function(args.custom_rm_path)(args, sample, **kwargs)


async def batched_async_rm(args, samples, **kwargs):
    return await load_function(args.custom_rm_path)(args, samples, **kwargs)


# The recipe of docs/integrations.md: --custom-rm-path, --reward-key and the exported task.
ARGS = types.SimpleNamespace(
    custom_rm_path=flag_values("slime", "--custom-rm-path")[0], reward_key=flag_values("slime", "--reward-key")[0]
)
RECIPE_ENV = dict(w.split("=", 1) for w in arguments("slime") if "=" in w and w.split("=", 1)[0].isupper())
GT = "<answer>[{'Position': [5, 5, 30, 30], 'Confidence': 1}]</answer>"
RESPONSES = [
    "<think>one box</think><answer>[{'Position': [5, 5, 30, 30], 'Confidence': 0.9}]</answer>",
    "<think>off</think><answer>[{'Position': [40, 40, 50, 50], 'Confidence': 0.2}]</answer>",
    "garbage",
]


def test_per_sample_and_batched_calls_like_slime(monkeypatch):
    assert RECIPE_ENV == {TASK_ENV: "detection"}
    for key, value in RECIPE_ENV.items():
        monkeypatch.setenv(key, value)
    samples = [Sample(prompt="p", response=r, label=GT, metadata={"index": i}) for i, r in enumerate(RESPONSES)]
    want = [compute_score(None, r, GT, {"index": i}, task="detection") for i, r in enumerate(RESPONSES)]
    assert want[0]["score"] > want[1]["score"] > want[2]["score"] == 0.0  # the cases differ
    for s in samples:
        s.reward = asyncio.run(async_rm(ARGS, s, inplace_set_reward_field=True))  # extra kwargs are ignored
    assert [s.reward for s in samples] == want
    assert [s.get_reward_value(ARGS) for s in samples] == [w["score"] for w in want]
    assert asyncio.run(batched_async_rm(ARGS, samples)) == want


def test_task_from_metadata_and_options(monkeypatch):
    monkeypatch.delenv(TASK_ENV, raising=False)
    sample = Sample(response=RESPONSES[0], label=GT, metadata={"task": "detection"})
    # no task configured: every preset's keys, as the verl adapter gives for the same samples
    assert asyncio.run(async_rm(ARGS, sample)) == compute_score(None, RESPONSES[0], GT, {"task": "detection"})
    with pytest.raises(ValueError, match=f"no task for a sample: set {TASK_ENV}"):
        asyncio.run(async_rm(ARGS, Sample(response="x", label=GT)))
    f = make_reward_func(TOY_SET, none_score=-1.0)
    f = pickle.loads(pickle.dumps(f))
    got = asyncio.run(f(ARGS, [Sample(response="ab", label="a"), Sample(response="ab", label=None)]))
    assert got == [compute_score(None, "ab", lab, task=TOY_SET, none_score=-1.0) for lab in ("a", None)]
    with pytest.raises(TypeError, match="must be a slime Sample"):
        asyncio.run(f(ARGS, ["ab"]))
