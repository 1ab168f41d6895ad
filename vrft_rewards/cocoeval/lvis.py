"""LVIS evaluation (boxes and masks), bit-identical to lvis-api 0.5.3, on the native engine."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .engine import cap_results, check_image_ids, run_lvis
from .ground_truth import GroundTruth, as_ground_truth
from .loadres import Results, load_results
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
from .sharding import matcher_for
from .summary import lvis_summary, lvis_summary_lines

__all__ = ["LVISParams", "LVISeval", "evaluate_lvis"]

#: The types lvis-api's LVISEval evaluates (others: ValueError, as there).
LVIS_IOU_TYPES = ("bbox", "segm")


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
    res: Results,
    *,
    img_ids,
    cat_ids,
    iou_thrs,
    rec_thrs,
    area_rng,
    area_lbl,
    key_max_dets,
    iou_type="bbox",
    matcher=None,
):
    """evaluate + accumulate + summarize; ``key_max_dets`` names the recall keys (lvis-api's
    ``params.max_dets``, 300, whatever cap LVISResults applied)."""
    img_ids = np.unique(np.asarray(img_ids, dtype=np.int64))
    if len(cat_ids) == 0:
        raise ValueError("cat_ids is empty: nothing to evaluate")
    precision, recall, scores, _ = run_lvis(
        gt,
        res.dets,
        img_ids=img_ids,
        cat_ids=cat_ids,
        iou_thrs=iou_thrs,
        rec_thrs=rec_thrs,
        area_rng=area_rng,
        matcher=matcher,
        iou_type=iou_type,
        results=res,
    )
    groups = _freq_groups(gt, cat_ids)
    results = lvis_summary(precision, recall, iou_thrs, area_lbl, groups, key_max_dets)
    return img_ids, precision, recall, scores, results, groups


def lvis_results(results: Any, gt: GroundTruth, iou_type: str, max_dets: int, where: str = "results") -> Results:
    """``LVISResults(gt, results, max_dets)``: loaded with its branch rule, on GT images, capped
    per image.  An ``LVISResults`` object is taken as it is (already capped)."""
    if type(results).__name__ == "LVISResults":
        res = load_results(results, gt, iou_type, lvis=True, where=where)
        check_image_ids(gt, res.dets, where)
        return res
    res = load_results(results, gt, iou_type, lvis=True, lvis_cap=int(max_dets), where=where)
    check_image_ids(gt, res.dets, where)
    return cap_results(res, int(max_dets), gt)


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
    cats = _cat_ids(gt_index, cat_ids)
    iou_thrs_a = iou_thresholds() if iou_thrs is None else float_vector(iou_thrs, "iou_thrs")
    rec_thrs_a = recall_thresholds() if rec_thrs is None else float_vector(rec_thrs, "rec_thrs")
    area = area_ranges_array(default_area_ranges() if area_ranges is None else area_ranges)
    lbl = list(AREA_LABELS if area_labels is None else area_labels)
    img_ids_a, precision, recall, scores, out, _ = _run(
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
    name_of = dict(zip(gt_index.cat_ids.tolist(), gt_index.cat_names))
    names = [name_of.get(int(c), str(int(c))) for c in cats.tolist()]
    params = {
        "iou_type": iou_type,
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
        stats=np.array([float(v) for v in out.values()]),
        precision=precision,
        recall=recall,
        scores=scores,
        params=params,
        category_names=names,
        lines=lvis_summary_lines(out, iou_thrs_a, LVIS_MAX_DETS),
        results=out,
        kind="lvis",
    )


from .lvis_dropin import LVISeval  # noqa: E402 - the drop-in builds on the functions above
