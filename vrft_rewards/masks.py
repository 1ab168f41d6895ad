"""Masks: COCO segmentations (polygons, RLE) decoded natively, and boxes intersected with them.

The numbers are pycocotools' (``frPyObjects``, ``merge``, ``area``, ``toBbox``), computed in one
native pass over a batch (``csrc/masks``): polygons rasterised with pycocotools' rule, compressed
RLE decoded, a sample's pieces united, each box rasterised as pycocotools rasterises a box and
intersected with its mask.  Only uncompressed RLE goes through pycocotools itself.  Used by the
grounding evaluation (:func:`vrft_rewards.eval.evaluate_grounding`: gIoU / cIoU).
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from ._ext import _C

__all__ = ["mask_intersection_union", "mask_set", "mask_set_and_problems", "segmentation_problem"]


def _mask_api() -> Any:
    try:
        from pycocotools import mask as mask_utils
    except ImportError as e:  # pragma: no cover - pycocotools is installed in the test environment
        raise ImportError("grounding mask metrics (gIoU / cIoU) need pycocotools: pip install pycocotools") from e
    return mask_utils


def _polygon_problem(seg: list) -> Optional[str]:
    """Why a COCO polygon segmentation cannot be rasterised, or None (lengths checked here,
    numbers and finiteness on the whole batch at once)."""
    for k, poly in enumerate(seg):
        if (
            not isinstance(poly, (list, tuple, np.ndarray))
            or len(poly) % 2
            or (len(poly) and isinstance(poly[0], (list, tuple, np.ndarray, dict)))
        ):
            return f"polygon {k} must be a flat list x1, y1, x2, y2, ..."
    return None


def _rle_size(seg: dict, h: int, w: int) -> Optional[str]:
    try:
        size = [int(v) for v in seg["size"]]
    except (KeyError, TypeError, ValueError):
        return "an RLE needs 'size': [height, width]"
    if size != [h, w]:
        return f"RLE size {size} differs from the image's [height, width] = [{h}, {w}]"
    return None


def segmentation_problem(seg: Any, h: int, w: int) -> Optional[str]:
    """Why ``seg`` is not a readable segmentation of an h x w image, or None."""
    if isinstance(seg, list):
        return _polygon_problem(seg)
    if isinstance(seg, dict) and isinstance(seg.get("counts"), (str, bytes, list)):
        return _rle_size(seg, h, w)
    return "segmentation must be a list of polygons or an RLE {'size', 'counts'}"


class _Pieces:
    """A batch of segmentations split into the native ``MaskSet``'s inputs.

    ``problems`` maps the index of each unreadable segmentation to the reason; those samples get
    no pieces (an empty mask) and must be skipped by the caller.
    """

    def __init__(self, segs: Sequence[Any], heights: np.ndarray, widths: np.ndarray) -> None:
        self.problems: dict = {}
        n = len(segs)
        for i, seg in enumerate(segs):
            problem = segmentation_problem(seg, int(heights[i]), int(widths[i]))
            if problem:
                self.problems[i] = problem
        coords, lengths, owners = self._collect_polygons(segs)
        try:
            flat = np.asarray(coords, dtype=np.float64)
            if flat.ndim != 1:
                raise ValueError
        except (TypeError, ValueError):  # some polygon holds a non-number: find whose, drop them
            for i in np.unique(owners).tolist():
                if not all(_flat_numbers(p) for p in segs[i]):
                    self.problems[i] = "a polygon holds something that is not a number"
            coords, lengths, owners = self._collect_polygons(segs)
            flat = np.asarray(coords, dtype=np.float64)
        lengths_a = np.asarray(lengths, dtype=np.int64)
        owners_a = np.asarray(owners, dtype=np.int64)
        if len(flat):  # finite and near the image (the rasteriser's bound), checked at once
            limit = 4.0 * np.maximum(heights, widths).astype(np.float64) + 64.0
            coord_owner = np.repeat(owners_a, lengths_a)
            bad = np.unique(coord_owner[~(np.abs(flat) <= limit[coord_owner])])
            if len(bad):
                for i in bad.tolist():
                    self.problems[i] = "a polygon coordinate is not finite or lies far outside the image"
                keep_poly = ~np.isin(owners_a, bad)
                flat = flat[np.repeat(keep_poly, lengths_a)]
                lengths_a, owners_a = lengths_a[keep_poly], owners_a[keep_poly]
        self.coords = flat
        self.coord_offsets = _offsets(lengths_a)
        self.polygon_offsets = _offsets(np.bincount(owners_a, minlength=n))
        self.rle, rle_owner = [], []
        m = None
        for i, seg in enumerate(segs):
            if i in self.problems or isinstance(seg, list):
                continue
            counts = seg["counts"]
            if isinstance(counts, list):  # uncompressed RLE: pycocotools compresses it
                m = m or _mask_api()
                try:
                    counts = m.frPyObjects(seg, int(heights[i]), int(widths[i]))["counts"]
                except (TypeError, ValueError, OverflowError, KeyError) as e:
                    self.problems[i] = f"unreadable RLE counts ({e!r})"
                    continue
            self.rle.append(counts.encode("utf-8") if isinstance(counts, str) else counts)
            rle_owner.append(i)
        self.rle_offsets = _offsets(np.bincount(np.asarray(rle_owner, dtype=np.int64), minlength=n))

    def _collect_polygons(self, segs: Sequence[Any]) -> tuple[list, list, list]:
        """Flat coordinates, per-polygon lengths and owners of the readable polygon samples.

        Polygons of fewer than 3 points have no area (the reference's toggles cancel): dropping
        them is exact, and keeps a 4-number polygon from being read as a box (frPyObjects would).
        """
        coords: list = []
        lengths: list = []
        owners: list = []
        for i, seg in enumerate(segs):
            if i in self.problems or not isinstance(seg, list):
                continue
            for p in seg:
                if len(p) >= 6:
                    coords.extend(p)
                    lengths.append(len(p))
                    owners.append(i)
        return coords, lengths, owners


def _flat_numbers(poly: Any) -> bool:
    """True when ``poly`` is a flat sequence of numbers (not pairs, not strings)."""
    try:
        return np.asarray(poly, dtype=np.float64).ndim == 1
    except (TypeError, ValueError):
        return False


def _offsets(counts: np.ndarray) -> np.ndarray:
    out = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def mask_set_and_problems(segs: Sequence[Any], sizes: np.ndarray) -> tuple[Any, dict]:
    """(``_C.MaskSet``, problems by sample index) of a batch: :func:`mask_set` that does not raise;
    unreadable samples get an empty mask and their reason in ``problems``."""
    sizes = np.asarray(sizes, dtype=np.float64).reshape(-1, 2)
    heights = sizes[:, 1].astype(np.int64)
    widths = sizes[:, 0].astype(np.int64)
    pieces = _Pieces(segs, heights, widths)
    masks = _C.MaskSet(
        heights, widths, pieces.rle, pieces.rle_offsets, pieces.coords, pieces.coord_offsets, pieces.polygon_offsets
    )
    problems = dict(pieces.problems)
    for i in np.flatnonzero(masks.status != 0).tolist():
        problems[i] = (
            "not a valid compressed RLE" if masks.status[i] == 1 else "RLE counts do not add up to height x width"
        )
    return masks, problems


def mask_set(segs: Sequence[Any], sizes: np.ndarray) -> Any:
    """The GT masks of a batch, decoded once (native ``_C.MaskSet``).

    Parameters
    ----------
    segs : sequence of N segmentations
        COCO polygons ``[[x1, y1, x2, y2, ...], ...]`` (all polygons of a sample are united),
        uncompressed RLE ``{"size", "counts": [...]}`` or compressed RLE ``{"size", "counts": str}``.
    sizes : ndarray (N, 2)
        ``(width, height)`` of each sample's image.

    Returns
    -------
    _C.MaskSet
        ``.area`` (N,), ``.bbox`` (N, 4) (pycocotools' ``toBbox``, xywh), ``.status`` (all 0) and
        ``.box_overlap(boxes_xyxy, valid) -> (intersection, union)``.

    Raises
    ------
    ValueError
        ``segs[i]`` is unreadable (named by index with the reason).

    Notes
    -----
    Everything is native and parallel over samples: polygons are rasterised with pycocotools'
    rule (``rleFrPoly``, ``csrc/masks/polygon.cpp``), compressed RLE decoded, a sample's pieces
    united.  Only uncompressed RLE goes through pycocotools (``frPyObjects``), per sample.
    Polygon coordinates must lie within ``4 * max(height, width) + 64`` of the origin.
    """
    masks, problems = mask_set_and_problems(segs, sizes)
    if problems:
        i = min(problems)
        raise ValueError(f"segs[{i}]: {problems[i]}")
    return masks


def mask_intersection_union(
    pred_boxes: np.ndarray, segs: Sequence[Any], sizes: np.ndarray, valid: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pixel intersection and union of each predicted box (as a mask) with its GT mask.

    Parameters
    ----------
    pred_boxes : ndarray (N, 4)
        ``x1, y1, x2, y2`` pixels (ignored where ``valid`` is False: empty prediction).
    segs : sequence of N segmentations (polygons or RLE), as for :func:`mask_set`
    sizes : ndarray (N, 2)
        ``(width, height)``.
    valid : ndarray of bool (N,)

    Returns
    -------
    intersection, union : ndarray of int64, shape (N,)

    Raises
    ------
    ValueError
        An unreadable segmentation (``segs[i]`` named).

    Notes
    -----
    Equal to pycocotools per sample: the box rasterised as ``frPyObjects([[x1, y1, x2 - x1,
    y2 - y1]], h, w)`` does (its polygon; a zero-size or inverted box is empty), the GT as the
    union of its polygons / RLE, ``area`` and ``merge(..., intersect=True)`` counts.  One native
    pass (``csrc/masks``, see :func:`mask_set`).
    """
    masks = mask_set(segs, sizes)
    boxes = np.ascontiguousarray(pred_boxes, dtype=np.float64).reshape(-1, 4)
    return masks.box_overlap(boxes, np.ascontiguousarray(valid, dtype=np.uint8))
