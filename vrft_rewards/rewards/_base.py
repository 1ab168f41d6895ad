"""The shape every reward callable of this package shares.

TRL's contract: ``f(completions, **kwargs) -> list[float | None]``, all arguments by keyword,
dataset columns as per-sample lists, ``None`` meaning "skip this sample".  Rewards here are
instances of callable classes (picklable, unlike closures, so they run in Ray workers and TRL's
spawned reward processes) with a stable ``__name__`` that TRL uses for its log columns.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import numpy as np

from .._options import TRAINER_KWARGS
from ._tiny import TINY_BATCH

__all__ = ["BatchReward", "MissingColumnsError", "to_reward_list"]


class MissingColumnsError(ValueError):
    """A reward was called without the dataset columns it needs."""


def to_reward_list(values: np.ndarray) -> list:
    """float64 ``(B,)`` with NaN for "skip" -> ``list[float | None]``."""
    if values.shape[0] <= 64:  # a short list is cheaper built in Python than through numpy
        return [None if v != v else v for v in values.tolist()]
    out = values.astype(object)
    out[np.isnan(values)] = None
    return out.tolist()


class BatchReward:
    """Base class: subclasses implement :meth:`score` for the whole batch at once.

    ``score`` returns float64 ``(B,)`` (NaN where the row cannot be scored) and a dict of batch
    metrics; ``__call__`` turns it into TRL's list and reports the metrics through TRL's
    ``log_metric`` when the trainer passes one (as ``<__name__>/<metric>``).
    """

    __name__ = "reward"

    def __call__(self, completions: Sequence[Any], **kwargs: Any) -> list:
        values = self._small(completions, kwargs)
        if values is not None:
            return [None if v != v else v for v in values]  # NaN -> None
        return to_reward_list(self._score_and_log(completions, kwargs))

    def score_array(self, completions: Sequence[Any], **kwargs: Any) -> np.ndarray:
        """:meth:`__call__` without the list: float64 ``(B,)``, NaN for "skip".

        :class:`~vrft_rewards.rewards.RewardSet` calls this to keep the values an array instead
        of converting them to a list and back.
        """
        values = self._small(completions, kwargs)
        if values is not None:
            return np.array(values, dtype=np.float64)
        return self._score_and_log(completions, kwargs)

    def _score_and_log(self, completions: Sequence[Any], kwargs: dict) -> np.ndarray:
        if completions is None:
            raise TypeError(f"{self.__name__}: completions must be a list, got None")
        values, metrics = self.score(completions, kwargs)
        self._log(kwargs, metrics)
        return values

    def _log(self, kwargs: dict, metrics: dict) -> None:
        log_metric = kwargs.get("log_metric")
        if callable(log_metric):
            for key, value in metrics.items():
                log_metric(f"{self.__name__}/{key}", float(value))

    def _small(self, completions: Sequence[Any], kwargs: dict) -> Optional[list]:
        kind = type(completions)
        if (kind is list or kind is tuple) and 0 < len(completions) <= TINY_BATCH:
            return self._tiny(completions, kwargs)
        return None

    def _tiny(self, completions: Sequence[Any], columns: dict) -> Optional[list]:
        """Values (floats, NaN for "skip") of a batch of at most ``TINY_BATCH`` completions
        computed on the calling thread without numpy (``_tiny.py``), metrics logged; or None to
        take the batch path.  Subclasses with a fused path override it; every value must equal
        :meth:`score`'s bit for bit."""
        return None

    def score(self, completions: Sequence[Any], columns: dict) -> tuple[np.ndarray, dict]:
        raise NotImplementedError

    def _options(self) -> dict:
        return {k: v for k, v in vars(self).items() if not k.startswith("_") and k != "__name__"}

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self._options().items())
        return f"{type(self).__name__}(name={self.__name__!r}{', ' if opts else ''}{opts})"


def require_one_of(columns: dict, names: Sequence[str], reward: str, hint: str) -> str:
    """Return the first of ``names`` present in ``columns`` or raise listing what was expected."""
    for name in names:
        if name in columns and columns[name] is not None:
            return name
    given = sorted(k for k in columns if k not in TRAINER_KWARGS)
    raise MissingColumnsError(
        f"{reward} needs one of the dataset columns {', '.join(map(repr, names))} ({hint}); got columns {given}"
    )


def check_unit_interval(value: Any, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}") from None
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return v


Factory = Callable[..., BatchReward]
