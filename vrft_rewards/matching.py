"""Linear assignment and one-to-one box matching.

Thin facade over the native core (``csrc/match/``): normalise the inputs, check the contract,
make one core call (GIL released, problems spread over the thread pool), wrap the flat results.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ._arrays import ArrayKind, int64_array, is_torch_tensor, result_float_dtype, to_numpy, wrap_like
from ._batch_results import BatchedAssignment, MatchResult
from ._ext import _C
from ._options import BOX_FORMATS, IOU_KINDS, MATCH_METHODS, check_option

__all__ = [
    "BatchedAssignment",
    "MatchResult",
    "batched_linear_sum_assignment",
    "linear_sum_assignment",
    "match_boxes",
]


# ---- input normalisation ------------------------------------------------------------------------


def _cpu_only(x: Any, name: str, what: str) -> None:
    if is_torch_tensor(x) and x.device.type != "cpu":
        raise TypeError(
            f"{name} is a {x.device.type} tensor; {what} runs on the CPU (a CUDA path is not "
            "available yet): pass x.cpu()"
        )


def _cost_matrix(x: Any, name: str) -> np.ndarray:
    """``x`` as a C-contiguous float64 matrix, converting like scipy (safe casts only)."""
    if is_torch_tensor(x):
        _cpu_only(x, name, "linear assignment")
        x = x.detach()
        if str(x.dtype) in ("torch.bfloat16",):
            x = x.double()
        arr = x.numpy()
    else:
        arr = np.asarray(x)
    if arr.ndim != 2:
        # scipy's wording (scipy/optimize/_lsap.c)
        prefix = "" if name == "cost_matrix" else f"{name}: "
        raise ValueError(f"{prefix}expected a matrix (2-D array), got a {arr.ndim} array")
    if arr.dtype != np.float64:
        if not np.can_cast(arr.dtype, np.float64, casting="safe"):
            # scipy's wording: it asks numpy for a float64 array with the 'safe' rule
            raise TypeError(
                f"Cannot cast array data from {arr.dtype!r} to dtype('float64') according to the rule 'safe'"
            )
        arr = arr.astype(np.float64)
    return np.ascontiguousarray(arr)


def _int_array(x: Any, name: str) -> np.ndarray:
    """``x`` as a C-contiguous int64 array; integer inputs only (no silent float truncation)."""
    if is_torch_tensor(x):
        _cpu_only(x, name, "matching")
        x = x.detach().numpy()
    return int64_array(x, name)


# ---- linear_sum_assignment ----------------------------------------------------------------------


def linear_sum_assignment(cost_matrix: Any, maximize: bool = False) -> tuple[Any, Any]:
    """Solve the linear sum assignment problem (drop-in for scipy's).

    Parameters
    ----------
    cost_matrix : array_like, shape (N, M)
        Cost of assigning row ``i`` to column ``j``: a numpy array of any real dtype (bool and
        integer included), a nested list, or a CPU torch tensor.  ``+inf`` (``-inf`` when
        maximising) marks a forbidden pair.  Computation is in float64.
    maximize : bool, default False
        Maximise the total instead of minimising it.

    Returns
    -------
    row_ind, col_ind : ndarray of int64, shape (min(N, M),)
        Row ``row_ind[k]`` is assigned to column ``col_ind[k]``; ``row_ind`` is sorted.  The
        optimal total is ``cost_matrix[row_ind, col_ind].sum()``.  For a torch input both are
        int64 torch tensors.

    Raises
    ------
    ValueError
        ``"expected a matrix (2-D array), got a 1 array"`` for other dimensions;
        ``"matrix contains invalid numeric entries"`` for NaN, or ``-inf`` (``+inf`` when
        maximising); ``"cost matrix is infeasible"`` when the forbidden pairs leave no
        assignment of all min(N, M) rows/columns.  Same texts and order of checks as scipy.
    TypeError
        For dtypes that do not cast safely to float64 (complex, strings, long double) and for
        CUDA tensors.

    Notes
    -----
    Minimises :math:`\\sum_k C_{r_k c_k}` over one-to-one assignments that use every row (or,
    when :math:`N > M`, every column; the matrix is then solved transposed, as scipy does).
    Square or nearly square problems (size >= 4, rows >= 3/4 of columns, zero-padded to square)
    without forbidden pairs use Jonker-Volgenant (column reduction, augmenting row reduction,
    shortest augmenting paths); other problems use Crouse's shortest augmenting path without
    initialisation, scipy's algorithm.  The optimal total equals scipy's;
    the assignment may differ where several assignments have exactly the same total.

    References
    ----------
    R. Jonker, A. Volgenant, "A shortest augmenting path algorithm for dense and sparse linear
    assignment problems", Computing 38:325-340, 1987.
    D. F. Crouse, "On implementing 2D rectangular assignment algorithms", IEEE Trans. Aerospace
    and Electronic Systems 52(4):1679-1696, 2016.

    Examples
    --------
    >>> import numpy as np
    >>> import vrft_rewards as vr
    >>> cost = np.array([[4, 1, 3], [2, 0, 5], [3, 2, 2]])
    >>> row_ind, col_ind = vr.linear_sum_assignment(cost)
    >>> col_ind.tolist(), int(cost[row_ind, col_ind].sum())
    ([1, 0, 2], 5)
    """
    if type(cost_matrix) is np.ndarray and cost_matrix.dtype == np.float64:
        # Fast path for the common case (small matrices in a loop): the core takes any
        # C-contiguous float64 matrix as is and checks the dimensions itself.
        if cost_matrix.flags.c_contiguous and cost_matrix.ndim == 2:
            return _C.lsap(cost_matrix, bool(maximize))
    like = ArrayKind.of(cost_matrix)
    arr = _cost_matrix(cost_matrix, "cost_matrix")
    rows, cols = _C.lsap(arr, bool(maximize))
    return wrap_like(rows, like), wrap_like(cols, like)


# ---- batched ------------------------------------------------------------------------------------


def batched_linear_sum_assignment(costs: Any, maximize: bool = False, *, shapes: Any = None) -> BatchedAssignment:
    """Solve many linear sum assignment problems in one native call.

    Parameters
    ----------
    costs : list of array_like (N_b, M_b), or array_like (B, N, M)
        Either a list of cost matrices (each like ``cost_matrix`` of
        :func:`linear_sum_assignment`; C-contiguous float64 arrays are used without copying), or a
        padded 3-D array whose problem ``b`` is the top-left ``shapes[b]`` block of ``costs[b]``.
    maximize : bool, default False
        Maximise every total instead of minimising it.
    shapes : array_like of int, shape (B, 2), optional
        Per-problem ``(N_b, M_b)`` for a padded ``costs``; default: every problem is the full
        ``(N, M)``.  Not allowed with a list.

    Returns
    -------
    BatchedAssignment
        Flat ``row_ind``, ``col_ind`` (int64), ``offsets`` (int64, B + 1) and ``total_cost``
        (float64, B); ``result[b]`` gives problem ``b``'s ``(row_ind, col_ind)``, equal in total
        cost to ``linear_sum_assignment(costs[b], maximize)``.  torch inputs give torch tensors.

    Raises
    ------
    ValueError
        ``"costs[b]: <scipy's message>"`` naming the first problem that is infeasible or holds
        invalid entries; bad ``costs`` dimensions or ``shapes``.
    TypeError
        For dtypes that do not cast safely to float64, or a non-integer ``shapes``.

    Notes
    -----
    Problems are spread over the native thread pool (dynamic chunks) with the GIL released; each
    is solved exactly as by :func:`linear_sum_assignment` (same algorithm choice and results).

    Examples
    --------
    >>> import numpy as np
    >>> import vrft_rewards as vr
    >>> res = vr.batched_linear_sum_assignment([np.array([[1.0, 2.0], [2.0, 0.0]]),
    ...                                         np.array([[5.0, 1.0, 0.0]])])
    >>> len(res), res.offsets.tolist(), res.total_cost.tolist()
    (2, [0, 2, 3], [1.0, 0.0])
    >>> rows, cols = res[1]
    >>> rows.tolist(), cols.tolist()
    ([0], [2])
    """
    maximize = bool(maximize)
    if isinstance(costs, (list, tuple)):
        if shapes is not None:
            raise ValueError("shapes is only used with a padded (B, N, M) costs array, not a list")
        # The result type follows the first item (no per-item Python work in the fast path).
        like = ArrayKind.of(costs[0]) if costs else ArrayKind()
        try:
            # Fast path: every item already a C-contiguous float64 matrix, borrowed as is.
            rows, cols, offsets, totals = _C.lsap_batch_list(list(costs), maximize)
        except TypeError:
            items = [_cost_matrix(c, f"costs[{i}]") for i, c in enumerate(costs)]
            rows, cols, offsets, totals = _C.lsap_batch_list(items, maximize)
    else:
        like = ArrayKind.of(costs)
        if is_torch_tensor(costs):
            _cpu_only(costs, "costs", "linear assignment")
            costs = costs.detach().numpy()
        arr = np.asarray(costs)
        if arr.ndim != 3:
            raise ValueError(f"costs must be a list of 2-D arrays or a 3-D array (B, N, M), got shape {arr.shape}")
        if arr.dtype != np.float64:
            if not np.can_cast(arr.dtype, np.float64, casting="safe"):
                raise TypeError(
                    f"Cannot cast array data from {arr.dtype!r} to dtype('float64') according to the rule 'safe'"
                )
        arr = np.ascontiguousarray(arr, dtype=np.float64)
        b, n, m = arr.shape
        if shapes is None:
            shp = np.empty((b, 2), dtype=np.int64)
            shp[:, 0] = n
            shp[:, 1] = m
        else:
            shp = _int_array(shapes, "shapes")
        rows, cols, offsets, totals = _C.lsap_batch_padded(arr, shp, maximize)
    return BatchedAssignment(
        wrap_like(rows, like), wrap_like(cols, like), wrap_like(offsets, like), wrap_like(totals, like)
    )


# ---- match_boxes --------------------------------------------------------------------------------


def _match_boxes_array(x: Any, name: str, dtype: np.dtype) -> np.ndarray:
    _cpu_only(x, name, "match_boxes")
    arr = to_numpy(x, name, dtype)
    if arr.ndim == 1 and arr.shape[0] == 0:
        arr = arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4), got {tuple(arr.shape)}")
    return arr


def match_boxes(
    pred: Any,
    gt: Any,
    *,
    pred_offsets: Any = None,
    gt_offsets: Any = None,
    scores: Any = None,
    method: str = "hungarian",
    iou_threshold: float = 0.5,
    kind: str = "iou",
    fmt: str = "xyxy",
    strict: bool = False,
) -> MatchResult:
    """Match predicted boxes to ground-truth boxes one-to-one, for a whole ragged batch.

    Parameters
    ----------
    pred : array_like, shape (N_pred, 4)
        Predicted boxes of all problems, concatenated (numpy, list or CPU torch; float32 stays
        float32, everything else is float64).  torch CUDA tensors (float32 or float64, ``pred``,
        ``gt`` and ``scores`` on one device) run the CUDA kernels on the current stream and give
        CUDA tensors; offsets may then be host arrays or CUDA tensors (``docs/cuda.md``).
    gt : array_like, shape (N_gt, 4)
        Ground-truth boxes of all problems, concatenated.
    pred_offsets, gt_offsets : array_like of int, shape (B + 1,), optional
        Problem ``b`` owns ``pred[pred_offsets[b]:pred_offsets[b + 1]]`` and
        ``gt[gt_offsets[b]:gt_offsets[b + 1]]``.  Each starts at 0, never decreases and ends at
        the number of boxes.  Give both or neither (neither: one problem).
    scores : array_like, shape (N_pred,), optional
        Prediction confidences; used by ``method="greedy"`` (descending order, stable).  Default:
        input order.  Ignored by ``"hungarian"``.  NaN is rejected.
    method : {"hungarian", "greedy"}, default "hungarian"
        ``"hungarian"``: a matching of maximum total value among qualifying pairs.
        ``"greedy"``: COCO / Visual-RFT matching, see Notes.
    iou_threshold : float in [0, 1], default 0.5
        A pair qualifies when its value is ``>= iou_threshold`` (``> iou_threshold`` with
        ``strict``) and ``> 0``.
    kind : {"iou", "giou", "diou", "ciou"}, default "iou"
        Overlap measure, as :func:`vrft_rewards.box_iou`.
    fmt : {"xyxy", "xywh", "cxcywh"}, default "xyxy"
        Box format of ``pred`` and ``gt``.
    strict : bool, default False
        Strict comparison with the threshold: ``True`` is Visual-RFT's ``iou > 0.5``
        (``sort_and_calculate_iou``), ``False`` is COCO's ``>=``.

    Returns
    -------
    MatchResult
        Flat matched pairs (local and global indices, values, offsets), per-prediction
        ``matched_gt``, per-GT ``matched_pred`` and per-problem ``n_matched``,
        ``n_unmatched_pred``, ``n_unmatched_gt``, ``sum_matched_iou``.  torch inputs give torch
        tensors.

    Raises
    ------
    ValueError
        Unknown ``method``, ``kind`` or ``fmt``; ``iou_threshold`` outside [0, 1]; boxes not of
        shape (N, 4); invalid boxes (``"pred[7] is invalid: ..."``: NaN/inf or inverted);
        offsets that do not start at 0, decrease, do not end at the box count or describe
        different numbers of problems; ``scores`` of the wrong length or with NaN.
    TypeError
        Non-numeric inputs, non-integer offsets; on CUDA, inputs not on the boxes' device or
        boxes that are not float32/float64.
    RuntimeError
        CUDA tensors without a usable CUDA module or device; a failed kernel launch (CUDA's
        message).

    Notes
    -----
    Qualifying pair: :math:`v_{pg} \\ge t` (or :math:`>` with ``strict``) and :math:`v_{pg} > 0`,
    where :math:`v` is the overlap of ``kind``.

    ``"hungarian"`` returns a matching :math:`M` of qualifying pairs maximising
    :math:`\\sum_{(p,g) \\in M} v_{pg}`.  It is solved as an assignment problem on
    :math:`C_{pg} = -v_{pg}` for qualifying pairs and 0 otherwise, rows = the smaller side, after
    which zero-cost pairs are dropped; since every qualifying pair has negative cost and any
    matching extends to a full one with zero-cost pairs, this is a maximum-weight matching.
    Several matchings can tie; which one is returned is unspecified.

    ``"greedy"`` visits predictions by descending score (equal scores in input order, like
    Python's stable ``sorted(..., reverse=True)`` and pycocotools' mergesort); each takes the
    still-unmatched qualifying GT of highest value, the lowest GT index among equal values
    (Visual-RFT's scan; pycocotools' ``evaluateImg`` would take the last of equal IoUs).

    Examples
    --------
    >>> import numpy as np
    >>> import vrft_rewards as vr
    >>> pred = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 9, 10]], dtype=float)
    >>> gt = np.array([[0, 0, 10, 10], [50, 50, 60, 60]], dtype=float)
    >>> res = vr.match_boxes(pred, gt, pred_offsets=[0, 2, 3], gt_offsets=[0, 1, 2])
    >>> res.pred_index.tolist(), res.gt_index.tolist(), res.iou.tolist()
    ([0], [0], [1.0])
    >>> res.n_matched.tolist(), res.n_unmatched_pred.tolist(), res.n_unmatched_gt.tolist()
    ([1, 0], [1, 1], [0, 1])
    >>> vr.match_boxes(pred, gt, scores=[0.2, 0.5, 0.9], method="greedy").matched_gt.tolist()
    [-1, -1, 0]
    """
    check_option(method, MATCH_METHODS, "method")
    check_option(kind, IOU_KINDS, "kind")
    check_option(fmt, BOX_FORMATS, "fmt")
    if isinstance(iou_threshold, bool) or not isinstance(iou_threshold, numbers.Real):
        raise TypeError(f"iou_threshold must be a real number, got {type(iou_threshold).__name__}")
    iou_threshold = float(iou_threshold)
    if not 0.0 <= iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in [0, 1], got {iou_threshold!r}")
    if any(is_torch_tensor(x) and x.device.type == "cuda" for x in (pred, gt, pred_offsets, gt_offsets, scores)):
        from ._cuda import match_boxes_cuda  # CUDA kernels (docs/cuda.md)

        return match_boxes_cuda(
            pred,
            gt,
            pred_offsets=pred_offsets,
            gt_offsets=gt_offsets,
            scores=scores,
            method=method,
            iou_threshold=iou_threshold,
            kind=kind,
            fmt=fmt,
            strict=bool(strict),
        )
    like = ArrayKind.of(pred, gt)
    dtype = result_float_dtype(pred, gt)
    p = _match_boxes_array(pred, "pred", dtype)
    g = _match_boxes_array(gt, "gt", dtype)
    if (pred_offsets is None) != (gt_offsets is None):
        raise ValueError("pred_offsets and gt_offsets must be given together (or both omitted for a single problem)")
    if pred_offsets is None:
        po = np.array([0, p.shape[0]], dtype=np.int64)
        go = np.array([0, g.shape[0]], dtype=np.int64)
    else:
        po = _int_array(pred_offsets, "pred_offsets")
        go = _int_array(gt_offsets, "gt_offsets")
    s = None
    if scores is not None:
        _cpu_only(scores, "scores", "match_boxes")
        s = to_numpy(scores, "scores", np.float64)
    fn = _C.match_boxes_f32 if dtype == np.float32 else _C.match_boxes_f64
    out = fn(p, po, g, go, s, method, kind, fmt, iou_threshold, bool(strict))
    return MatchResult(**{k: wrap_like(v, like) for k, v in out.items()})
