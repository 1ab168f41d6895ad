"""COCO detection evaluation, bit-identical to pycocotools 2.0.11 (bbox), on the native engine."""

from __future__ import annotations

import copy
import datetime
import time
from typing import Any, Sequence

import numpy as np

from .detections import Detections, as_detections
from .engine import accumulate_coco, check_image_ids, run_coco
from .ground_truth import GroundTruth, as_ground_truth, ground_truth_ids, snapshot_ground_truth
from .params import (
    AREA_LABELS,
    COCO_MAX_DETS,
    Params,
    area_ranges_array,
    check_iou_type,
    default_area_ranges,
    float_vector,
    iou_thresholds,
    recall_thresholds,
    sorted_max_dets,
)
from .result import EvalResult
from .sharding import matcher_for
from .summary import coco_summary

__all__ = ["COCOeval", "Params", "evaluate_coco"]


def _check_iou_type(iou_type: str) -> None:
    check_iou_type(
        iou_type, later=("segm", "keypoints"), hint="Use pycocotools.cocoeval.COCOeval for mask or keypoint evaluation."
    )


def _evaluate(
    gt: GroundTruth,
    dets: Detections,
    *,
    img_ids,
    cat_ids,
    iou_thrs,
    rec_thrs,
    max_dets,
    area_rng,
    area_lbl,
    use_cats,
    matcher=None,
) -> EvalResult:
    img_ids = np.unique(np.asarray(img_ids, dtype=np.int64))
    cat_ids_arr = np.asarray(cat_ids, dtype=np.int64)
    if use_cats:
        cat_ids_arr = np.unique(cat_ids_arr)
    precision, recall, scores, _ = run_coco(
        gt,
        dets,
        img_ids=img_ids,
        cat_ids=cat_ids_arr,
        iou_thrs=iou_thrs,
        rec_thrs=rec_thrs,
        max_dets=max_dets,
        area_rng=area_rng,
        use_cats=use_cats,
        matcher=matcher,
    )
    stats, lines = coco_summary(precision, recall, iou_thrs, area_lbl, max_dets)
    if use_cats:
        name_of = dict(zip(gt.cat_ids.tolist(), gt.cat_names))
        names = [name_of.get(int(c), str(int(c))) for c in cat_ids_arr]
    else:
        names = ["all"]
    params = {
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
    max_dets: Sequence[int] = COCO_MAX_DETS,
    area_ranges: Sequence[Sequence[float]] | None = None,
    area_labels: Sequence[str] | None = None,
    use_cats: bool = True,
    iou_thrs: Sequence[float] | None = None,
    rec_thrs: Sequence[float] | None = None,
    ray: bool = False,
    num_shards: int | None = None,
) -> EvalResult:
    """COCO box AP / AR, bit-identical to pycocotools' ``COCOeval`` (evaluate, accumulate, summarize).

    Parameters
    ----------
    gt : str, os.PathLike, dict, pycocotools.coco.COCO or GroundTruth
        Ground truth in COCO format.  A :class:`GroundTruth` (or a ``COCO`` object, whose index is
        cached on it) is built once and reused by later calls.
    results : str, os.PathLike, list of dict, ndarray (N, 7) or pycocotools COCO results
        Detections: dicts with ``image_id``, ``category_id``, ``bbox`` ([x, y, w, h]) and
        ``score``; or an array of rows ``[image_id, x, y, w, h, score, category_id]``.
        An empty list means "no detections" (pycocotools raises ``IndexError``).
    iou_type : {"bbox"}, default "bbox"
        ``"segm"`` and ``"keypoints"`` raise ``NotImplementedError``.
    cat_ids, img_ids : sequence of int, optional
        Subsets to evaluate (default: all categories / images of ``gt``).
    max_dets : sequence of int, default (1, 10, 100)
        Sorted before use.  The largest caps detections per (image, category).
    area_ranges : sequence of [lo, hi], optional
        Default ``[[0, 1e10], [0, 32**2], [32**2, 96**2], [96**2, 1e10]]``; bounds inclusive.
    area_labels : sequence of str, optional
        Names of the area ranges used by the summary (default ``all, small, medium, large``).
    use_cats : bool, default True
        False pools all categories of an image (proposal evaluation).
    iou_thrs, rec_thrs : sequence of float, optional
        Defaults are pycocotools' ``np.linspace(.5, .95, 10)`` and ``np.linspace(0, 1, 101)``.
    ray : bool, default False
        Run the per-image matching in Ray tasks, one per range of images, and merge their
        states before the accumulation (:func:`vrft_rewards.cocoeval.sharding.ray_matcher`): the
        result is bit-identical to the one-process run.  Needs ``ray``.
    num_shards : int, optional
        Number of image shards with ``ray=True`` (default: the cluster's CPU count).

    Returns
    -------
    EvalResult
        ``.stats`` (12,), ``.precision`` (T, R, K, A, M), ``.recall`` (T, K, A, M), ``.scores``
        (T, R, K, A, M), ``.per_category``, ``.summary()``, ``.to_dict()``.

    Raises
    ------
    ValueError
        A record without ``image_id`` / ``category_id`` / ``bbox`` / ``score`` (GT: ``bbox``,
        ``area``, ``id``), a non-finite box or score, or a result on an image that is not in
        ``gt`` (named by index and field); malformed parameters.
    TypeError
        ``gt`` or ``results`` of an unsupported type.
    NotImplementedError
        ``iou_type`` other than ``"bbox"``.

    Notes
    -----
    Per (image, category): detections sorted by score (stable), cut to ``max(max_dets)``, matched
    greedily to the GT of highest IoU ``>= min(t, 1 - 1e-10)`` (crowd GT: IoU over the detection
    area; a crowd region absorbs any number of detections).  Per (category, area, maxDet):
    ``precision = tp / (tp + fp + np.spacing(1))`` made monotone from the right and sampled at the
    recall thresholds with ``searchsorted(side='left')``; ``recall = tp / npig`` at the last
    detection.  ``stats`` are ``np.mean(s[s > -1])`` of the selected cells.  See
    ``docs/evaluation.md`` for every reproduced quirk.

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
    _check_iou_type(iou_type)
    gt_index = as_ground_truth(gt)
    dets = as_detections(results)
    check_image_ids(gt_index, dets)
    return _evaluate(
        gt_index,
        dets,
        img_ids=gt_index.image_ids if img_ids is None else img_ids,
        cat_ids=gt_index.cat_ids if cat_ids is None else cat_ids,
        iou_thrs=iou_thresholds() if iou_thrs is None else float_vector(iou_thrs, "iou_thrs"),
        rec_thrs=recall_thresholds() if rec_thrs is None else float_vector(rec_thrs, "rec_thrs"),
        max_dets=sorted_max_dets(max_dets),
        area_rng=area_ranges_array(default_area_ranges() if area_ranges is None else area_ranges),
        area_lbl=list(AREA_LABELS if area_labels is None else area_labels),
        use_cats=bool(use_cats),
        matcher=matcher_for(ray, num_shards),
    )


class COCOeval:
    """Drop-in replacement for ``pycocotools.cocoeval.COCOeval`` (bbox), on the native engine.

    Parameters
    ----------
    cocoGt : pycocotools COCO, dict, path or GroundTruth
    cocoDt : pycocotools COCO results (``cocoGt.loadRes(...)``), or a list of result dicts, an
        (N, 7) array or a path (our extension: no ``loadRes`` needed)
    iouType : {"bbox"}, default "segm" as in pycocotools
        Only "bbox" evaluates; "segm" / "keypoints" raise ``NotImplementedError`` in
        :meth:`evaluate`.

    Notes
    -----
    ``evaluate()``, ``accumulate()`` and ``summarize()`` print what pycocotools prints and fill
    ``params``, ``eval`` (``params``, ``counts``, ``date``, ``precision``, ``recall``,
    ``scores``) and ``stats`` with identical values.  Differences: ``evalImgs`` and ``ious`` are
    not materialised (the per-image matches stay in native memory); ``accumulate(p)`` accepts
    only ``None`` or the evaluated parameters; detections come from ``cocoDt``'s annotation list
    at ``evaluate()`` time.
    """

    def __init__(self, cocoGt=None, cocoDt=None, iouType: str = "segm") -> None:
        if not iouType:
            print("iouType not specified. use default iouType segm")
        self.cocoGt = cocoGt
        self.cocoDt = cocoDt
        self.params = Params(iouType=iouType)
        self.eval: dict = {}
        self.stats: Any = []
        self._paramsEval = None
        # A file / GroundTruth is read once; a user's dict or COCO object again at evaluate().
        self._gt_snapshot = (cocoGt, snapshot_ground_truth(cocoGt))
        if cocoGt is not None:
            image_ids, cat_ids = ground_truth_ids(self._gt_snapshot[1] or cocoGt)
            self.params.imgIds = sorted(image_ids.tolist())
            self.params.catIds = sorted(cat_ids.tolist())
        self._state = None

    def evaluate(self) -> None:
        tic = time.time()
        print("Running per image evaluation...")
        p = self.params
        if p.useSegm is not None:
            p.iouType = "segm" if p.useSegm == 1 else "bbox"
            print("useSegm (deprecated) is not None. Running {} evaluation".format(p.iouType))
        print("Evaluate annotation type *{}*".format(p.iouType))
        _check_iou_type(p.iouType)
        p.imgIds = list(np.unique(p.imgIds))
        if p.useCats:
            p.catIds = list(np.unique(p.catIds))
        p.maxDets = sorted(p.maxDets)
        self.params = p
        source, snapshot = self._gt_snapshot
        gt_index = snapshot if snapshot is not None and source is self.cocoGt else as_ground_truth(self.cocoGt)
        dets = as_detections(self.cocoDt)
        check_image_ids(gt_index, dets, "cocoDt")
        pe = copy.deepcopy(self.params)
        self._state = run_coco(
            gt_index,
            dets,
            img_ids=np.asarray(pe.imgIds, dtype=np.int64),
            cat_ids=np.asarray(pe.catIds, dtype=np.int64),
            iou_thrs=float_vector(pe.iouThrs, "params.iouThrs"),
            rec_thrs=None,
            max_dets=sorted_max_dets(pe.maxDets),
            area_rng=area_ranges_array(pe.areaRng),
            use_cats=bool(pe.useCats),
        )
        self._paramsEval = pe
        toc = time.time()
        print("DONE (t={:0.2f}s).".format(toc - tic))

    def accumulate(self, p: Params | None = None) -> None:
        print("Accumulating evaluation results...")
        tic = time.time()
        if self._paramsEval is None:
            print("Please run evaluate() first")
            raise RuntimeError("Please run evaluate() first")
        if p is not None and p is not self.params:
            raise NotImplementedError(
                "accumulate(p) with parameters other than the evaluated "
                "ones is not supported; set params before evaluate()"
            )
        pe = self._paramsEval
        precision, recall, scores = accumulate_coco(
            self._state, float_vector(pe.recThrs, "params.recThrs"), sorted_max_dets(pe.maxDets)
        )
        p = self.params
        p.catIds = p.catIds if p.useCats == 1 else [-1]
        T, R, K, A, M = precision.shape
        self.eval = {
            "params": p,
            "counts": [T, R, K, A, M],
            "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
            "precision": precision,
            "recall": recall,
            "scores": scores,
        }
        toc = time.time()
        print("DONE (t={:0.2f}s).".format(toc - tic))

    def summarize(self) -> None:
        if not self.eval:
            raise Exception("Please run accumulate() first")
        if self.params.iouType != "bbox" and self.params.iouType != "segm":
            raise NotImplementedError("keypoint summaries are not supported")
        p = self.params
        self.stats, lines = coco_summary(
            self.eval["precision"], self.eval["recall"], p.iouThrs, p.areaRngLbl, p.maxDets
        )
        for line in lines:
            print(line)

    def __str__(self) -> str:
        self.summarize()
        return ""
