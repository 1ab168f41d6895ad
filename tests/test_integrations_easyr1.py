"""EasyR1 adapter: batch compute_score loaded by path with functools.partial, as EasyR1 does."""

from __future__ import annotations

import functools
import importlib.util
import sys

import pytest

import vrft_rewards.integrations.easyr1 as easyr1_mod
from _toy_rewards import CountingReward, MetricReward, char_overlap, length_score, random_batch
from vrft_rewards.integrations.easyr1 import REWARD_TYPE, compute_score, main
from vrft_rewards.rewards import RewardSet, register_preset, unregister_preset


def format_reward(completions, **kwargs):
    """1 if the completion starts with '<', None for empty ones (toy format check)."""
    return [None if not c else float(c.startswith("<")) for c in completions]


def _inputs(completions, solution):
    return [{"response": c, "response_length": len(c), "ground_truth": s} for c, s in zip(completions, solution)]


def _reference(completions, solution, weights, none_score=0.0):
    """Slow, obvious: format kept apart, accuracy = weighted nansum of the others."""
    w_f, w_c, w_l = weights
    out = []
    for c, s in zip(completions, solution):
        f, o, ln = format_reward([c])[0], char_overlap([c], [s])[0], length_score([c])[0]
        terms = [w * v for w, v in ((w_f, f), (w_c, o), (w_l, ln)) if v is not None]
        overall = none_score
        if terms:
            overall = 0.0
            for t in terms:
                overall += t
        acc_terms = [w * v for w, v in ((w_c, o), (w_l, ln)) if v is not None]
        accuracy = none_score
        if acc_terms:
            accuracy = 0.0
            for t in acc_terms:
                accuracy += t
        out.append(
            {
                "overall": overall,
                "format": none_score if f is None else f,
                "accuracy": accuracy,
                "char_overlap": none_score if o is None else o,
                "length_score": ln,
            }
        )
    return out


def test_module_declares_batch_type_and_default_name():
    assert REWARD_TYPE == "batch"
    assert main is compute_score


@pytest.mark.parametrize("seed", range(5))
def test_keys_and_values_match_reference(seed):
    completions, solution = random_batch(seed, 50)
    weights = (0.25, 1.0, 0.5)
    rs = RewardSet([format_reward, char_overlap, length_score], weights=weights)
    got = compute_score(_inputs(completions, solution), task=rs, none_score=-0.5)
    assert got == _reference(completions, solution, weights, none_score=-0.5)
    assert all(list(d) == ["overall", "format", "accuracy", "char_overlap", "length_score"] for d in got)


def test_one_call_per_reward_for_the_batch():
    counter = CountingReward()
    compute_score(_inputs(["a", "bb", "ccc"], ["x"] * 3), task=RewardSet([counter]))
    assert counter.batch_sizes == [3]


def test_without_format_reward_there_is_no_format_key():
    got = compute_score(_inputs(["abcd"], ["a"]), task=RewardSet([length_score]))
    assert got == [{"overall": 0.5, "accuracy": 0.5, "length_score": 0.5}]


def test_format_name_picks_the_format_reward():
    got = compute_score(
        _inputs(["abcd"], ["a"]), task=RewardSet([length_score, char_overlap]), format_name="length_score"
    )
    assert got == [{"overall": 0.75, "format": 0.5, "accuracy": 0.25, "char_overlap": 0.25}]


def test_dict_ground_truth_becomes_columns_and_response_length_is_passed():
    seen = {}

    def spy(completions, **kwargs):
        seen.update(kwargs)
        return [0.0] * len(completions)

    compute_score(
        [{"response": "a", "response_length": 1, "ground_truth": {"label": "cat"}}],
        task=RewardSet([spy]),
        log_metrics=False,
    )
    assert seen == {"label": ["cat"], "response_length": [1]}


def test_batch_metrics_become_keys_of_every_row():
    got = compute_score(_inputs(["ab", "abcd"], ["a", "a"]), task=RewardSet([MetricReward()]))
    assert got == [
        {"overall": 0.25, "accuracy": 0.25, "metric_reward": 0.25, "toy/mean_len": 3.0},
        {"overall": 0.5, "accuracy": 0.5, "metric_reward": 0.5, "toy/mean_len": 3.0},
    ]
    assert (
        "toy/mean_len"
        not in compute_score(_inputs(["ab"], ["a"]), task=RewardSet([MetricReward()]), log_metrics=False)[0]
    )


def test_loaded_by_path_and_partial_like_easyr1():
    register_preset("toy-easyr1", lambda: RewardSet([format_reward, length_score]))
    spec = importlib.util.spec_from_file_location("custom_reward_fn", easyr1_mod.__file__)
    module = importlib.util.module_from_spec(spec)
    sys.modules["custom_reward_fn"] = module
    try:
        spec.loader.exec_module(module)
        assert module.REWARD_TYPE == "batch"
        fn = functools.partial(module.compute_score, **{"task": "toy-easyr1"})
        assert fn(_inputs(["<abcdefgh"], [None])) == [
            {"overall": 2.0, "format": 1.0, "accuracy": 1.0, "length_score": 1.0}
        ]
    finally:
        sys.modules.pop("custom_reward_fn", None)
        unregister_preset("toy-easyr1")


@pytest.mark.parametrize(
    ("args", "kwargs", "exc", "match"),
    [
        ([[{"response": "a"}]], {}, TypeError, "needs task"),
        (["abc"], {"task": RewardSet([length_score])}, TypeError, "reward_inputs must be a list"),
        ([["abc"]], {"task": RewardSet([length_score])}, TypeError, r"reward_inputs\[0\] must be a dict"),
        ([[{"ground_truth": "a"}]], {"task": RewardSet([length_score])}, KeyError, "no 'response' key"),
        (
            [[{"response": "a"}]],
            {"task": RewardSet([length_score]), "format_name": "x"},
            ValueError,
            "format_name must be one of",
        ),
    ],
)
def test_bad_arguments_raise(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        compute_score(*args, **kwargs)
