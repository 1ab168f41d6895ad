"""Size of the native thread pool shared by every batch call."""

from __future__ import annotations

import operator

from ._ext import _C

__all__ = ["get_num_threads", "set_num_threads"]


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
