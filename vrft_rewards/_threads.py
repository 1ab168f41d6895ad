"""Size of the native thread pool shared by every batch call."""

from __future__ import annotations

import operator

from ._ext import _C

__all__ = ["get_num_threads", "set_num_threads", "use_ray_task_cpus"]


def get_num_threads() -> int:
    """Number of threads a batch call uses, the calling thread included."""
    return _C.get_num_threads()


def set_num_threads(n: int) -> None:
    """Set the size of the native thread pool.

    Parameters
    ----------
    n : int
        Threads per batch call, the calling thread included; ``0`` restores the default (the
        CPU count). Workers sleep between calls; they never spin.

    Raises
    ------
    TypeError
        If ``n`` is not an integer.
    ValueError
        If ``n`` is negative.
    """
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"n must be an integer, got {type(n).__name__}") from None
    _C.set_num_threads(n)


def use_ray_task_cpus() -> None:
    """Inside a Ray task: size the native pool to the CPUs Ray gave the task (1 by default), so
    that tasks sharing a node do not each start a thread per core.  A no-op outside Ray tasks."""
    try:
        import ray

        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
    except Exception:  # noqa: BLE001 - no ray, not in a task, or an older Ray: keep the default
        return
    set_num_threads(max(1, int(cpus)))
