"""Ray scoring: split a large batch into contiguous shards, score them on Ray workers, concatenate.

The result is exactly in-process scoring of the whole batch (same float64 values, same order)
for rewards that score each row on its own, which all of ours do. A reward that looks at other
rows (group-relative shaping) sees only its shard: pass ``group_size`` so that shards never split
a group.

Ray is optional (``pip install "vrft-rewards[ray]"``) and imported only when these functions run
(through the package's Ray runtime module, shared with the evaluation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vrft_rewards._ray import cluster_cpus, import_ray, map_tasks, shard_bounds, started_ray
from vrft_rewards.rewards.combine import RewardSet, RewardSetResult
from vrft_rewards.rewards.registry import resolve_reward_set

__all__ = ["RewardWorker", "make_reward_actor", "score_with_actors", "score_with_ray", "shard_bounds"]


_WHAT = "Ray scoring"


def _check_columns(completions: Any, columns: Mapping[str, Any]) -> int:
    if isinstance(completions, (str, bytes)) or not hasattr(completions, "__len__"):
        raise TypeError(f"completions must be a list, got {type(completions).__name__}")
    n = len(completions)
    for name, col in columns.items():
        if isinstance(col, (str, bytes, Mapping)) or not hasattr(col, "__len__") or not hasattr(col, "__getitem__"):
            raise TypeError(
                f"column {name!r} must be a per-sample list (one entry per completion), "
                f"got {type(col).__name__}; callbacks such as log_metric cannot cross to Ray workers"
            )
        if len(col) != n:
            raise ValueError(f"column {name!r} must have one entry per completion ({n}), got {len(col)}")
    return n


def _score_shard(reward_set: RewardSet, shard: tuple[Sequence[Any], dict[str, Sequence[Any]]]) -> RewardSetResult:
    completions, columns = shard
    return reward_set(completions, **columns)


def score_with_ray(
    task_or_funcs: Any,
    completions: Sequence[Any],
    *,
    num_shards: int | None = None,
    group_size: int = 1,
    preset_kwargs: Mapping[str, Any] | None = None,
    ray_options: Mapping[str, Any] | None = None,
    **columns: Sequence[Any],
) -> RewardSetResult:
    """Score a batch in Ray tasks, one contiguous shard each, and concatenate in order.

    Parameters
    ----------
    task_or_funcs : str, RewardSet, callable or list of callables
        Preset name or reward functions; resolved here and shipped to the workers once
        (``ray.put``), so they must pickle.
    completions : sequence, length B
        The completions.
    num_shards : int, optional
        Number of Ray tasks (default: the cluster's CPU count, at most one per group).
    group_size : int, default 1
        Shards never split rows ``[k * group_size, (k + 1) * group_size)``.
    preset_kwargs : dict, optional
        Options for the preset factory.
    ray_options : dict, optional
        Passed to ``.options(...)`` of each task (e.g. ``{"num_cpus": 2}``).
    **columns
        Dataset columns, each with one entry per completion (lists, tuples or arrays; sliced,
        not copied, per shard).

    Returns
    -------
    RewardSetResult
        Identical to ``resolve_reward_set(task_or_funcs)(completions, **columns)``.

    Raises
    ------
    ImportError
        If ray is not installed.
    TypeError, ValueError
        For a column that is not a per-sample sequence of length B, or bad shard arguments.

    Notes
    -----
    Ray is initialised with ``ray.init()`` when it is not yet. Each task runs every reward
    function once on its shard, so per-row results are the same as in one process; ``None``
    rows stay ``None`` (NaN in the result arrays).
    """
    rs = resolve_reward_set(task_or_funcs, **dict(preset_kwargs or {}))
    n = _check_columns(completions, columns)
    if n == 0:  # nothing to ship: score the empty batch here, exactly as in-process scoring would
        return rs(completions, **columns)
    ray = started_ray(_WHAT)
    if num_shards is None:
        num_shards = cluster_cpus(ray)
    bounds = shard_bounds(n, num_shards, group_size)
    shards = [(completions[a:b], {k: v[a:b] for k, v in columns.items()}) for a, b in bounds]
    return RewardSetResult.concat(map_tasks(_score_shard, shards, shared=rs, options=ray_options, what=_WHAT))


class RewardWorker:
    """A reward set kept alive in a process: the body of the Ray actor of :func:`make_reward_actor`.

    Parameters
    ----------
    task_or_funcs : str, RewardSet, callable or list of callables
        Resolved once, in the actor's process.
    preset_kwargs : dict, optional
        Options for the preset factory.
    """

    def __init__(self, task_or_funcs: Any, preset_kwargs: Mapping[str, Any] | None = None) -> None:
        self.reward_set = resolve_reward_set(task_or_funcs, **dict(preset_kwargs or {}))

    def names(self) -> tuple[str, ...]:
        """The reward names of the set."""
        return self.reward_set.names

    def score(self, completions: Sequence[Any], **columns: Sequence[Any]) -> RewardSetResult:
        """Score a batch (every reward function once)."""
        return self.reward_set(completions, **columns)


def make_reward_actor(
    task_or_funcs: Any, *, preset_kwargs: Mapping[str, Any] | None = None, **actor_options: Any
) -> Any:
    """Start a Ray actor holding a reward set: ``actor.score.remote(completions, **columns)``.

    ``actor_options`` go to ``.options(...)`` (e.g. ``num_cpus=1``). The reward set is resolved
    inside the actor, so a task name resolves to the presets registered in that process (the
    built-in ones always are).
    """
    ray = started_ray(_WHAT)
    cls = ray.remote(RewardWorker)
    if actor_options:
        cls = cls.options(**actor_options)
    return cls.remote(task_or_funcs, preset_kwargs)


def score_with_actors(
    actors: Sequence[Any], completions: Sequence[Any], *, group_size: int = 1, **columns: Sequence[Any]
) -> RewardSetResult:
    """Score a batch across a pool of actors from :func:`make_reward_actor`, one shard each.

    Raises
    ------
    ValueError
        If ``actors`` is empty, or a column's length is not B.
    """
    if isinstance(actors, (str, bytes)) or not isinstance(actors, Sequence) or not actors:
        raise ValueError("actors must be a non-empty list of reward actors from make_reward_actor")
    n = _check_columns(completions, columns)
    ray = import_ray(_WHAT)
    if n == 0:
        return ray.get(actors[0].score.remote(completions, **columns))
    bounds = shard_bounds(n, len(actors), group_size)
    refs = [
        actor.score.remote(completions[a:b], **{k: v[a:b] for k, v in columns.items()})
        for actor, (a, b) in zip(actors, bounds)
    ]
    return RewardSetResult.concat(ray.get(refs))
