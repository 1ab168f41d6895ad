"""COCO evaluation (boxes, masks, keypoints), bit-identical to pycocotools 2.0.11, on the native engine."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .coco_dropin import COCOeval
from .engine import check_image_ids, run_coco
from .ground_truth import GroundTruth, as_ground_truth
from .loadres import Results, load_results
from .params import (
    AREA_LABELS,
    COCO_MAX_DETS,
    KEYPOINT_AREA_LABELS,
    KEYPOINT_MAX_DETS,
    Params,
    area_ranges_array,
    check_iou_type,
    default_area_ranges,
    float_vector,
    iou_thresholds,
    keypoint_area_ranges,
    recall_thresholds,
    sorted_max_dets,
)
from .params import kpt_oks_sigmas as default_kpt_oks_sigmas
from .result import EvalResult
from .shapes import oks_vars
from .sharding import matcher_for
from .summary import coco_summary

__all__ = ["COCOeval", "Params", "evaluate_coco"]


def _evaluate(
    gt: GroundTruth,
    results: Results,
    *,
    img_ids,
    cat_ids,
    iou_thrs,
    rec_thrs,
    max_dets,
    area_rng,
    area_lbl,
    use_cats,
    iou_type="bbox",
    kpt_vars=None,
    matcher=None,
) -> EvalResult:
    img_ids = np.unique(np.asarray(img_ids, dtype=np.int64))
    cat_ids_arr = np.asarray(cat_ids, dtype=np.int64)
    if use_cats:
        cat_ids_arr = np.unique(cat_ids_arr)
    precision, recall, scores, _ = run_coco(
        gt,
        results.dets,
        img_ids=img_ids,
        cat_ids=cat_ids_arr,
        iou_thrs=iou_thrs,
        rec_thrs=rec_thrs,
        max_dets=max_dets,
        area_rng=area_rng,
        use_cats=use_cats,
        matcher=matcher,
        iou_type=iou_type,
        results=results,
        kpt_vars=kpt_vars,
    )
    stats, lines = coco_summary(precision, recall, iou_thrs, area_lbl, max_dets, iou_type)
    if use_cats:
        name_of = dict(zip(gt.cat_ids.tolist(), gt.cat_names))
        names = [name_of.get(int(c), str(int(c))) for c in cat_ids_arr]
    else:
        names = ["all"]
    params = {
        "iou_type": iou_type,
        "img_ids": img_ids,
        "cat_ids": cat_ids_arr,
        "iou_thrs": iou_thrs,
        "rec_thrs": rec_thrs,
        "max_dets": list(max_dets),
        "area_rng": area_rng,
        "area_rng_lbl": list(area_lbl),
        "use_cats": bool(use_cats),
    }
    return EvalResult(
        stats=stats,
        precision=precision,
        recall=recall,
        scores=scores,
        params=params,
        category_names=names,
        lines=lines,
        kind="coco",
    )


def evaluate_coco(
    gt: Any,
    results: Any,
    *,
    iou_type: str = "bbox",
    cat_ids: Sequence[int] | None = None,
    img_ids: Sequence[int] | None = None,
    max_dets: Sequence[int] | None = None,
    area_ranges: Sequence[Sequence[float]] | None = None,
    area_labels: Sequence[str] | None = None,
    use_cats: bool = True,
    iou_thrs: Sequence[float] | None = None,
    rec_thrs: Sequence[float] | None = None,
    kpt_oks_sigmas: Sequence[float] | None = None,
    ray: bool = False,
    num_shards: int | None = None,
) -> EvalResult:
    """COCO AP / AR of boxes, masks or keypoints, bit-identical to pycocotools' ``COCOeval``
    (``loadRes``, evaluate, accumulate, summarize).

    Parameters
    ----------
    gt : str, os.PathLike, dict, pycocotools.coco.COCO or GroundTruth
        Ground truth in COCO format.  A :class:`GroundTruth` is built once and reused by later
        calls; a dict or ``COCO`` object is read at every call (nothing is cached on it).  ``"segm"`` reads each
        annotation's ``segmentation`` (polygons, uncompressed or compressed RLE; polygons take
        their image's ``height`` / ``width``), ``"keypoints"`` its ``keypoints`` and
        ``num_keypoints``.
    results : str, os.PathLike, list of dict, ndarray (N, 7) or pycocotools COCO results
        Detections: dicts with ``image_id``, ``category_id``, ``score`` and ``bbox`` ([x, y, w,
        h]), ``segmentation`` or ``keypoints`` ([x1, y1, v1, ...]), read as pycocotools' ``loadRes``
        reads them (the first record decides: with a ``bbox`` the area is the box's, else the
        mask's or the keypoints' extent); or an array of rows ``[image_id, x, y, w, h, score,
        category_id]``.  An empty list means "no detections" (pycocotools raises ``IndexError``).
    iou_type : {"bbox", "segm", "keypoints"}, default "bbox"
    cat_ids, img_ids : sequence of int, optional
        Subsets to evaluate (default: all categories / images of ``gt``).
    max_dets : sequence of int, optional
        Default (1, 10, 100); (20,) for keypoints.  Sorted before use.  The largest caps
        detections per (image, category).
    area_ranges : sequence of [lo, hi], optional
        Default ``[[0, 1e10], [0, 32**2], [32**2, 96**2], [96**2, 1e10]]`` (keypoints: ``[[0,
        1e10], [32**2, 96**2], [96**2, 1e10]]``); bounds inclusive.
    area_labels : sequence of str, optional
        Names of the area ranges used by the summary (default ``all, small, medium, large``;
        keypoints ``all, medium, large``).
    use_cats : bool, default True
        False pools all categories of an image (proposal evaluation).
    iou_thrs, rec_thrs : sequence of float, optional
        Defaults are pycocotools' ``np.linspace(.5, .95, 10)`` and ``np.linspace(0, 1, 101)``.
    kpt_oks_sigmas : sequence of float, optional
        Per-keypoint OKS sigmas (default: pycocotools' 17 COCO person sigmas).  Every keypoint
        list must hold ``3 * len(kpt_oks_sigmas)`` numbers.
    ray : bool, default False
        Run the per-image matching in Ray tasks, one per range of images, and merge their
        states before the accumulation (:func:`vrft_rewards.cocoeval.sharding.ray_matcher`): the
        result is bit-identical to the one-process run.  Needs ``ray``.
    num_shards : int, optional
        Number of image shards with ``ray=True`` (default: the cluster's CPU count).

    Returns
    -------
    EvalResult
        ``.stats`` (12,; keypoints: 10,), ``.precision`` (T, R, K, A, M), ``.recall`` (T, K, A,
        M), ``.scores`` (T, R, K, A, M), ``.per_category``, ``.summary()``, ``.to_dict()``.

    Raises
    ------
    ValueError
        A record without a field the evaluation reads, a non-finite box, score or keypoint, a
        segmentation pycocotools cannot evaluate (it would hang, crash or fail: e.g. RLE counts
        that do not add up to height * width, a NaN polygon coordinate, an empty polygon list),
        a result on an image that is not in ``gt`` (named by index and field); malformed
        parameters; an unknown ``iou_type``.
    TypeError
        ``gt`` or ``results`` of an unsupported type.

    Notes
    -----
    Per (image, category): detections sorted by score (stable), cut to ``max(max_dets)``, matched
    greedily to the GT of highest IoU ``>= min(t, 1 - 1e-10)`` (crowd GT: IoU over the detection
    area; a crowd region absorbs any number of detections).  Masks: pycocotools' ``rleIou``
    (box pre-check, -1 for masks of different sizes, crowd = intersection over the detection's
    pixels); keypoints: ``computeOks``.  Per (category, area, maxDet): ``precision = tp / (tp + fp
    + np.spacing(1))`` made monotone from the right and sampled at the recall thresholds with
    ``searchsorted(side='left')``; ``recall = tp / npig`` at the last detection.  ``stats`` are
    ``np.mean(s[s > -1])`` of the selected cells.  See ``docs/evaluation.md`` for every
    reproduced quirk.

    Examples
    --------
    >>> from vrft_rewards.eval import evaluate_coco
    >>> gt = {"images": [{"id": 1}], "categories": [{"id": 1, "name": "cat"}],
    ...       "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
    ...                        "bbox": [10, 10, 50, 50], "area": 2500}]}
    >>> res = evaluate_coco(gt, [{"image_id": 1, "category_id": 1, "bbox": [10, 10, 50, 50],
    ...                           "score": 0.9}])
    >>> float(res.stats[0]), float(res.stats[1])  # 1 / (1 + np.spacing(1)), as in pycocotools
    (0.9999999999999998, 0.9999999999999999)
    >>> res.per_category[0]["name"]
    'cat'
    """
    check_iou_type(iou_type)
    keypoints = iou_type == "keypoints"
    gt_index = as_ground_truth(gt)
    kpt_vars = oks_vars(default_kpt_oks_sigmas() if kpt_oks_sigmas is None else kpt_oks_sigmas) if keypoints else None
    res = load_results(results, gt_index, iou_type, num_keypoints=0 if kpt_vars is None else len(kpt_vars))
    check_image_ids(gt_index, res.dets)
    if max_dets is None:
        max_dets = KEYPOINT_MAX_DETS if keypoints else COCO_MAX_DETS
    if area_ranges is None:
        area_ranges = keypoint_area_ranges() if keypoints else default_area_ranges()
    if area_labels is None:
        area_labels = KEYPOINT_AREA_LABELS if keypoints else AREA_LABELS
    return _evaluate(
        gt_index,
        res,
        img_ids=gt_index.image_ids if img_ids is None else img_ids,
        cat_ids=gt_index.cat_ids if cat_ids is None else cat_ids,
        iou_thrs=iou_thresholds() if iou_thrs is None else float_vector(iou_thrs, "iou_thrs"),
        rec_thrs=recall_thresholds() if rec_thrs is None else float_vector(rec_thrs, "rec_thrs"),
        max_dets=sorted_max_dets(max_dets),
        area_rng=area_ranges_array(area_ranges),
        area_lbl=list(area_labels),
        use_cats=bool(use_cats),
        iou_type=iou_type,
        kpt_vars=kpt_vars,
        matcher=matcher_for(ray, num_shards),
    )
