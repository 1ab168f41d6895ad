"""LVIS evaluation (boxes and masks), bit-identical to lvis-api 0.5.3, on the native engine."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .ground_truth import as_ground_truth
from .lvis_core import (
    LVIS_IOU_TYPES,
    evaluated_lvis_results,
    lvis_cat_ids,
    lvis_eval_result,
    lvis_results,
    run_lvis_summary,
)
from .lvis_dropin import LVISeval
from .params import (
    AREA_LABELS,
    LVIS_MAX_DETS,
    LVISParams,
    area_ranges_array,
    check_iou_type,
    default_area_ranges,
    float_vector,
    iou_thresholds,
    recall_thresholds,
)
from .result import EvalResult
from .sharding import matcher_for

__all__ = ["LVISParams", "LVISeval", "evaluate_lvis"]


def evaluate_lvis(
    gt: Any,
    results: Any,
    *,
    iou_type: str = "bbox",
    cat_ids: Sequence[int] | None = None,
    img_ids: Sequence[int] | None = None,
    max_dets: int = LVIS_MAX_DETS,
    area_ranges: Sequence[Sequence[float]] | None = None,
    area_labels: Sequence[str] | None = None,
    iou_thrs: Sequence[float] | None = None,
    rec_thrs: Sequence[float] | None = None,
    ray: bool = False,
    num_shards: int | None = None,
) -> EvalResult:
    """LVIS AP / AR of boxes or masks, bit-identical to lvis-api 0.5.3 ``LVISEval`` (run()).

    Parameters
    ----------
    gt : str, os.PathLike, dict, lvis.LVIS or GroundTruth
        LVIS ground truth: COCO format plus ``neg_category_ids`` and
        ``not_exhaustive_category_ids`` per image and ``frequency`` (r / c / f) per category.
    results : str, os.PathLike, list of dict, ndarray (N, 7), Detections or lvis.LVISResults
        As for :func:`evaluate_coco`, read as ``LVISResults`` reads them (with a ``bbox`` in its
        first record the area is the box's, else the mask's).
    iou_type : {"bbox", "segm"}, default "bbox"
        ``"segm"``: masks as for :func:`evaluate_coco` (crowd regions are plain regions in LVIS).
    cat_ids, img_ids : sequence of int, optional
        Subsets (default: all, categories sorted).
    max_dets : int, default 300
        Detections kept per image, across categories, by score (LVISResults); -1 keeps all.
    area_ranges, area_labels, iou_thrs, rec_thrs, ray, num_shards : optional
        As for :func:`evaluate_coco` (``ray=True``: per-image matching sharded on Ray, merged
        bit-identically).

    Returns
    -------
    EvalResult
        ``.results`` holds lvis-api's 13 keys (``AP``, ``AP50``, ``AP75``, ``APs``, ``APm``,
        ``APl``, ``APr``, ``APc``, ``APf``, ``AR@300``, ``ARs@300``, ``ARm@300``, ``ARl@300``:
        lvis-api names them after ``params.max_dets``, 300, whatever ``max_dets`` capped),
        ``.stats`` the same 13 values in that order, ``.precision`` (T, R, K, A), ``.recall``
        (T, K, A), ``.scores`` (T, R, K, A; an addition, lvis-api keeps none).

    Raises
    ------
    ValueError, TypeError
        As for :func:`evaluate_coco`; ``iou_type="keypoints"`` (lvis-api has none) is a ValueError.

    Notes
    -----
    Rules of lvis-api 0.5.3: the top ``max_dets`` detections per image are kept first; GTs and
    detections need ``0 < area < inf``; a detection counts only where its category is annotated
    in the image (present, or listed in ``neg_category_ids``); unmatched detections of a category
    in ``not_exhaustive_category_ids`` are ignored; no crowd handling (a GT's ``ignore`` is
    respected); no per-(image, category) cap.  Precision, recall and the summary means follow
    COCO's formulas (``np.spacing(1)`` included).

    Examples
    --------
    >>> from vrft_rewards.eval import evaluate_lvis
    >>> gt = {"images": [{"id": 1, "neg_category_ids": [2], "not_exhaustive_category_ids": []}],
    ...       "categories": [{"id": 1, "name": "a", "frequency": "f"},
    ...                      {"id": 2, "name": "b", "frequency": "r"}],
    ...       "annotations": [{"id": 1, "image_id": 1, "category_id": 1,
    ...                        "bbox": [0, 0, 10, 10], "area": 100}]}
    >>> res = evaluate_lvis(gt, [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10],
    ...                           "score": 0.5}])
    >>> float(res.results["AP"]), float(res.results["APf"])  # np.spacing(1) term, as lvis-api
    (0.9999999999999998, 0.9999999999999998)
    """
    check_iou_type(iou_type, supported=LVIS_IOU_TYPES)
    gt_index = as_ground_truth(gt)
    res = lvis_results(results, gt_index, iou_type, int(max_dets))
    cats = lvis_cat_ids(gt_index, cat_ids)
    # Frees the detections no rule evaluates (half of a file's columns) before the evaluation.
    res = evaluated_lvis_results(res, gt_index, np.unique(gt_index.image_ids if img_ids is None else img_ids), cats)
    iou_thrs_a = iou_thresholds() if iou_thrs is None else float_vector(iou_thrs, "iou_thrs")
    rec_thrs_a = recall_thresholds() if rec_thrs is None else float_vector(rec_thrs, "rec_thrs")
    area = area_ranges_array(default_area_ranges() if area_ranges is None else area_ranges)
    lbl = list(AREA_LABELS if area_labels is None else area_labels)
    summary = run_lvis_summary(
        gt_index,
        res,
        img_ids=gt_index.image_ids if img_ids is None else img_ids,
        cat_ids=cats,
        iou_thrs=iou_thrs_a,
        rec_thrs=rec_thrs_a,
        area_rng=area,
        area_lbl=lbl,
        key_max_dets=LVIS_MAX_DETS,
        iou_type=iou_type,
        matcher=matcher_for(ray, num_shards),
    )
    return lvis_eval_result(
        gt_index,
        summary,
        cat_ids=cats,
        iou_thrs=iou_thrs_a,
        rec_thrs=rec_thrs_a,
        max_dets=max_dets,
        area_rng=area,
        area_lbl=lbl,
        iou_type=iou_type,
    )
