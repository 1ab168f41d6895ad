"""The engine: COCO / LVIS evaluate + accumulate on column data, through the native core (csrc/eval).

Everything here is vectorised numpy over whole columns; the per-(image, category) work happens
in one native call (``_C.eval_evaluate``, or a sharded matcher: :mod:`.sharding`) and one more
for the accumulation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._ext import _C
from .columns import MissingFieldError, positions
from .detections import Detections
from .ground_truth import GroundTruth
from .loadres import Results, cap_mask
from .selection import lvis_detection_rows, lvis_gt_rows
from .shapes import gt_shapes

__all__ = [
    "IouSource",
    "accumulate_coco",
    "cap_per_image",
    "cap_results",
    "check_image_ids",
    "evaluate_columns",
    "run_coco",
    "run_lvis",
]


@dataclass
class IouSource:
    """Where the IoU comes from when it is not the boxes' (picklable: Ray shards receive it).

    ``kind`` "segm": the GT's and the detections' ``SegmArena`` (the columns carry each row's
    arena index as ``shape``); "keypoints": ``vars`` = ``(sigmas * 2) ** 2`` (the columns carry
    ``keypoints`` and ``kp_integral``; the GT columns their ``box``); ``no_match``: every OKS block
    is empty, as pycocotools' computeOks leaves it with ``useCats=0``.
    """

    kind: str = "bbox"
    gt_masks: Any = None
    dt_masks: Any = None
    vars: np.ndarray | None = None
    no_match: bool = False


def _keypoint_ious(gt_cols: dict, dt_cols: dict, plan, source: IouSource) -> np.ndarray:
    """OKS blocks of every group of ``plan``: native exponents, numpy's exp, native sums."""
    if source.no_match:  # pycocotools reads _gts[img, -1]: no OKS, nothing matches
        return np.full(int(plan.iou_offsets[-1]), -np.inf)
    neg_e, counts = _C.oks_exponents(
        plan,
        source.vars,
        _contig(gt_cols["keypoints"], np.float64),
        _contig(gt_cols["kp_integral"], np.uint8),
        _contig(gt_cols["box"], np.float64),
        _contig(gt_cols["area"], np.float64),
        _contig(dt_cols["keypoints"], np.float64),
        _contig(dt_cols["kp_integral"], np.uint8),
    )
    # One np.exp over every pair's values: the same values as pycocotools' np.exp(-e) per pair.
    return _C.oks_reduce(np.exp(neg_e), counts)


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
    source: IouSource | None = None,
    keep: bool = False,
):
    """One native evaluation (``_C.eval_evaluate``) of prepared columns: the unsharded matcher.

    ``keep`` keeps the IoU blocks and the matches in the state (the drop-ins' ``ious`` and
    ``evalImgs``).
    """
    args = (
        gt_cols,
        dt_cols,
        int(num_images),
        int(num_categories),
        np.ascontiguousarray(iou_thrs, dtype=np.float64),
        np.ascontiguousarray(area_rng, dtype=np.float64).reshape(-1, 2),
        int(cap),
    )
    kind = "bbox" if source is None else source.kind
    if kind == "bbox":
        return _C.eval_evaluate(*args, keep_ious=keep, keep_matches=keep)
    if kind == "segm":
        return _C.eval_evaluate(
            *args, gt_masks=source.gt_masks, dt_masks=source.dt_masks, keep_ious=keep, keep_matches=keep
        )
    if kind == "keypoints":
        plan = _C.eval_evaluate(*args, plan_only=True)
        ious = _keypoint_ious(gt_cols, dt_cols, plan, source)
        return _C.eval_evaluate(*args, ious=ious, keep_ious=keep, keep_matches=keep)
    raise ValueError(f"unknown IoU source {kind!r}")


def _row_array(rows, n: int) -> np.ndarray:
    return np.arange(n, dtype=np.int64) if isinstance(rows, slice) else np.asarray(rows, dtype=np.int64)


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


def _require_gt_boxes(gt: GroundTruth) -> None:
    """Box and keypoint evaluation read every GT's ``bbox`` (pycocotools: KeyError)."""
    no_box = getattr(gt, "ann_no_box", None)
    if no_box is not None and no_box.any():
        raise MissingFieldError(f"gt['annotations'][{int(np.flatnonzero(no_box)[0])}] has no 'bbox' field")


def _shape_columns(iou_type, gt, results, gi, di, kpt_vars, gt_cols, dt_cols, *, use_cats=True):
    """Adds the mask / keypoint columns of ``iou_type`` to the prepared columns (rows ``gi`` /
    ``di``) and returns the :class:`IouSource` (None for boxes)."""
    if iou_type != "segm":
        _require_gt_boxes(gt)
    if iou_type == "bbox":
        return None
    if results is None:
        raise ValueError(f"iou_type={iou_type!r} needs results with their masks / keypoints")
    if iou_type == "segm":
        gt_cols["shape"] = np.arange(len(gt), dtype=np.int64)[gi]
        dt_cols["shape"] = _contig(results.arena_rows()[di], np.int64)
        return IouSource("segm", gt_masks=gt_shapes(gt).masks(), dt_masks=results.masks)
    if iou_type == "keypoints":
        xyv, integral, no_kps = gt_shapes(gt).keypoints(len(kpt_vars))
        gt_cols["keypoints"] = _contig(xyv[gi], np.float64)
        gt_cols["kp_integral"] = _contig(integral[gi], np.uint8)
        # pycocotools: gt['ignore'] = (gt['num_keypoints'] == 0) or gt['ignore']
        gt_cols["ignore"] = _contig(gt_cols["ignore"] | no_kps[gi], np.uint8)
        dt_cols["keypoints"] = _contig(results.keypoints[di], np.float64)
        dt_cols["kp_integral"] = _contig(results.kp_integral[di], np.uint8)
        # computeOks reads self._gts[imgId, catId] even for useCats=0, where catId is -1.
        return IouSource("keypoints", vars=kpt_vars, no_match=not use_cats)
    raise ValueError(f"iou_type must be 'bbox', 'segm' or 'keypoints', got {iou_type!r}")


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
    iou_type: str = "bbox",
    results=None,
    kpt_vars=None,
    keep: bool = False,
):
    """pycocotools COCOeval.evaluate + accumulate.  ``img_ids`` sorted unique; ``cat_ids`` sorted
    unique when ``use_cats`` (pooled in the given order otherwise); ``max_dets`` sorted.

    ``matcher`` replaces the one native per-image evaluation (:func:`evaluate_columns`), e.g. by
    a :class:`~vrft_rewards.cocoeval.sharding.ShardedMatcher` that runs image shards on Ray.
    ``iou_type`` "segm" / "keypoints" take the masks / keypoints of ``results``
    (:class:`~vrft_rewards.cocoeval.loadres.Results`, whose ``dets`` is ``dets``) and the GT's;
    ``kpt_vars`` = ``(sigmas * 2) ** 2``.  ``keep``: see :func:`evaluate_columns`.
    """
    img_ids = np.asarray(img_ids, dtype=np.int64)
    cat_ids = np.asarray(cat_ids, dtype=np.int64)
    max_dets = np.asarray(max_dets, dtype=np.int64)
    n_img, n_cat = len(img_ids), (len(cat_ids) if use_cats else 1)

    def select(image_id, category_id):
        ip, iok = positions(image_id, img_ids)
        cp, cok = positions(category_id, cat_ids)
        ok = iok & cok
        if use_cats and ok.all():
            return slice(None), ip, cp  # every row evaluated (the usual case): no gather copies
        idx = np.flatnonzero(ok)
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
    source = _shape_columns(iou_type, gt, results, gi, di, kpt_vars, gt_cols, dt_cols, use_cats=use_cats)
    cap = int(max_dets[-1])
    args = (gt_cols, dt_cols, n_img, n_cat, iou_thrs, area_rng, cap)
    if keep:  # the drop-in's views: the state and what maps its rows back to the records
        state = evaluate_columns(*args, source, keep=True)
        return state, _row_array(gi, len(gt)), _row_array(di, len(dets)), gt_cols["ignore"]
    if source is not None:
        state = (matcher or evaluate_columns)(*args, source)
    else:
        state = (matcher or evaluate_columns)(*args)
    if rec_thrs is None:  # evaluate() only; accumulate later with accumulate_coco
        return state
    return accumulate_coco(state, rec_thrs, max_dets) + (state,)


def accumulate_coco(state, rec_thrs, max_dets):
    """(precision, recall, scores) of a native evaluation state."""
    return _C.eval_accumulate(
        state, _contig(rec_thrs, np.float64), _contig(np.asarray(max_dets, dtype=np.int64), np.int64)
    )


def run_lvis(
    gt: GroundTruth,
    dets: Detections,
    *,
    img_ids,
    cat_ids,
    iou_thrs,
    rec_thrs,
    area_rng,
    matcher=None,
    iou_type: str = "bbox",
    results=None,
    keep: bool = False,
):
    """lvis-api 0.5.3 LVISEval.evaluate + accumulate on detections already capped per image.

    ``matcher``, ``iou_type`` ("bbox" / "segm"), ``results`` and ``keep``: as for :func:`run_coco`.

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
    source = _shape_columns(iou_type, gt, results, gi, di, None, gt_cols, dt_cols)
    args = (gt_cols, dt_cols, n_img, n_cat, iou_thrs, area_rng, -1)
    if keep:
        state = evaluate_columns(*args, source, keep=True)
        return state, _row_array(gi, len(gt)), _row_array(di, len(dets)), gt_cols["ignore"]
    if source is not None:
        state = (matcher or evaluate_columns)(*args, source)
    else:
        state = (matcher or evaluate_columns)(*args)
    precision, recall, scores = _C.eval_accumulate(state, _contig(rec_thrs, np.float64), np.array([_NO_CAP], np.int64))
    return precision[..., 0], recall[..., 0], scores[..., 0], state


def _cap_mask(dets: Detections, max_dets: int, gt: GroundTruth | None = None) -> np.ndarray | None:
    """:func:`~vrft_rewards.cocoeval.loadres.cap_mask` of detection columns."""
    return cap_mask(dets.image_id, dets.score, max_dets, None if gt is None else gt.image_ids)


def cap_per_image(dets: Detections, max_dets: int, gt: GroundTruth | None = None) -> Detections:
    """The top ``max_dets`` scores of each image (:func:`cap_mask`), keeping their input order
    (only their relative order within an image matters) and numbering them 1..N."""
    keep = _cap_mask(dets, max_dets, gt)
    if keep is None:
        return dets
    out = dets.subset(keep)
    out.ids = np.arange(1, len(out) + 1, dtype=np.int64)
    return out


def cap_results(res: Results, max_dets: int, gt: GroundTruth | None = None) -> Results:
    """:func:`cap_per_image` of results with their masks."""
    keep = _cap_mask(res.dets, max_dets, gt)
    if keep is None:
        return res
    out = res.subset(keep)
    out.dets.ids = np.arange(1, len(out) + 1, dtype=np.int64)
    return out
