"""The scores of one batch under a :class:`~vrft_rewards.rewards.RewardSet`: the per-reward matrix,
the weighted total and their views (rows as mappings, columns by name, concatenation of parts)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._base import to_reward_list

__all__ = ["OVERALL", "RewardSetResult"]

#: Name reserved for the weighted total in every result mapping.
OVERALL = "overall"


@dataclass(frozen=True, eq=False)
class RewardSetResult:
    """Scores of one batch under a :class:`RewardSet`.

    Attributes
    ----------
    names : tuple of str
        One name per reward function, in the set's order.
    weights : numpy.ndarray, shape (F,), float64
        The set's weights.
    matrix : numpy.ndarray, shape (B, F), float64
        ``matrix[i, j]`` is function ``j``'s reward for completion ``i``; ``NaN`` where the
        function returned ``None`` (skip) or NaN.
    overall : numpy.ndarray, shape (B,), float64
        Weighted total per completion, ``NaN`` where every function skipped (see
        :class:`RewardSet`, Notes).
    """

    names: tuple[str, ...]
    weights: np.ndarray
    matrix: np.ndarray
    overall: np.ndarray

    def __len__(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def scorable(self) -> np.ndarray:
        """``(B,)`` bool: True where at least one function gave a reward (``overall`` not NaN)."""
        return ~np.isnan(self.overall)

    def column(self, name: str) -> list[float | None]:
        """Rewards of one function (or ``"overall"``) as a list, ``None`` for skipped rows.

        Raises
        ------
        KeyError
            If ``name`` is neither ``"overall"`` nor one of :attr:`names`.
        """
        if name == OVERALL:
            return to_reward_list(self.overall)
        try:
            j = self.names.index(name)
        except ValueError:
            raise KeyError(f"no reward named {name!r}; names are {list(self.names)} and 'overall'") from None
        return to_reward_list(self.matrix[:, j])

    def per_function(self) -> dict[str, list[float | None]]:
        """``{name: rewards}`` for every function, in order, ``None`` for skipped rows."""
        return {name: to_reward_list(self.matrix[:, j]) for j, name in enumerate(self.names)}

    def to_dict(self) -> dict[str, list[float | None]]:
        """``{"overall": [...], name: [...], ...}``: plain lists, ``None`` for NaN (JSON-ready)."""
        out = {OVERALL: to_reward_list(self.overall)}
        out.update(self.per_function())
        return out

    def filled(self, none_score: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """``(overall, matrix)`` with every NaN replaced by ``none_score``, for trainers without ``None``."""
        return (
            np.where(np.isnan(self.overall), none_score, self.overall),
            np.where(np.isnan(self.matrix), none_score, self.matrix),
        )

    @classmethod
    def concat(cls, parts: Sequence[RewardSetResult]) -> RewardSetResult:
        """Stack results of consecutive slices of one batch (same names and weights) in order.

        Raises
        ------
        ValueError
            If ``parts`` is empty or the parts come from differently named/weighted sets.
        """
        if not parts:
            raise ValueError("parts must hold at least one RewardSetResult, got an empty sequence")
        first = parts[0]
        for p in parts[1:]:
            if p.names != first.names or not np.array_equal(p.weights, first.weights):
                raise ValueError(
                    f"parts must come from the same RewardSet: names {list(first.names)} with weights "
                    f"{first.weights.tolist()} vs {list(p.names)} with {p.weights.tolist()}"
                )
        return cls(
            first.names,
            first.weights,
            np.concatenate([p.matrix for p in parts], axis=0),
            np.concatenate([p.overall for p in parts], axis=0),
        )
