"""Reasoning-grounding evaluation (LISA-style): box mIoU, Acc@0.5, mask gIoU / cIoU.

The predicted box is the first box of the answer, converted to pixels.  Box IoU is computed by
:func:`vrft_rewards.paired_box_iou` for the batch.  Mask metrics have pycocotools' numbers,
computed in one native pass over the batch by :mod:`vrft_rewards.masks` (GT masks decoded once,
each predicted box intersected with its mask).
"""

from __future__ import annotations

import os
from typing import Any, Optional, Sequence

import numpy as np

from .._options import FRAMES, check_option
from ..boxes import MAX_COORDINATE, paired_box_iou
from ..masks import mask_intersection_union, mask_set, mask_set_and_problems, segmentation_problem
from ..parsing import boxes_to_pixels, parse_completions
from .grounding_metrics import grounding_breakdown
from .parse_stats import parse_statistics
from .protocols import get_protocol
from .records import SkipLog, load_json_file, load_records, scorable_records
from .report import EvalReport
from .visual_rft_tasks import GROUNDING_REASONS, grounding_reasons, visual_rft_box_iou, visual_rft_grounding_boxes

__all__ = ["evaluate_grounding", "mask_intersection_union", "mask_set"]


# The largest image side masks take.
_MAX_SIDE = 2**24


def _xyxy(box: Any) -> Optional[list]:
    """[x1, y1, x2, y2] as floats, or None unless finite, within the guard and not inverted."""
    try:
        b = [float(v) for v in box]
    except (TypeError, ValueError, OverflowError):
        return None
    if len(b) != 4 or not all(abs(v) <= MAX_COORDINATE for v in b):
        return None
    return b if b[2] >= b[0] and b[3] >= b[1] else None


def evaluate_grounding(
    records: Any,
    gt: Any = None,
    *,
    frame: str = "norm1000",
    answer: str = "first",
    require_tags: bool = True,
    threshold: float = 0.5,
    strict: bool = False,
    source: Optional[str] = None,
    lines: Optional[Sequence[int]] = None,
    show_progress: Optional[bool] = False,
    protocol: str = "default",
    compare_protocols: bool = True,
) -> EvalReport:
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
        Acc@threshold counts box IoU ``>= threshold`` (Acc@0.5, 0.75 and 0.9 are reported too).
    protocol : {"default", "visual_rft"}, default "default"
        ``"visual_rft"``: Visual-RFT's LISA scripts (:mod:`vrft_rewards.eval.visual_rft_tasks`):
        the first integer ``(x1,y1),(x2,y2)`` anywhere in the record's ``prompt`` (optional) and
        completion, IoU in normalised coordinates with 1e-6 in the denominator, masks from the
        first GT polygon only with 1e-6 in the denominators.  It fixes ``frame``, ``answer`` and
        ``require_tags``.
    compare_protocols : bool, default True
        Also score the records by the other protocol (``metrics["protocol_comparison"]``).

    Returns
    -------
    EvalReport
        ``metrics``: ``mIoU`` (mean box IoU, failures 0; Visual-RFT's ``merge_eval.py``),
        ``acc@0.5``, ``n``, ``n_failed``; with masks: ``gIoU`` (mean per-sample mask IoU),
        ``cIoU`` (cumulative intersection / cumulative union), ``n_mask``; ``acc`` (Acc@0.5 /
        0.75 / 0.9) and ``breakdown`` (mean IoU and Acc@τ by query length, image size and object
        size, :func:`~vrft_rewards.eval.grounding_metrics.grounding_breakdown`; records may carry
        ``query`` (text) and ``is_sentence``, LISA's short / long split).

    Notes
    -----
    Box IoU uses the GT ``box`` or, when absent, the bounding box of the GT mask
    (``pycocotools.mask.toBbox``).  Mask IoU of a sample is ``I / U`` with ``U = 0`` giving 1
    (empty prediction on an empty mask, LISA's convention); LISA adds 1e-5 / 1e-10 to the
    denominators, this evaluator does not.  All GT polygons of a sample are merged (Visual-RFT's
    ``mask_iou.py`` uses the first polygon only).  A prediction without a box has IoU 0 and an
    empty mask.
    """
    check_option(frame, FRAMES, "frame")
    proto = get_protocol(protocol)
    if proto.visual_rft_answers and (frame != "norm1000" or answer != "first" or not require_tags):
        raise ValueError(
            "protocol='visual_rft' reads boxes by Visual-RFT's LISA script (the first integer corner pair, "
            "0..1000); drop frame / answer / require_tags"
        )
    skips = SkipLog(strict=strict)
    recs, nums, src = load_records(records, skips=skips, lines=lines, source=source, show_progress=show_progress)
    gt_of = None
    if gt is not None:
        data = load_json_file(gt, "grounding ground truth") if isinstance(gt, (str, os.PathLike)) else gt
        if isinstance(data, list):
            gt_of = {str(e["id"]): e for e in data if isinstance(e, dict) and "id" in e}
        elif isinstance(data, dict):
            gt_of = {str(k): v for k, v in data.items()}
        else:
            name = os.fspath(gt) if isinstance(gt, (str, os.PathLike)) else "grounding ground truth"
            raise TypeError(f"{name}: grounding ground truth must map id -> {{width, height, box, segmentation}}")
    comps, where, sizes, gt_boxes, segs, kept_lines, prompts, queries, sentence = [], [], [], [], [], [], [], [], []
    for line, rec in scorable_records(recs, nums, src, skips):
        c = rec["completion"]
        g = rec
        if not any(k in rec for k in ("box", "segmentation")):
            if gt_of is None:
                skips.skip(src, line, "record has no 'box' or 'segmentation' (and no --gt to look its 'id' up)")
                continue
            if str(rec.get("id")) not in gt_of:
                skips.skip(
                    src,
                    line,
                    "id not in the ground truth" if "id" in rec else "record has no 'id'",
                    repr(rec.get("id"))[:40],
                )
                continue
            g = gt_of[str(rec["id"])]
        try:
            w, h = float(g["width"]), float(g["height"])
            if not (0 < w <= _MAX_SIDE and 0 < h <= _MAX_SIDE):
                raise ValueError
        except (KeyError, TypeError, ValueError, OverflowError):
            skips.skip(src, line, "ground truth needs positive 'width' and 'height' (at most 2**24)")
            continue
        box = _xyxy(g["box"]) if g.get("box") is not None else None
        seg = g.get("segmentation")
        if g.get("box") is not None and box is None:
            skips.skip(src, line, "'box' must be [x1, y1, x2, y2] (finite numbers, x1 <= x2, y1 <= y2)")
            continue
        if box is None and seg is None:
            skips.skip(src, line, "ground truth has no 'box' or 'segmentation'")
            continue
        problem = segmentation_problem(seg, int(h), int(w)) if seg is not None else None
        if problem:
            skips.skip(src, line, "unreadable 'segmentation'", problem[:80])
            continue
        comps.append(c)
        where.append(f"{src}:{line}")
        kept_lines.append(line)
        sizes.append((w, h))
        gt_boxes.append(box)
        segs.append(seg)
        prompts.append(rec.get("prompt"))
        q = rec.get("query", g.get("query"))
        queries.append(q if isinstance(q, str) else None)
        flag = rec.get("is_sentence", g.get("is_sentence"))
        sentence.append(None if flag is None else bool(flag))
    # GT masks: decoded once, natively, one row per record (a record without a segmentation
    # gets an empty polygon list: an empty mask, never used).  Records whose mask cannot be
    # read are skipped here: `kept` are the rows left, `masked` those of them with a mask.
    n_all = len(comps)
    sizes_a = np.asarray(sizes, dtype=np.float64).reshape(-1, 2)
    has_mask = np.array([sg is not None for sg in segs], dtype=bool)
    keep = np.ones(n_all, dtype=bool)
    masks = None
    if has_mask.any():
        masks, problems = mask_set_and_problems([sg if sg is not None else [] for sg in segs], sizes_a)
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
    # GT boxes: given, else the bounding box of the mask (pycocotools' toBbox, computed natively).
    gtb = np.array([b if b is not None else [np.nan] * 4 for b in gt_boxes], dtype=np.float64).reshape(-1, 4)
    if masks is not None:
        need = masked & np.isnan(gtb[:, 0])
        xywh = masks.bbox[need]
        gtb[need] = np.column_stack([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]])
    gtb = gtb[kept]
    sizes_k = sizes_a[kept]
    scored = {}
    names = [proto.name] + ([("default" if proto.name == "visual_rft" else "visual_rft")] if compare_protocols else [])
    for name in names:
        if name == "visual_rft":
            scored[name] = _visual_rft_scores(comps, [prompts[i] for i in kept], gtb, sizes_k)
        else:
            scored[name] = _default_scores(parsed, gtb, sizes_k, frame)
    pred, ok, iou = scored[proto.name][:3]
    metrics: dict = {
        "protocol": proto.name,
        "n": n,
        "n_failed": int((~scored[proto.name][3]).sum()),
        "frame": frame,
        "mIoU": float(iou.mean()),
        f"acc@{threshold:g}": float((iou >= threshold).mean()),
        "acc": {f"{t:g}": float((iou >= t).mean()) for t in (0.5, 0.75, 0.9)},
    }
    rows = [
        ["mIoU (box)", metrics["mIoU"]],
        [f"Acc@{threshold:g} (box)", metrics[f"acc@{threshold:g}"]],
        ["Acc@0.75 (box)", metrics["acc"]["0.75"]],
        ["Acc@0.9 (box)", metrics["acc"]["0.9"]],
        ["records", n],
        ["no box in answer", metrics["n_failed"]],
    ]
    arrays: dict = {"iou": iou}
    n_mask = int(masked.sum())
    mask_scores = {}
    if n_mask:
        for name in names:
            mask_scores[name] = _mask_scores(name, masks, segs, sizes_a, scored[name][0], scored[name][1], kept, masked)
        per, giou, ciou = mask_scores[proto.name]
        metrics.update({"gIoU": giou, "cIoU": ciou, "n_mask": n_mask})
        rows += [["gIoU (mask)", giou], ["cIoU (mask)", ciou], ["records with mask", n_mask]]
        arrays["mask_iou"] = per
    sizes_gt = gtb.copy()
    metrics["breakdown"], tables_extra = grounding_breakdown(
        iou,
        [queries[i] for i in kept],
        [sentence[i] for i in kept],
        sizes_k,
        sizes_gt,
    )
    parse = parse_statistics(parsed, comps, where=where)
    notes = []
    if (counts > 1).any() and not proto.visual_rft_answers:
        notes.append(f"{int((counts > 1).sum())} answers hold several boxes; the first one is scored")
    tables = [("Grounding", ["metric", "value"], rows)] + tables_extra
    if compare_protocols:
        cmp = _compare(proto.name, scored, mask_scores, parsed)
        metrics["protocol_comparison"] = cmp["metrics"]
        tables.append(cmp["table"])
        notes += cmp["notes"]
    return EvalReport(
        task="grounding",
        metrics=metrics,
        tables=tables,
        parse=parse,
        skipped=skips,
        notes=notes,
        arrays=arrays,
        protocol=proto.name,
    )


def _scorable(found: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Rows whose box can be scored: found, not inverted, and within the overflow guard (a frame
    conversion can carry a coordinate past it); the others score 0."""
    inverted = (pred[:, 2] < pred[:, 0]) | (pred[:, 3] < pred[:, 1])
    return found & ~inverted & np.all(np.abs(pred) <= MAX_COORDINATE, axis=1)


def _default_scores(parsed: Any, gtb: np.ndarray, sizes: np.ndarray, frame: str) -> tuple:
    """(pixel boxes, valid, IoU, found): the first box of the chosen answer, exact pixel IoU."""
    n = len(gtb)
    has = np.diff(parsed.offsets) > 0
    px = boxes_to_pixels(parsed.boxes, parsed.offsets, sizes, frame)
    pred = np.zeros((n, 4))
    pred[has] = px[parsed.offsets[:-1][has]]
    ok = _scorable(has, pred)
    iou = np.zeros(n)
    if ok.any():
        iou[ok] = paired_box_iou(pred[ok], gtb[ok])
    return pred, ok, iou, has


def _visual_rft_scores(comps: list, prompts: list, gtb: np.ndarray, sizes: np.ndarray) -> tuple:
    """(pixel boxes, valid, IoU, found) by Visual-RFT's LISA script."""
    p1000, found = visual_rft_grounding_boxes(comps, prompts)
    iou = visual_rft_box_iou(p1000, found, gtb, sizes)
    with np.errstate(over="ignore", invalid="ignore"):
        pred = p1000 / 1000.0 * np.tile(sizes, 2)  # x / 1000 * W, as box2mask.py scales it
    ok = _scorable(found, pred)
    return pred, ok, iou, found, p1000


def _mask_scores(name, masks, segs, sizes_a, pred, ok, kept, masked) -> tuple:
    """(per-sample mask IoU, gIoU, cIoU) of the predicted boxes as masks.

    Default: every GT polygon, ``I / U`` (1 for an empty union), ``sum I / sum U``.  Visual-RFT's
    ``mask_iou.py``: the first polygon only, ``I / (U + 1e-6)``, ``sum I / (sum U + 1e-6)``.
    """
    n_all = len(segs)
    if name == "visual_rft":  # rows left out (unreadable masks) get an empty mask, never used
        first = [
            (sg[:1] if isinstance(sg, list) and sg and isinstance(sg[0], list) else sg) if m else []
            for sg, m in zip(segs, masked.tolist())
        ]
        masks = mask_set(first, sizes_a)
    boxes = np.zeros((n_all, 4))
    valid = np.zeros(n_all, np.uint8)
    boxes[kept], valid[kept] = pred, ok
    valid &= masked  # no overlap work for rows left out
    inter, union = (a[masked] for a in masks.box_overlap(boxes, valid))
    if name == "visual_rft":
        per = inter / (union + 1e-6)
        return per, float(per.mean()), float(inter.sum() / (union.sum() + 1e-6))
    per = np.where(union > 0, inter / np.where(union > 0, union, 1), 1.0)
    return per, float(per.mean()), float(inter.sum() / union.sum()) if union.sum() else 1.0


def _compare(this: str, scored: dict, mask_scores: dict, parsed: Any) -> dict:
    """Both protocols' box mIoU (and mask gIoU / cIoU) and the records read differently, per reason
    (Visual-RFT's box compared with the first box of our answer, as written)."""
    other = "default" if this == "visual_rft" else "visual_rft"
    d, v = scored["default"], scored["visual_rft"]
    has = np.diff(parsed.offsets) > 0
    native_first = np.zeros((len(has), 4))
    native_first[has] = parsed.boxes[parsed.offsets[:-1][has]]
    reasons = grounding_reasons(v[3], v[4], native_first, has)
    metrics = {
        "this": this,
        "other": other,
        "mIoU": {"default": float(d[2].mean()), "visual_rft": float(v[2].mean())},
        "by_reason": [
            {
                "reason": GROUNDING_REASONS[code] if code else "same box (IoU formula only: normalised, +1e-6)",
                "records": int((reasons == code).sum()),
                "mean_IoU_default": float(d[2][reasons == code].mean()),
                "mean_IoU_visual_rft": float(v[2][reasons == code].mean()),
            }
            for code in range(len(GROUNDING_REASONS))
            if (reasons == code).any()
        ],
    }
    if mask_scores:
        metrics["gIoU"] = {k: mask_scores[k][1] for k in mask_scores}
        metrics["cIoU"] = {k: mask_scores[k][2] for k in mask_scores}
    table = (
        f"Protocol comparison: {this} vs {other} on the same outputs",
        ["reason", "records", "mean IoU (default)", "mean IoU (visual_rft)"],
        [[r["reason"], r["records"], r["mean_IoU_default"], r["mean_IoU_visual_rft"]] for r in metrics["by_reason"]],
    )
    note = (
        f"protocol '{other}' gives box mIoU {metrics['mIoU'][other]:.4f} (this report, '{this}': "
        f"{metrics['mIoU'][this]:.4f})"
    )
    return {"metrics": metrics, "table": table, "notes": [note]}
