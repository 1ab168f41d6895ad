"""One protocol's boxes of a parsed chunk of records: read, de-duplicated, labelled, scored and
converted to pixels (the per-box work of :mod:`.detection_batch`, all vectorised)."""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from ..parsing import boxes_to_pixels
from .categories import CategoryMapper
from .protocols import Protocol
from .visual_rft_answers import read_visual_rft_answers

__all__ = ["dedupe_mask", "read_protocol_boxes"]


def dedupe_mask(owner: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """True for the first occurrence of each exact (completion, x1, y1, x2, y2) box.

    Visual-RFT's ``remove_duplicates`` keeps the first box of each identical ``Position`` tuple
    within one answer (Python ``==`` on floats, so -0.0 equals 0.0, as ``==`` does here).
    """
    n = len(owner)
    if n < 2:
        return np.ones(n, dtype=bool)
    order = np.lexsort((np.arange(n), boxes[:, 3], boxes[:, 2], boxes[:, 1], boxes[:, 0], owner))
    so, sb = owner[order], boxes[order]
    same = np.ones(n, dtype=bool)
    same[0] = False
    same[1:] = (so[1:] == so[:-1]) & np.all(sb[1:] == sb[:-1], axis=1)
    keep = np.empty(n, dtype=bool)
    keep[order] = ~same
    return keep


def read_protocol_boxes(
    protocol: Protocol,
    completions: Sequence[Any],
    parsed: Any,
    image_id: np.ndarray,
    category_id: np.ndarray,
    sizes: np.ndarray,
    frame: str,
    default_score: Optional[float],
    dedupe: bool,
    mapper: CategoryMapper,
) -> dict:
    """One protocol's boxes of a parsed chunk: read, de-duplicated, labelled, scored, in pixels."""
    rule = None
    extra: dict = {}
    if protocol.visual_rft_answers:
        vr = read_visual_rft_answers(completions, parsed)
        boxes, owner, conf, rule, extra = vr.boxes, vr.owner, vr.scores, vr.rule, vr.counts
        n_read = int(len(owner)) + extra["non_numeric_confidence"] + extra["non_finite_box"]
        need_dedupe = ~vr.deduped  # answers read one by one were de-duplicated by Visual-RFT's rule
        labels = None  # Visual-RFT's boxes take the record's category
        default_score, dedupe = None, True
    else:
        boxes, owner, conf = parsed.boxes, parsed.box_owner, parsed.confidences
        n_read = int(len(owner))
        need_dedupe = np.ones(len(owner), dtype=bool)
        labels = parsed
    counts = {
        "boxes_parsed": n_read,
        "no_confidence": 0,
        "duplicates_removed": 0,
        "unlabelled_or_unmatched": 0,
        "no_size": 0,
    }
    counts.update(extra)
    keep = np.ones(len(owner), dtype=bool)
    if dedupe:
        keep = dedupe_mask(owner, boxes) | ~need_dedupe
        counts["duplicates_removed"] = int((~keep).sum())
    # Category of every box: the record's (per-prompt records) or the box label (labelled boxes).
    box_cat = category_id[owner]
    label_stats = {"exact": 0, "normalized": 0, "synonym": 0, "unmatched": 0, "missing": 0, "unmatched_names": {}}
    need = np.flatnonzero(box_cat < 0)
    if len(need) and labels is not None:
        all_labels = labels.labels
        ids, label_stats = mapper.map_names([all_labels[i] for i in need.tolist()])
        box_cat = box_cat.copy()
        box_cat[need] = ids
    no_cat = keep & (box_cat < 0)
    counts["unlabelled_or_unmatched"] = int(no_cat.sum())
    keep &= box_cat >= 0
    if protocol.visual_rft_answers:
        score = conf  # Visual-RFT always has a Confidence (non-finite ones are ranked after the merge)
    else:
        no_conf = ~np.isfinite(conf)  # absent, or NaN / +-inf: the engine needs finite scores
        counts["no_confidence"] = int((keep & no_conf).sum())
        if default_score is None:
            keep &= ~no_conf
            score = conf
        else:
            score = np.where(no_conf, float(default_score), conf)
    if frame == "abs":
        px = np.asarray(boxes, dtype=np.float64)
    else:
        no_size = ~np.isfinite(sizes[owner]).all(axis=1)
        counts["no_size"] = int((keep & no_size).sum())
        keep &= ~no_size
        safe = np.where(np.isfinite(sizes), sizes, 1.0)
        offsets = np.zeros(len(sizes) + 1, dtype=np.int64)
        np.cumsum(np.bincount(owner, minlength=len(sizes)), out=offsets[1:])
        px = boxes_to_pixels(boxes, offsets, safe, frame)
    k = np.flatnonzero(keep)
    px = px[k]
    dets = (
        np.column_stack(
            [
                image_id[owner[k]].astype(np.float64),
                px[:, 0],
                px[:, 1],
                px[:, 2] - px[:, 0],
                px[:, 3] - px[:, 1],
                score[k],
                box_cat[k].astype(np.float64),
            ]
        )
        if len(k)
        else np.zeros((0, 7))
    )
    return {
        "dets": dets,
        "boxes": px,
        "det_record": owner[k],
        "stated": np.isfinite(conf[k]),  # the score is the model's own confidence
        "label_stats": label_stats,
        "counts": counts,
        "rule": rule,
    }
