"""verl adapter: compute_score in verl's per-sample, positional, batch and async forms."""

from __future__ import annotations

import asyncio
import importlib.util
import logging

import pytest

import vrft_rewards.integrations.verl as verl_mod
from _toy_rewards import TOY_SET, CountingReward, MetricReward, PrefixReward, length_score, random_batch, reference
from vrft_rewards.integrations.verl import compute_score, compute_score_async
from vrft_rewards.rewards import RewardSet, register_preset, unregister_preset

NAMES = ("char_overlap", "length_score", "prefix_reward")


def _expected(completions, solution, none_score=0.0):
    out = []
    for total, vals in reference(completions, solution):
        d = {"score": none_score if total is None else total}
        d.update({n: none_score if v is None else v for n, v in zip(NAMES, vals)})
        out.append(d)
    return out


@pytest.fixture
def toy_presets():
    register_preset("toy-det", lambda: TOY_SET)
    register_preset("toy-len", lambda: RewardSet([length_score], names=["length_score"]))
    yield
    unregister_preset("toy-det")
    unregister_preset("toy-len")


def test_per_sample_form_returns_score_and_sub_scores():
    completions, solution = random_batch(0, 30)
    for c, s, want in zip(completions, solution, _expected(completions, solution, none_score=-1.0)):
        got = compute_score("toy", c, s, None, task=TOY_SET, none_score=-1.0)
        assert got == want


def test_positional_call_like_verl_prime_manager():
    # prime calls evaluation_func(data_source, solution_str, ground_truth, extra_info) positionally
    assert compute_score("toy", "abc", "abc", {"split": "train"}, task=TOY_SET) == _expected(["abc"], ["abc"])[0]


def test_batch_form_equals_per_sample_form_with_one_call_per_reward():
    completions, solution = random_batch(1, 40)
    got = compute_score(
        data_sources=["toy"] * 40,
        solution_strs=completions,
        ground_truths=solution,
        extra_infos=[None] * 40,
        task=TOY_SET,
    )
    assert got == _expected(completions, solution)
    counter = CountingReward()
    compute_score(
        data_sources=["toy"] * 40,
        solution_strs=completions,
        ground_truths=solution,
        extra_infos=[None] * 40,
        task=RewardSet([counter]),
    )
    assert counter.batch_sizes == [40]


def test_async_twin_equals_sync_in_both_forms():
    completions, solution = random_batch(2, 20)
    single = [asyncio.run(compute_score_async("toy", c, s, task=TOY_SET)) for c, s in zip(completions, solution)]
    batch = asyncio.run(
        compute_score_async(
            data_sources=["toy"] * 20,
            solution_strs=completions,
            ground_truths=solution,
            extra_infos=[None] * 20,
            task=TOY_SET,
        )
    )
    assert single == batch == _expected(completions, solution)


def _all_preset_keys():
    from vrft_rewards.rewards.registry import available_presets, resolve_reward_set

    keys = {}
    for p in available_presets():
        keys.update(dict.fromkeys(resolve_reward_set(p).names))
    return list(keys)


def test_task_resolution_order(toy_presets):
    # 1. task= kwarg wins over everything
    assert set(compute_score("toy-det", "ab", "a", {"task": "toy-len"}, task=TOY_SET)) == {"score", *NAMES}
    # 2. extra_info["task"] (no task declared: every preset's keys, none_score where toy-len has none)
    got = compute_score("toy-det", "abcd", "a", {"task": "toy-len"})
    assert got["score"] == 0.5 and got["length_score"] == 0.5
    assert got["char_overlap"] == got["prefix_reward"] == 0.0
    # 3. task_map[data_source] (the run's tasks are declared: their keys only)
    assert compute_score("coco", "abcd", "a", None, task_map={"coco": "toy-len"}) == {"score": 0.5, "length_score": 0.5}
    # 4. data_source naming a preset
    assert compute_score("toy-det", "ab", "a")["score"] == _expected(["ab"], ["a"])[0]["score"]
    with pytest.raises(ValueError, match="cannot tell the task of a sample with data_source='coco'"):
        compute_score("coco", "ab", "a")


def test_mixed_tasks_in_one_batch_are_grouped_and_kept_in_order(toy_presets):
    got = compute_score(
        data_sources=["toy-det", "toy-len", "toy-det", "toy-len"],
        solution_strs=["ab", "abcd", "xa", "abcdefgh"],
        ground_truths=["a", None, "a", None],
        extra_infos=[None] * 4,
        task_map={"toy-det": "toy-det", "toy-len": "toy-len"},
    )
    assert got[1] == {"score": 0.5, "char_overlap": 0.0, "length_score": 0.5, "prefix_reward": 0.0}
    assert got[3] == {"score": 1.0, "char_overlap": 0.0, "length_score": 1.0, "prefix_reward": 0.0}
    assert got[0] == _expected(["ab"], ["a"])[0] and got[2] == _expected(["xa"], ["a"])[0]


def test_every_sample_carries_the_same_keys_even_for_mixed_tasks(toy_presets):
    # verl takes reward_extra_info's keys from the first sample (RewardLoopManager.compute_rm_score,
    # the agent loop's post-processing): per-sample calls of different tasks must agree on them.
    samples = [("toy-det", "ab", "a"), ("toy-len", "abcd", None), ("toy-det", "xa", "a")]
    for kwargs in ({"task_map": {"toy-det": "toy-det", "toy-len": "toy-len"}}, {"tasks": ["toy-det", "toy-len"]}):
        dicts = [compute_score(d, c, g, {"task": d}, **kwargs) for d, c, g in samples]
        assert [list(d) for d in dicts] == [["score", "char_overlap", "length_score", "prefix_reward"]] * 3
        assert dicts[1]["char_overlap"] == dicts[1]["prefix_reward"] == 0.0  # not a reward of toy-len
        dicts = [compute_score(d, c, g, {"task": d}, none_score=-1.0, **kwargs) for d, c, g in samples]
        assert dicts[1]["char_overlap"] == -1.0
    # no task, task_map or tasks: the union of every preset's names
    dicts = [compute_score(d, c, g) for d, c, g in samples]
    assert [list(d) for d in dicts] == [["score", *_all_preset_keys()]] * 3
    # a task outside the configured ones: a clear error, not a dict with other keys
    with pytest.raises(ValueError, match=r"rewards \['char_overlap', 'prefix_reward'\] are not among this run's keys"):
        compute_score("toy-det", "ab", "a", {"task": "toy-det"}, tasks=["toy-len"])


def test_a_reward_named_score_is_refused():
    rs = RewardSet([length_score, PrefixReward("a")], names=["score", "prefix"])
    with pytest.raises(ValueError, match="a reward is named 'score'"):
        compute_score("d", "ab", "a", task=rs)
    with pytest.raises(ValueError, match="a reward is named 'score'"):
        asyncio.run(compute_score_async("d", "ab", "a", task=rs))


def test_scalar_entry_point_for_prime():
    from vrft_rewards.integrations.verl import compute_score_scalar

    completions, solution = random_batch(3, 12)
    want = [d["score"] for d in _expected(completions, solution, none_score=-1.0)]
    # prime calls evaluation_func(data_source, solution_str, ground_truth, extra_info) positionally
    got = [
        compute_score_scalar("toy", c, s, {"split": "x"}, task=TOY_SET, none_score=-1.0)
        for c, s in zip(completions, solution)
    ]
    assert got == want and all(type(v) is float for v in got)
    batch = compute_score_scalar(
        data_sources=["toy"] * 12, solution_strs=completions, ground_truths=solution, task=TOY_SET, none_score=-1.0
    )
    assert batch == want


def test_dict_ground_truth_and_extra_info_become_columns():
    seen = {}

    def spy(completions, **kwargs):
        seen.update(kwargs)
        return [1.0] * len(completions)

    compute_score(
        data_sources=["d", "d"],
        solution_strs=["x", "y"],
        ground_truths=[{"gt_boxes": [[0, 0, 1, 1]], "label": "cat"}, "raw"],
        extra_infos=[{"width": 640, "label": "dog", "task": "ignored"}, {"height": 480}],
        task=RewardSet([spy]),
    )
    assert seen["gt_boxes"] == [[[0, 0, 1, 1]], None]
    assert seen["label"] == ["cat", None]  # ground truth wins over extra_info on a clash
    assert seen["solution"] == [None, "raw"]
    assert seen["width"] == [640, None] and seen["height"] == [None, 480]
    assert "task" not in seen


def test_loads_by_file_path_like_verl():
    spec = importlib.util.spec_from_file_location("custom_module", verl_mod.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fn = module.compute_score
    assert fn("toy", "abc", "abc", task=TOY_SET) == _expected(["abc"], ["abc"])[0]


def test_unknown_kwargs_are_ignored_and_logged_once(caplog, monkeypatch):
    monkeypatch.setattr(verl_mod, "_WARNED", set())
    with caplog.at_level(logging.WARNING, logger=verl_mod.__name__):
        for _ in range(3):
            compute_score("toy", "ab", "a", task=TOY_SET, reward_router_address="http://x:1")
    msgs = [r.getMessage() for r in caplog.records if "ignores keyword" in r.getMessage()]
    assert len(msgs) == 1 and "reward_router_address" in msgs[0]


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({}, TypeError, "needs solution_str"),
        ({"solution_str": "a", "solution_strs": ["a"]}, TypeError, "not both"),
        (
            {"solution_strs": ["a", "b"], "ground_truths": ["a"]},
            ValueError,
            r"ground_truths must have one entry per sample \(2\), got 1",
        ),
        ({"solution_strs": "ab"}, TypeError, "solution_strs must be a list"),
        ({"solution_str": "a", "none_score": float("nan")}, ValueError, "none_score must be finite"),
        ({"solution_str": "a", "none_score": None}, TypeError, "none_score must be a finite float"),
        ({"solution_str": "a", "task_map": ["x"]}, TypeError, "task_map must be a mapping"),
        ({"solution_str": "a", "extra_info": {"log_metric": 1}}, ValueError, "reserved name 'log_metric'"),
        (
            {"solution_str": "a", "ground_truth": {"completions": 1}},
            ValueError,
            r"ground_truth\[0\] uses the reserved name 'completions'",
        ),
    ],
)
def test_bad_arguments_raise(kwargs, exc, match):
    kwargs.setdefault("task", RewardSet([PrefixReward("a")]))
    with pytest.raises(exc, match=match):
        compute_score(**kwargs)


def test_log_metrics_adds_batch_metrics_per_task_group(toy_presets):
    rs = RewardSet([MetricReward()])
    got = compute_score(
        data_sources=["d"] * 2,
        solution_strs=["ab", "abcd"],
        ground_truths=[None, None],
        extra_infos=[None, None],
        task=rs,
        log_metrics=True,
    )
    assert got == [
        {"score": 0.25, "metric_reward": 0.25, "toy/mean_len": 3.0},
        {"score": 0.5, "metric_reward": 0.5, "toy/mean_len": 3.0},
    ]
    assert compute_score("d", "ab", None, task=rs) == {"score": 0.25, "metric_reward": 0.25}  # off by default
    got = asyncio.run(compute_score_async("d", "ab", None, task=rs, log_metrics=True))
    assert got == {"score": 0.25, "metric_reward": 0.25, "toy/mean_len": 2.0}


def test_batch_form_accepts_numpy_object_arrays_like_verl_passes():
    # verl's batch manager hands non_tensor_batch entries over as numpy object arrays
    import numpy as np

    completions, solution = random_batch(5, 12)
    got = compute_score(
        data_sources=np.array(["toy"] * 12, dtype=object),
        solution_strs=completions,
        ground_truths=solution,
        extra_infos=np.array([{"split": "train"}] * 12, dtype=object),
        task=TOY_SET,
    )
    assert got == _expected(completions, solution)
