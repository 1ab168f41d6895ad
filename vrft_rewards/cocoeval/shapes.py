"""Segmentations and keypoints as the native engine reads them (``iou_type`` "segm" / "keypoints").

Masks stay sources: :func:`segm_arena` copies the segmentations of a list of records into one
native ``SegmArena`` (polygon coordinates, uncompressed counts, compressed strings), checking each
as pycocotools' ``COCO.annToRLE`` would read it, and the engine decodes every mask only inside its
(image, category) group.  Keypoints become one ``(rows, 3K)`` float64 array plus a flag per row
telling whether numpy would have held the row as integers (:func:`keypoint_rows`).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .._ext import _C
from .columns import MissingFieldError, float_column, positions
from .ground_truth import GroundTruth

__all__ = [
    "GtShapes",
    "gt_shapes",
    "image_sizes_of",
    "keypoint_rows",
    "oks_vars",
    "segm_arena",
    "segmentations_of",
]


def oks_vars(sigmas: Any) -> np.ndarray:
    """``(sigmas * 2) ** 2`` computed as computeOks computes it (in the sigmas' own dtype), as float64.

    A list is accepted too (pycocotools needs an ndarray); it becomes float64 first.
    """
    s = sigmas if isinstance(sigmas, np.ndarray) else np.asarray(sigmas, dtype=np.float64)
    if s.ndim != 1 or len(s) == 0:
        raise ValueError(f"kpt_oks_sigmas must be a non-empty 1-D sequence, got shape {s.shape}")
    if s.dtype.kind not in "fiu":
        raise ValueError(f"kpt_oks_sigmas must hold numbers, got dtype {s.dtype}")
    v = (s * 2) ** 2
    return np.ascontiguousarray(v, dtype=np.float64)


def image_sizes_of(dataset: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image ids, heights, widths) of ``dataset['images']``; -1 where an image has no size."""
    images = dataset.get("images") or []
    ids = np.fromiter((int(im["id"]) for im in images), dtype=np.int64, count=len(images))

    def size(key: str) -> np.ndarray:
        vals = [im.get(key, -1) for im in images]
        try:
            return np.asarray(vals, dtype=np.int64).reshape(len(images))
        except (TypeError, ValueError):
            for i, v in enumerate(vals):
                if not isinstance(v, (int, np.integer)):
                    raise ValueError(f"gt['images'][{i}][{key!r}] must be an integer, got {v!r}") from None
            raise

    return ids, size("height"), size("width")


def _record_sizes(image_id: np.ndarray, sizes: tuple[np.ndarray, np.ndarray, np.ndarray]):
    """Height and width of the image of each record (-1 where unknown)."""
    ids, heights, widths = sizes
    pos, found = positions(image_id, ids)
    h = np.where(found, heights[pos] if len(ids) else -1, -1).astype(np.int64)
    w = np.where(found, widths[pos] if len(ids) else -1, -1).astype(np.int64)
    return np.ascontiguousarray(h), np.ascontiguousarray(w)


def segmentations_of(records: Sequence[dict], where: str, *, required: bool) -> list:
    """``records[i]['segmentation']`` (None where absent; ``ValueError`` naming it if required)."""
    segs = [r.get("segmentation") if isinstance(r, dict) else r for r in records]
    if required:
        for i, s in enumerate(segs):
            if s is None:
                raise MissingFieldError(f"{where}[{i}] has no 'segmentation' field (needed for iou_type='segm')")
    return segs


def segm_arena(segs: list, image_id: np.ndarray, sizes, where: str, boxes: np.ndarray | None = None) -> Any:
    """A native ``SegmArena`` of ``segs`` (row i -> mask i).

    Polygons take their image's height / width (``sizes`` from :func:`image_sizes_of`), RLEs their
    own ``size``; a ``None`` entry becomes loadRes' box polygon of ``boxes[i]``.
    """
    h, w = _record_sizes(image_id, sizes)
    box_arg = None if boxes is None else np.ascontiguousarray(boxes, dtype=np.float64).reshape(-1, 4)
    return _C.segm_arena(list(segs), h, w, box_arg, where)


def keypoint_rows(values: list, num_keypoints: int, where: str) -> tuple[np.ndarray, np.ndarray]:
    """(rows x 3K float64, integral flag per row) of ``values`` (one list of 3K numbers each)."""
    if num_keypoints < 1:
        raise ValueError("keypoint evaluation needs at least one keypoint sigma")
    return _C.keypoint_rows(list(values), int(num_keypoints), where)


def _field(records: Sequence[dict], key: str, where: str, why: str) -> list:
    try:
        return [r[key] for r in records]
    except (KeyError, TypeError):
        for i, r in enumerate(records):
            if not isinstance(r, dict) or key not in r:
                raise MissingFieldError(f"{where}[{i}] has no {key!r} field ({why})") from None
        raise


class GtShapes:
    """The ground truth's masks or keypoints, built on first use and kept on the ``GroundTruth``.

    A ``GroundTruth`` is a snapshot of its dataset, so its shapes are too.
    """

    def __init__(self, gt: GroundTruth) -> None:
        self.gt = gt
        self._masks = None
        self._keypoints: dict = {}

    @property
    def annotations(self) -> list:
        return self.gt.dataset["annotations"]

    def masks(self) -> Any:
        """``SegmArena`` of every annotation's segmentation (row = annotation index)."""
        if self._masks is None:
            anns = self.annotations
            segs = segmentations_of(anns, "gt['annotations']", required=True)
            self._masks = segm_arena(segs, self.gt.ann_image_id, image_sizes_of(self.gt.dataset), "gt['annotations']")
        return self._masks

    def keypoints(self, num_keypoints: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(xyv (G, 3K), integral (G,), num_keypoints == 0 (G,) uint8) of every annotation."""
        if num_keypoints not in self._keypoints:
            anns = self.annotations
            where = "gt['annotations']"
            values = _field(anns, "keypoints", where, "needed for iou_type='keypoints'")
            xyv, integral = keypoint_rows(values, num_keypoints, where)
            _field(anns, "num_keypoints", where, "pycocotools' keypoint evaluation reads it")
            no_kps = (float_column(anns, "num_keypoints", where) == 0).astype(np.uint8)
            self._keypoints[num_keypoints] = (xyv, integral, no_kps)
        return self._keypoints[num_keypoints]


def gt_shapes(gt: GroundTruth) -> GtShapes:
    """The :class:`GtShapes` of ``gt`` (one per ``GroundTruth`` object)."""
    shapes = getattr(gt, "_vrft_shapes", None)
    if not isinstance(shapes, GtShapes) or shapes.gt is not gt:
        shapes = GtShapes(gt)
        gt._vrft_shapes = shapes
    return shapes
