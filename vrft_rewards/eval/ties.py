"""AP when the model gives no (or coarse) confidences: its range over the orders of tied scores,
and counts at IoU 0.5 that no order changes.

With every score 1.0 (a model that states no confidence, scored by ``default_score``) or a few
repeated values (Visual-RFT's models often answer ``0.85`` for every box), pycocotools' stable
sort lets the order of the records decide the ranking of tied detections of one (image,
category), hence the greedy matching and the AP.  :func:`ap_tie_range` reports, per category and
for the set's mean:

* ``min`` / ``max``: the lowest and highest AP over every order a permutation of the records
  can produce (``notion="record_order"``; ties across images stay in image order, as
  pycocotools keeps them), exact by ``_C.eval_tie_range`` (``csrc/eval/ties.h``: free tie groups
  sorted, competing ones enumerated and re-matched) unless a budget is exceeded (``exact``
  False: the values are then attained by real orders, inner bounds);
* ``mean``: the expectation over uniformly random orders, by ``n_draws`` Monte Carlo draws, with
  the sample standard error ``se`` and the distribution-free bound ``se_bound = (max - min) /
  (2 sqrt(n_draws))`` (Popoviciu: the sample error can miss rare values);
* ``reported``: the AP of the records' own order (the engine's number).

:func:`order_free_counts` gives TP / FP / FN at IoU 0.5 per category from a maximum-cardinality
matching (``csrc/eval/set_match.h``), so precision, recall and F1 do not depend on the order
either (greedy matching, as lmms-eval's F1 uses, does).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._ext import _C
from .engine_state import EngineState

__all__ = ["ap_tie_range", "order_free_counts", "tie_statistics"]

#: The range above which a report warns that the order of tied scores decides AP (0.1 AP point).
WARN_WIDTH = 1e-3


def _cells(es: EngineState, pooled: bool) -> np.ndarray:
    """(2, A, T): the cells of AP (.50:.95) and of AP50, area "all" or every area (``pooled``)."""
    a, t = len(es.area_rng), len(es.iou_thrs)
    cells = np.zeros((2, a, t), np.uint8)
    areas = slice(None) if pooled else slice(0, 1)
    cells[0, areas, :] = 1
    cells[1, areas, np.flatnonzero(es.iou_thrs == 0.5)] = 1
    return cells


def ap_tie_range(
    es: EngineState,
    *,
    pooled: bool = False,
    n_draws: int = 200,
    seed: int = 0,
    unit_budget: int = 5040,
    combo_budget: int = 4096,
) -> dict:
    """Per category (``es.cat_ids`` order) AP and AP50 over tie orders: arrays ``reported``,
    ``min``, ``max``, ``mean``, ``sd`` (K, 2), ``exact`` (K, 2) bool, ``tied_groups``,
    ``hard_groups`` (K,).  ``pooled``: the AP cells of every area range (Visual-RFT's LVIS rule)."""
    r = _C.eval_tie_range(
        es.gt_cols,
        es.dt_cols,
        len(es.img_ids),
        len(es.cat_ids),
        np.ascontiguousarray(es.iou_thrs, np.float64),
        np.ascontiguousarray(es.area_rng, np.float64),
        int(es.cap),
        np.ascontiguousarray(es.rec_thrs, np.float64),
        _cells(es, pooled),
        int(unit_budget),
        int(combo_budget),
        int(n_draws),
        int(seed) & 0xFFFFFFFFFFFFFFFF,
    )
    return {
        "reported": r["canonical"],
        "min": r["lo"],
        "max": r["hi"],
        "mean": r["mc_mean"],
        "sd": r["mc_sd"],
        "exact": r["exact"].astype(bool),
        "tied_groups": r["tied_groups"],
        "hard_groups": r["hard_groups"],
        "n_draws": int(n_draws),
    }


def tie_statistics(dets: np.ndarray) -> dict:
    """How many detections share their (image, category, score) with another (vectorised)."""
    if not len(dets):
        return {"detections": 0, "tied": 0, "distinct_scores": 0}
    key = np.ascontiguousarray(dets[:, [0, 6, 5]])
    _, inv, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    return {
        "detections": int(len(dets)),
        "tied": int((counts[inv.reshape(-1)] > 1).sum()),
        "distinct_scores": int(len(np.unique(dets[:, 5]))),
    }


def order_free_counts(es: EngineState, iou_thr: float = 0.5) -> dict:
    """Per category (``es.cat_ids`` order): ``tp``, ``fp``, ``fn``, ``ignored``, ``num_gt`` of a
    maximum-cardinality matching at IoU >= ``iou_thr`` (area "all", no maxDets cap)."""
    lo, hi = float(es.area_rng[0, 0]), float(es.area_rng[0, 1])
    return _C.eval_max_matching_counts(es.gt_cols, es.dt_cols, len(es.img_ids), len(es.cat_ids), float(iou_thr), lo, hi)


def prf(tp: Any, fp: Any, fn: Any) -> tuple:
    """Precision, recall, F1 (NaN where undefined)."""
    tp, fp, fn = float(tp), float(fp), float(fn)
    p = tp / (tp + fp) if tp + fp else float("nan")
    r = tp / (tp + fn) if tp + fn else float("nan")
    if math.isnan(p) or math.isnan(r):
        return p, r, float("nan")
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f
