"""verl adapter: ``compute_score`` for ``reward.custom_reward_function``.

verl loads the function by file path or ``pkg://module`` and name (0.9.1:
``verl/trainer/ppo/reward.py::get_custom_reward_fn``; 0.6.1 and older: by file path only), binds
``reward_kwargs`` and calls it in one of these forms:

* per sample, by keyword, one sample per call: the Reward Loop managers of verl >= 0.7
  (``naive``, ``dapo``, ``gdpo``, ``rate_limited``: sync or ``async def``; ``remote``: sync
  only) and the legacy ``naive`` / ``dapo`` managers of verl <= 0.6.1:
  ``compute_score(data_source=, solution_str=, ground_truth=, extra_info=, **reward_kwargs)``;
* batch (legacy ``batch`` manager, verl <= 0.6.1): ``compute_score(data_sources=,
  solution_strs=, ground_truths=, extra_infos=, **reward_kwargs) -> list``;
* legacy ``prime`` manager (verl <= 0.6.1): positionally, in a process pool, and it reads the
  result as a number (``float(result[0])`` otherwise, which a dict fails): use
  :func:`compute_score_scalar` there.

A dict return must hold ``"score"``; verl logs every other key in ``reward_extra_info``, taking
the key list from the first sample. Every dict here holds ``"score"`` (the weighted total) and
the same reward names for every sample of a configuration (see :func:`compute_score`).

Configuration (verl >= 0.7 Hydra keys)::

    reward.custom_reward_function.path=pkg://vrft_rewards.integrations.verl
    reward.custom_reward_function.name=compute_score          # or compute_score_async
    +reward.custom_reward_function.reward_kwargs.task=detection

Absolute imports only: verl may execute this file as a standalone module.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from vrft_rewards.integrations._common import (
    DERIVED_CACHE,
    MetricLog,
    cached_reward_set,
    check_none_score,
    check_rows,
    freeze,
    group_rows,
    merge_columns,
    rows_to_columns,
    take,
    take_columns,
)
from vrft_rewards.rewards.combine import RewardSetResult
from vrft_rewards.rewards.registry import available_presets

__all__ = ["compute_score", "compute_score_async", "compute_score_scalar"]

_log = logging.getLogger("vrft_rewards.integrations.verl")
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
    found: list[list[str]] = []

    def presets() -> list[str]:  # looked up once per call, and only when a row needs it
        if not found:
            found.append(available_presets())
        return found[0]

    row_tasks = [_task_of(d, e, task, task_map, presets) for d, e in zip(data_sources, extra_infos)]
    gt_cols = rows_to_columns(ground_truths, default_key="solution", arg="ground_truth")
    extra_rows = [e if isinstance(e, Mapping) else {} for e in extra_infos]
    extra_cols = rows_to_columns(extra_rows, default_key="extra_info", arg="extra_info")
    extra_cols.pop("task", None)
    return row_tasks, merge_columns(gt_cols, extra_cols)


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


def _key_set(task: Any, task_map: Mapping[str, Any] | None, tasks: Any, preset_kwargs: Any) -> tuple[str, ...]:
    """The reward names every dict of this configuration carries, whatever task a sample has.

    verl builds its ``reward_extra_info`` columns from the first sample's keys (Reward Loop
    ``compute_rm_score``, agent-loop post-processing), so every sample must carry the same keys:
    the names of ``task`` when given; else the union over the tasks the run declares
    (``task_map``'s and ``tasks``); else the union over every preset that builds with
    ``preset_kwargs`` (the tasks a sample can name), in that order.
    """
    if tasks is not None and (isinstance(tasks, (str, bytes, Mapping)) or not hasattr(tasks, "__iter__")):
        raise TypeError(f"tasks must be a list of the tasks a run mixes, got {type(tasks).__name__}")
    # The names depend on the registered presets only when no task is declared (a memoised task
    # RewardSet does not change until clear_cache(), which clears this cache too).  A task name
    # alone, the per-sample Reward Loop's usual call, skips freezing the options.
    declared = task is not None or bool(task_map) or bool(tasks)
    if isinstance(task, str) and not task_map and tasks is None and not preset_kwargs:
        cache_key = ("verl keys", task)
    else:
        try:
            cache_key = freeze((task, dict(task_map or {}), list(tasks or ()), dict(preset_kwargs or {})))
            cache_key = ("verl keys", cache_key, () if declared else tuple(available_presets()))
        except TypeError:  # a RewardSet / functions as a task, unhashable options: not cached
            cache_key = None
    hit = DERIVED_CACHE.get(cache_key) if cache_key is not None else None
    if hit is not None:
        return hit
    if task is not None:
        required, optional = [task], []
    elif task_map or tasks:  # the run declares its tasks
        required, optional = [*(task_map or {}).values(), *(tasks or ())], []
    else:  # any preset may be named by a sample
        required, optional = [], available_presets()
    names: dict[str, None] = {}
    for t in required:
        names.update(dict.fromkeys(cached_reward_set(t, preset_kwargs).names))
    for t in optional:
        try:
            rs = cached_reward_set(t, preset_kwargs)
        except (TypeError, ValueError, KeyError):  # does not build with these options: not a task here
            continue
        names.update(dict.fromkeys(rs.names))
    if "score" in names:
        raise ValueError(
            "a reward is named 'score', the key verl reads the total from: rename it "
            "(e.g. RewardSet(funcs, names=[...])) so that it does not overwrite the total"
        )
    keys = tuple(names)
    if cache_key is not None:
        DERIVED_CACHE[cache_key] = keys
    return keys


def _plan(args: dict[str, Any]):
    """Shared by the entry points: normalise the call forms, fix the keys, group rows by task.

    Returns ``(batch, n, keys, groups)`` with one ``(row indices, RewardSet, completions,
    columns, MetricLog)`` per task, so that each reward function is called once per task group.
    """
    none_score = check_none_score(args["none_score"])
    task, task_map, preset_kwargs = args["task"], args["task_map"], args["preset_kwargs"]
    batch, ds, strs, gts, eis = _unpack(
        (args["data_source"], args["solution_str"], args["ground_truth"], args["extra_info"]),
        (args["data_sources"], args["solution_strs"], args["ground_truths"], args["extra_infos"]),
    )
    row_tasks, columns = _prepare(ds, strs, gts, eis, task, task_map, args["kwargs"])
    keys = _key_set(task, task_map, args["tasks"], preset_kwargs)
    n = len(strs)
    groups = []
    for t, idx in group_rows(row_tasks):
        log = MetricLog()
        cols = take_columns(columns, idx, n)
        if args["log_metrics"]:
            cols["log_metric"] = log
        groups.append((idx, cached_reward_set(t, preset_kwargs), take(strs, idx, n), cols, log))
    return batch, n, none_score, keys, groups


def _to_dicts(
    parts: list[tuple[list[int], RewardSetResult, dict[str, float]]], n: int, none_score: float, keys: tuple[str, ...]
) -> list[dict[str, float]]:
    out: list[dict[str, float]] = [{}] * n
    for idx, res, metrics in parts:
        missing = [name for name in res.names if name not in keys]
        if missing:
            raise ValueError(
                f"rewards {missing} are not among this run's keys {list(keys)}: verl needs the same keys for "
                "every sample; list every task of the run in task_map= or tasks= (reward_kwargs)"
            )
        overall, matrix = res.filled(none_score)
        overall_l, matrix_l = overall.tolist(), matrix.tolist()
        for k, i in enumerate(idx):
            d = {"score": overall_l[k]}
            d.update(dict.fromkeys(keys, none_score))
            d.update(zip(res.names, matrix_l[k]))
            for key, value in metrics.items():
                d.setdefault(key, value)
            out[i] = d
    return out


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
    tasks: Sequence[Any] | None = None,
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
    tasks : list, optional
        Further tasks a run mixes (named in ``extra_info["task"]``), for the key set (Notes).
    preset_kwargs : dict, optional
        Options for the preset factory (e.g. ``{"coord_frame": "norm1000"}``).
    none_score : float, default 0.0
        Stands in for ``None`` ("cannot score", e.g. ground truth missing) and for the rewards
        a sample's task does not have: verl has no skip.
    log_metrics : bool, default False
        Pass the rewards a ``log_metric`` collector (TRL's callback) and add each batch metric
        they report as a key of the dicts. Off by default: with one sample per call they are
        per-sample values, and keys that some calls lack break verl's aggregation.
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
        If the task of a sample cannot be told, batch lists differ in length, a reward is named
        ``"score"`` (it would overwrite the total), or a sample's task has rewards outside the
        key set.

    Notes
    -----
    verl takes the ``reward_extra_info`` keys from the first sample, so every dict of one
    configuration has the same keys: ``"score"``, then the reward names of ``task`` when it is
    given; otherwise the union of the names of the tasks the run declares (``task_map``'s values
    and ``tasks``); when it declares none, the union of the names of every preset that builds
    with ``preset_kwargs``. A key the sample's task does not have holds ``none_score``. In the
    batch form, samples of the same task are scored together with one call per reward function.

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
    batch, n, none_score, keys, groups = _plan(locals())
    parts = [(idx, rs(strs, **cols), log.values) for idx, rs, strs, cols, log in groups]
    out = _to_dicts(parts, n, none_score, keys)
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
    tasks: Sequence[Any] | None = None,
    preset_kwargs: Mapping[str, Any] | None = None,
    none_score: float = 0.0,
    log_metrics: bool = False,
    **kwargs: Any,
) -> dict[str, float] | list[dict[str, float]]:
    """Async twin of :func:`compute_score` (same arguments and results).

    verl's Reward Loop awaits an ``async def`` function directly on its event loop; here the sync
    reward functions run in a worker thread (:meth:`RewardSet.ascore`), so the loop stays free
    while the native core scores (it releases the GIL), and ``async def`` rewards are awaited.
    Point ``reward.custom_reward_function.name`` at ``compute_score_async`` to use it (not with
    the ``remote`` manager, which accepts sync functions only).
    """
    batch, n, none_score, keys, groups = _plan(locals())
    parts = [(idx, await rs.ascore(strs, **cols), log.values) for idx, rs, strs, cols, log in groups]
    out = _to_dicts(parts, n, none_score, keys)
    return out if batch else out[0]


def compute_score_scalar(
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
    tasks: Sequence[Any] | None = None,
    preset_kwargs: Mapping[str, Any] | None = None,
    none_score: float = 0.0,
    log_metrics: bool = False,
    **kwargs: Any,
) -> float | list[float]:
    """:func:`compute_score`'s ``"score"`` alone: a float (a list in the batch form).

    For verl's legacy ``prime`` manager (verl <= 0.6.1), which reads a number and turns a dict
    into 0 for every sample of the batch, and for any caller that wants only the total.

    Examples
    --------
    >>> from vrft_rewards.rewards import RewardSet
    >>> def exact(completions, solution, **kwargs):
    ...     return [float(c == s) for c, s in zip(completions, solution)]
    >>> compute_score_scalar("toy", "42", "42", None, task=RewardSet([exact, exact], names=["a", "b"]))
    2.0
    """
    args = dict(locals())
    out = compute_score(**{k: v for k, v in args.items() if k != "kwargs"}, **kwargs)
    return [d["score"] for d in out] if isinstance(out, list) else out["score"]
