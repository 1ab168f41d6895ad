"""LVIS detection evaluation, bit-identical to lvis-api 0.5.3 (bbox), on the native engine."""

from __future__ import annotations

import datetime
import logging
import os
from collections import OrderedDict
from typing import Any, Sequence

import numpy as np

from .detections import Detections, as_detections
from .engine import cap_per_image, check_image_ids, run_lvis
from .ground_truth import GroundTruth, as_ground_truth, ground_truth_ids, snapshot_ground_truth
from .params import (
    AREA_LABELS,
    FREQUENCY_LABELS,
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
from .selection import evaluated_lvis_detections
from .sharding import matcher_for
from .summary import lvis_summary, lvis_summary_lines

__all__ = ["LVISParams", "LVISeval", "evaluate_lvis"]


def _check_iou_type(iou_type: str) -> None:
    check_iou_type(iou_type, later=("segm",), hint="Use lvis.LVISEval for mask evaluation.")


def _freq_groups(gt: GroundTruth, cat_ids: np.ndarray) -> list[list[int]]:
    """LVISEval._prepare_freq_group: positions in ``cat_ids`` of the r / c / f categories.

    Categories without a ``frequency`` belong to no group (lvis-api raises ``KeyError``).
    """
    freq_of = dict(zip(gt.cat_ids.tolist(), gt.cat_frequency))
    groups: list[list[int]] = [[] for _ in FREQUENCY_LABELS]
    for idx, c in enumerate(cat_ids.tolist()):
        f = freq_of.get(c)
        if f is None:
            continue
        if f not in FREQUENCY_LABELS:
            raise ValueError(f"category {c} has frequency {f!r}; expected one of 'r', 'c', 'f'")
        groups[FREQUENCY_LABELS.index(f)].append(idx)
    return groups


def _cat_ids(gt: GroundTruth, cat_ids) -> np.ndarray:
    ids = gt.cat_ids if cat_ids is None else np.asarray(cat_ids, dtype=np.int64).reshape(-1)
    if cat_ids is None:
        ids = np.sort(ids)
    if len(np.unique(ids)) != len(ids):
        raise ValueError("cat_ids must not repeat a category")
    return ids


def _run(
    gt: GroundTruth,
    dets: Detections,
    *,
    img_ids,
    cat_ids,
    iou_thrs,
    rec_thrs,
    area_rng,
    area_lbl,
    max_dets,
    matcher=None,
):
    img_ids = np.unique(np.asarray(img_ids, dtype=np.int64))
    if len(cat_ids) == 0:
        raise ValueError("cat_ids is empty: nothing to evaluate")
    precision, recall, scores, _ = run_lvis(
        gt,
        dets,
        img_ids=img_ids,
        cat_ids=cat_ids,
        iou_thrs=iou_thrs,
        rec_thrs=rec_thrs,
        area_rng=area_rng,
        matcher=matcher,
    )
    groups = _freq_groups(gt, cat_ids)
    results = lvis_summary(precision, recall, iou_thrs, area_lbl, groups, max_dets)
    return img_ids, precision, recall, scores, results, groups


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
    """LVIS box AP / AR, bit-identical to lvis-api 0.5.3 ``LVISEval`` (run()).

    Parameters
    ----------
    gt : str, os.PathLike, dict, lvis.LVIS or GroundTruth
        LVIS ground truth: COCO format plus ``neg_category_ids`` and
        ``not_exhaustive_category_ids`` per image and ``frequency`` (r / c / f) per category.
    results : str, os.PathLike, list of dict, ndarray (N, 7) or Detections
        As for :func:`evaluate_coco`.
    iou_type : {"bbox"}, default "bbox"
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
        ``APl``, ``APr``, ``APc``, ``APf``, ``AR@300``, ``ARs@300``, ``ARm@300``, ``ARl@300``),
        ``.stats`` the same 13 values in that order, ``.precision`` (T, R, K, A), ``.recall``
        (T, K, A), ``.scores`` (T, R, K, A; an addition, lvis-api keeps none).

    Raises
    ------
    ValueError, TypeError, NotImplementedError
        As for :func:`evaluate_coco`.

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
    _check_iou_type(iou_type)
    gt_index = as_ground_truth(gt)
    dets = as_detections(results)
    check_image_ids(gt_index, dets)
    dets = cap_per_image(dets, int(max_dets), gt_index)
    cats = _cat_ids(gt_index, cat_ids)
    # Frees the detections no rule evaluates (half of a file's columns) before the evaluation.
    dets = evaluated_lvis_detections(
        dets, gt_index, np.unique(gt_index.image_ids if img_ids is None else img_ids), cats
    )
    iou_thrs_a = iou_thresholds() if iou_thrs is None else float_vector(iou_thrs, "iou_thrs")
    rec_thrs_a = recall_thresholds() if rec_thrs is None else float_vector(rec_thrs, "rec_thrs")
    area = area_ranges_array(default_area_ranges() if area_ranges is None else area_ranges)
    lbl = list(AREA_LABELS if area_labels is None else area_labels)
    img_ids_a, precision, recall, scores, res, _ = _run(
        gt_index,
        dets,
        img_ids=gt_index.image_ids if img_ids is None else img_ids,
        cat_ids=cats,
        iou_thrs=iou_thrs_a,
        rec_thrs=rec_thrs_a,
        area_rng=area,
        area_lbl=lbl,
        max_dets=int(max_dets),
        matcher=matcher_for(ray, num_shards),
    )
    name_of = dict(zip(gt_index.cat_ids.tolist(), gt_index.cat_names))
    names = [name_of.get(int(c), str(int(c))) for c in cats.tolist()]
    params = {
        "img_ids": img_ids_a,
        "cat_ids": cats,
        "iou_thrs": iou_thrs_a,
        "rec_thrs": rec_thrs_a,
        "max_dets": int(max_dets),
        "area_rng": area,
        "area_rng_lbl": lbl,
        "use_cats": True,
    }
    return EvalResult(
        stats=np.array([float(v) for v in res.values()]),
        precision=precision,
        recall=recall,
        scores=scores,
        params=params,
        category_names=names,
        lines=lvis_summary_lines(res, iou_thrs_a, int(max_dets)),
        results=res,
        kind="lvis",
    )


class LVISeval:
    """Drop-in replacement for lvis-api's ``LVISEval`` (bbox), on the native engine.

    Parameters
    ----------
    lvis_gt : lvis.LVIS, path, dict or GroundTruth
    lvis_dt : lvis.LVISResults, path, list of result dicts or (N, 7) array
        Lists / paths / arrays are capped at ``max_dets`` (300) per image as ``LVISResults``
        does; an ``LVISResults`` object is taken as already capped.
    iou_type : {"bbox"}, default "segm" as in lvis-api
    max_dets : int, default 300
        Our extension (lvis-api fixes it in ``LVISResults``).

    Notes
    -----
    ``run()``, ``evaluate()``, ``accumulate()``, ``summarize()``, ``print_results()``,
    ``get_results()``, ``results`` (OrderedDict of 13 keys), ``eval`` (``params``, ``counts``,
    ``date``, ``precision``, ``recall``; plus ``scores``) and ``params`` (lvis-api names) behave
    as lvis-api 0.5.3's.  ``eval_imgs``, ``ious`` and ``eval['dt_pointers']`` are not
    materialised; ``params.use_cats = 0`` raises ``NotImplementedError`` (0.5.3 returns
    empty results there).
    """

    def __init__(self, lvis_gt, lvis_dt, iou_type: str = "segm", max_dets: int = LVIS_MAX_DETS) -> None:
        self.logger = logging.getLogger(__name__)
        if iou_type not in ["bbox", "segm"]:
            raise ValueError("iou_type: {} is not supported.".format(iou_type))
        self.lvis_gt = lvis_gt
        self.lvis_dt = lvis_dt
        self._cap = int(max_dets)
        # Files and GroundTruth objects are read once; a user's LVIS / LVISResults object or list
        # again at evaluate(), as lvis-api reads them in _prepare.
        self._gt = snapshot_ground_truth(lvis_gt)
        self._dets = self._read_dets(self._gt) if isinstance(lvis_dt, (str, os.PathLike)) else None
        self.eval: dict = {}
        self.params = LVISParams(iou_type=iou_type)
        self.params.max_dets = int(max_dets)
        self.results: OrderedDict = OrderedDict()
        image_ids, cat_ids = ground_truth_ids(self._gt or lvis_gt)
        self.params.img_ids = sorted(image_ids.tolist())
        self.params.cat_ids = sorted(cat_ids.tolist())
        self._arrays = None

    def _read_dets(self, gt: GroundTruth | None) -> Detections:
        gt = as_ground_truth(self.lvis_gt) if gt is None else gt
        dets = as_detections(self.lvis_dt)
        if type(self.lvis_dt).__name__ == "LVISResults":
            return dets  # already capped by LVISResults
        check_image_ids(gt, dets, "lvis_dt")
        return cap_per_image(dets, self._cap, gt)

    def evaluate(self) -> None:
        self.logger.info("Running per image evaluation.")
        self.logger.info("Evaluate annotation type *{}*".format(self.params.iou_type))
        _check_iou_type(self.params.iou_type)
        if not self.params.use_cats:
            raise NotImplementedError("use_cats=0 is not supported (lvis-api 0.5.3 returns empty results for it)")
        self.params.img_ids = list(np.unique(self.params.img_ids))
        p = self.params
        gt = self._gt if self._gt is not None else as_ground_truth(self.lvis_gt)
        dets = self._dets if self._dets is not None else self._read_dets(gt)
        cats = _cat_ids(gt, p.cat_ids)
        img_ids, precision, recall, scores, res, groups = _run(
            gt,
            dets,
            img_ids=p.img_ids,
            cat_ids=cats,
            iou_thrs=float_vector(p.iou_thrs, "params.iou_thrs"),
            rec_thrs=float_vector(p.rec_thrs, "params.rec_thrs"),
            area_rng=area_ranges_array(p.area_rng),
            area_lbl=p.area_rng_lbl,
            max_dets=p.max_dets,
        )
        self.freq_groups = groups
        self._arrays = (precision, recall, scores, res)

    def accumulate(self) -> None:
        self.logger.info("Accumulating evaluation results.")
        if self._arrays is None:
            raise RuntimeError("Please run evaluate() first.")
        precision, recall, scores, _ = self._arrays
        self.eval = {
            "params": self.params,
            "counts": list(precision.shape),
            "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
            "precision": precision,
            "recall": recall,
            "scores": scores,
        }

    def summarize(self) -> None:
        if not self.eval:
            raise RuntimeError("Please run accumulate() first.")
        self.results = OrderedDict(self._arrays[3])

    def run(self) -> None:
        self.evaluate()
        self.accumulate()
        self.summarize()

    def print_results(self) -> None:
        for line in lvis_summary_lines(self.results, self.params.iou_thrs, self.params.max_dets):
            print(line)

    def get_results(self) -> OrderedDict:
        if not self.results:
            self.logger.warning("results is empty. Call run().")
        return self.results
