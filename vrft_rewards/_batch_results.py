"""The result containers of the batched solvers: flat arrays of a ragged batch of problems.

:class:`BatchedAssignment` (:func:`vrft_rewards.batched_linear_sum_assignment`) and
:class:`MatchResult` (:func:`vrft_rewards.match_boxes`, on the CPU and on CUDA); public through
:mod:`vrft_rewards` and :mod:`vrft_rewards.matching`.
"""

from __future__ import annotations

import operator
from typing import Any, Iterator

__all__ = ["BatchedAssignment", "MatchResult"]


def _problem_bounds(offsets: Any, b: int) -> tuple[int, int]:
    """``[lo, hi)`` of problem ``b`` (negative ``b`` counts from the end) in a flat result."""
    b = operator.index(b)
    n = len(offsets) - 1
    if b < 0:
        b += n
    if not 0 <= b < n:
        raise IndexError(f"problem index out of range for a batch of {n}")
    return int(offsets[b]), int(offsets[b + 1])


class BatchedAssignment:
    """Solutions of a batch of assignment problems, as flat arrays.

    Attributes
    ----------
    row_ind, col_ind : ndarray of int64, shape (K,)
        Assignments of all problems concatenated; problem ``b`` owns
        ``[offsets[b], offsets[b + 1])``, rows sorted within it.
    offsets : ndarray of int64, shape (B + 1,)
        ``offsets[b + 1] - offsets[b] == min(N_b, M_b)``.
    total_cost : ndarray of float64, shape (B,)
        Optimal total of each problem (original, not negated, costs; added in row order).

    ``len(result)`` is B, ``result[b]`` is ``(row_ind_b, col_ind_b)`` (views), and iterating
    yields those pairs in problem order.
    """

    __slots__ = ("row_ind", "col_ind", "offsets", "total_cost")

    def __init__(self, row_ind: Any, col_ind: Any, offsets: Any, total_cost: Any) -> None:
        self.row_ind = row_ind
        self.col_ind = col_ind
        self.offsets = offsets
        self.total_cost = total_cost

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, b: int) -> tuple[Any, Any]:
        lo, hi = _problem_bounds(self.offsets, b)
        return self.row_ind[lo:hi], self.col_ind[lo:hi]

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        for b in range(len(self)):
            yield self[b]

    def __repr__(self) -> str:
        return f"BatchedAssignment(problems={len(self)}, pairs={len(self.row_ind)})"


class MatchResult:
    """One-to-one matches of a ragged batch of (predictions, ground truths) problems.

    Matched pairs are flat, grouped by problem, in ascending prediction index within a problem.

    Attributes
    ----------
    pred_index, gt_index : ndarray of int64, shape (K,)
        Matched pairs, indices local to their problem (0-based within the problem's boxes).
    pred_global, gt_global : ndarray of int64, shape (K,)
        The same pairs as indices into the flat ``pred`` / ``gt`` arrays.
    iou : ndarray of float, shape (K,)
        Overlap value (of the requested ``kind``) of each pair, in the boxes' float dtype.
    offsets : ndarray of int64, shape (B + 1,)
        Problem ``b``'s pairs are ``[offsets[b], offsets[b + 1])``.
    matched_gt : ndarray of int64, shape (N_pred,)
        For each prediction (aligned with ``pred``), the local index of its GT, or -1.
    matched_pred : ndarray of int64, shape (N_gt,)
        For each GT (aligned with ``gt``), the local index of its prediction, or -1.
    n_matched, n_unmatched_pred, n_unmatched_gt : ndarray of int64, shape (B,)
        Per-problem counts.
    sum_matched_iou : ndarray of float64, shape (B,)
        Per-problem sum of matched values, added in float64 in ascending prediction order.
    """

    __slots__ = (
        "pred_index",
        "gt_index",
        "pred_global",
        "gt_global",
        "iou",
        "offsets",
        "matched_gt",
        "matched_pred",
        "n_matched",
        "n_unmatched_pred",
        "n_unmatched_gt",
        "sum_matched_iou",
    )

    def __init__(self, **fields: Any) -> None:
        for name in self.__slots__:
            setattr(self, name, fields[name])

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def pairs(self, b: int) -> tuple[Any, Any, Any]:
        """``(pred_index, gt_index, iou)`` of problem ``b`` (local indices, views)."""
        lo, hi = _problem_bounds(self.offsets, b)
        return self.pred_index[lo:hi], self.gt_index[lo:hi], self.iou[lo:hi]

    def __repr__(self) -> str:
        return f"MatchResult(problems={len(self)}, pairs={len(self.pred_index)})"
