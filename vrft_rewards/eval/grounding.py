"""Reasoning-grounding evaluation (LISA-style): box mIoU, Acc@0.5, mask gIoU / cIoU.

The predicted box is the first box of the answer, converted to pixels.  Box IoU is computed by
:func:`vrft_rewards.paired_box_iou` for the batch; mask metrics rasterise the predicted box and
the ground-truth polygons / RLE with pycocotools' mask routines (``frPyObjects``, ``merge``,
``area``), exactly as COCO's segmentation tools do.
"""

from __future__ import annotations

import os
from typing import Any, Optional, Sequence

import numpy as np

from ..boxes import paired_box_iou
from ..parsing import boxes_to_pixels, parse_completions
from .parse_stats import status_statistics
from .records import SkipLog, completion_problem, load_json_file, load_records
from .report import EvalReport

__all__ = ["evaluate_grounding", "mask_intersection_union"]

_GT_KEYS = ("width", "height", "box", "segmentation")


def _mask_api() -> Any:
    try:
        from pycocotools import mask as mask_utils
    except ImportError as e:  # pragma: no cover - pycocotools is installed in the test environment
        raise ImportError("grounding mask metrics (gIoU / cIoU) need pycocotools: pip install pycocotools") from e
    return mask_utils


def _rle(seg: Any, h: int, w: int) -> dict:
    """One RLE for a COCO segmentation: polygons (merged), uncompressed or compressed RLE."""
    m = _mask_api()
    if isinstance(seg, list):
        rles = m.frPyObjects([np.asarray(p, dtype=np.float64).tolist() for p in seg], h, w)
        return m.merge(rles) if len(rles) != 1 else rles[0]
    if isinstance(seg, dict) and isinstance(seg.get("counts"), list):
        return m.frPyObjects(seg, h, w)
    if isinstance(seg, dict) and isinstance(seg.get("counts"), (str, bytes)):
        counts = seg["counts"].encode("ascii") if isinstance(seg["counts"], str) else seg["counts"]
        return {"size": [int(seg["size"][0]), int(seg["size"][1])], "counts": counts}
    raise ValueError("segmentation must be a list of polygons or an RLE {'size', 'counts'}")


def mask_intersection_union(pred_boxes: np.ndarray, segs: Sequence[Any], sizes: np.ndarray,
                            valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel intersection and union of each predicted box (as a mask) with its GT mask.

    Parameters
    ----------
    pred_boxes : ndarray (N, 4)
        ``x1, y1, x2, y2`` pixels (ignored where ``valid`` is False: empty prediction).
    segs : sequence of N segmentations (polygons or RLE)
    sizes : ndarray (N, 2)
        ``(width, height)``.
    valid : ndarray of bool (N,)

    Returns
    -------
    intersection, union : ndarray of int64, shape (N,)

    Notes
    -----
    The box is rasterised by pycocotools (``frPyObjects`` of ``[x, y, w, h]``, i.e. its polygon);
    inverted boxes are empty.  One pycocotools call per sample (RLE sizes differ per image).
    """
    m = _mask_api()
    n = len(segs)
    inter = np.zeros(n, dtype=np.int64)
    union = np.zeros(n, dtype=np.int64)
    for i in range(n):  # per sample: each image has its own raster size
        w, h = int(sizes[i, 0]), int(sizes[i, 1])
        g = _rle(segs[i], h, w)
        ag = int(m.area(g))
        if not valid[i]:
            union[i] = ag
            continue
        x1, y1, x2, y2 = (float(v) for v in pred_boxes[i])
        bw, bh = max(0.0, x2 - x1), max(0.0, y2 - y1)
        if bw <= 0 or bh <= 0:
            union[i] = ag
            continue
        p = m.frPyObjects(np.array([[x1, y1, bw, bh]], dtype=np.float64), h, w)[0]
        ap = int(m.area(p))
        it = int(m.area(m.merge([p, g], intersect=True)))
        inter[i] = it
        union[i] = ap + ag - it
    return inter, union


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
    comps, where, sizes, gt_boxes, segs = [], [], [], [], []
    for i, rec in enumerate(recs):
        line = nums[i] if nums is not None else i
        problem = completion_problem(rec)
        if problem:
            skips.skip(src, line, problem)
            continue
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
        if seg is not None:
            try:
                _rle(seg, int(h), int(w))
            except (ValueError, TypeError, KeyError, IndexError) as e:
                skips.skip(src, line, "unreadable 'segmentation'", str(e)[:80])
                continue
        comps.append(c)
        where.append(f"{src}:{line}")
        sizes.append((w, h))
        gt_boxes.append(box)
        segs.append(seg)
    if not comps:
        raise ValueError(f"{src}: no valid grounding record to evaluate")
    n = len(comps)
    sizes_a = np.asarray(sizes, dtype=np.float64)
    parsed = parse_completions(comps, answer=answer, require_tags=require_tags, invalid="empty")
    counts = np.diff(parsed.offsets)
    has = counts > 0
    px = boxes_to_pixels(parsed.boxes, parsed.offsets, sizes_a, frame)
    first = parsed.offsets[:-1][has]
    pred = np.zeros((n, 4))
    pred[has] = px[first]
    # GT boxes: given, else the bounding box of the mask.
    need = [i for i in range(n) if gt_boxes[i] is None]
    if need:
        m = _mask_api()
        for i in need:
            x, y, bw, bh = m.toBbox(_rle(segs[i], int(sizes_a[i, 1]), int(sizes_a[i, 0]))).tolist()
            gt_boxes[i] = [x, y, x + bw, y + bh]
    gtb = np.asarray(gt_boxes, dtype=np.float64)
    ok = has & (pred[:, 2] >= pred[:, 0]) & (pred[:, 3] >= pred[:, 1])
    iou = np.zeros(n)
    if ok.any():
        iou[ok] = paired_box_iou(pred[ok], gtb[ok])
    metrics: dict = {"n": n, "n_failed": int((~has).sum()), "frame": frame, "mIoU": float(iou.mean()),
                     f"acc@{threshold:g}": float((iou >= threshold).mean())}
    rows = [["mIoU (box)", metrics["mIoU"]], [f"Acc@{threshold:g} (box)", metrics[f"acc@{threshold:g}"]],
            ["records", n], ["no box in answer", metrics["n_failed"]]]
    arrays: dict = {"iou": iou}
    with_mask = np.array([s is not None for s in segs])
    if with_mask.any():
        idx = np.flatnonzero(with_mask)
        inter, union = mask_intersection_union(pred[idx], [segs[i] for i in idx], sizes_a[idx], ok[idx])
        per = np.where(union > 0, inter / np.where(union > 0, union, 1), 1.0)
        metrics.update({"gIoU": float(per.mean()), "cIoU": float(inter.sum() / union.sum()) if union.sum() else 1.0,
                        "n_mask": int(len(idx))})
        rows += [["gIoU (mask)", metrics["gIoU"]], ["cIoU (mask)", metrics["cIoU"]], ["records with mask", len(idx)]]
        arrays["mask_iou"] = per
    parse = status_statistics(parsed.status, parsed.n_dropped, int(parsed.offsets[-1]), comps, where=where)
    notes = []
    if (counts > 1).any():
        notes.append(f"{int((counts > 1).sum())} answers hold several boxes; the first one is scored")
    return EvalReport(task="grounding", metrics=metrics, tables=[("Grounding", ["metric", "value"], rows)],
                      parse=parse, skipped=skips, notes=notes, arrays=arrays)
