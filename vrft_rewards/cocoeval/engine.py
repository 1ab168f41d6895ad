"""The engine: COCO / LVIS evaluate + accumulate on column data, through the native core (csrc/eval).

Everything here is vectorised numpy over whole columns; the per-(image, category) work happens
in one native call (``_C.eval_evaluate``, or a sharded matcher: :mod:`.sharding`) and one more
for the accumulation.
"""

from __future__ import annotations

import numpy as np

from .._ext import _C
from .columns import positions
from .detections import Detections
from .ground_truth import GroundTruth
from .selection import lvis_detection_rows, lvis_gt_rows

__all__ = ["accumulate_coco", "cap_per_image", "check_image_ids", "evaluate_columns", "run_coco", "run_lvis"]

_NO_CAP = np.iinfo(np.int64).max


def check_image_ids(gt: GroundTruth, dets: Detections, what: str = "results") -> None:
    """pycocotools' loadRes asserts that every result's image is in the GT; we name the record."""
    ok = gt.has_image(dets.image_id)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise ValueError(
            f"{what}[{i}]['image_id'] = {int(dets.image_id[i])} is not an image of "
            "the ground truth (pycocotools: 'Results do not correspond to current "
            "coco set')"
        )


def evaluate_columns(
    gt_cols: dict,
    dt_cols: dict,
    num_images: int,
    num_categories: int,
    iou_thrs: np.ndarray,
    area_rng: np.ndarray,
    cap: int,
):
    """One native evaluation (``_C.eval_evaluate``) of prepared columns: the unsharded matcher."""
    return _C.eval_evaluate(
        gt_cols,
        dt_cols,
        int(num_images),
        int(num_categories),
        np.ascontiguousarray(iou_thrs, dtype=np.float64),
        np.ascontiguousarray(area_rng, dtype=np.float64).reshape(-1, 2),
        int(cap),
    )


def _contig(a, dtype):
    return np.ascontiguousarray(a, dtype=dtype)


def _gt_columns(gt: GroundTruth, rows, image, category, *, ignore, crowd) -> dict:
    """The native evaluation's GT columns of annotations ``rows`` (positions already taken)."""
    return {
        "image": image,
        "category": category,
        "box": _contig(gt.ann_box[rows], np.float64),
        "area": _contig(gt.ann_area[rows], np.float64),
        "ignore": _contig(ignore, np.uint8),
        "crowd": _contig(crowd, np.uint8),
        "id_nonzero": _contig(gt.ann_id[rows] != 0, np.uint8),
    }


def _dt_columns(dets: Detections, rows, image, category) -> dict:
    """The native evaluation's detection columns of ``rows`` (LVIS adds ``not_exhaustive``)."""
    return {
        "image": image,
        "category": category,
        "box": _contig(dets.box[rows], np.float64),
        "area": _contig(dets.area_at(rows), np.float64),
        "score": _contig(dets.score[rows], np.float64),
        "id_positive": _contig(dets.id_positive_at(rows), np.uint8),
    }


def run_coco(
    gt: GroundTruth,
    dets: Detections,
    *,
    img_ids,
    cat_ids,
    iou_thrs,
    rec_thrs,
    max_dets,
    area_rng,
    use_cats: bool,
    matcher=None,
):
    """pycocotools COCOeval.evaluate + accumulate.  ``img_ids`` sorted unique; ``cat_ids`` sorted
    unique when ``use_cats`` (pooled in the given order otherwise); ``max_dets`` sorted.

    ``matcher`` replaces the one native per-image evaluation (:func:`evaluate_columns`), e.g. by
    a :class:`~vrft_rewards.cocoeval.sharding.ShardedMatcher` that runs image shards on Ray.
    """
    img_ids = np.asarray(img_ids, dtype=np.int64)
    cat_ids = np.asarray(cat_ids, dtype=np.int64)
    max_dets = np.asarray(max_dets, dtype=np.int64)
    n_img, n_cat = len(img_ids), (len(cat_ids) if use_cats else 1)

    def select(image_id, category_id):
        ip, iok = positions(image_id, img_ids)
        cp, cok = positions(category_id, cat_ids)
        keep = iok & cok
        if use_cats and keep.all():
            return slice(None), ip, cp  # every row evaluated (the usual case): no gather copies
        idx = np.flatnonzero(keep)
        if not use_cats:
            # computeIoU pools `[g for cId in p.catIds for g in _gts[imgId, cId]]`: category
            # position first, then dataset order.
            idx = idx[np.argsort(cp[idx], kind="stable")]
            return idx, ip[idx], np.zeros(len(idx), np.int64)
        return idx, ip[idx], cp[idx]

    gi, g_img, g_cat = select(gt.ann_image_id, gt.ann_category_id)
    di, d_img, d_cat = select(dets.image_id, dets.category_id)
    crowd = gt.ann_iscrowd[gi]
    # pycocotools: gt['ignore'] = iscrowd (overwrites the field)
    gt_cols = _gt_columns(gt, gi, g_img, g_cat, ignore=crowd, crowd=crowd)
    dt_cols = _dt_columns(dets, di, d_img, d_cat)
    cap = int(max_dets[-1])
    state = (matcher or evaluate_columns)(gt_cols, dt_cols, n_img, n_cat, iou_thrs, area_rng, cap)
    if rec_thrs is None:  # evaluate() only; accumulate later with accumulate_coco
        return state
    return accumulate_coco(state, rec_thrs, max_dets) + (state,)


def accumulate_coco(state, rec_thrs, max_dets):
    """(precision, recall, scores) of a native evaluation state."""
    return _C.eval_accumulate(
        state, _contig(rec_thrs, np.float64), _contig(np.asarray(max_dets, dtype=np.int64), np.int64)
    )


def run_lvis(gt: GroundTruth, dets: Detections, *, img_ids, cat_ids, iou_thrs, rec_thrs, area_rng, matcher=None):
    """lvis-api 0.5.3 LVISEval.evaluate + accumulate on detections already capped per image.

    ``matcher``: as for :func:`run_coco`.

    Returns precision (T, R, K, A), recall (T, K, A), scores (T, R, K, A) and the native state.
    """
    img_ids = np.asarray(img_ids, dtype=np.int64)
    cat_ids = np.asarray(cat_ids, dtype=np.int64)
    n_img, n_cat = len(img_ids), len(cat_ids)

    # LVIS.get_ann_ids(img_ids, cat_ids) keeps only 0 < area < inf (strict bounds); the same rule,
    # the federated filter (a detection counts only where its category is annotated in the image
    # as present or absent) and the not-exhaustive flags select the detections, natively.
    gi, g_img, g_cat = lvis_gt_rows(gt, img_ids, cat_ids)
    di, d_img, d_cat, not_exhaustive = lvis_detection_rows(dets, gt, img_ids, cat_ids, g_img, g_cat)
    if len(di) == len(dets):  # every detection evaluated (evaluate_lvis drops the others first)
        di = slice(None)

    # LVIS respects the `ignore` field and forces iscrowd = 0.
    gt_cols = _gt_columns(gt, gi, g_img, g_cat, ignore=gt.ann_ignore[gi], crowd=np.zeros(len(gi), np.uint8))
    dt_cols = _dt_columns(dets, di, d_img, d_cat)
    dt_cols["not_exhaustive"] = not_exhaustive
    state = (matcher or evaluate_columns)(gt_cols, dt_cols, n_img, n_cat, iou_thrs, area_rng, -1)
    precision, recall, scores = _C.eval_accumulate(state, _contig(rec_thrs, np.float64), np.array([_NO_CAP], np.int64))
    return precision[..., 0], recall[..., 0], scores[..., 0], state


def cap_per_image(dets: Detections, max_dets: int, gt: GroundTruth | None = None) -> Detections:
    """LVISResults.limit_dets_per_image: the top ``max_dets`` scores of each image.

    ``sorted(key=score, reverse=True)`` is stable, so ties keep result order; the kept
    detections keep their input order (only their relative order within an image matters).
    """
    if max_dets < 0 or len(dets) == 0:
        return dets
    n = len(dets)
    if gt is not None:  # results are on GT images (checked): a lookup table, no sort
        pos, _ = positions(dets.image_id, gt.image_ids)
        counts = np.bincount(pos)
    else:
        counts = np.unique(dets.image_id, return_counts=True)[1]
    if counts.max() <= max_dets:
        return dets  # nothing to cut (the common case): no sort needed
    order = np.lexsort((np.arange(n), -dets.score, dets.image_id))
    img_sorted = dets.image_id[order]
    first = np.searchsorted(img_sorted, img_sorted, side="left")
    rank = np.arange(n) - first
    keep = np.zeros(n, bool)
    keep[order[rank < max_dets]] = True
    if keep.all():
        return dets
    out = dets.subset(keep)
    out.ids = np.arange(1, len(out) + 1, dtype=np.int64)
    return out
