"""``COCOeval.accumulate`` over an ``evalImgs`` list given from outside, on the native accumulator.

torchvision's and DETR's ``CocoEvaluator`` evaluate each process's images, gather the
``evalImgs`` lists, merge them along the image axis and assign the result (and ``params.imgIds`` /
``_paramsEval``) before calling ``accumulate()``.  Here such a list becomes a native evaluation
state — one group per (category, image) cell, one slot per detection, its state per (area range,
threshold) from ``dtIgnore`` / ``dtMatches``, the non-ignored GT count from ``gtIgnore`` — laid
out by pycocotools' own index arithmetic (``k_list``, ``a_list``, ``m_list``, ``i_list``, the
positions of ``p``'s ids that ``_paramsEval`` evaluated), and the native accumulation gives
pycocotools' arrays for it.
"""

from __future__ import annotations

import numpy as np

from .._ext import _C

__all__ = ["accumulate_eval_imgs"]

_STATE_VERSION = 1  # csrc/bindings/eval.cpp kEvalStateVersion


def _state(groups, num_images, num_cats, num_thrs, num_areas):
    """A native EvalState from per-group (category, image, scores, states (D, A, T), npig (A,))."""
    G = len(groups)
    group_category = np.array([g[0] for g in groups], dtype=np.int64)
    group_image = np.array([g[1] for g in groups], dtype=np.int64)
    counts = np.array([len(g[2]) for g in groups], dtype=np.int64)
    dt_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    slots = int(dt_offsets[-1])
    scores = np.concatenate([g[2] for g in groups]) if G else np.zeros(0)
    states = np.concatenate([g[3] for g in groups]).astype(np.uint8).reshape(-1) if slots else np.zeros(0, np.uint8)
    npig = np.stack([g[4] for g in groups]).astype(np.int64).reshape(-1) if G else np.zeros(0, np.int64)
    any_tp = (states.reshape(slots, -1) == 1).any(axis=1).astype(np.uint8) if slots else np.zeros(0, np.uint8)
    category_groups = np.concatenate([[0], np.cumsum(np.bincount(group_category, minlength=num_cats))])
    # accumulate reads only the counts, but a state's GT rows bound them (check_evaluation): each
    # group gets as many placeholder rows as its largest count.
    most = npig.reshape(G, -1).max(axis=1) if G and num_areas else np.zeros(G, np.int64)
    gt_offsets = np.concatenate([[0], np.cumsum(most)]).astype(np.int64)
    st = _C.EvalState.__new__(_C.EvalState)
    st.__setstate__(
        (
            _STATE_VERSION,
            int(num_images),
            int(num_cats),
            int(num_thrs),
            int(num_areas),
            group_image,
            group_category,
            category_groups.astype(np.int64),
            gt_offsets,
            np.arange(int(gt_offsets[-1]), dtype=np.int64),
            dt_offsets,
            np.arange(slots, dtype=np.int64),
            np.ascontiguousarray(scores, dtype=np.float64),
            states,
            any_tp,
            npig,
        )
    )
    return st


def _cell_states(e: dict, num_thrs: int) -> np.ndarray:
    """(D, T) DetState of one evalImgs entry: ignored, else true positive when matched."""
    dtm = np.asarray(e["dtMatches"])
    dtig = np.asarray(e["dtIgnore"])
    if dtm.shape != dtig.shape or dtm.ndim != 2 or dtm.shape[0] != num_thrs:
        raise ValueError("evalImgs entries of different IoU-threshold counts cannot be accumulated together")
    return np.where(dtig.astype(bool), 2, np.where(dtm != 0, 1, 0)).T


def accumulate_eval_imgs(eval_imgs, p, pe) -> dict:
    """pycocotools' ``accumulate(p)`` of ``eval_imgs`` evaluated with params ``pe``: the ``eval``
    dict (``params``, ``counts``, ``date`` added by the caller; ``precision``, ``recall``,
    ``scores``).  ``p.catIds`` becomes ``[-1]`` when ``p.useCats`` is 0, as in pycocotools."""
    p.catIds = p.catIds if p.useCats == 1 else [-1]
    T, R = len(p.iouThrs), len(p.recThrs)
    K = len(p.catIds) if p.useCats else 1
    A, M = len(p.areaRng), len(p.maxDets)
    precision = -np.ones((T, R, K, A, M))
    recall = -np.ones((T, K, A, M))
    scores = -np.ones((T, R, K, A, M))
    set_k = set(pe.catIds if pe.useCats else [-1])
    set_a = set(map(tuple, pe.areaRng))
    set_m = set(pe.maxDets)
    set_i = set(pe.imgIds)
    k_list = [n for n, k in enumerate(p.catIds) if k in set_k]
    m_list = [m for m in p.maxDets if m in set_m]
    a_list = [n for n, a in enumerate(map(tuple, p.areaRng)) if a in set_a]
    i_list = [n for n, i in enumerate(p.imgIds) if i in set_i]
    I0, A0 = len(pe.imgIds), len(pe.areaRng)
    Tpe = len(pe.iouThrs)
    if not (k_list and a_list and m_list and i_list):
        return {"precision": precision, "recall": recall, "scores": scores, "counts": [T, R, K, A, M]}
    groups = []
    for k, k0 in enumerate(k_list):
        for ii, i in enumerate(i_list):
            cells = [eval_imgs[k0 * A0 * I0 + a0 * I0 + i] for a0 in a_list]
            present = [e is not None for e in cells]
            if not any(present):
                continue
            if not all(present):
                raise ValueError(
                    "evalImgs has a cell that is None for some area ranges only; pycocotools' "
                    "evaluateImg never leaves one so"
                )
            scores_k = [np.asarray(e["dtScores"], dtype=np.float64) for e in cells]
            if any(not np.array_equal(s, scores_k[0]) for s in scores_k[1:]):
                raise ValueError("evalImgs entries of one (image, category) disagree on their detections")
            states = np.stack([_cell_states(e, Tpe) for e in cells], axis=1)  # (D, A, T)
            npig = np.array([np.count_nonzero(np.asarray(e["gtIgnore"]) == 0) for e in cells])
            groups.append((k, ii, scores_k[0], states.reshape(len(scores_k[0]), len(a_list), Tpe), npig))
    if Tpe > T:
        raise IndexError(f"index {T} is out of bounds for axis 0 with size {T}")  # as pycocotools
    st = _state(groups, len(i_list), len(k_list), Tpe, len(a_list))
    pr, rc, sc = _C.eval_accumulate(
        st, np.ascontiguousarray(p.recThrs, dtype=np.float64), np.asarray(m_list, dtype=np.int64)
    )
    kk, aa, mm = len(k_list), len(a_list), len(m_list)
    precision[:Tpe, :, :kk, :aa, :mm] = pr
    recall[:Tpe, :kk, :aa, :mm] = rc
    scores[:Tpe, :, :kk, :aa, :mm] = sc
    return {"precision": precision, "recall": recall, "scores": scores, "counts": [T, R, K, A, M]}
