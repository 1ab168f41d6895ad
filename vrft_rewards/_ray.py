"""The Ray runtime, in one place: import with an install hint, start when needed, cluster CPUs,
task CPU sizing, shard bounds and a map over tasks.

Used by the engine's sharded matching (:mod:`vrft_rewards.cocoeval.sharding`), the detection
pipeline (:mod:`vrft_rewards.eval.detection_batch`), Ray scoring (:mod:`vrft_rewards.distributed`)
and the CLI's ``--ray``.  Ray is optional (``pip install "vrft-rewards[ray]"``): nothing imports it
before a function here runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ._threads import set_num_threads

__all__ = [
    "cluster_cpus",
    "import_ray",
    "init_ray_for_command",
    "map_tasks",
    "shard_bounds",
    "started_ray",
    "use_task_cpus",
]


def import_ray(what: str = "--ray") -> Any:
    """The ``ray`` module; ``ImportError`` saying that ``what`` needs it, and how to install it."""
    try:
        import ray
    except ImportError as e:
        raise ImportError(f'{what} needs ray: pip install "vrft-rewards[ray]" (or pip install ray)') from e
    return ray


def started_ray(what: str = "--ray") -> Any:
    """The ``ray`` module, after ``ray.init()`` when Ray is not running yet."""
    ray = import_ray(what)
    if not ray.is_initialized():
        ray.init()
    return ray


def init_ray_for_command(num_cpus: int | None) -> None:
    """Start Ray for a command's ``--ray``: connect to ``RAY_ADDRESS`` when it is set, else start a
    local Ray with ``num_cpus`` CPUs (None: all), without the dashboard or worker log echo."""
    ray = import_ray("--ray")
    if ray.is_initialized():
        return
    address = os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)


def cluster_cpus(ray: Any) -> int:
    """CPUs of the running Ray cluster (at least 1): the default number of shards."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def use_task_cpus() -> None:
    """Inside a Ray task: size the native pool to the CPUs Ray gave the task (1 by default), so
    that tasks sharing a node do not each start a thread per core.  A no-op outside Ray tasks."""
    try:
        import ray

        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
    except Exception:  # noqa: BLE001 - no ray, not in a task, or an older Ray: keep the default
        return
    set_num_threads(max(1, int(cpus)))


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


def _run_task(fn: Callable, job: Any, shared: Any, has_shared: bool) -> Any:
    use_task_cpus()
    return fn(shared, job) if has_shared else fn(job)


_NOTHING = object()


def map_tasks(
    fn: Callable,
    jobs: Sequence[Any],
    *,
    shared: Any = _NOTHING,
    options: Mapping[str, Any] | None = None,
    progress: Callable[[list], Iterable] | None = None,
    what: str = "--ray",
) -> list:
    """``[fn(job) for job in jobs]`` with one Ray task per job, results in job order.

    Parameters
    ----------
    fn : callable
        Picklable; runs in the task after :func:`use_task_cpus`.
    jobs : sequence
        One argument per task.
    shared : optional
        Shipped once (``ray.put``) and passed first: each task runs ``fn(shared, job)``.
    options : mapping, optional
        ``.options(...)`` of every task (e.g. ``{"num_cpus": 2}``).
    progress : callable, optional
        Wraps the list of pending results while they are collected (a progress bar).
    what : str
        Named in the ``ImportError`` when ray is missing.

    Starts Ray (``ray.init()``) when it is not running.
    """
    ray = started_ray(what)
    task = ray.remote(_run_task)
    if options:
        task = task.options(**dict(options))
    has_shared = shared is not _NOTHING
    shared_ref = ray.put(shared) if has_shared else None
    refs = [task.remote(fn, job, shared_ref, has_shared) for job in jobs]
    if progress is None:
        return ray.get(refs)
    return [ray.get(ref) for ref in progress(refs)]
