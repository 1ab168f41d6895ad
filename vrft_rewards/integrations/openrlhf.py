"""OpenRLHF adapter: ``reward_func(queries, prompts, labels)`` for ``--reward.remote_url x.py``.

OpenRLHF (v0.11, ``openrlhf/utils/agent.py``) loads a ``.py`` file given as the remote reward
URL and calls its module-level ``reward_func(queries, prompts, labels)`` (v0.11: one sample per
call, in a thread; v0.8: Ray tasks over micro-batches). ``queries[i]`` is prompt + response
decoded with ``skip_special_tokens=False``; ``labels[i]`` is the dataset's ``--data.label_key``
value. It expects ``{"rewards": Tensor, "scores": Tensor (0..1, used by dynamic filtering),
"extra_logs": {name: Tensor}}``. A URL that is not a file is an HTTP server speaking the same
dict as JSON at ``POST /get_reward``: see :mod:`vrft_rewards.serve`.

The file has no way to receive options, so the module-level :func:`reward_func` reads the task
from the environment variable ``VRFT_REWARDS_TASK``. For other options write a two-line file::

    from vrft_rewards.integrations.openrlhf import make_reward_func
    reward_func = make_reward_func("detection", preset_kwargs={"coord_frame": "norm1000"})

Absolute imports only: OpenRLHF executes the file as a standalone module.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from vrft_rewards.integrations._common import (
    RESERVED_COLUMNS,
    MetricLog,
    cached_reward_set,
    check_none_score,
    check_rows,
    rows_to_columns,
)
from vrft_rewards.integrations._queries import (
    DEFAULT_ASSISTANT_HEADERS,
    DEFAULT_EOS_TOKENS,
    DEFAULT_MEDIA_TOKENS,
    completions_from_queries,
)
from vrft_rewards.rewards.combine import RewardSetResult

__all__ = [
    "DEFAULT_ASSISTANT_HEADERS",
    "DEFAULT_EOS_TOKENS",
    "DEFAULT_MEDIA_TOKENS",
    "TASK_ENV",
    "OpenRLHFRewardFunc",
    "completions_from_queries",
    "make_reward_func",
    "reward_func",
]

#: Environment variable read by the module-level :func:`reward_func`.
TASK_ENV = "VRFT_REWARDS_TASK"


class OpenRLHFRewardFunc:
    """Picklable ``reward_func(queries, prompts, labels, **kwargs)`` for one task.

    Parameters
    ----------
    task : str, RewardSet or list of callables
        Preset name or reward functions.
    preset_kwargs : dict, optional
        Options for the preset factory.
    label_column : str, default "solution"
        Column that string labels fill. Dict labels give their keys as columns instead.
    eos_tokens : sequence of str, default :data:`DEFAULT_EOS_TOKENS`
        End markers stripped from the responses (see :func:`completions_from_queries`).
    media_tokens, assistant_headers : sequence of str
        Media placeholders and assistant headers that locate the response when the processor
        expanded the prompt's images (see :func:`completions_from_queries`).
    none_score : float, default 0.0
        Stands in for ``None`` ("cannot score"): OpenRLHF has no skip.
    as_tensors : bool, optional
        Return torch float32 tensors (default: when torch is importable) or plain lists.
    log_metrics : bool, default False
        Pass the rewards a ``log_metric`` collector (TRL's callback) and add each batch metric
        they report to ``extra_logs`` (the value repeated per sample). Off by default: OpenRLHF
        aggregates ``extra_logs`` across calls, so use it only with rewards that report the same
        metrics on every call.

    Notes
    -----
    ``rewards`` is the weighted total of :class:`~vrft_rewards.rewards.RewardSet`. ``scores``
    (OpenRLHF's 0..1 score, used by ``--dynamic_filtering``) is that total divided by the sum
    of the positive weights and clipped to [0, 1]; it equals the mean reward when every reward
    lies in [0, 1] with weight 1, as in the Visual-RFT presets. ``extra_logs`` holds one entry
    per reward name.
    """

    __name__ = "reward_func"

    def __init__(
        self,
        task: Any,
        *,
        preset_kwargs: Mapping[str, Any] | None = None,
        label_column: str = "solution",
        eos_tokens: Sequence[str] = DEFAULT_EOS_TOKENS,
        media_tokens: Sequence[str] = DEFAULT_MEDIA_TOKENS,
        assistant_headers: Sequence[str] = DEFAULT_ASSISTANT_HEADERS,
        none_score: float = 0.0,
        as_tensors: bool | None = None,
        log_metrics: bool = False,
    ) -> None:
        if task is None:
            raise TypeError(f"task must be a preset name or reward functions, got None (set {TASK_ENV}?)")
        if not isinstance(label_column, str) or not label_column:
            raise TypeError(f"label_column must be a non-empty str, got {label_column!r}")
        completions_from_queries(
            [], None, eos_tokens=eos_tokens, media_tokens=media_tokens, assistant_headers=assistant_headers
        )  # checks the three
        self.task = task
        self.preset_kwargs = dict(preset_kwargs or {})
        self.label_column = label_column
        self.eos_tokens = tuple(eos_tokens)
        self.media_tokens = tuple(media_tokens)
        self.assistant_headers = tuple(assistant_headers)
        self.none_score = check_none_score(none_score)
        self.as_tensors = as_tensors
        self.log_metrics = bool(log_metrics)
        cached_reward_set(task, self.preset_kwargs)  # fail early on an unknown task

    def score(
        self,
        queries: Sequence[str],
        prompts: Sequence[str] | None = None,
        labels: Sequence[Any] | None = None,
        *,
        log_metric: Any = None,
        **kwargs: Any,
    ) -> RewardSetResult:
        """Score the batch and return the raw :class:`RewardSetResult` (``None`` kept as NaN).

        ``kwargs`` that are lists with one entry per query become further columns; other
        keyword arguments are ignored. ``log_metric`` is handed to the rewards when given. An
        empty batch (OpenRLHF <= 0.11.0 sends one to every URL but the first when a call holds
        fewer samples than URLs) gives an empty result without calling the rewards.
        """
        completions = completions_from_queries(
            queries,
            prompts,
            eos_tokens=self.eos_tokens,
            media_tokens=self.media_tokens,
            assistant_headers=self.assistant_headers,
        )
        n = len(completions)
        rs = cached_reward_set(self.task, self.preset_kwargs)
        if n == 0:
            if labels is not None:
                check_rows(labels, 0, "labels")
            k = len(rs.names)
            return RewardSetResult(rs.names, np.asarray(rs.weights, dtype=np.float64), np.zeros((0, k)), np.zeros(0))
        columns: dict[str, list[Any]] = {}
        if labels is not None:
            columns = rows_to_columns(check_rows(labels, n, "labels"), default_key=self.label_column, arg="labels")
        for key, value in kwargs.items():
            if (
                isinstance(value, (list, tuple))
                and len(value) == n
                and key not in columns
                and key not in RESERVED_COLUMNS
            ):
                columns[key] = list(value)
        if prompts is not None:
            columns.setdefault("prompts", list(prompts))
        if log_metric is not None:
            columns["log_metric"] = log_metric
        return rs(completions, **columns)

    def to_payload(
        self, result: RewardSetResult, *, as_tensors: bool, metrics: Mapping[str, float] | None = None
    ) -> dict[str, Any]:
        """OpenRLHF's ``{"rewards", "scores", "extra_logs"}`` from a result (plus batch metrics)."""
        overall, matrix = result.filled(self.none_score)
        pos = float(np.sum(np.clip(result.weights, 0.0, None)))
        scores = np.clip(overall / pos, 0.0, 1.0) if pos > 0 else overall
        logs = {name: matrix[:, j] for j, name in enumerate(result.names)}
        for key, value in (metrics or {}).items():
            logs.setdefault(key, np.full(len(result), value, dtype=np.float64))
        if as_tensors:
            import torch

            def conv(a: np.ndarray) -> Any:
                return torch.tensor(a, dtype=torch.float32)
        else:

            def conv(a: np.ndarray) -> Any:
                return a.tolist()

        return {"rewards": conv(overall), "scores": conv(scores), "extra_logs": {k: conv(v) for k, v in logs.items()}}

    def __call__(
        self,
        queries: Sequence[str],
        prompts: Sequence[str] | None = None,
        labels: Sequence[Any] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Score OpenRLHF queries: see the class docs for the returned dict."""
        as_tensors = self.as_tensors
        if as_tensors is None:
            try:
                import torch  # noqa: F401

                as_tensors = True
            except ImportError:
                as_tensors = False
        log = MetricLog() if self.log_metrics else None
        result = self.score(queries, prompts, labels, log_metric=log, **kwargs)
        return self.to_payload(result, as_tensors=as_tensors, metrics=log.values if log is not None else None)

    def __repr__(self) -> str:
        return f"OpenRLHFRewardFunc(task={self.task!r})"


def make_reward_func(task: Any, **options: Any) -> OpenRLHFRewardFunc:
    """Build OpenRLHF's ``reward_func`` for ``task``; ``options`` as :class:`OpenRLHFRewardFunc`.

    Examples
    --------
    >>> from vrft_rewards.rewards import RewardSet
    >>> def exact(completions, solution, **kwargs):
    ...     return [float(c == s) for c, s in zip(completions, solution)]
    >>> f = make_reward_func(RewardSet([exact]), as_tensors=False)
    >>> f(["Q: 1+1? A: 2<|im_end|>"], ["Q: 1+1? A: "], ["2"])
    {'rewards': [1.0], 'scores': [1.0], 'extra_logs': {'exact': [1.0]}}
    """
    return OpenRLHFRewardFunc(task, **options)


def reward_func(
    queries: Sequence[str], prompts: Sequence[str] | None = None, labels: Sequence[Any] | None = None, **kwargs: Any
) -> dict[str, Any]:
    """OpenRLHF entry point when this file itself is the ``--reward.remote_url``.

    The task is ``kwargs["task"]`` if given, else the environment variable ``VRFT_REWARDS_TASK``
    (set it for the Ray workers too, e.g. through the job's ``runtime_env``).

    Raises
    ------
    ValueError
        If neither gives a task.
    """
    task = kwargs.pop("task", None) or os.environ.get(TASK_ENV)
    if not task:
        raise ValueError(
            f"no task: set the environment variable {TASK_ENV} (e.g. {TASK_ENV}=detection) or "
            "write a file with reward_func = make_reward_func('detection')"
        )
    return _module_func(task)(queries, prompts, labels, **kwargs)


_FUNCS: dict[str, OpenRLHFRewardFunc] = {}


def _module_func(task: str) -> OpenRLHFRewardFunc:
    f = _FUNCS.get(task)
    if f is None:
        f = _FUNCS.setdefault(task, OpenRLHFRewardFunc(task))
    return f
