"""Ray scoring: sharded scoring in Ray tasks and actors equals in-process scoring exactly."""

from __future__ import annotations

import numpy as np
import pytest

from _toy_rewards import TOY_SET, batch_size_reward, length_score, random_batch
from vrft_rewards.distributed import (
    RewardWorker,
    make_reward_actor,
    score_with_actors,
    score_with_ray,
    shard_bounds,
)
from vrft_rewards.rewards import RewardSet, register_preset, unregister_preset

# Ray emits deprecation chatter for its own APIs; pytest runs with warnings as errors.
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]

# Where the vrft_rewards under test lives (the checkout with an in-place build, or site-packages
# after `pip install .`): child processes must import that one, not a checkout without _C.


def assert_same(a, b):
    assert a.names == b.names
    np.testing.assert_array_equal(a.weights, b.weights)
    assert a.matrix.shape == b.matrix.shape
    # bitwise equality, NaN (None) in the same places
    assert a.matrix.tobytes() == b.matrix.tobytes() and a.overall.tobytes() == b.overall.tobytes()


# -- shard bounds (no Ray needed) ------------------------------------------------------------------
def _shards_reference(n, k, g):
    groups = [list(range(i, min(i + g, n))) for i in range(0, n, g)]
    k = min(k, len(groups))
    sizes = [len(groups) // k + (1 if s < len(groups) % k else 0) for s in range(k)]
    out, gi = [], 0
    for size in sizes:
        rows = [r for grp in groups[gi : gi + size] for r in grp]
        out.append((rows[0], rows[-1] + 1))
        gi += size
    return out


@pytest.mark.parametrize("n", [0, 1, 2, 7, 16, 33])
@pytest.mark.parametrize("k", [1, 2, 3, 8, 50])
@pytest.mark.parametrize("g", [1, 4])
def test_shard_bounds_cover_rows_contiguously_and_keep_groups(n, k, g):
    bounds = shard_bounds(n, k, g)
    assert bounds == _shards_reference(n, k, g)
    flat = [r for a, b in bounds for r in range(a, b)]
    assert flat == list(range(n))
    assert all(a % g == 0 and b > a for a, b in bounds)


@pytest.mark.parametrize(
    ("args", "exc"),
    [
        ((-1, 2), ValueError),
        ((4, 0), ValueError),
        ((4, 2, 0), ValueError),
        ((4.0, 2), TypeError),
        ((4, True), TypeError),
    ],
)
def test_shard_bounds_rejects_bad_arguments(args, exc):
    with pytest.raises(exc):
        shard_bounds(*args)


def test_reward_worker_without_ray():
    completions, solution = random_batch(1, 10)
    w = RewardWorker(TOY_SET)
    assert w.names() == TOY_SET.names
    assert_same(w.score(completions, solution=solution), TOY_SET(completions, solution=solution))


# -- Ray -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("num_shards", [None, 1, 3, 7])
def test_score_with_ray_equals_in_process(ray_session, num_shards):
    completions, solution = random_batch(21, 1000)
    got = score_with_ray(TOY_SET, completions, num_shards=num_shards, solution=solution)
    assert_same(got, TOY_SET(completions, solution=solution))


def test_score_with_ray_by_task_name_and_numpy_columns(ray_session):
    # the name resolves in the driver; the RewardSet itself travels to the workers
    register_preset("toy-ray", lambda: TOY_SET)
    try:
        completions, solution = random_batch(22, 101)
        got = score_with_ray(
            "toy-ray",
            np.array(completions, dtype=object),
            num_shards=4,
            group_size=4,
            solution=np.array(solution, dtype=object),
        )
        assert_same(got, TOY_SET(completions, solution=solution))
    finally:
        unregister_preset("toy-ray")


def test_each_shard_calls_each_reward_once_on_the_whole_shard(ray_session):
    # batch_size_reward gives every row the size of the batch it was called with: contiguous
    # shards of 4, 3, 3 rows mean one call per shard, on the whole shard.
    got = score_with_ray(RewardSet([batch_size_reward]), ["x"] * 10, num_shards=3)
    assert got.column("batch_size_reward") == [4.0] * 4 + [3.0] * 6


def test_empty_batch_and_bad_columns(ray_session):
    assert len(score_with_ray(TOY_SET, [], solution=[])) == 0
    with pytest.raises(ValueError, match=r"column 'solution' must have one entry per completion \(2\), got 1"):
        score_with_ray(TOY_SET, ["a", "b"], solution=["a"])
    with pytest.raises(TypeError, match="log_metric cannot cross"):
        score_with_ray(TOY_SET, ["a"], solution=["a"], log_metric=print)


def test_actor_scores_like_in_process(ray_session):
    actor = make_reward_actor(TOY_SET, num_cpus=1)
    completions, solution = random_batch(23, 300)
    got = ray_session.get(actor.score.remote(completions, solution=solution))
    assert_same(got, TOY_SET(completions, solution=solution))
    assert ray_session.get(actor.names.remote()) == TOY_SET.names
    ray_session.kill(actor)


def test_actor_pool_with_import_path_task(ray_session):
    # an import path resolves inside each actor's process
    actors = [make_reward_actor("_toy_rewards:TOY_SET", num_cpus=0.5) for _ in range(2)]
    completions, solution = random_batch(24, 257)
    got = score_with_actors(actors, completions, group_size=8, solution=solution)
    assert_same(got, TOY_SET(completions, solution=solution))
    for a in actors:
        ray_session.kill(a)
    with pytest.raises(ValueError, match="non-empty list of reward actors"):
        score_with_actors([], ["a"])


def test_callables_pickle_into_plain_ray_tasks(ray_session):
    @ray_session.remote
    def apply(func, completions):
        return func(completions=completions)

    assert ray_session.get(apply.remote(length_score, ["abcd"])) == [0.5]
    assert ray_session.get(apply.remote(TOY_SET.funcs[2], ["ab", ""])) == [1.0, None]
