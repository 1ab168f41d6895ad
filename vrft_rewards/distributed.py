"""Ray scoring: split a large batch into contiguous shards, score them on Ray workers, concatenate.

The result is exactly in-process scoring of the whole batch (same float64 values, same order)
for rewards that score each row on its own, which all of ours do. A reward that looks at other
rows (group-relative shaping) sees only its shard: pass ``group_size`` so that shards never split
a group.

Ray is optional (``pip install "vrft-rewards[ray]"``) and imported only when these functions run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vrft_rewards._threads import use_ray_task_cpus
from vrft_rewards.rewards.combine import RewardSet, RewardSetResult
from vrft_rewards.rewards.registry import resolve_reward_set

__all__ = ["RewardWorker", "make_reward_actor", "score_with_actors", "score_with_ray", "shard_bounds"]


def _ray() -> Any:
    try:
        import ray
    except ImportError as e:
        raise ImportError('Ray scoring needs ray: pip install "vrft-rewards[ray]" (or pip install ray)') from e
    return ray


def shard_bounds(n: int, num_shards: int, group_size: int = 1) -> list[tuple[int, int]]:
    """Contiguous ``[start, stop)`` bounds splitting ``n`` rows into at most ``num_shards`` shards.

    Shards differ in size by at most one group, start on multiples of ``group_size`` and are
    never empty (fewer shards are returned when there are fewer groups).

    Parameters
    ----------
    n : int
        Number of rows (>= 0).
    num_shards : int
        Wanted number of shards (>= 1).
    group_size : int, default 1
        Rows ``[k * group_size, (k + 1) * group_size)`` stay in one shard (e.g. GRPO's
        ``num_generations``); ``n`` need not be a multiple of it (the last group is shorter).

    Returns
    -------
    list of (int, int)

    Raises
    ------
    ValueError
        If an argument is out of range.

    Examples
    --------
    >>> shard_bounds(10, 3)
    [(0, 4), (4, 7), (7, 10)]
    >>> shard_bounds(10, 3, group_size=4)
    [(0, 4), (4, 8), (8, 10)]
    """
    for name, value, low in (("n", n, 0), ("num_shards", num_shards, 1), ("group_size", group_size, 1)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if value < low:
            raise ValueError(f"{name} must be >= {low}, got {value}")
    groups = -(-n // group_size)
    k = min(num_shards, groups)
    if k == 0:
        return []
    base, extra = divmod(groups, k)
    bounds, g = [], 0
    for s in range(k):
        g2 = g + base + (1 if s < extra else 0)
        bounds.append((g * group_size, min(g2 * group_size, n)))
        g = g2
    return bounds


def _check_columns(completions: Any, columns: Mapping[str, Any]) -> int:
    if isinstance(completions, (str, bytes)) or not hasattr(completions, "__len__"):
        raise TypeError(f"completions must be a list, got {type(completions).__name__}")
    n = len(completions)
    for name, col in columns.items():
        if isinstance(col, (str, bytes, Mapping)) or not hasattr(col, "__len__") or not hasattr(col, "__getitem__"):
            raise TypeError(f"column {name!r} must be a per-sample list (one entry per completion), "
                            f"got {type(col).__name__}; callbacks such as log_metric cannot cross to Ray workers")
        if len(col) != n:
            raise ValueError(f"column {name!r} must have one entry per completion ({n}), got {len(col)}")
    return n


def _score_shard(reward_set: RewardSet, completions: Sequence[Any], columns: dict[str, Sequence[Any]]) -> RewardSetResult:
    use_ray_task_cpus()  # the native pool gets the task's CPUs, not the whole node
    return reward_set(completions, **columns)


def score_with_ray(task_or_funcs: Any, completions: Sequence[Any], *, num_shards: int | None = None,
                   group_size: int = 1, preset_kwargs: Mapping[str, Any] | None = None,
                   ray_options: Mapping[str, Any] | None = None, **columns: Sequence[Any]) -> RewardSetResult:
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
    ray = _ray()
    if not ray.is_initialized():
        ray.init()
    if num_shards is None:
        num_shards = max(1, int(ray.cluster_resources().get("CPU", 1)))
    bounds = shard_bounds(n, num_shards, group_size)
    task = ray.remote(_score_shard)
    if ray_options:
        task = task.options(**dict(ray_options))
    rs_ref = ray.put(rs)
    refs = [task.remote(rs_ref, completions[a:b], {k: v[a:b] for k, v in columns.items()}) for a, b in bounds]
    return RewardSetResult.concat(ray.get(refs))


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


def make_reward_actor(task_or_funcs: Any, *, preset_kwargs: Mapping[str, Any] | None = None,
                      **actor_options: Any) -> Any:
    """Start a Ray actor holding a reward set: ``actor.score.remote(completions, **columns)``.

    ``actor_options`` go to ``.options(...)`` (e.g. ``num_cpus=1``). The reward set is resolved
    inside the actor, so a task name resolves to the presets registered in that process (the
    built-in ones always are).
    """
    ray = _ray()
    if not ray.is_initialized():
        ray.init()
    cls = ray.remote(RewardWorker)
    if actor_options:
        cls = cls.options(**actor_options)
    return cls.remote(task_or_funcs, preset_kwargs)


def score_with_actors(actors: Sequence[Any], completions: Sequence[Any], *, group_size: int = 1,
                      **columns: Sequence[Any]) -> RewardSetResult:
    """Score a batch across a pool of actors from :func:`make_reward_actor`, one shard each.

    Raises
    ------
    ValueError
        If ``actors`` is empty, or a column's length is not B.
    """
    if isinstance(actors, (str, bytes)) or not isinstance(actors, Sequence) or not actors:
        raise ValueError("actors must be a non-empty list of reward actors from make_reward_actor")
    n = _check_columns(completions, columns)
    ray = _ray()
    if n == 0:
        return ray.get(actors[0].score.remote(completions, **columns))
    bounds = shard_bounds(n, len(actors), group_size)
    refs = [actor.score.remote(completions[a:b], **{k: v[a:b] for k, v in columns.items()})
            for actor, (a, b) in zip(actors, bounds)]
    return RewardSetResult.concat(ray.get(refs))
