"""Evaluation parameters: pycocotools' and lvis-api's defaults, built the way they build them.

The one home of the IoU and recall thresholds, the area ranges and the max-dets defaults that COCO,
LVIS and the per-completion AP reward (:class:`vrft_rewards.rewards.APReward`) share, of the
``Params`` objects of the drop-ins, and of the checks of caller-given values.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "AREA_LABELS",
    "EmptyParameterError",
    "IOU_TYPES",
    "KEYPOINT_AREA_LABELS",
    "KEYPOINT_MAX_DETS",
    "keypoint_area_ranges",
    "kpt_oks_sigmas",
    "COCO_IOU_THRS",
    "COCO_MAX_DETS",
    "COCO_REC_THRS",
    "FREQUENCY_LABELS",
    "LVIS_MAX_DETS",
    "LVISParams",
    "Params",
    "default_area_ranges",
    "area_ranges_array",
    "check_iou_type",
    "float_vector",
    "iou_thresholds",
    "recall_thresholds",
    "sorted_max_dets",
]

# [lo, hi] (bounds inclusive) of the areas "all", "small", "medium", "large".
_AREA_RANGES = ((0**2, 1e5**2), (0**2, 32**2), (32**2, 96**2), (96**2, 1e5**2))
#: Names of the default area ranges, as the summaries print them.
AREA_LABELS = ("all", "small", "medium", "large")
#: pycocotools' ``maxDets``.
COCO_MAX_DETS = (1, 10, 100)
#: The evaluation types of pycocotools' ``COCOeval`` (lvis-api: the first two).
IOU_TYPES = ("bbox", "segm", "keypoints")
#: ``setKpParams``: the area ranges "all", "medium", "large" and ``maxDets``.
_KEYPOINT_AREA_RANGES = ((0**2, 1e5**2), (32**2, 96**2), (96**2, 1e5**2))
KEYPOINT_AREA_LABELS = ("all", "medium", "large")
KEYPOINT_MAX_DETS = (20,)
#: lvis-api's detections kept per image (``LVISResults``).
LVIS_MAX_DETS = 300
#: LVIS category frequency groups (rare, common, frequent), in lvis-api's order.
FREQUENCY_LABELS = ("r", "c", "f")


def iou_thresholds() -> np.ndarray:
    """pycocotools' ``iouThrs`` (0.50:0.05:0.95), a new array.

    Built exactly as ``Params`` builds it: ``np.arange`` would give slightly different values, and
    ``summarize()`` selects .5 and .75 with float ``==``.
    """
    return np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)


def recall_thresholds() -> np.ndarray:
    """pycocotools' ``recThrs`` (0:0.01:1, 101 points), a new array."""
    return np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)


def default_area_ranges() -> list[list[float]]:
    """The default area ranges as pycocotools' ``areaRng`` (a new list of ``[lo, hi]`` lists)."""
    return [list(r) for r in _AREA_RANGES]


def keypoint_area_ranges() -> list[list[float]]:
    """``setKpParams``' ``areaRng`` ("all", "medium", "large"), a new list."""
    return [list(r) for r in _KEYPOINT_AREA_RANGES]


def kpt_oks_sigmas() -> np.ndarray:
    """``setKpParams``' ``kpt_oks_sigmas`` of the 17 COCO person keypoints, a new float64 array.

    Built as pycocotools builds it (``np.array([.26, .25, ...]) / 10.0``): the division rounds, so
    e.g. the first sigma is 0.026000000000000002.
    """
    return (
        np.array([0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89])
        / 10.0
    )


#: The default thresholds as shared arrays, for callers that only read them (the AP reward).
COCO_IOU_THRS = iou_thresholds()
COCO_REC_THRS = recall_thresholds()


class EmptyParameterError(ValueError, IndexError):
    """A parameter list pycocotools indexes is empty: a ``ValueError`` naming it, and the
    ``IndexError`` pycocotools raises there."""


def float_vector(x: Any, name: str) -> np.ndarray:
    """``x`` as a finite 1-D float64 array (thresholds), or ``ValueError`` naming ``name``."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of numbers, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} must be finite, got {a.tolist()}")
    return a


def area_ranges_array(x: Any) -> np.ndarray:
    """Area ranges as a C-contiguous (A, 2) float64 array of ``[lo, hi]``."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 2:
        raise ValueError(f"area_ranges must be a sequence of [lo, hi] pairs, got shape {a.shape}")
    return np.ascontiguousarray(a)


def sorted_max_dets(x: Any) -> list[int]:
    """``max_dets`` as a sorted list of non-negative ints (pycocotools sorts ``maxDets``)."""
    vals = [int(v) for v in x]
    if not vals:
        raise EmptyParameterError("max_dets must hold at least one value (pycocotools uses maxDets[-1])")
    if any(v < 0 for v in vals):
        raise ValueError(f"max_dets must be non-negative, got {vals}")
    return sorted(vals)


def check_iou_type(iou_type: str, *, supported: tuple[str, ...] = IOU_TYPES) -> None:
    """``ValueError`` naming the supported types unless ``iou_type`` is one of them."""
    if iou_type not in supported:
        shown = ", ".join(repr(t) for t in supported)
        raise ValueError(f"iou_type must be one of {shown}, got {iou_type!r}")


class Params:
    """pycocotools ``Params``: the same attribute names, default values and methods.

    ``Params("bbox")`` / ``Params("segm")`` call :meth:`setDetParams`, ``Params("keypoints")``
    :meth:`setKpParams` (which adds ``kpt_oks_sigmas``); other types raise as pycocotools does.
    """

    def __init__(self, iouType: str = "segm") -> None:  # noqa: N803 - pycocotools' name
        if iouType == "segm" or iouType == "bbox":
            self.setDetParams()
        elif iouType == "keypoints":
            self.setKpParams()
        else:
            raise Exception("iouType not supported")  # pycocotools' exception, kept for drop-in use
        self.iouType = iouType
        self.useSegm = None  # deprecated in pycocotools; 1 / 0 still switch evaluate() to segm / bbox

    def setDetParams(self) -> None:  # noqa: N802 - pycocotools' name
        self.imgIds: list = []
        self.catIds: list = []
        self.iouThrs = iou_thresholds()
        self.recThrs = recall_thresholds()
        self.maxDets = list(COCO_MAX_DETS)
        self.areaRng = default_area_ranges()
        self.areaRngLbl = list(AREA_LABELS)
        self.useCats = 1

    def setKpParams(self) -> None:  # noqa: N802 - pycocotools' name
        self.imgIds = []
        self.catIds = []
        self.iouThrs = iou_thresholds()
        self.recThrs = recall_thresholds()
        self.maxDets = list(KEYPOINT_MAX_DETS)
        self.areaRng = keypoint_area_ranges()
        self.areaRngLbl = list(KEYPOINT_AREA_LABELS)
        self.useCats = 1
        self.kpt_oks_sigmas = kpt_oks_sigmas()


class LVISParams:
    """lvis-api ``Params``: the same attribute names and defaults."""

    def __init__(self, iou_type: str) -> None:
        self.img_ids: list = []
        self.cat_ids: list = []
        self.iou_thrs = iou_thresholds()
        self.rec_thrs = recall_thresholds()
        self.max_dets = LVIS_MAX_DETS
        self.area_rng = default_area_ranges()
        self.area_rng_lbl = list(AREA_LABELS)
        self.use_cats = 1
        self.img_count_lbl = list(FREQUENCY_LABELS)
        self.iou_type = iou_type
