"""From completions and dataset columns to one flat, ragged batch of box problems.

Shared by every box reward: parse the completions (cached), read the ground truth from the
columns (a ``solution`` string in an answer format, parsed by the same parser; or data: a
``gt_boxes`` row, or a ``solution`` row that is a parsed list, read by ``_truth.py``), bring both
into one coordinate frame (``_frames.py`` of the rewards: image sizes, model families), and say
which rows can be scored.  Everything is flat arrays + offsets; the only per-row Python work is
reading ground truth given as data, which arrives as per-row Python objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np

from .._ext import _C
from .._options import ANSWER_BLOCKS, FRAMES, check_option
from ..boxes import MAX_COORDINATE
from ..frames import apply_frame_factors
from ..parsing import ParsedBatch
from ._base import require_one_of
from ._cache import RecentResults, cached_parse
from ._columns import conversion_factors, image_sizes_from_columns
from ._truth import read_truth_rows

__all__ = ["BoxProblems", "FRAMES", "box_problems", "conversion_factors", "image_sizes_from_columns"]

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
    n_pred: np.ndarray = field(init=False)  # int64 (B,): predictions per row
    n_gt: np.ndarray = field(init=False)  # int64 (B,)

    def __post_init__(self) -> None:
        # Computed once: the rewards read them several times per call.
        self.n_pred = np.diff(self.pred_offsets)
        self.n_gt = np.diff(self.gt_offsets)


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


def _flatten(blocks: list, ok: np.ndarray, labels: list):
    """Per-row boxes / labels -> flat boxes, offsets, row ok, flat labels (None when no row has
    labels)."""
    counts = np.array([len(b) for b in blocks], dtype=np.int64)
    flat = np.concatenate(blocks) if blocks else np.zeros((0, 4))
    flat_labels = None
    if any(names is not None for names in labels):
        flat_labels = [x for names, b in zip(labels, blocks) for x in (names if names is not None else [None] * len(b))]
    return flat, _offsets(counts), ok, flat_labels


def _truth_from_data(rows: Sequence[Any], label_rows: Optional[Sequence[Any]], n: int, reward: str, column: str):
    """A column of ground truth given as data (``gt_boxes``) -> flat boxes, offsets, ok, labels."""
    if len(rows) != n:
        raise ValueError(f"{reward}: {column} has {len(rows)} rows for {n} completions")
    if label_rows is not None and len(label_rows) != n:
        raise ValueError(f"{reward}: gt_labels has {len(label_rows)} rows for {n} completions")
    return _flatten(*read_truth_rows(rows, label_rows, range(n), reward, column))


def _merge_data_rows(sol: Sequence[Any], truth: ParsedBatch, gt_ok: np.ndarray, rows: list, labels: bool, reward: str):
    """The parsed solution texts, with ``rows`` (solution entries given as data) read as boxes."""
    blocks, ok, names = read_truth_rows(sol, None, rows, reward, "solution")
    data = {i: k for k, i in enumerate(rows)}
    text_labels = truth.labels if labels else None
    all_blocks, all_ok, all_names = [], gt_ok.copy(), []
    for i in range(len(gt_ok)):
        k = data.get(i)
        if k is None:
            lo, hi = truth.offsets[i], truth.offsets[i + 1]
            all_blocks.append(truth.boxes[lo:hi])
            all_names.append(text_labels[lo:hi] if text_labels is not None else None)
        else:
            all_blocks.append(blocks[k])
            all_ok[i] = ok[k]
            all_names.append(names[k])
    return _flatten(all_blocks, all_ok, all_names)


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
    pixels: tuple = (None, None),
) -> BoxProblems:
    """Build the batch of box problems a box reward scores (see the module docstring).

    ``coord_frame`` is the frame of the model's boxes and ``gt_frame`` that of the ground truth
    (default: the same as the model's for ``solution`` rows, ``"abs"`` for ``gt_boxes``); when
    they differ both are converted to pixels with the rows' image sizes (``pixels``: the
    processor's (min_pixels, max_pixels) for a model family's frame).  ``scale`` divides every
    coordinate afterwards (Visual-RFT's LISA reward works on ``x / 1000``).
    """
    n = len(completions)
    parsed = cached_parse(completions, schema="auto", answer=answer, require_tags=True, invalid="raise")
    source = require_one_of(
        columns,
        ("solution", "gt_boxes"),
        reward,
        "ground truth: an answer-format 'solution' string (or a parsed list of boxes / objects) or per-row "
        "'gt_boxes' lists of [x1, y1, x2, y2]",
    )
    gt_labels = None
    cacheable = False
    if source == "solution":
        sol = columns["solution"]
        if len(sol) != n:
            raise ValueError(f"{reward}: solution has {len(sol)} rows for {n} completions")
        # Entries that are not text (a parsed list, boxes) read as "" here: no box answer.
        truth = cached_parse(sol, schema="auto", answer="last", require_tags=False, invalid="empty")
        # Cacheable only without a frame conversion: then nothing but the two parses and the
        # options decides the result (image-size columns are not part of the key).
        key = (coord_frame, gt_frame, answer, dedupe, want_labels, scale, pixels)
        cacheable = coord_frame == "same" or gt_frame in (None, coord_frame)
        cached = _RECENT.get((parsed, truth), key) if cacheable else None
        if cached is not None:
            return cached
        gt_ok = answer_is_boxes(truth)
        gt_all, gt_off_all = truth.boxes, truth.offsets
        if want_labels:
            gt_labels = truth.labels
        data_rows = [i for i in np.flatnonzero(~gt_ok).tolist() if sol[i] is not None and not isinstance(sol[i], str)]
        if data_rows:
            # Ground truth given as data: read as boxes (or refused).  Never cached: a list can be
            # edited in place and still compare equal to itself.
            cacheable = False
            gt_all, gt_off_all, gt_ok, gt_labels = _merge_data_rows(sol, truth, gt_ok, data_rows, want_labels, reward)
        default_gt_frame = coord_frame
    else:
        gt_all, gt_off_all, gt_ok, gt_labels = _truth_from_data(
            columns["gt_boxes"], columns.get("gt_labels") if want_labels else None, n, reward, "gt_boxes"
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
    converted = (coord_frame != "same" and gt_frame != coord_frame) or scale is not None
    for _ in range(2):
        rows = (pred_ok & gt_ok).astype(np.uint8)
        # One native pass: the boxes of scorable rows, exact duplicates dropped on request, and a
        # predicted box with x2 < x1 or y2 < y1 collapsed to zero size at its first corner (it still
        # counts as a prediction but overlaps nothing; frame scaling keeps it collapsed).
        pred, pred_off, pred_src = _C.select_segment_boxes(parsed.boxes, parsed.offsets, rows, dedupe, True)
        gt, gt_off, gt_src = _C.select_segment_boxes(gt_all, gt_off_all, rows, False, False)

        if coord_frame != "same" and gt_frame != coord_frame:
            pred_factors, gt_factors = conversion_factors(columns, n, reward, coord_frame, gt_frame, pixels)
            with np.errstate(over="ignore"):
                pred = apply_frame_factors(pred, pred_off, pred_factors)
                gt = apply_frame_factors(gt, gt_off, gt_factors)
        if scale is not None:
            with np.errstate(over="ignore"):
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
    if cacheable:
        _RECENT.put((parsed, truth), key, problems)
    return problems
