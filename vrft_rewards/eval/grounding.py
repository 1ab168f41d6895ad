"""Reasoning-grounding evaluation (LISA-style): box mIoU, Acc@0.5, mask gIoU / cIoU.

The predicted box is the first box of the answer, converted to pixels.  Box IoU is computed by
:func:`vrft_rewards.paired_box_iou` for the batch.  Mask metrics have pycocotools' numbers
(``frPyObjects``, ``merge``, ``area``, ``toBbox``), computed in one native pass over the batch
(``csrc/masks``): GT polygons rasterised with pycocotools' rule, RLE decoded, a sample's pieces
united, each predicted box intersected with its mask.
"""

from __future__ import annotations

import os
from typing import Any, Optional, Sequence

import numpy as np

from .._ext import _C
from ..boxes import paired_box_iou
from ..parsing import boxes_to_pixels, parse_completions
from .parse_stats import parse_statistics
from .records import SkipLog, load_json_file, load_records, scorable_records
from .report import EvalReport

__all__ = ["evaluate_grounding", "mask_intersection_union", "mask_set"]

_GT_KEYS = ("width", "height", "box", "segmentation")


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
        if (not isinstance(poly, (list, tuple, np.ndarray)) or len(poly) % 2
                or (len(poly) and isinstance(poly[0], (list, tuple, np.ndarray, dict)))):
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


def _segmentation_problem(seg: Any, h: int, w: int) -> Optional[str]:
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
            problem = _segmentation_problem(seg, int(heights[i]), int(widths[i]))
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


def _mask_set(segs: Sequence[Any], sizes: np.ndarray) -> tuple[Any, dict]:
    """(``_C.MaskSet``, problems by sample index) of a batch; unreadable samples are empty."""
    sizes = np.asarray(sizes, dtype=np.float64).reshape(-1, 2)
    heights = sizes[:, 1].astype(np.int64)
    widths = sizes[:, 0].astype(np.int64)
    pieces = _Pieces(segs, heights, widths)
    masks = _C.MaskSet(heights, widths, pieces.rle, pieces.rle_offsets, pieces.coords,
                       pieces.coord_offsets, pieces.polygon_offsets)
    problems = dict(pieces.problems)
    for i in np.flatnonzero(masks.status != 0).tolist():
        problems[i] = ("not a valid compressed RLE" if masks.status[i] == 1
                       else "RLE counts do not add up to height x width")
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
    masks, problems = _mask_set(segs, sizes)
    if problems:
        i = min(problems)
        raise ValueError(f"segs[{i}]: {problems[i]}")
    return masks


def mask_intersection_union(pred_boxes: np.ndarray, segs: Sequence[Any], sizes: np.ndarray,
                            valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def _xyxy(box: Any) -> Optional[list]:
    try:
        b = [float(v) for v in box]
    except (TypeError, ValueError):
        return None
    return b if len(b) == 4 and all(np.isfinite(b)) else None


def evaluate_grounding(records: Any, gt: Any = None, *, frame: str = "norm1000",
                       answer: str = "first", require_tags: bool = True, threshold: float = 0.5,
                       strict: bool = False, source: Optional[str] = None,
                       lines: Optional[Sequence[int]] = None,
                       show_progress: Optional[bool] = False) -> EvalReport:
    """LISA-style grounding metrics of one-box answers.

    Parameters
    ----------
    records : str, os.PathLike or list of dict
        ``{"id", "completion"}`` with ``gt``, or records carrying the ground truth inline:
        ``width``, ``height``, and ``box`` (``[x1, y1, x2, y2]`` pixels) and/or
        ``segmentation`` (COCO polygons ``[[x1, y1, ...], ...]`` or RLE ``{"size", "counts"}``).
    gt : str, os.PathLike, dict or list, optional
        ``{id: {width, height, box?, segmentation?}}`` or a list of such objects with ``id``.
    frame : {"norm1000", "norm1", "abs"}, default "norm1000"
        Frame of the predicted coordinates (Visual-RFT's LISA model answers on 0..1000).
    answer : {"first", "last"}, default "first"
        Which ``<answer>`` block to read when there are several.
    threshold : float, default 0.5
        Acc@threshold counts box IoU ``>= threshold``.

    Returns
    -------
    EvalReport
        ``metrics``: ``mIoU`` (mean box IoU, failures 0; Visual-RFT's ``merge_eval.py``),
        ``acc@0.5``, ``n``, ``n_failed``; with masks: ``gIoU`` (mean per-sample mask IoU),
        ``cIoU`` (cumulative intersection / cumulative union), ``n_mask``.

    Notes
    -----
    Box IoU uses the GT ``box`` or, when absent, the bounding box of the GT mask
    (``pycocotools.mask.toBbox``).  Mask IoU of a sample is ``I / U`` with ``U = 0`` giving 1
    (empty prediction on an empty mask, LISA's convention); LISA adds 1e-5 / 1e-10 to the
    denominators, this evaluator does not.  All GT polygons of a sample are merged (Visual-RFT's
    ``mask_iou.py`` uses the first polygon only).  A prediction without a box has IoU 0 and an
    empty mask.
    """
    if frame not in ("norm1000", "norm1", "abs"):
        raise ValueError(f"frame must be 'norm1000', 'norm1' or 'abs', got {frame!r}")
    skips = SkipLog(strict=strict)
    recs, nums, src = load_records(records, skips=skips, lines=lines, source=source,
                                   show_progress=show_progress)
    gt_of = None
    if gt is not None:
        data = load_json_file(gt, "grounding ground truth") if isinstance(gt, (str, os.PathLike)) else gt
        if isinstance(data, list):
            gt_of = {str(e["id"]): e for e in data if isinstance(e, dict) and "id" in e}
        elif isinstance(data, dict):
            gt_of = {str(k): v for k, v in data.items()}
        else:
            raise TypeError("grounding ground truth must map id -> {width, height, box, segmentation}")
    comps, where, sizes, gt_boxes, segs, kept_lines = [], [], [], [], [], []
    for line, rec in scorable_records(recs, nums, src, skips):
        c = rec["completion"]
        g = rec
        if not any(k in rec for k in ("box", "segmentation")):
            if gt_of is None:
                skips.skip(src, line, "record has no 'box' or 'segmentation' (and no --gt to look its 'id' up)")
                continue
            if str(rec.get("id")) not in gt_of:
                skips.skip(src, line, "id not in the ground truth" if "id" in rec else "record has no 'id'",
                           repr(rec.get("id"))[:40])
                continue
            g = gt_of[str(rec["id"])]
        try:
            w, h = float(g["width"]), float(g["height"])
            if not (w > 0 and h > 0):
                raise ValueError
        except (KeyError, TypeError, ValueError):
            skips.skip(src, line, "ground truth needs positive 'width' and 'height'")
            continue
        box = _xyxy(g["box"]) if g.get("box") is not None else None
        seg = g.get("segmentation")
        if g.get("box") is not None and box is None:
            skips.skip(src, line, "'box' must be [x1, y1, x2, y2] (finite numbers)")
            continue
        if box is None and seg is None:
            skips.skip(src, line, "ground truth has no 'box' or 'segmentation'")
            continue
        problem = _segmentation_problem(seg, int(h), int(w)) if seg is not None else None
        if problem:
            skips.skip(src, line, "unreadable 'segmentation'", problem[:80])
            continue
        comps.append(c)
        where.append(f"{src}:{line}")
        kept_lines.append(line)
        sizes.append((w, h))
        gt_boxes.append(box)
        segs.append(seg)
    # GT masks: decoded once, natively, one row per record (a record without a segmentation
    # gets an empty polygon list: an empty mask, never used).  Records whose mask cannot be
    # read are skipped here: `kept` are the rows left, `masked` those of them with a mask.
    n_all = len(comps)
    sizes_a = np.asarray(sizes, dtype=np.float64).reshape(-1, 2)
    has_mask = np.array([sg is not None for sg in segs], dtype=bool)
    keep = np.ones(n_all, dtype=bool)
    masks = None
    if has_mask.any():
        masks, problems = _mask_set([sg if sg is not None else [] for sg in segs], sizes_a)
        for j in sorted(problems):
            skips.skip(src, kept_lines[j], "unreadable 'segmentation'", problems[j][:80])
            keep[j] = False
    kept = np.flatnonzero(keep)
    if not len(kept):
        raise ValueError(f"{src}: no valid grounding record to evaluate")
    masked = keep & has_mask
    comps, where = [comps[i] for i in kept], [where[i] for i in kept]
    n = len(kept)
    parsed = parse_completions(comps, answer=answer, require_tags=require_tags, invalid="empty")
    counts = np.diff(parsed.offsets)
    has = counts > 0
    px = boxes_to_pixels(parsed.boxes, parsed.offsets, sizes_a[kept], frame)
    first = parsed.offsets[:-1][has]
    pred = np.zeros((n, 4))
    pred[has] = px[first]
    # GT boxes: given, else the bounding box of the mask (pycocotools' toBbox, computed natively).
    gtb = np.array([b if b is not None else [np.nan] * 4 for b in gt_boxes], dtype=np.float64).reshape(-1, 4)
    if masks is not None:
        need = masked & np.isnan(gtb[:, 0])
        xywh = masks.bbox[need]
        gtb[need] = np.column_stack([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]])
    gtb = gtb[kept]
    ok = has & (pred[:, 2] >= pred[:, 0]) & (pred[:, 3] >= pred[:, 1])
    iou = np.zeros(n)
    if ok.any():
        iou[ok] = paired_box_iou(pred[ok], gtb[ok])
    metrics: dict = {"n": n, "n_failed": int((~has).sum()), "frame": frame, "mIoU": float(iou.mean()),
                     f"acc@{threshold:g}": float((iou >= threshold).mean())}
    rows = [["mIoU (box)", metrics["mIoU"]], [f"Acc@{threshold:g} (box)", metrics[f"acc@{threshold:g}"]],
             ["records", n], ["no box in answer", metrics["n_failed"]]]
    arrays: dict = {"iou": iou}
    n_mask = int(masked.sum())
    if n_mask:
        boxes = np.zeros((n_all, 4))
        valid = np.zeros(n_all, np.uint8)
        boxes[kept], valid[kept] = pred, ok
        valid &= masked  # no overlap work for rows left out
        inter, union = (a[masked] for a in masks.box_overlap(boxes, valid))
        per = np.where(union > 0, inter / np.where(union > 0, union, 1), 1.0)
        metrics.update({"gIoU": float(per.mean()), "cIoU": float(inter.sum() / union.sum()) if union.sum() else 1.0,
                        "n_mask": n_mask})
        rows += [["gIoU (mask)", metrics["gIoU"]], ["cIoU (mask)", metrics["cIoU"]], ["records with mask", n_mask]]
        arrays["mask_iou"] = per
    parse = parse_statistics(parsed, comps, where=where)
    notes = []
    if (counts > 1).any():
        notes.append(f"{int((counts > 1).sum())} answers hold several boxes; the first one is scored")
    return EvalReport(task="grounding", metrics=metrics, tables=[("Grounding", ["metric", "value"], rows)],
                      parse=parse, skipped=skips, notes=notes, arrays=arrays)
