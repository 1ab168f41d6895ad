"""verl adapter: ``compute_score`` for ``reward.custom_reward_function``.

verl (``verl/trainer/ppo/reward.py::get_custom_reward_fn``) loads a function by file path and
name and calls it in one of two forms:

* per sample (Reward Loop ``naive`` / ``remote`` managers, legacy ``naive`` / ``prime``):
  ``compute_score(data_source, solution_str, ground_truth, extra_info=None, **reward_kwargs)``,
  sync or ``async def``; the ``prime`` manager passes the four arguments positionally;
* batch (legacy ``batch`` manager): ``compute_score(data_sources=, solution_strs=,
  ground_truths=, extra_infos=, **reward_kwargs) -> list``.

A dict return must hold ``"score"``; verl logs every key in ``reward_extra_info``. Every dict
here holds ``"score"`` (the weighted total) and one entry per reward function name.

Configuration (verl Hydra keys)::

    reward.custom_reward_function.path=<site-packages>/vrft_rewards/integrations/verl.py
    reward.custom_reward_function.name=compute_score          # or compute_score_async
    +reward.custom_reward_function.reward_kwargs.task=detection

Absolute imports only: verl executes this file as a standalone module.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from vrft_rewards.integrations._common import (
    MetricLog,
    cached_reward_set,
    check_none_score,
    check_rows,
    group_rows,
    merge_columns,
    rows_to_columns,
    take,
    take_columns,
)
from vrft_rewards.rewards.combine import RewardSetResult
from vrft_rewards.rewards.registry import available_presets

__all__ = ["compute_score", "compute_score_async"]

_log = logging.getLogger(__name__)
_WARNED: set[frozenset[str]] = set()


def _task_of(
    data_source: Any,
    extra_info: Any,
    task: Any,
    task_map: Mapping[str, Any] | None,
    presets: Callable[[], list[str]] = available_presets,
) -> Any:
    if task is not None:
        return task
    if isinstance(extra_info, Mapping) and extra_info.get("task") is not None:
        return extra_info["task"]
    if task_map is not None and data_source in task_map:
        return task_map[data_source]
    if isinstance(data_source, str) and data_source in presets():
        return data_source
    raise ValueError(
        f"cannot tell the task of a sample with data_source={data_source!r}: pass task=... "
        "(reward_kwargs), put 'task' into extra_info, map data sources with task_map={data_source: task}, "
        f"or use a preset name {available_presets()} as data_source"
    )


def _prepare(
    data_sources: list[Any],
    solution_strs: list[Any],
    ground_truths: list[Any],
    extra_infos: list[Any],
    task: Any,
    task_map: Any,
    kwargs: dict[str, Any],
):
    if task_map is not None and not isinstance(task_map, Mapping):
        raise TypeError(f"task_map must be a mapping data_source -> task, got {type(task_map).__name__}")
    if kwargs:
        key = frozenset(kwargs)
        if key not in _WARNED:  # verl passes its own extras (e.g. reward_router_address); say so once
            _WARNED.add(key)
            _log.warning("vrft_rewards verl adapter ignores keyword arguments %s", sorted(kwargs))
    presets = functools.cache(available_presets)  # looked up once per batch, not per row
    tasks = [_task_of(d, e, task, task_map, presets) for d, e in zip(data_sources, extra_infos)]
    gt_cols = rows_to_columns(ground_truths, default_key="solution", arg="ground_truth")
    extra_rows = [e if isinstance(e, Mapping) else {} for e in extra_infos]
    extra_cols = rows_to_columns(extra_rows, default_key="extra_info", arg="extra_info")
    extra_cols.pop("task", None)
    return tasks, merge_columns(gt_cols, extra_cols)


def _to_dicts(
    parts: list[tuple[list[int], RewardSetResult, dict[str, float]]], n: int, none_score: float
) -> list[dict[str, float]]:
    out: list[dict[str, float]] = [{}] * n
    for idx, res, metrics in parts:
        overall, matrix = res.filled(none_score)
        overall_l, matrix_l = overall.tolist(), matrix.tolist()
        names = res.names
        for k, i in enumerate(idx):
            d = {"score": overall_l[k]}
            d.update(zip(names, matrix_l[k]))
            for key, value in metrics.items():
                d.setdefault(key, value)
            out[i] = d
    return out


def _unpack(single: tuple[Any, Any, Any, Any], batch: tuple[Any, Any, Any, Any]):
    data_source, solution_str, ground_truth, extra_info = single
    data_sources, solution_strs, ground_truths, extra_infos = batch
    if solution_strs is None:
        if solution_str is None:
            raise TypeError("compute_score needs solution_str (per-sample form) or solution_strs (batch form)")
        return False, [data_source], [solution_str], [ground_truth], [extra_info]
    if solution_str is not None or ground_truth is not None:
        raise TypeError(
            "pass either the per-sample arguments (solution_str, ...) or the batch ones (solution_strs, ...), not both"
        )
    strs = check_rows(solution_strs, None, "solution_strs")
    n = len(strs)
    ds = check_rows(data_sources, n, "data_sources") if data_sources is not None else [None] * n
    gts = check_rows(ground_truths, n, "ground_truths") if ground_truths is not None else [None] * n
    eis = check_rows(extra_infos, n, "extra_infos") if extra_infos is not None else [None] * n
    return True, ds, strs, gts, eis


def _plan(
    data_source,
    solution_str,
    ground_truth,
    extra_info,
    data_sources,
    solution_strs,
    ground_truths,
    extra_infos,
    task,
    task_map,
    preset_kwargs,
    log_metrics,
    kwargs,
):
    """Shared by the sync and async entry points: normalise the call forms and group rows by task.

    Returns ``(batch, n, groups)`` with one ``(row indices, RewardSet, completions, columns,
    MetricLog)`` per task, so that each reward function is called once per task group.
    """
    batch, ds, strs, gts, eis = _unpack(
        (data_source, solution_str, ground_truth, extra_info), (data_sources, solution_strs, ground_truths, extra_infos)
    )
    tasks, columns = _prepare(ds, strs, gts, eis, task, task_map, kwargs)
    n = len(strs)
    groups = []
    for t, idx in group_rows(tasks):
        log = MetricLog()
        cols = take_columns(columns, idx, n)
        if log_metrics:
            cols["log_metric"] = log
        groups.append((idx, cached_reward_set(t, preset_kwargs), take(strs, idx, n), cols, log))
    return batch, n, groups


def compute_score(
    data_source: Any = None,
    solution_str: str | None = None,
    ground_truth: Any = None,
    extra_info: Mapping[str, Any] | None = None,
    *,
    data_sources: Sequence[Any] | None = None,
    solution_strs: Sequence[str] | None = None,
    ground_truths: Sequence[Any] | None = None,
    extra_infos: Sequence[Any] | None = None,
    task: Any = None,
    task_map: Mapping[str, Any] | None = None,
    preset_kwargs: Mapping[str, Any] | None = None,
    none_score: float = 0.0,
    log_metrics: bool = False,
    **kwargs: Any,
) -> dict[str, float] | list[dict[str, float]]:
    """Score verl samples, per sample or as a batch.

    Parameters
    ----------
    data_source : str, optional
        verl's ``non_tensor_batch["data_source"]`` of the sample.
    solution_str : str
        The decoded response (verl decodes with ``skip_special_tokens=True``).
    ground_truth : str or dict, optional
        ``reward_model["ground_truth"]``: a ``solution`` string in the answer format, or a dict
        of structured columns (e.g. ``{"gt_boxes": [[...]], "gt_labels": [...]}``).
    extra_info : dict, optional
        ``non_tensor_batch["extra_info"]``: its keys become further columns (e.g.
        ``image_size``, ``width``, ``height``); ``"task"`` there picks the task of the sample.
        verl does not pass images, so put what the reward needs here.
    data_sources, solution_strs, ground_truths, extra_infos : list, optional
        The same, one entry per sample: the batch form of verl's legacy ``batch`` manager.
    task : str, RewardSet or list of callables, optional
        The task for every sample (set it in ``reward_kwargs``). Without it, the task of a
        sample is ``extra_info["task"]``, else ``task_map[data_source]``, else ``data_source``
        itself when that names a preset.
    task_map : dict, optional
        ``{data_source: task}``.
    preset_kwargs : dict, optional
        Options for the preset factory (e.g. ``{"coord_frame": "norm1000"}``).
    none_score : float, default 0.0
        Stands in for ``None`` ("cannot score", e.g. ground truth missing): verl has no skip.
    log_metrics : bool, default False
        Pass the rewards a ``log_metric`` collector (TRL's callback) and add each batch metric
        they report as a key of every sample's dict. Off by default: verl needs the same keys in
        every dict, so turn it on only with rewards that report the same metrics on every call.
    **kwargs
        Other keywords verl passes (``reward_router_address``, ...) are ignored (logged once).

    Returns
    -------
    dict or list of dict
        ``{"score": overall, <reward name>: value, ...}`` per sample: a dict in the per-sample
        form, a list in the batch form. ``overall`` is the weighted ``nansum`` of
        :class:`~vrft_rewards.rewards.RewardSet`; ``None`` values become ``none_score``.

    Raises
    ------
    TypeError
        If neither or both forms are given, or an argument has the wrong type.
    ValueError
        If the task of a sample cannot be told, or batch lists differ in length.

    Notes
    -----
    In the batch form, samples of the same task are scored together with one call per reward
    function. Keep one task per run (or give every task's preset the same reward names): verl
    expects the same keys in every sample's dict.

    Examples
    --------
    >>> from vrft_rewards.rewards import RewardSet
    >>> def exact(completions, solution, **kwargs):
    ...     return [float(c == s) for c, s in zip(completions, solution)]
    >>> compute_score("toy", "42", "42", task=RewardSet([exact]))
    {'score': 1.0, 'exact': 1.0}
    >>> compute_score(data_sources=["toy"] * 2, solution_strs=["1", "2"], ground_truths=["1", "3"],
    ...               extra_infos=[None, None], task=RewardSet([exact]))
    [{'score': 1.0, 'exact': 1.0}, {'score': 0.0, 'exact': 0.0}]
    """
    none_score = check_none_score(none_score)
    batch, n, groups = _plan(
        data_source,
        solution_str,
        ground_truth,
        extra_info,
        data_sources,
        solution_strs,
        ground_truths,
        extra_infos,
        task,
        task_map,
        preset_kwargs,
        log_metrics,
        kwargs,
    )
    parts = [(idx, rs(strs, **cols), log.values) for idx, rs, strs, cols, log in groups]
    out = _to_dicts(parts, n, none_score)
    return out if batch else out[0]


async def compute_score_async(
    data_source: Any = None,
    solution_str: str | None = None,
    ground_truth: Any = None,
    extra_info: Mapping[str, Any] | None = None,
    *,
    data_sources: Sequence[Any] | None = None,
    solution_strs: Sequence[str] | None = None,
    ground_truths: Sequence[Any] | None = None,
    extra_infos: Sequence[Any] | None = None,
    task: Any = None,
    task_map: Mapping[str, Any] | None = None,
    preset_kwargs: Mapping[str, Any] | None = None,
    none_score: float = 0.0,
    log_metrics: bool = False,
    **kwargs: Any,
) -> dict[str, float] | list[dict[str, float]]:
    """Async twin of :func:`compute_score` (same arguments and results).

    verl's Reward Loop awaits an ``async def`` function directly on its event loop; here the sync
    reward functions run in a worker thread (:meth:`RewardSet.ascore`), so the loop stays free
    while the native core scores (it releases the GIL), and ``async def`` rewards are awaited.
    Point ``reward.custom_reward_function.name`` at ``compute_score_async`` to use it.
    """
    none_score = check_none_score(none_score)
    batch, n, groups = _plan(
        data_source,
        solution_str,
        ground_truth,
        extra_info,
        data_sources,
        solution_strs,
        ground_truths,
        extra_infos,
        task,
        task_map,
        preset_kwargs,
        log_metrics,
        kwargs,
    )
    parts = [(idx, await rs.ascore(strs, **cols), log.values) for idx, rs, strs, cols, log in groups]
    out = _to_dicts(parts, n, none_score)
    return out if batch else out[0]
