"""The engine's per-(image, category) evaluation of a detection array, kept for the metrics that
read it (calibration, the AP range over tie orders, the order-free counts).

:func:`engine_state` runs the engine's own evaluate step (:func:`vrft_rewards.cocoeval.engine.run_coco`
/ ``run_lvis``, one native ``_C.eval_evaluate`` call) with a matcher that keeps the columns the
engine built, so the metrics see exactly the detections, GTs, positions and flags the reported
AP was computed from.  Detections are first restricted the way the engine restricts them (the
evaluated images and categories; LVIS: the 300-per-image cap, positive finite area and the
federated filter), so that every engine row is one row of the caller's array (``rows``); the
columns are checked against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from ..cocoeval.detections import as_detections
from ..cocoeval.engine import evaluate_columns, run_coco, run_lvis
from ..cocoeval.ground_truth import GroundTruth
from ..cocoeval.params import (
    COCO_MAX_DETS,
    LVIS_MAX_DETS,
    area_ranges_array,
    default_area_ranges,
    float_vector,
    iou_thresholds,
    recall_thresholds,
    sorted_max_dets,
)

__all__ = ["EngineState", "engine_state"]


@dataclass
class EngineState:
    """One evaluate step of the engine, with the columns it ran on.

    ``gt_cols`` / ``dt_cols``: the native columns (positions into ``img_ids`` / ``cat_ids``);
    ``state``: the native ``EvalState``; ``rows``: for every detection column row, its row in the
    caller's detection array; ``cap``: detections kept per (image, category) (-1: none).
    """

    kind: str
    gt_cols: dict
    dt_cols: dict
    state: Any
    rows: np.ndarray
    img_ids: np.ndarray
    cat_ids: np.ndarray
    iou_thrs: np.ndarray
    rec_thrs: np.ndarray
    area_rng: np.ndarray
    cap: int


def _cap_keep(image: np.ndarray, score: np.ndarray, max_dets: int) -> np.ndarray:
    """The rule of ``cocoeval.engine.cap_per_image`` (LVISResults' stable top-k per image)."""
    n = len(score)
    keep = np.ones(n, bool)
    if max_dets < 0 or n == 0:
        return keep
    order = np.lexsort((np.arange(n), -score, image))
    img_sorted = image[order]
    rank = np.arange(n) - np.searchsorted(img_sorted, img_sorted, side="left")
    keep[:] = False
    keep[order[rank < max_dets]] = True
    return keep


def _lvis_federated(gt: GroundTruth, image: np.ndarray, category: np.ndarray) -> np.ndarray:
    """lvis-api's federated filter: the category is annotated in the image as present or absent."""
    span = np.int64(max(int(gt.cat_ids.max(initial=0)), int(category.max(initial=0))) + 1)
    ok_gt = (gt.ann_area > 0) & (gt.ann_area < np.inf)
    present = np.unique(gt.ann_image_id[ok_gt] * span + gt.ann_category_id[ok_gt])
    neg_img, neg_cat, _, _ = gt.lvis_lists()
    absent = np.unique(neg_img * span + neg_cat)
    key = image * span + category
    return np.isin(key, present) | np.isin(key, absent)


def engine_state(
    kind: str,
    gt: GroundTruth,
    dets: np.ndarray,
    cat_ids: Any,
    img_ids: Optional[Any],
    eval_params: dict,
) -> Optional[EngineState]:
    """The evaluate step of :func:`evaluate_coco` / :func:`evaluate_lvis` on ``dets`` (N, 7), with
    the same parameters; None when the parameters pool categories (``use_cats=False``)."""
    if not eval_params.get("use_cats", True):
        return None
    iou_thrs = float_vector(eval_params["iou_thrs"], "iou_thrs") if "iou_thrs" in eval_params else iou_thresholds()
    rec_thrs = float_vector(eval_params["rec_thrs"], "rec_thrs") if "rec_thrs" in eval_params else recall_thresholds()
    area_rng = area_ranges_array(eval_params.get("area_ranges") or default_area_ranges())
    img = np.unique(np.asarray(gt.image_ids if img_ids is None else img_ids, dtype=np.int64))
    cats = np.unique(np.asarray(cat_ids, dtype=np.int64))
    d = as_detections(np.asarray(dets, dtype=np.float64).reshape(-1, 7))
    keep = np.ones(len(d), bool)
    if kind == "lvis":
        keep &= _cap_keep(d.image_id, d.score, int(eval_params.get("max_dets", LVIS_MAX_DETS)))
    keep &= np.isin(d.image_id, img) & np.isin(d.category_id, cats)
    if kind == "lvis":
        keep &= (d.area > 0) & (d.area < np.inf) & _lvis_federated(gt, d.image_id, d.category_id)
    rows = np.flatnonzero(keep)
    sub = d.subset(keep)
    kept: dict = {}

    def matcher(gt_cols, dt_cols, n_img, n_cat, thrs, rng, cap):
        kept.update(gt_cols=gt_cols, dt_cols=dt_cols, cap=int(cap))
        return evaluate_columns(gt_cols, dt_cols, n_img, n_cat, thrs, rng, cap)

    if kind == "coco":
        max_dets = sorted_max_dets(eval_params.get("max_dets", COCO_MAX_DETS))
        common = dict(img_ids=img, cat_ids=cats, iou_thrs=iou_thrs, area_rng=area_rng)
        state = run_coco(gt, sub, rec_thrs=None, max_dets=max_dets, use_cats=True, matcher=matcher, **common)
    else:
        state = run_lvis(gt, sub, img_ids=img, cat_ids=cats, iou_thrs=iou_thrs, rec_thrs=rec_thrs, area_rng=area_rng,
                         matcher=matcher)[-1]  # fmt: skip
    box = kept["dt_cols"]["box"]
    if len(box) != len(rows) or not np.array_equal(box, sub.box):  # the engine must see our rows
        raise RuntimeError("engine_state: the engine's detection rows differ from the expected selection")
    return EngineState(
        kind=kind,
        gt_cols=kept["gt_cols"],
        dt_cols=kept["dt_cols"],
        state=state,
        rows=rows,
        img_ids=img,
        cat_ids=cats,
        iou_thrs=np.asarray(iou_thrs, dtype=np.float64),
        rec_thrs=np.asarray(rec_thrs, dtype=np.float64),
        area_rng=np.asarray(area_rng, dtype=np.float64).reshape(-1, 2),
        cap=kept["cap"],
    )
