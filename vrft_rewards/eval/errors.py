"""Error breakdown of detections: TIDE's classification, localisation, both, duplicate, background and
missed errors, with the AP each one costs.

Computed natively (``_C.eval_tide``, ``csrc/eval/tide.h``) by TIDE's definitions, number for
number those of ``tidecv`` 1.0.1 on the same ground truth and detections: errors at IoU 0.5
(``pos_thresh``; background below 0.1), dAP = TIDE's mAP with the errors of one type fixed minus
its mAP (clipped at 0), plus the special FalsePos / FalseNeg dAP.

TIDE's AP is not pycocotools': TIDE caps detections at 100 (LVIS: 300) per image over all
categories, matches the first GT of highest IoU, ignores a detection inside a crowd region only
when its crowd-IoU is strictly above 0.5, uses no ``np.spacing(1)`` in the precision, and counts a
category with detections but no GT as AP 0 in its mean (pycocotools leaves it out).  Its dAP is not
meaningful under tied scores: fixing rebuilds the ranking with the errors first, so tied true
positives fall behind the false positives and the "fixed" AP can drop (the dAP is then 0).

The input is the evaluation's scope: the evaluated images (in the GT file's order, TIDE's
iteration order) and categories; crowd annotations become ignore regions (tidecv's COCO loader);
on LVIS, a category that an image neither annotates nor lists as absent, or lists as not
exhaustively annotated, is ignored in that whole image (tidecv's LVIS loader).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from .._ext import _C
from ..cocoeval.ground_truth import GroundTruth

__all__ = ["ERROR_TYPES", "error_breakdown"]

#: Report keys of TIDE's main error types, in tidecv's order (Cls, Loc, Both, Dupe, Bkg, Miss).
ERROR_TYPES = ("cls", "loc", "both", "dupe", "bkg", "missed")
TIDE_THRESHOLDS = np.round(np.arange(50, 100, 5) / 100, 2)  # tidecv's COCO_THRESHOLDS


def _grouped(image_pos: np.ndarray, n_images: int) -> tuple:
    """Stable order of rows by image position and the (n_images + 1) offsets."""
    order = np.argsort(image_pos, kind="stable")
    off = np.zeros(n_images + 1, np.int64)
    np.cumsum(np.bincount(image_pos, minlength=n_images), out=off[1:])
    return order, off


def error_breakdown(
    gt: GroundTruth,
    dets: np.ndarray,
    *,
    kind: str,
    cat_ids: np.ndarray,
    img_ids: Optional[np.ndarray] = None,
    max_dets: Optional[int] = None,
) -> dict:
    """TIDE on the detections ``dets`` (N, 7) of categories ``cat_ids`` on images ``img_ids``
    (default: every GT image).  Returns ``{"count", "dAP"}`` for each of :data:`ERROR_TYPES`,
    ``special`` (``false_positives`` / ``false_negatives`` dAP), ``ap50`` (TIDE's AP at 0.5),
    ``ap_50_95``, ``ap_per_threshold``, ``num_classes`` and ``raw`` (the native result in tidecv's
    units, AP points); dAP and AP as fractions (tidecv prints points: x 100)."""
    cats = np.asarray(cat_ids, dtype=np.int64)
    images = np.array([im["id"] for im in gt.dataset["images"]], dtype=np.int64)  # file order
    if img_ids is not None:
        images = images[np.isin(images, np.asarray(img_ids, dtype=np.int64))]
    n_img = len(images)
    # GT: file order, restricted; crowd -> ignore regions (COCO); LVIS has no crowds.
    sel = np.isin(gt.ann_category_id, cats) & np.isin(gt.ann_image_id, images)
    idx = np.flatnonzero(sel)
    crowd = gt.ann_iscrowd[idx] != 0 if kind == "coco" else np.zeros(len(idx), bool)
    g_img = _positions(gt.ann_image_id[idx], images)
    go, goff = _grouped(g_img[~crowd], n_img)
    io, ioff = _grouped(g_img[crowd], n_img)
    g_rows, i_rows = idx[~crowd][go], idx[crowd][io]
    # Detections of the evaluated categories on the evaluated images, file order per image.
    d = np.asarray(dets, dtype=np.float64).reshape(-1, 7)
    dimg = d[:, 0].astype(np.int64)
    dcat = d[:, 6].astype(np.int64)
    keep = np.isin(dcat, cats) & np.isin(dimg, images)
    d, dimg, dcat = d[keep], dimg[keep], dcat[keep]
    d_img = _positions(dimg, images)
    do, doff = _grouped(d_img, n_img)
    d, dcat = d[do], dcat[do]
    # LVIS: (image, category) pairs of the detections that tidecv's loader ignores image-wide.
    wi_img = np.zeros(0, np.int64)
    wi_cat = np.zeros(0, np.int64)
    if kind == "lvis":
        wi_img, wi_cat = _lvis_ignored_pairs(gt, d_img[do], dcat, images)
    wo, woff = _grouped(wi_img, n_img)
    r = _C.eval_tide(
        goff,
        np.ascontiguousarray(gt.ann_box[g_rows], np.float64).reshape(-1, 4),
        np.ascontiguousarray(gt.ann_category_id[g_rows], np.int64),
        ioff,
        np.ascontiguousarray(gt.ann_box[i_rows], np.float64).reshape(-1, 4),
        np.ascontiguousarray(gt.ann_category_id[i_rows], np.int64),
        woff,
        np.ascontiguousarray(wi_cat[wo], np.int64),
        doff,
        np.ascontiguousarray(d[:, 1:5], np.float64),
        np.ascontiguousarray(dcat, np.int64),
        np.ascontiguousarray(d[:, 5], np.float64),
        int(max_dets if max_dets is not None else (100 if kind == "coco" else 300)),
        0.5,
        0.1,
        np.ascontiguousarray(TIDE_THRESHOLDS, np.float64),
    )
    out = {k: {"count": int(n), "dAP": float(v) / 100} for k, n, v in zip(ERROR_TYPES, r["counts"], r["main_dap"])}
    out.update(
        {
            "special": {"false_positives": r["false_pos"] / 100, "false_negatives": r["false_neg"] / 100},
            "ap50": r["ap"] / 100,
            "ap_50_95": float(np.mean(r["ap_per_threshold"])) / 100,
            "ap_per_threshold": (np.asarray(r["ap_per_threshold"]) / 100).tolist(),
            "num_classes": int(r["num_classes"]),
            "definition": "TIDE (tidecv 1.0.1): errors at IoU 0.5, background below 0.1, dAP of TIDE's own AP",
            "raw": r,  # tidecv's units (AP points), for exact comparisons
        }
    )
    return out


def _positions(ids: np.ndarray, images: np.ndarray) -> np.ndarray:
    """Position of each id in ``images`` (every id is one of them)."""
    order = np.argsort(images, kind="stable")
    return order[np.searchsorted(images[order], ids)].astype(np.int64)


def _lvis_ignored_pairs(gt: GroundTruth, d_img: np.ndarray, d_cat: np.ndarray, images: np.ndarray) -> tuple:
    """(image position, category) of detection pairs whose category the image neither annotates
    nor lists in ``neg_category_ids``, or lists in ``not_exhaustive_category_ids``."""
    if not len(d_img):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    span = np.int64(max(int(gt.cat_ids.max(initial=0)), int(d_cat.max(initial=0))) + 1)
    pairs = np.unique(d_img * span + d_cat)
    p_img, p_cat = pairs // span, pairs % span
    neg_img, neg_cat, ne_img, ne_cat = gt.lvis_lists()

    def keys(img_ids: np.ndarray, cat: np.ndarray) -> np.ndarray:
        ok = np.isin(img_ids, images)
        return _positions(img_ids[ok], images) * span + cat[ok]

    annotated = keys(gt.ann_image_id, gt.ann_category_id)
    listed = np.union1d(annotated, keys(neg_img, neg_cat))
    ignored = ~np.isin(pairs, listed) | np.isin(pairs, keys(ne_img, ne_cat))
    return p_img[ignored], p_cat[ignored]
