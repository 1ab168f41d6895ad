"""Helpers shared by the trainer adapters: cached task resolution, rows -> columns, fill rules.

Absolute imports only: verl, EasyR1 and OpenRLHF load adapter files by *path*, outside the
package, and a relative import would fail there.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from vrft_rewards._options import RESERVED_COLUMNS
from vrft_rewards.rewards.combine import RewardSet
from vrft_rewards.rewards.registry import resolve_reward_set

__all__ = [
    "DERIVED_CACHE",
    "RESERVED_COLUMNS",
    "MetricLog",
    "cached_reward_set",
    "check_none_score",
    "check_rows",
    "clear_cache",
    "freeze",
    "group_rows",
    "is_async_callable",
    "merge_columns",
    "rows_to_columns",
    "take",
    "take_columns",
]

_CACHE: dict[Any, RewardSet] = {}
_CACHE_LOCK = threading.Lock()


def freeze(value: Any) -> Any:
    """A hashable copy of nested mappings / sequences (a cache key); TypeError if a leaf is unhashable."""
    if isinstance(value, Mapping):
        return tuple(sorted((k, freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    hash(value)  # raises TypeError for unhashable option values: then we do not cache
    return value


def cached_reward_set(task_or_funcs: Any, preset_kwargs: Mapping[str, Any] | None = None) -> RewardSet:
    """:func:`resolve_reward_set`, memoised for task names (adapters are called once per sample).

    A RewardSet or functions are resolved every time (cheap); task names with hashable options
    are built once per process.
    """
    kwargs = dict(preset_kwargs or {})
    if not isinstance(task_or_funcs, str):
        return resolve_reward_set(task_or_funcs, **kwargs)
    try:
        key = (task_or_funcs, freeze(kwargs))
    except TypeError:
        return resolve_reward_set(task_or_funcs, **kwargs)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
    if hit is None:
        hit = resolve_reward_set(task_or_funcs, **kwargs)
        with _CACHE_LOCK:
            hit = _CACHE.setdefault(key, hit)
    return hit


#: Results derived from memoised RewardSets (e.g. the verl adapter's key sets), cleared with them.
DERIVED_CACHE: dict[Any, Any] = {}


def is_async_callable(func: Any) -> bool:
    """True for an ``async def`` function, or a callable whose ``__call__`` is one (through partials)."""
    while isinstance(func, functools.partial):
        func = func.func
    call = getattr(type(func), "__call__", None)  # noqa: B004 - the method itself: is it async?
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(call)


def clear_cache() -> None:
    """Forget every memoised task RewardSet (after re-registering a preset, or in tests)."""
    with _CACHE_LOCK:
        _CACHE.clear()
        DERIVED_CACHE.clear()


def rows_to_columns(rows: Sequence[Any], *, default_key: str, arg: str) -> dict[str, list[Any]]:
    """Per-sample ground truth values -> dataset columns (the kwargs reward functions receive).

    A row that is a mapping contributes its keys as columns (``{"gt_boxes": ..., "label": ...}``);
    any other value (a ``solution`` string, ``None``) goes to the column ``default_key``. Columns
    a row lacks are ``None`` for that row, which the reward functions score as missing ground
    truth (``None``, "skip").
    """
    n = len(rows)
    cols: dict[str, list[Any]] = {}
    for i, row in enumerate(rows):
        if isinstance(row, Mapping):
            items = row.items()
        else:
            items = ((default_key, row),)
        for key, value in items:
            if not isinstance(key, str):
                raise TypeError(f"{arg}[{i}] keys must be str column names, got {key!r}")
            if key in RESERVED_COLUMNS:
                raise ValueError(f"{arg}[{i}] uses the reserved name {key!r} as a column; rename it")
            col = cols.get(key)
            if col is None:
                col = cols[key] = [None] * n
            col[i] = value
    return cols


def merge_columns(primary: dict[str, list[Any]], extra: Mapping[str, list[Any]]) -> dict[str, list[Any]]:
    """Columns of ``primary`` plus those of ``extra`` it lacks (``primary`` wins on a clash)."""
    out = dict(extra)
    out.update(primary)
    return out


def check_none_score(none_score: Any) -> float:
    """Validate the value that replaces ``None``/NaN for trainers that cannot skip a reward."""
    if isinstance(none_score, bool) or not isinstance(none_score, (int, float, np.number)):
        raise TypeError(f"none_score must be a finite float, got {type(none_score).__name__}")
    value = float(none_score)
    if not np.isfinite(value):
        raise ValueError(f"none_score must be finite, got {value}")
    return value


def check_rows(values: Any, n: int | None, arg: str) -> list[Any]:
    """A per-sample argument as a list, checked for type and (if ``n`` is given) length."""
    if values is None or isinstance(values, (str, bytes, Mapping)) or not hasattr(values, "__len__"):
        raise TypeError(f"{arg} must be a list with one entry per sample, got {type(values).__name__}")
    values = list(values)
    if n is not None and len(values) != n:
        raise ValueError(f"{arg} must have one entry per sample ({n}), got {len(values)}")
    return values


def group_rows(tasks: Sequence[Any]) -> list[tuple[Any, list[int]]]:
    """Group row indices by task, first-seen order: ``[(task, [i, ...]), ...]``.

    ``tasks[i]`` is a task name or the reward functions of row ``i`` (grouped by identity).
    Each group is then scored with one call per reward function.
    """
    groups: dict[Any, tuple[Any, list[int]]] = {}
    for i, t in enumerate(tasks):
        k = t if isinstance(t, str) else id(t)
        if k not in groups:
            groups[k] = (t, [])
        groups[k][1].append(i)
    return list(groups.values())


def take(values: Sequence[Any], idx: list[int], n: int) -> list[Any]:
    """``values`` restricted to rows ``idx`` (the list itself when ``idx`` is every row)."""
    if len(idx) == n:
        return list(values)
    return [values[i] for i in idx]


def take_columns(columns: Mapping[str, Sequence[Any]], idx: list[int], n: int) -> dict[str, list[Any]]:
    """Every column restricted to rows ``idx``."""
    return {name: take(col, idx, n) for name, col in columns.items()}


class MetricLog:
    """A ``log_metric(name, value)`` that keeps the last value per name, for trainers without one.

    TRL hands reward functions a ``log_metric`` callback for batch-level sub-metrics (fraction of
    malformed completions, mean matched IoU, ...). The verl / EasyR1 / OpenRLHF adapters pass
    this collector instead and copy what it gathered into every row of the batch they return, so
    that the trainer's per-key mean shows the batch value.
    """

    def __init__(self) -> None:
        self.values: dict[str, float] = {}

    def __call__(self, name: str, value: float) -> None:
        self.values[str(name)] = float(value)
