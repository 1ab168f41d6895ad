"""What LVIS evaluation and the LVISeval drop-in share: results as LVISResults reads them, the
category and frequency-group lists, and one evaluate + accumulate + summarize."""

from __future__ import annotations

from typing import Any

import numpy as np

from .engine import cap_results, check_image_ids, run_lvis
from .ground_truth import GroundTruth
from .loadres import Results, load_results, lvis_order
from .params import FREQUENCY_LABELS, LVIS_MAX_DETS
from .result import EvalResult
from .selection import lvis_detection_rows, lvis_gt_rows
from .summary import lvis_summary, lvis_summary_lines

__all__ = [
    "LVIS_IOU_TYPES",
    "evaluated_lvis_results",
    "freq_groups",
    "lvis_cat_ids",
    "lvis_eval_result",
    "lvis_results",
    "run_lvis_summary",
]

#: The types lvis-api's LVISEval evaluates (others: ValueError, as there).
LVIS_IOU_TYPES = ("bbox", "segm")


def freq_groups(gt: GroundTruth, cat_ids: np.ndarray) -> list[list[int]]:
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


def lvis_cat_ids(gt: GroundTruth, cat_ids) -> np.ndarray:
    ids = gt.cat_ids if cat_ids is None else np.asarray(cat_ids, dtype=np.int64).reshape(-1)
    if cat_ids is None:
        ids = np.sort(ids)
    if len(np.unique(ids)) != len(ids):
        raise ValueError("cat_ids must not repeat a category")
    return ids


def run_lvis_summary(
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
    groups = freq_groups(gt, cat_ids)
    results = lvis_summary(precision, recall, iou_thrs, area_lbl, groups, key_max_dets)
    return img_ids, precision, recall, scores, results, groups


def lvis_results(
    results: Any, gt: GroundTruth, iou_type: str, max_dets: int, where: str = "results", ordered: bool = False
) -> Results:
    """``LVISResults(gt, results, max_dets)``: loaded with its branch rule, on GT images, capped
    per image (``ordered``: also in its order and with its ids, which only the drop-in's views
    show).  An ``LVISResults`` object is taken as it is (already capped)."""
    if type(results).__name__ == "LVISResults":
        res = load_results(results, gt, iou_type, lvis=True, where=where)
        check_image_ids(gt, res.dets, where)
        return res
    res = load_results(results, gt, iou_type, lvis=True, lvis_cap=int(max_dets), lvis_ordered=ordered, where=where)
    check_image_ids(gt, res.dets, where)
    if ordered and res.records is None:  # columns (arrays, Detections): order them here
        res = res.subset(lvis_order(res.dets.image_id, res.dets.score, int(max_dets)))
        res.dets.ids = np.arange(1, len(res) + 1, dtype=np.int64)
        return res
    return cap_results(res, int(max_dets), gt)


def evaluated_lvis_results(res: Results, gt: GroundTruth, img_ids, cat_ids) -> Results:
    """Only the results an LVIS evaluation of ``img_ids`` x ``cat_ids`` uses, in order (``res``
    itself when it uses all), as :func:`~.selection.evaluated_lvis_detections` for detections:
    dropping the others first frees them (about half of an LVIS results file)."""
    img_ids = np.asarray(img_ids, dtype=np.int64)
    cat_ids = np.asarray(cat_ids, dtype=np.int64)
    _, g_img, g_cat = lvis_gt_rows(gt, img_ids, cat_ids)
    rows = lvis_detection_rows(res.dets, gt, img_ids, cat_ids, g_img, g_cat)[0]
    return res if len(rows) == len(res) else res.subset(rows)


def lvis_eval_result(
    gt: GroundTruth,
    summary: tuple,
    *,
    cat_ids: np.ndarray,
    iou_thrs: np.ndarray,
    rec_thrs: np.ndarray,
    max_dets: int,
    area_rng: np.ndarray,
    area_lbl: list,
    iou_type: str = "bbox",
) -> EvalResult:
    """The :class:`EvalResult` of an LVIS evaluation from :func:`run_lvis_summary`'s output
    (``evaluate_lvis`` and ``StreamingEvaluator.compute`` build it the same way)."""
    img_ids, precision, recall, scores, out, _ = summary
    name_of = dict(zip(gt.cat_ids.tolist(), gt.cat_names))
    params = {
        "iou_type": iou_type,
        "img_ids": img_ids,
        "cat_ids": cat_ids,
        "iou_thrs": iou_thrs,
        "rec_thrs": rec_thrs,
        "max_dets": int(max_dets),
        "area_rng": area_rng,
        "area_rng_lbl": area_lbl,
        "use_cats": True,
    }
    return EvalResult(
        stats=np.array([float(v) for v in out.values()]),
        precision=precision,
        recall=recall,
        scores=scores,
        params=params,
        category_names=[name_of.get(int(c), str(int(c))) for c in cat_ids.tolist()],
        lines=lvis_summary_lines(out, iou_thrs, LVIS_MAX_DETS),
        results=out,
        kind="lvis",
    )
