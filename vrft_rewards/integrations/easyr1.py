"""EasyR1 adapter: a batch reward function for ``worker.reward.reward_function``.

EasyR1 (``verl/workers/reward/function.py``) loads the file by path as module
``custom_reward_fn``, takes the function named after the colon (default ``main``), binds
``worker.reward.reward_function_kwargs`` with ``functools.partial`` and, because this module sets
``REWARD_TYPE = "batch"``, calls it once per rollout batch with
``[{"response": str, "response_length": int, "ground_truth": str}, ...]``. It writes
``score["overall"]`` at the last response token and logs every key as ``reward/<key>``. No prompt,
image or extra info reaches the function.

EasyR1's online filter (``algorithm.online_filtering``) keeps the groups whose mean
``filter_key`` (default ``"overall"``) lies strictly inside ``(filter_low, filter_high)``,
default ``(0.01, 0.99)``; as in EasyR1's own reward functions, ``overall`` here lies in [0, 1]
(a weighted mean), so the defaults drop exactly the groups that are all wrong or all right.

Configuration::

    worker.reward.reward_function=<site-packages>/vrft_rewards/integrations/easyr1.py:compute_score
    worker.reward.reward_function_kwargs='{"task": "detection"}'

Absolute imports only: EasyR1 executes this file as a standalone module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from vrft_rewards.integrations._common import (
    MetricLog,
    cached_reward_set,
    check_none_score,
    check_rows,
    rows_to_columns,
)

__all__ = ["REWARD_NAME", "REWARD_TYPE", "compute_score", "main"]

#: EasyR1 reads this to pick its batch reward manager.
REWARD_TYPE = "batch"
#: Shown by EasyR1 in its logs.
REWARD_NAME = "vrft_rewards"

_FORMAT_NAMES = ("format", "format_reward")


def _weighted_mean(matrix: np.ndarray, weights: np.ndarray, none_score: float) -> np.ndarray:
    """TRL's weighted ``nansum`` divided by the sum of the positive weights; ``none_score`` where
    every reward skipped. In [0, 1] when the rewards are and the weights are positive."""
    total = np.nansum(matrix * weights, axis=1)
    positive = float(np.sum(np.clip(weights, 0.0, None)))
    if positive > 0:
        total = total / positive
    total[np.isnan(matrix).all(axis=1)] = none_score
    return total


def compute_score(
    reward_inputs: Sequence[Mapping[str, Any]],
    task: Any = None,
    *,
    preset_kwargs: Mapping[str, Any] | None = None,
    none_score: float = 0.0,
    format_name: str | None = None,
    format_weight: float | None = None,
    log_metrics: bool = True,
) -> list[dict[str, float]]:
    """Score an EasyR1 batch with one call per reward function.

    Parameters
    ----------
    reward_inputs : list of dict
        ``{"response": str, "response_length": int, "ground_truth": str | dict}`` per sample.
        ``ground_truth`` becomes the ``solution`` column, or, if it is a dict, its keys become
        columns; ``response_length`` is passed on as a column as well.
    task : str, RewardSet or list of callables
        The preset name (``"detection"``, ``"classification"``, ``"grounding"``) or the reward
        functions; set it in ``worker.reward.reward_function_kwargs``.
    preset_kwargs : dict, optional
        Options for the preset factory (e.g. ``{"coord_frame": "norm1000"}``).
    none_score : float, default 0.0
        Stands in for ``None`` ("cannot score"): EasyR1 has no skip.
    format_name : str, optional
        Name of the format reward among the set's names (default: ``"format_reward"`` or
        ``"format"`` if present).
    format_weight : float in [0, 1], optional
        EasyR1's own reward functions' knob (``reward_function_kwargs.format_weight``):
        ``overall = (1 - format_weight) * accuracy + format_weight * format``, in place of the
        set's weights for the format reward. Needs a format reward in the set.
    log_metrics : bool, default True
        Pass the rewards a ``log_metric`` collector (TRL's callback) and add each batch metric
        they report (e.g. fraction of malformed completions) as a key of every sample's dict;
        EasyR1 logs the mean of each key as ``reward/<key>``.

    Returns
    -------
    list of dict
        Per sample: ``"overall"``, ``"format"`` (the format reward, only when the set has one),
        ``"accuracy"``, one key per other reward name, then the batch metrics (``log_metrics``).
        ``accuracy`` is the weighted mean of the other rewards (their weighted total divided by
        the sum of their positive weights); ``overall`` is the weighted mean of all rewards, or
        ``(1 - format_weight) * accuracy + format_weight * format``. Both lie in [0, 1] when the
        rewards do and the weights are positive (every built-in preset), which EasyR1's online
        filter expects. ``None`` becomes ``none_score`` everywhere.

    Raises
    ------
    TypeError
        If ``reward_inputs`` is not a list of dicts, ``task`` is missing, or ``format_weight``
        is not a number.
    KeyError
        If an input lacks ``"response"``.
    ValueError
        If ``format_name`` is not one of the set's names, ``format_weight`` lies outside [0, 1]
        or is given for a set without a format reward, or the set has no positive weight.

    Examples
    --------
    >>> from vrft_rewards.rewards import RewardSet
    >>> def format_reward(completions, **kwargs):
    ...     return [float(c.startswith("<answer>")) for c in completions]
    >>> def exact(completions, solution, **kwargs):
    ...     return [float(c == f"<answer>{s}</answer>") for c, s in zip(completions, solution)]
    >>> for d in compute_score([{"response": "<answer>3</answer>", "response_length": 5, "ground_truth": "3"},
    ...                         {"response": "<answer>4</answer>", "response_length": 5, "ground_truth": "3"}],
    ...                        task=RewardSet([format_reward, exact])):
    ...     print(d)
    {'overall': 1.0, 'format': 1.0, 'accuracy': 1.0, 'exact': 1.0}
    {'overall': 0.5, 'format': 1.0, 'accuracy': 0.0, 'exact': 0.0}
    """
    none_score = check_none_score(none_score)
    if task is None:
        raise TypeError(
            "compute_score needs task=...: set worker.reward.reward_function_kwargs="
            '\'{"task": "detection"}\' (or another preset name)'
        )
    rows = check_rows(reward_inputs, None, "reward_inputs")
    for i, r in enumerate(rows):
        if not isinstance(r, Mapping):
            raise TypeError(
                f"reward_inputs[{i}] must be a dict with 'response' and 'ground_truth', got {type(r).__name__}"
            )
        if "response" not in r:
            raise KeyError(f"reward_inputs[{i}] has no 'response' key (keys: {sorted(r)})")
    rs = cached_reward_set(task, preset_kwargs)
    names = rs.names
    if format_name is None:
        fmt = next((j for j, nm in enumerate(names) if nm in _FORMAT_NAMES), None)
    elif format_name in names:
        fmt = names.index(format_name)
    else:
        raise ValueError(f"format_name must be one of the reward names {list(names)}, got {format_name!r}")
    w = np.asarray(rs.weights, dtype=np.float64)
    if not np.any(w > 0):
        raise ValueError(f"EasyR1's overall is a weighted mean: the set needs a positive weight, got {w.tolist()}")
    if format_weight is not None:
        if isinstance(format_weight, bool) or not isinstance(format_weight, (int, float, np.number)):
            raise TypeError(f"format_weight must be a number in [0, 1], got {type(format_weight).__name__}")
        if not 0.0 <= float(format_weight) <= 1.0:
            raise ValueError(f"format_weight must lie in [0, 1], got {format_weight}")
        if fmt is None:
            raise ValueError(
                f"format_weight needs a format reward in the set, whose names are {list(names)} (see format_name=)"
            )

    completions = [r["response"] for r in rows]
    columns = rows_to_columns([r.get("ground_truth") for r in rows], default_key="solution", arg="ground_truth")
    columns.setdefault("response_length", [r.get("response_length") for r in rows])
    log = MetricLog()
    if log_metrics:
        columns["log_metric"] = log
    res = rs(completions, **columns)

    _, matrix = res.filled(none_score)
    others = [j for j in range(len(names)) if j != fmt]
    accuracy = _weighted_mean(res.matrix[:, others], w[others], none_score)
    if format_weight is None:
        overall = _weighted_mean(res.matrix, w, none_score)
    else:
        overall = (1.0 - float(format_weight)) * accuracy + float(format_weight) * matrix[:, fmt]

    overall_l, matrix_l, acc_l = overall.tolist(), matrix.tolist(), accuracy.tolist()
    other_names = [names[j] for j in others]
    out = []
    for i in range(len(rows)):
        d = {"overall": overall_l[i]}
        if fmt is not None:
            d["format"] = matrix_l[i][fmt]
        d["accuracy"] = acc_l[i]
        for name, j in zip(other_names, others):
            d.setdefault(name, matrix_l[i][j])  # a reward literally named "accuracy" yields to the mean
        for key, value in log.values.items():
            d.setdefault(key, value)
        out.append(d)
    return out


#: EasyR1's default function name.
main = compute_score
