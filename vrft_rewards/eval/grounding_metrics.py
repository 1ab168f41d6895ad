"""Grounding accuracy broken down by query length, image size and object size (vectorised).

Per bucket: the number of records, the mean box IoU and Acc@0.5 / 0.75 / 0.9 (IoU ``>=`` τ,
pycocotools' convention; a record without a box has IoU 0).  Empty buckets are shown, not dropped.

* **Query length**: LISA's own split when the records carry ``is_sentence`` (ReasonSeg's short
  phrase vs long sentence queries, read by ``dvlab-research/LISA`` ``utils/data_processing.py`` @
  6f951959fdf50617a5ad55be75bb9139e63fa04b), and the number of whitespace-separated words of
  ``query`` in :data:`WORD_BUCKETS` (RefCOCO / RefCOCO+ phrases average ~3.5 words, RefCOCOg
  sentences ~8.4, ReasonSeg sentences are longer).
* **Image size**: pixels ``W * H`` in :data:`IMAGE_PIXEL_BUCKETS`; the first edge is Visual-RFT's
  ``max_pixels`` (401,408 = 512 * 28 * 28): below it Qwen2-VL does not downscale the image.
* **Object size**: the GT box area in COCO's ranges (small < 32², medium < 96², large), and its
  share of the image in :data:`RELATIVE_AREA_BUCKETS`.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

__all__ = [
    "ACC_THRESHOLDS",
    "IMAGE_PIXEL_BUCKETS",
    "RELATIVE_AREA_BUCKETS",
    "WORD_BUCKETS",
    "bucket_table",
    "grounding_breakdown",
]

ACC_THRESHOLDS = (0.5, 0.75, 0.9)
#: (label, lowest word count, highest word count) of the query-length buckets.
WORD_BUCKETS = (("1-3 words", 1, 3), ("4-6 words", 4, 6), ("7-10 words", 7, 10), ("11-20 words", 11, 20),
                ("> 20 words", 21, None))  # fmt: skip
#: (label, upper bound in pixels, inclusive) of the image-size buckets; the last is unbounded.
IMAGE_PIXEL_BUCKETS = (("<= 401,408 px (no downscale)", 401_408), ("<= 1 MP", 1_000_000), ("<= 4 MP", 4_000_000),
                       ("> 4 MP", None))  # fmt: skip
#: COCO's absolute area ranges of the GT box (pycocotools' [lo, hi), here lo <= a < hi).
OBJECT_AREA_BUCKETS = (("small (< 32^2)", 32.0**2), ("medium (< 96^2)", 96.0**2), ("large", None))
#: (label, upper bound, exclusive) of the GT box's share of the image.
RELATIVE_AREA_BUCKETS = (("< 1% of the image", 0.01), ("1-10%", 0.10), ("10-30%", 0.30), (">= 30%", None))


def bucket_table(iou: np.ndarray, index: np.ndarray, labels: Sequence[str]) -> list:
    """Rows ``{"bucket", "n", "mean_IoU", "acc@0.5", "acc@0.75", "acc@0.9"}`` of records grouped by
    ``index`` (``-1``: in no bucket), one ``np.bincount`` per statistic."""
    k = len(labels)
    sel = index >= 0
    idx = index[sel]
    n = np.bincount(idx, minlength=k)
    total = np.bincount(idx, weights=iou[sel], minlength=k)
    rows = []
    hits = {t: np.bincount(idx, weights=(iou[sel] >= t).astype(np.float64), minlength=k) for t in ACC_THRESHOLDS}
    for b, label in enumerate(labels):
        row = {"bucket": label, "n": int(n[b]), "mean_IoU": float(total[b] / n[b]) if n[b] else float("nan")}
        for t in ACC_THRESHOLDS:
            row[f"acc@{t:g}"] = float(hits[t][b] / n[b]) if n[b] else float("nan")
        rows.append(row)
    return rows


def _upper_bucket(values: np.ndarray, bounds: Sequence[Optional[float]], *, inclusive: bool) -> np.ndarray:
    edges = np.array([b for b in bounds if b is not None], dtype=np.float64)
    return np.searchsorted(edges, values, side="left" if inclusive else "right")


def grounding_breakdown(
    iou: np.ndarray,
    queries: Sequence[Optional[str]],
    is_sentence: Sequence[Optional[bool]],
    sizes: np.ndarray,
    gt_boxes: np.ndarray,
) -> tuple:
    """``(breakdown, tables)``: per-bucket rows (module docstring) under ``query_type`` (only when
    some record has ``is_sentence``), ``query_words`` (only when some record has a ``query``),
    ``image_pixels``, ``object_area``, ``relative_area``; and the report tables."""
    iou = np.asarray(iou, dtype=np.float64)
    out: dict = {}
    flags = np.array([-1 if f is None else int(f) for f in is_sentence], dtype=np.int64)
    if (flags >= 0).any():
        out["query_type"] = bucket_table(iou, flags, ["short phrase (is_sentence false)", "sentence"])
    words = np.array([len(q.split()) if q is not None else -1 for q in queries], dtype=np.int64)
    if (words >= 0).any():
        upper = np.array([hi for _, _, hi in WORD_BUCKETS[:-1]], dtype=np.int64)
        idx = np.where(words >= 1, np.searchsorted(upper, words, side="left"), -1)
        out["query_words"] = bucket_table(iou, idx, [b[0] for b in WORD_BUCKETS])
    pixels = sizes[:, 0] * sizes[:, 1]
    out["image_pixels"] = bucket_table(
        iou,
        _upper_bucket(pixels, [b[1] for b in IMAGE_PIXEL_BUCKETS], inclusive=True),
        [b[0] for b in IMAGE_PIXEL_BUCKETS],
    )
    area = np.abs((gt_boxes[:, 2] - gt_boxes[:, 0]) * (gt_boxes[:, 3] - gt_boxes[:, 1]))
    finite = np.isfinite(area)
    obj = np.where(finite, _upper_bucket(np.nan_to_num(area), [b[1] for b in OBJECT_AREA_BUCKETS], inclusive=False), -1)
    out["object_area"] = bucket_table(iou, obj, [b[0] for b in OBJECT_AREA_BUCKETS])
    rel = np.where(finite, np.nan_to_num(area) / pixels, np.nan)
    rel_idx = np.where(
        finite, _upper_bucket(np.nan_to_num(rel), [b[1] for b in RELATIVE_AREA_BUCKETS], inclusive=False), -1
    )
    out["relative_area"] = bucket_table(iou, rel_idx, [b[0] for b in RELATIVE_AREA_BUCKETS])
    titles = {
        "query_type": "Grounding by query type (LISA's is_sentence)",
        "query_words": "Grounding by query length",
        "image_pixels": "Grounding by image size",
        "object_area": "Grounding by object size (GT box area, COCO ranges)",
        "relative_area": "Grounding by object size relative to the image",
    }
    headers = ["bucket", "n", "mean IoU", "Acc@0.5", "Acc@0.75", "Acc@0.9"]
    tables = [
        (
            titles[k],
            headers,
            [[r["bucket"], r["n"], r["mean_IoU"]] + [r[f"acc@{t:g}"] for t in ACC_THRESHOLDS] for r in rows],
        )
        for k, rows in out.items()
    ]
    return out, tables
