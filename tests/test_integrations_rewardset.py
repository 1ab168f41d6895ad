"""RewardSet (combine.py) and the preset registry: the layer every integration goes through."""

from __future__ import annotations

import asyncio
import functools
import pickle
import sys
import types

import numpy as np
import pytest

from _toy_rewards import (
    TOY_SET,
    CountingReward,
    PrefixReward,
    async_length,
    char_overlap,
    length_score,
    random_batch,
    reference,
    toy_set,
)
from vrft_rewards.rewards import (
    RewardSet,
    RewardSetResult,
    available_presets,
    register_preset,
    registry,
    resolve_reward_set,
    reward_name,
    unregister_preset,
)


@pytest.fixture
def toy_preset():
    register_preset("toy-task", toy_set)
    yield "toy-task"
    unregister_preset("toy-task")


# -- scoring ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(20))
def test_overall_is_trl_nansum_on_random_batches(seed):
    completions, solution = random_batch(seed, 64)
    res = toy_set()(completions, solution=solution)
    ref = reference(completions, solution)
    assert res.column("overall") == [r[0] for r in ref]
    per = res.per_function()
    for j, name in enumerate(res.names):
        assert per[name] == [r[1][j] for r in ref]


class Column:
    """Reward returning fixed values (a picklable stand-in for any reward's output)."""

    def __init__(self, values, name):
        self.values, self.__name__ = values, name

    def __call__(self, completions, **kwargs):
        return self.values


@pytest.mark.parametrize("num_funcs", [1, 2, 9, 17])
def test_overall_sums_left_to_right_for_many_functions(num_funcs):
    rng = np.random.default_rng(num_funcs)
    n = 500
    cols = [[None if rng.random() < 0.4 else float(v) for v in rng.normal(size=n)] for _ in range(num_funcs)]
    weights = rng.normal(size=num_funcs).tolist()
    res = RewardSet([Column(c, f"r{j}") for j, c in enumerate(cols)], weights=weights)(["x"] * n)
    want = []
    for i in range(n):
        total = None
        for w, c in zip(weights, cols):
            if c[i] is not None:
                total = w * c[i] if total is None else total + w * c[i]
        want.append(total)
    assert res.column("overall") == want


def test_each_function_is_called_once_per_batch_with_every_row():
    counter = CountingReward()
    rs = RewardSet([counter, length_score])
    rs(["a", "bb", "ccc"], solution=["x"] * 3)
    rs(["a"] * 7)
    assert counter.calls == 2
    assert counter.batch_sizes == [3, 7]


def test_row_where_every_reward_is_none_has_overall_none():
    # TRL >= 1.6 marks such rows unscorable (NaN), not the 0 of a bare nansum.
    rs = RewardSet([char_overlap, PrefixReward("a")])
    res = rs(["", "ab"], solution=[None, "ab"])
    assert res.column("overall") == [None, 1.0 + 1.0]
    assert res.scorable.tolist() == [False, True]


def test_partial_none_is_skipped_not_zeroed():
    rs = RewardSet([char_overlap, length_score], weights=[3.0, 1.0])
    res = rs(["abcd"], solution=[None])
    assert res.to_dict() == {"overall": [0.5], "char_overlap": [None], "length_score": [0.5]}


def test_nan_from_a_reward_counts_as_none():
    def nan_reward(completions, **kwargs):
        return [float("nan")] * len(completions)

    res = RewardSet([nan_reward, length_score])(["abcdefgh"])
    assert res.to_dict() == {"overall": [1.0], "nan_reward": [None], "length_score": [1.0]}


def test_negative_weights_and_zero_weight():
    rs = RewardSet([length_score, PrefixReward("a")], weights=[-1.0, 0.0])
    assert rs(["abcd"]).column("overall") == [-0.5]


def test_kwargs_reach_every_function_including_log_metric():
    seen = []

    def logs(completions, log_metric=None, prompts=None, **kwargs):
        log_metric("toy/mean_len", float(np.mean([len(c) for c in completions])))
        seen.append(prompts)
        return [0.0] * len(completions)

    metrics = {}
    RewardSet([logs, length_score])(
        ["ab", "abcd"], prompts=["p", "q"], log_metric=lambda k, v: metrics.__setitem__(k, v)
    )
    assert metrics == {"toy/mean_len": 3.0}
    assert seen == [["p", "q"]]


def test_numpy_and_torch_outputs_are_accepted():
    torch = pytest.importorskip("torch")

    def np_reward(completions, **kwargs):
        return np.arange(len(completions), dtype=np.float32)

    def torch_reward(completions, **kwargs):
        return torch.ones(len(completions))

    res = RewardSet([np_reward, torch_reward])(["a", "b"])
    assert res.to_dict() == {"overall": [1.0, 2.0], "np_reward": [0.0, 1.0], "torch_reward": [1.0, 1.0]}


def test_empty_batch_gives_empty_columns():
    res = toy_set()([], solution=[])
    assert res.matrix.shape == (0, 3) and res.overall.shape == (0,)
    assert res.to_dict() == {"overall": [], "char_overlap": [], "length_score": [], "prefix_reward": []}


def test_results_are_read_only():
    res = toy_set()(["ab"], solution=["a"])
    with pytest.raises(ValueError):
        res.matrix[0, 0] = 1.0


def test_rewardset_pickles_and_scores_identically():
    completions, solution = random_batch(3, 50)
    clone = pickle.loads(pickle.dumps(TOY_SET))
    a, b = TOY_SET(completions, solution=solution), clone(completions, solution=solution)
    assert clone.names == TOY_SET.names and clone.weights == TOY_SET.weights
    np.testing.assert_array_equal(a.matrix, b.matrix)
    np.testing.assert_array_equal(a.overall, b.overall)


def test_concat_of_slices_equals_whole():
    completions, solution = random_batch(5, 40)
    whole = TOY_SET(completions, solution=solution)
    parts = [TOY_SET(completions[a:b], solution=solution[a:b]) for a, b in [(0, 13), (13, 14), (14, 40)]]
    joined = RewardSetResult.concat(parts)
    np.testing.assert_array_equal(joined.matrix, whole.matrix)
    np.testing.assert_array_equal(joined.overall, whole.overall)


def test_concat_rejects_parts_of_different_sets():
    a = RewardSet([length_score])(["a"])
    b = RewardSet([length_score], weights=[2.0])(["a"])
    with pytest.raises(ValueError, match="same RewardSet"):
        RewardSetResult.concat([a, b])
    with pytest.raises(ValueError, match="at least one"):
        RewardSetResult.concat([])


def test_column_unknown_name_raises_keyerror():
    with pytest.raises(KeyError, match="no reward named 'nope'"):
        toy_set()(["a"], solution=["a"]).column("nope")


# -- async -----------------------------------------------------------------------------------------
def test_async_reward_runs_in_sync_call_outside_a_loop():
    res = RewardSet([async_length, length_score])(["abcd"])
    assert res.to_dict() == {"overall": [1.0], "async_length": [0.5], "length_score": [0.5]}


def test_ascore_equals_sync_call():
    completions, solution = random_batch(9, 30)
    rs = RewardSet([char_overlap, async_length, PrefixReward("x")], weights=[1.0, 2.0, 3.0])
    a = rs(completions, solution=solution)
    b = asyncio.run(rs.ascore(completions, solution=solution))
    np.testing.assert_array_equal(a.matrix, b.matrix)
    np.testing.assert_array_equal(a.overall, b.overall)


def test_async_reward_in_sync_call_inside_running_loop_raises():
    rs = RewardSet([async_length])

    async def inside():
        rs(["a"])

    with pytest.raises(TypeError, match="await RewardSet.ascore"):
        asyncio.run(inside())


# -- contract violations ---------------------------------------------------------------------------
def test_wrong_length_names_the_function():
    def short(completions, **kwargs):
        return [1.0]

    with pytest.raises(ValueError, match="reward 'short' returned 1 rewards for 2 completions"):
        RewardSet([short])(["a", "b"])


@pytest.mark.parametrize("bad", [["1.0"], [object()], "1", {"a": 1.0}, 3.0, [[1.0]]])
def test_non_numeric_output_raises_typeerror(bad):
    def broken(completions, **kwargs):
        return bad

    with pytest.raises(TypeError, match="reward 'broken' must return"):
        RewardSet([broken])(["a"])


def test_completions_must_be_a_list():
    with pytest.raises(TypeError, match="completions must be a list"):
        toy_set()("abc", solution=["a"])


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"funcs": []}, ValueError, "at least one reward function"),
        ({"funcs": length_score}, TypeError, "funcs must be a sequence"),
        ({"funcs": [length_score, 3]}, TypeError, r"funcs\[1\] must be callable"),
        ({"funcs": [length_score], "weights": [1.0, 2.0]}, ValueError, "one entry per function"),
        ({"funcs": [length_score], "weights": [float("inf")]}, ValueError, "weights must be finite"),
        ({"funcs": [length_score], "weights": ["a"]}, TypeError, "weights must be a sequence of numbers"),
        ({"funcs": [length_score], "weights": 1.0}, TypeError, "weights must be a sequence"),
        ({"funcs": [length_score], "names": ["a", "b"]}, ValueError, "names must have one entry"),
        ({"funcs": [length_score], "names": [""]}, TypeError, r"names\[0\] must be a non-empty str"),
        ({"funcs": [length_score], "names": "ab"}, TypeError, "names must be a sequence of str"),
        ({"funcs": [length_score], "names": ["overall"]}, ValueError, "reserved"),
        ({"funcs": [length_score, length_score]}, ValueError, r"unique.*\['length_score'\]"),
    ],
)
def test_constructor_rejects_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        RewardSet(**kwargs)


def test_names_follow_trl_naming_rule():
    part = functools.partial(char_overlap)
    assert reward_name(part) == "char_overlap"
    assert reward_name(PrefixReward("a")) == "prefix_reward"
    assert reward_name(CountingReward()) == "counting"

    class NoName:
        def __call__(self, completions, **kwargs):
            return [0.0] * len(completions)

    assert reward_name(NoName()) == "NoName"
    assert RewardSet([part, length_score], names=["a", "b"]).names == ("a", "b")


# -- registry --------------------------------------------------------------------------------------
def test_resolve_accepts_each_form(toy_preset):
    rs = RewardSet([length_score])
    assert resolve_reward_set(rs) is rs
    assert resolve_reward_set(length_score).names == ("length_score",)
    assert resolve_reward_set([length_score, char_overlap]).names == ("length_score", "char_overlap")
    by_name = resolve_reward_set(toy_preset)
    assert by_name.names == TOY_SET.names and by_name.weights == TOY_SET.weights
    assert toy_preset in available_presets()


def test_resolve_passes_preset_options_to_the_factory():
    register_preset("toy-prefix", lambda prefix="a": [PrefixReward(prefix)])
    try:
        assert resolve_reward_set("toy-prefix", prefix="q")(["qx", "ax"]).column("overall") == [1.0, 0.0]
    finally:
        unregister_preset("toy-prefix")


def test_unknown_task_lists_known_names_and_missing_module(toy_preset, monkeypatch):
    monkeypatch.setattr(registry, "PRESETS_MODULE", "vrft_rewards.rewards._no_such_presets_module")
    with pytest.raises(ValueError, match=r"known preset \['toy-task'\], got 'nope'.*not available"):
        resolve_reward_set("nope")


def test_presets_module_get_preset_is_used_lazily(monkeypatch):
    fake = types.ModuleType("vrft_rewards.rewards._fake_presets")

    def get_preset(task, **kwargs):
        if task != "fake-detection":
            raise KeyError(task)
        return RewardSet([length_score], weights=[kwargs.get("w", 1.0)])

    fake.get_preset = get_preset
    fake.available_presets = lambda: ["fake-detection"]
    monkeypatch.setitem(sys.modules, fake.__name__, fake)
    monkeypatch.setattr(registry, "PRESETS_MODULE", fake.__name__)
    assert resolve_reward_set("fake-detection", w=2.0).weights == (2.0,)
    assert "fake-detection" in available_presets()
    with pytest.raises(ValueError, match=r"known preset \[.*'fake-detection'.*\], got 'other'"):
        resolve_reward_set("other")


def test_import_path_task():
    assert resolve_reward_set("_toy_rewards:TOY_SET") is TOY_SET
    assert resolve_reward_set("_toy_rewards:TOY_FUNCS").names == ("char_overlap", "length_score")
    assert resolve_reward_set("_toy_rewards:length_score").names == ("length_score",)
    with pytest.raises(ValueError, match="cannot import module"):
        resolve_reward_set("no_such_module_xyz:thing")
    with pytest.raises(ValueError, match="has no attribute"):
        resolve_reward_set("_toy_rewards:nope")
    with pytest.raises(TypeError, match="must name a RewardSet"):
        resolve_reward_set("_toy_rewards:np.pi")


def test_register_rejects_duplicates_and_bad_arguments(toy_preset):
    with pytest.raises(ValueError, match="already registered"):
        register_preset(toy_preset, toy_set)
    register_preset(toy_preset, toy_set, overwrite=True)
    with pytest.raises(TypeError, match="factory must be callable"):
        register_preset("x", 3)
    with pytest.raises(TypeError, match="name must be a str"):
        register_preset(3, toy_set)
    with pytest.raises(ValueError, match="non-empty task name"):
        register_preset(" padded", toy_set)
    with pytest.raises(KeyError, match="no preset named 'never'"):
        unregister_preset("never")


def test_resolve_rejects_bad_inputs(toy_preset):
    with pytest.raises(TypeError, match="only apply to a task name"):
        resolve_reward_set([length_score], coord_frame="abs")
    with pytest.raises(TypeError, match="only apply to a task name"):
        resolve_reward_set(TOY_SET, coord_frame="abs")
    with pytest.raises(TypeError, match="task_or_funcs must be"):
        resolve_reward_set(3)
    register_preset("toy-bad", lambda: 42)
    try:
        with pytest.raises(TypeError, match="must build a RewardSet"):
            resolve_reward_set("toy-bad")
    finally:
        unregister_preset("toy-bad")
