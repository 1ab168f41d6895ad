"""lvis-api's selection of the detections an LVIS evaluation uses, in one native pass.

``LVISEval._prepare`` keeps a detection (after ``LVISResults``' per-image cap) when its image and
category are evaluated, ``0 < area < inf``, and its category is annotated in its image as present
(a kept GT of that category) or absent (``neg_category_ids``); it is "not exhaustive" when the
category is in the image's ``not_exhaustive_category_ids``.  ``csrc/eval/select.cpp`` applies the
three rules per detection with lookup tables, so that no column-length temporary is built per rule
(at LVIS v1 val scale, 5.9M detections, numpy's version held ~400 MB of temporaries).
"""

from __future__ import annotations

import numpy as np

from .._ext import _C
from .columns import positions
from .detections import Detections
from .ground_truth import GroundTruth

__all__ = ["evaluated_lvis_detections", "lvis_detection_rows", "lvis_gt_rows"]


def _ids(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.int64)


def lvis_detection_rows(
    dets: Detections, gt: GroundTruth, img_ids, cat_ids, present_image, present_category
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The detections lvis-api evaluates, in input order.

    Parameters
    ----------
    dets : Detections
        Already capped per image.
    gt : GroundTruth
        Its ``lvis_lists()`` give the absent and not-exhaustive (image, category) pairs.
    img_ids, cat_ids : int64 arrays
        The evaluated images and categories (positions are indices into these).
    present_image, present_category : int64 arrays
        Image / category positions of the kept GTs.

    Returns
    -------
    rows, image, category : int64 arrays
        Kept detection rows and their image / category positions.
    not_exhaustive : uint8 array
    """
    neg_img, neg_cat, nel_img, nel_cat = gt.lvis_lists()
    return _C.eval_select_lvis(
        dets.image_id,
        dets.category_id,
        dets.box,
        dets.given_area,
        _ids(img_ids),
        _ids(cat_ids),
        _ids(present_image),
        _ids(present_category),
        _ids(neg_img),
        _ids(neg_cat),
        _ids(nel_img),
        _ids(nel_cat),
    )


def lvis_gt_rows(gt: GroundTruth, img_ids, cat_ids) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The GTs lvis-api evaluates (``LVIS.get_ann_ids``: image and category evaluated, and
    ``0 < area < inf``, strict bounds): their rows and image / category positions."""
    ip, iok = positions(gt.ann_image_id, img_ids)
    cp, cok = positions(gt.ann_category_id, cat_ids)
    rows = np.flatnonzero(iok & cok & (gt.ann_area > 0) & (gt.ann_area < np.inf))
    return rows, ip[rows], cp[rows]


def evaluated_lvis_detections(dets: Detections, gt: GroundTruth, img_ids, cat_ids) -> Detections:
    """Only the detections an LVIS evaluation of ``img_ids`` x ``cat_ids`` uses, in order (``dets``
    itself when it uses all).  Dropping the others before the evaluation frees them when the
    caller holds no other reference (about half of an LVIS results file: the federated filter
    drops every detection of a category not annotated in its image)."""
    img_ids = np.asarray(img_ids, dtype=np.int64)
    cat_ids = np.asarray(cat_ids, dtype=np.int64)
    _, g_img, g_cat = lvis_gt_rows(gt, img_ids, cat_ids)
    rows = lvis_detection_rows(dets, gt, img_ids, cat_ids, g_img, g_cat)[0]
    return dets if len(rows) == len(dets) else dets.subset(rows)
