"""From completions and dataset columns to one flat, ragged batch of box problems.

Shared by every box reward: parse the completions (cached), read the ground truth from the
columns (a ``solution`` string in an answer format, parsed by the same parser, or structured
``gt_boxes`` / ``gt_labels``), bring both into one coordinate frame, and say which rows can be
scored.  Everything is flat arrays + offsets; the only per-row Python work is reading structured
``gt_boxes`` columns, which arrive as per-row lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from .._ext import _C
from .._options import ANSWER_BLOCKS, FRAMES, TRAINER_KWARGS, check_option
from ..parsing import ParsedBatch, boxes_to_pixels
from ._base import MissingColumnsError, require_one_of
from ._cache import RecentResults, cached_parse

__all__ = ["BoxProblems", "FRAMES", "box_problems", "image_sizes_from_columns"]

_BOX_FORMATS = np.array([False, True, True, True, True, False, False])  # FORMAT_NAMES with boxes


@dataclass
class BoxProblems:
    """One problem per completion.

    ``pred_ok[b]`` is False when completion b's answer is not a box answer (no answer, empty,
    malformed, or text without boxes): box rewards score such rows with their failure value.
    ``gt_ok[b]`` is False when the row's ground truth is missing or unreadable: those rows are
    skipped (``None``).  Boxes of rows that are not ok are left out of the flat arrays.
    """

    parsed: ParsedBatch
    pred_ok: np.ndarray  # bool (B,)
    gt_ok: np.ndarray  # bool (B,)
    pred: np.ndarray  # float64 (P, 4) xyxy, in the common frame
    pred_offsets: np.ndarray  # int64 (B + 1,)
    pred_source: np.ndarray  # int64 (P,): index of each kept box in parsed.boxes
    confidences: np.ndarray  # float64 (P,), NaN where absent
    gt: np.ndarray  # float64 (G, 4)
    gt_offsets: np.ndarray  # int64 (B + 1,)
    pred_labels: Optional[np.ndarray] = None  # object (P,): str or None
    gt_labels: Optional[np.ndarray] = None  # object (G,)

    @property
    def n_pred(self) -> np.ndarray:
        return np.diff(self.pred_offsets)

    @property
    def n_gt(self) -> np.ndarray:
        return np.diff(self.gt_offsets)


def check_box_options(coord_frame: str, gt_frame: Optional[str], answer: str) -> None:
    """Validate the frame and answer options every box reward takes."""
    check_option(coord_frame, ("same",) + FRAMES, "coord_frame")
    if gt_frame is not None:
        check_option(gt_frame, FRAMES, "gt_frame")
    check_option(answer, ANSWER_BLOCKS, "answer")


def _object_array(items: list) -> np.ndarray:
    """A 1-D object array of ``items`` (str or None), for vectorised gathers."""
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def _offsets(counts: np.ndarray) -> np.ndarray:
    out = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def answer_is_boxes(parsed: ParsedBatch) -> np.ndarray:
    """Rows whose answer is a box answer: boxes read (ok / repaired) or an explicit no-objects."""
    st = parsed.status
    readable = (st == ParsedBatch.OK) | (st == ParsedBatch.REPAIRED)
    return (readable & _BOX_FORMATS[parsed.format]) | (st == ParsedBatch.NO_OBJECTS)


def image_sizes_from_columns(columns: dict, n: int, reward: str) -> np.ndarray:
    """``(B, 2)`` (width, height) from an ``image_size`` column or ``width`` + ``height``."""
    if columns.get("image_size") is not None:
        sizes = np.asarray(columns["image_size"], dtype=np.float64)
    elif columns.get("width") is not None and columns.get("height") is not None:
        sizes = np.stack(
            [np.asarray(columns["width"], dtype=np.float64), np.asarray(columns["height"], dtype=np.float64)], axis=1
        )
    else:
        given = sorted(k for k in columns if k not in TRAINER_KWARGS)
        raise MissingColumnsError(
            f"{reward} converts between coordinate frames and needs the image size: pass an "
            f"'image_size' column of (width, height) or 'width' and 'height' columns; got {given}"
        )
    if sizes.shape != (n, 2):
        raise ValueError(
            f"{reward}: image sizes must give (width, height) for each of the {n} rows, got shape {sizes.shape}"
        )
    return sizes


def _structured_truth(
    rows: Sequence[Any], label_rows: Optional[Sequence[Any]], n: int, reward: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Optional[list]]:
    """gt_boxes column (one (k, 4) list/array per row, None = unusable) and the optional
    gt_labels column (one list of k names per row) -> flat boxes, offsets, row ok, flat labels."""
    if len(rows) != n:
        raise ValueError(f"{reward}: gt_boxes has {len(rows)} rows for {n} completions")
    if label_rows is not None and len(label_rows) != n:
        raise ValueError(f"{reward}: gt_labels has {len(label_rows)} rows for {n} completions")
    counts = np.zeros(n, dtype=np.int64)
    ok = np.ones(n, dtype=bool)
    blocks: list = []
    labels: Optional[list] = [] if label_rows is not None else None
    for i, row in enumerate(rows):  # the column arrives as per-row Python objects
        try:
            arr = np.asarray(row if row is not None else np.nan, dtype=np.float64)
        except (TypeError, ValueError):
            arr = np.full(1, np.nan)
        if arr.size == 0:
            continue
        if arr.ndim == 1 and arr.size == 4:
            arr = arr.reshape(1, 4)
        names = label_rows[i] if label_rows is not None else None
        if (
            row is None
            or arr.ndim != 2
            or arr.shape[1] != 4
            or (label_rows is not None and (names is None or len(names) != arr.shape[0]))
        ):
            ok[i] = False
            continue
        counts[i] = arr.shape[0]
        blocks.append(arr)
        if labels is not None:
            labels.extend(str(x) for x in names)
    flat = np.concatenate(blocks) if blocks else np.zeros((0, 4))
    return flat, _offsets(counts), ok, labels


#: Largest coordinate magnitude the geometry accepts (2**510, its float64 overflow guard); the
#: parser drops boxes beyond it like non-finite ones (docs/parsing.md).
MAX_COORDINATE = 2.0**510


def _rows_beyond_guard(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """bool (B,): rows with a box whose coordinate is not finite or beyond MAX_COORDINATE."""
    bad = ~np.all(np.abs(boxes) <= MAX_COORDINATE, axis=1)
    owner = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    return np.bincount(owner[bad], minlength=len(offsets) - 1).astype(bool)


# The last few BoxProblems, so that several box rewards scoring the same batch (IoU and
# confidence of one preset) build them once; keyed on the two cached parses and the options.
_RECENT = RecentResults(4)


def box_problems(
    completions: Sequence[Any],
    columns: dict,
    *,
    reward: str,
    coord_frame: str = "same",
    gt_frame: Optional[str] = None,
    answer: str = "last",
    dedupe: bool = False,
    want_labels: bool = False,
    scale: Optional[float] = None,
) -> BoxProblems:
    """Build the batch of box problems a box reward scores (see the module docstring).

    ``coord_frame`` is the frame of the model's boxes and ``gt_frame`` that of the ground truth
    (default: the same as the model's for ``solution`` strings, ``"abs"`` for ``gt_boxes``); when
    they differ both are converted to pixels with the rows' image sizes.  ``scale`` divides every
    coordinate afterwards (Visual-RFT's LISA reward works on ``x / 1000``).
    """
    n = len(completions)
    parsed = cached_parse(completions, schema="auto", answer=answer, require_tags=True, invalid="raise")
    source = require_one_of(
        columns,
        ("solution", "gt_boxes"),
        reward,
        "ground truth: an answer-format 'solution' string or per-row 'gt_boxes' lists of [x1, y1, x2, y2]",
    )
    gt_labels = None
    if source == "solution":
        sol = columns["solution"]
        if len(sol) != n:
            raise ValueError(f"{reward}: solution has {len(sol)} rows for {n} completions")
        truth = cached_parse(sol, schema="auto", answer="last", require_tags=False, invalid="empty")
        # Cacheable only without a frame conversion: then nothing but the two parses and the
        # options decides the result (image-size columns are not part of the key).
        key = (coord_frame, gt_frame, answer, dedupe, want_labels, scale)
        cacheable = coord_frame == "same" or gt_frame in (None, coord_frame)
        cached = _RECENT.get((parsed, truth), key) if cacheable else None
        if cached is not None:
            return cached
        gt_ok = answer_is_boxes(truth)
        gt_all, gt_off_all = truth.boxes, truth.offsets
        if want_labels:
            gt_labels = truth.labels
        default_gt_frame = coord_frame
    else:
        gt_all, gt_off_all, gt_ok, gt_labels = _structured_truth(
            columns["gt_boxes"], columns.get("gt_labels") if want_labels else None, n, reward
        )
        default_gt_frame = "abs"
    gt_frame = default_gt_frame if gt_frame is None else gt_frame

    # Ground truth that is not finite, beyond the geometry's overflow guard or inverted is a
    # dataset error: skip the row.
    bad_gt = ~np.all(np.abs(gt_all) <= MAX_COORDINATE, axis=1)
    bad_gt |= (gt_all[:, 2] < gt_all[:, 0]) | (gt_all[:, 3] < gt_all[:, 1])
    if bad_gt.any():
        owner = np.repeat(np.arange(n), np.diff(gt_off_all))
        gt_ok = gt_ok & ~np.bincount(owner[bad_gt], minlength=n).astype(bool)

    pred_ok = answer_is_boxes(parsed)
    gt_all = np.ascontiguousarray(gt_all, dtype=np.float64)
    for _ in range(2):
        rows = (pred_ok & gt_ok).astype(np.uint8)
        # One native pass: the boxes of scorable rows, exact duplicates dropped on request, and a
        # predicted box with x2 < x1 or y2 < y1 collapsed to zero size at its first corner (it still
        # counts as a prediction but overlaps nothing; frame scaling keeps it collapsed).
        pred, pred_off, pred_src = _C.select_segment_boxes(parsed.boxes, parsed.offsets, rows, dedupe, True)
        gt, gt_off, gt_src = _C.select_segment_boxes(gt_all, gt_off_all, rows, False, False)

        converted = (coord_frame != "same" and gt_frame != coord_frame) or scale is not None
        if coord_frame != "same" and gt_frame != coord_frame:
            sizes = image_sizes_from_columns(columns, n, reward)
            with np.errstate(over="ignore"):
                pred = boxes_to_pixels(pred, pred_off, sizes, coord_frame)
                gt = boxes_to_pixels(gt, gt_off, sizes, gt_frame)
        if scale is not None:
            pred = pred / scale
            gt = gt / scale
        # The parser keeps coordinates up to the overflow guard; a frame conversion can carry one
        # past it.  Such a row is scored like a malformed answer (prediction) or skipped (ground
        # truth), as if its boxes had been unreadable; the other rows are unchanged.
        if not converted:
            break
        over_pred, over_gt = _rows_beyond_guard(pred, pred_off), _rows_beyond_guard(gt, gt_off)
        if not (over_pred.any() or over_gt.any()):
            break
        pred_ok, gt_ok = pred_ok & ~over_pred, gt_ok & ~over_gt

    pred_labels = None
    if want_labels:
        labels = parsed.labels
        pred_labels = _object_array(labels)[pred_src]
        if gt_labels is not None:
            gt_labels = _object_array(gt_labels)[gt_src]
    problems = BoxProblems(
        parsed=parsed,
        pred_ok=pred_ok,
        gt_ok=gt_ok,
        pred=pred,
        pred_offsets=pred_off,
        pred_source=pred_src,
        confidences=parsed.confidences[pred_src],
        gt=gt,
        gt_offsets=gt_off,
        pred_labels=pred_labels,
        gt_labels=gt_labels,
    )
    if source == "solution" and cacheable:
        _RECENT.put((parsed, truth), key, problems)
    return problems
