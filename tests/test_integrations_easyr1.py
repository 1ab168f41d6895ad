"""EasyR1 adapter: batch compute_score loaded by path with functools.partial, as EasyR1 does."""

from __future__ import annotations

import functools
import importlib.util
import json
import sys

import numpy as np
import pytest

import vrft_rewards.integrations.easyr1 as easyr1_mod
from _recipes import overrides
from _toy_rewards import CountingReward, MetricReward, char_overlap, length_score, random_batch
from vrft_rewards.integrations.easyr1 import REWARD_TYPE, compute_score, main
from vrft_rewards.rewards import RewardSet, register_preset, unregister_preset


def format_reward(completions, **kwargs):
    """1 if the completion starts with '<', None for empty ones (toy format check)."""
    return [None if not c else float(c.startswith("<")) for c in completions]


def _inputs(completions, solution):
    return [{"response": c, "response_length": len(c), "ground_truth": s} for c, s in zip(completions, solution)]


def _mean(pairs, none_score):
    """Weighted mean of the (weight, value) pairs whose value is not None, over all their weights."""
    terms = [w * v for w, v in pairs if v is not None]
    if not terms:
        return none_score
    total = 0.0
    for t in terms:
        total += t
    return total / sum(w for w, _ in pairs)


def _reference(completions, solution, weights, none_score=0.0):
    """Slow, obvious: format kept apart; overall and accuracy are weighted means."""
    w_f, w_c, w_l = weights
    out = []
    for c, s in zip(completions, solution):
        f, o, ln = format_reward([c])[0], char_overlap([c], [s])[0], length_score([c])[0]
        out.append(
            {
                "overall": _mean([(w_f, f), (w_c, o), (w_l, ln)], none_score),
                "format": none_score if f is None else f,
                "accuracy": _mean([(w_c, o), (w_l, ln)], none_score),
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
    want = _reference(completions, solution, weights, none_score=-0.5)
    assert all(list(d) == ["overall", "format", "accuracy", "char_overlap", "length_score"] for d in got)
    for g, w in zip(got, want):
        assert g == pytest.approx(w, rel=1e-12, abs=1e-15)
    assert all(0.0 <= d["overall"] <= 1.0 for d in got if d["overall"] != -0.5)


def test_one_call_per_reward_for_the_batch():
    counter = CountingReward()
    compute_score(_inputs(["a", "bb", "ccc"], ["x"] * 3), task=RewardSet([counter]))
    assert counter.batch_sizes == [3]


def test_without_format_reward_there_is_no_format_key():
    got = compute_score(_inputs(["abcd"], ["a"]), task=RewardSet([length_score], weights=[2.0]))
    assert got == [{"overall": 0.5, "accuracy": 0.5, "length_score": 0.5}]


def test_format_name_picks_the_format_reward():
    got = compute_score(
        _inputs(["abcd"], ["a"]), task=RewardSet([length_score, char_overlap]), format_name="length_score"
    )
    assert got == [{"overall": 0.375, "format": 0.5, "accuracy": 0.25, "char_overlap": 0.25}]


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
            {"overall": 1.0, "format": 1.0, "accuracy": 1.0, "length_score": 1.0}
        ]
    finally:
        sys.modules.pop("custom_reward_fn", None)
        unregister_preset("toy-easyr1")


def test_format_weight_like_easyr1_reward_functions():
    # EasyR1's examples: overall = (1 - format_weight) * accuracy + format_weight * format
    rs = RewardSet([format_reward, char_overlap, length_score], weights=[1.0, 1.0, 3.0])
    completions, solution = random_batch(7, 30)
    got = compute_score(_inputs(completions, solution), task=rs, format_weight=0.1)
    plain = compute_score(_inputs(completions, solution), task=rs)
    for g, p in zip(got, plain):
        assert g["overall"] == pytest.approx(0.9 * p["accuracy"] + 0.1 * p["format"], rel=1e-12, abs=1e-15)
        assert {k: v for k, v in g.items() if k != "overall"} == {k: v for k, v in p.items() if k != "overall"}


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"format_weight": 1.5}, ValueError, r"format_weight must lie in \[0, 1\], got 1.5"),
        ({"format_weight": "0.1"}, TypeError, "format_weight must be a number"),
        ({"format_weight": 0.1, "task": RewardSet([length_score])}, ValueError, "format_weight needs a format reward"),
        ({"task": RewardSet([length_score], weights=[-1.0])}, ValueError, "needs a positive weight"),
    ],
)
def test_bad_format_weight_or_weights_raise(kwargs, exc, match):
    kwargs.setdefault("task", RewardSet([format_reward, length_score]))
    with pytest.raises(exc, match=match):
        compute_score(_inputs(["<a"], [None]), **kwargs)


# -- EasyR1's loader and online filter, re-stated (EasyR1 is not on PyPI) ---------------------------
# Loader: hiyouga/EasyR1 verl/workers/reward/function.py at 46c6c210fddc939f81cf638f7d41d180ffdb17b7
# (FunctionRewardManager.__init__, BatchFunctionRewardManager.compute_reward): the file is loaded as
# module "custom_reward_fn", reward_fn = partial(fn, **reward_function_kwargs), one call per batch,
# reward_tensor[i, len_i - 1] = score["overall"], every key appended to reward_metrics[key].
# Filter: hiyouga/EasyR1 verl/trainer/ray_trainer.py at b44b311 (lines 519-538) with the defaults of
# verl/trainer/config.py (87-93): filter_key="overall", filter_low=0.01, filter_high=0.99; per uid
# the mean of reward_metrics[filter_key]; groups with filter_low < mean < filter_high (strict) are
# kept; none kept -> RuntimeError("No sample is kept after filtering. Please check your data.").
def _easyr1_load(path, name, kwargs):
    spec = importlib.util.spec_from_file_location("custom_reward_fn", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["custom_reward_fn"] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop("custom_reward_fn", None)
    return functools.partial(getattr(module, name), **kwargs)


def _easyr1_batch_reward(reward_fn, responses, ground_truths):
    inputs = [{"response": r, "response_length": len(r), "ground_truth": g} for r, g in zip(responses, ground_truths)]
    scores = reward_fn(inputs)
    overall, metrics = [], {}
    for score in scores:
        overall.append(score["overall"])  # what enters the token-level reward
        for key, value in score.items():
            metrics.setdefault(key, []).append(value)
    return overall, metrics


def _easyr1_online_filter(uids, metrics, filter_key="overall", filter_low=0.01, filter_high=0.99):
    by_uid = {}
    for uid, value in zip(uids, metrics[filter_key]):
        by_uid.setdefault(uid, []).append(value)
    means = {uid: float(np.mean(v)) for uid, v in by_uid.items()}
    kept = [i for i, uid in enumerate(uids) if filter_low < means[uid] < filter_high]
    if not kept:
        raise RuntimeError("No sample is kept after filtering. Please check your data.")
    return sorted({uids[i] for i in kept})


GT = "<answer>[{'Position': [5, 5, 30, 30], 'Confidence': 1}]</answer>"
GOOD = "<think>x</think><answer>[{'Position': [5, 5, 30, 30], 'Confidence': 1.0}]</answer>"
WRONG = "<think>x</think><answer>[{'Position': [40, 40, 60, 60], 'Confidence': 0.1}]</answer>"
BAD = "no answer"


def _recipe():
    """docs/integrations.md's EasyR1 recipe: reward_function=path:name, its kwargs, the filter key."""
    words = dict(w.split("=", 1) for w in overrides("easyr1", "worker.", "algorithm.", VRFT=easyr1_mod.__file__))
    path, name = words["worker.reward.reward_function"].rsplit(":", 1)
    kwargs = json.loads(words["worker.reward.reward_function_kwargs"])
    assert words["algorithm.online_filtering"] == "true"
    return path, name, kwargs, words["algorithm.filter_key"]


@pytest.mark.parametrize("extra", [{}, {"format_weight": 0.1}])
def test_easyr1_online_filter_keeps_the_groups_with_signal(extra):
    path, name, kwargs, filter_key = _recipe()
    assert (path, filter_key) == (easyr1_mod.__file__, "overall")
    reward_fn = _easyr1_load(path, name, {**kwargs, **extra})
    groups = {"all_good": [GOOD] * 4, "mixed": [GOOD, GOOD, BAD, BAD], "all_bad": [BAD] * 4}
    uids = [uid for uid, rs in groups.items() for _ in rs]
    responses = [r for rs in groups.values() for r in rs]
    overall, metrics = _easyr1_batch_reward(reward_fn, responses, [GT] * len(responses))
    assert all(0.0 <= v <= 1.0 for v in overall)
    # the default filter_key: all-right and all-wrong groups go, the mixed one stays (before the fix
    # overall ranged 0-2.9 and no group was kept: "No sample is kept after filtering")
    assert _easyr1_online_filter(uids, metrics, filter_key=filter_key) == ["mixed"]
    # well-formed but wrong boxes: format 1, accuracy low -> a mean inside (0.01, 0.99), kept as EasyR1 does
    overall, metrics = _easyr1_batch_reward(reward_fn, [WRONG] * 4 + [GOOD] * 4, [GT] * 8)
    assert _easyr1_online_filter(["wrong"] * 4 + ["good"] * 4, metrics) == ["wrong"]
    # a reward's own key as filter_key: the group where half the boxes hit stays
    overall, metrics = _easyr1_batch_reward(reward_fn, [WRONG, GOOD] * 2 + [GOOD] * 4, [GT] * 8)
    assert _easyr1_online_filter(["half"] * 4 + ["good"] * 4, metrics, filter_key="iou_reward") == ["half"]


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
