"""Tiny batches on the calling thread: the detection and format rewards of trainers that call a
reward one sample at a time.

verl's Reward Loop, OpenRLHF and ms-swift call each reward with one completion.  The batch path
(a cached native parse into ~26 numpy arrays, ``box_problems``, ``match_boxes``, numpy reductions,
metrics) costs a few hundred microseconds for that one completion, almost all of it Python and
numpy overhead.  For a batch of at most :data:`TINY_BATCH` completions (ground truth as
``solution`` texts or as data: ``gt_boxes`` rows, parsed lists), the box and format rewards
instead make one native call (``_C.score_detection_rows``,
``csrc/rewards/detection.h``): parse, match and every reward value of each completion, returned
as Python floats; no numpy arrays, no parse cache, and metrics only when the trainer passes
``log_metric``.  The values are bit-identical to the batch path's (``tests/test_rewards_tiny.py``
compares both on random and adversarial completions under every option combination).

Sibling rewards.  A preset's rewards are called one after another on the same sample (TRL,
verl, ms-swift call each function separately): the last result is kept in a one-entry memo, so
the siblings of the first reward reuse its native call.  The memo is keyed by content: the
completions' answer texts (the strs themselves, compared by value, so an in-place edit of a chat
message changes the text and misses), a snapshot of the solutions (or the bytes of the ground
truth given as data), the options and the frame factors; it holds references to all of them, so no
identity can be recycled under it.  A format
reward computes the whole row under the options of the previous detection call, so that a preset
listing the format reward first (``get_preset("detection")``) still makes one call per sample.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from .._ext import _C
from ._truth import read_truth_rows

__all__ = ["TINY_BATCH", "box_metrics", "detection_result", "format_result", "ground_truth", "text_solutions"]

#: Largest batch scored by the tiny path.  Measured with bench/bench_rewards.py's ``tiny-vs-batch-B``
#: groups (docs/performance.md, "Rewards by calling pattern"; 2,000 Visual-RFT samples, the three
#: detection rewards, 2-vCPU VM): the tiny path costs the same per completion at every B (13-27 us
#: wall under load, one serial native call per completion), the batch path ~300 us of fixed
#: Python / numpy cost per call of the three rewards plus a per-completion share that the thread
#: pool splits: 23x slower than the tiny path at B = 1, 2.7x at 32, 2.0x at 64, 1.5x at 128 there.
#: The batch path's edge is that split, which a loaded 2-vCPU machine cannot show and a 16-core
#: trainer node shows fully; 32 keeps the tiny path where it wins on any machine (per-sample
#: trainers, B = 1) and every TRL-sized batch on the unchanged, multi-threaded batch path.
TINY_BATCH = 32

# Fused-call options (answer_first, method, kind, iou_threshold, strict, dedupe) used when only
# the format values are wanted and no detection call came before.
_FORMAT_ONLY = (False, 0, 0, 0.5, False, False)

# (texts, ground-truth key, options, frame factors as bytes, result) of the last fused call.
_last: Optional[tuple] = None


def text_solutions(columns: dict, n: int) -> Optional[tuple]:
    """The ``solution`` column as a tuple when it holds one str (or None) per completion, else None
    (ground truth given as data, or a column of the wrong length: the batch path handles those)."""
    sol = columns.get("solution")
    if type(sol) is not list and type(sol) is not tuple or len(sol) != n:
        return None
    for s in sol:
        if type(s) is not str and s is not None:
            return None
    return tuple(sol)


def ground_truth(columns: dict, n: int, reward: str) -> Optional[tuple]:
    """``(solutions, data, column)`` for the fused call: the ``solution`` texts (``data`` None), or
    the ground truth given as data (``solutions`` None; ``data`` = boxes, offsets, usable, read as
    the batch path reads it, refusing the same rows); None when the batch path must decide
    (a column missing or of the wrong length, texts mixed with data)."""
    sol = columns.get("solution")
    if sol is not None:
        texts = text_solutions(columns, n)
        if texts is not None:
            return texts, None, "solution"
        if type(sol) is not list and type(sol) is not tuple or len(sol) != n or any(type(s) is str for s in sol):
            return None
        rows, column = sol, "solution"
    else:
        rows, column = columns.get("gt_boxes"), "gt_boxes"
        if type(rows) is not list and type(rows) is not tuple or len(rows) != n:
            return None
    blocks, usable, _ = read_truth_rows(rows, None, range(n), reward, column)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum([len(b) for b in blocks], out=offsets[1:])
    boxes = np.ascontiguousarray(np.concatenate(blocks), dtype=np.float64)
    return None, (boxes, offsets, usable.astype(np.uint8)), column


def detection_result(
    completions: Sequence[Any], solutions: Optional[tuple], options: tuple, frames: Any = None, data: Any = None
) -> tuple:
    """``(rows, pair_sum, n_pairs)`` of ``_C.score_detection_rows`` for these completions, from the
    memo when the last call had the same texts, ground truth (solution texts, or the bytes of the
    data: an in-place edit of a list is seen), options and frames."""
    global _last
    texts = _C.completion_texts(completions, "raise")
    frames_key = None if frames is None else frames.tobytes()
    truth_key = solutions if data is None else tuple(a.tobytes() for a in data)
    last = _last
    if last is not None and last[2] == options and last[3] == frames_key and last[0] == texts and last[1] == truth_key:
        return last[4]
    result = _C.score_detection_rows(texts, solutions, *options, frames, data)
    _last = (texts, truth_key, options, frames_key, result)
    return result


def format_result(completions: Sequence[Any], solutions: Optional[tuple]) -> tuple:
    """The fused rows of these completions for a format reward (parsed with the last answer
    block): the memo's when its texts match, else one call that also scores the solutions (when
    given) under the last detection call's options, for the siblings to find."""
    global _last
    texts = _C.completion_texts(completions, "raise")
    last = _last
    if last is not None and not last[2][0] and last[0] == texts:
        return last[4]
    options = _FORMAT_ONLY if last is None else (False,) + last[2][1:]
    # Without frames: a format reward does not know them (a sibling that converts calls again).
    result = _C.score_detection_rows(texts, solutions, *options, None, None)
    _last = (texts, solutions, options, None, result)
    return result


def box_metrics(rows: tuple, pair_sum: float, n_pairs: int) -> dict:
    """The box rewards' batch metrics from fused rows, equal to ``_BoxReward._metrics``' numpy
    means (integer counts divided once; the matched IoU summed in numpy's pairwise order)."""
    n = len(rows)
    scored = [r for r in rows if r[1]]
    boxes = [r[2] for r in scored if r[0]]
    return {
        "frac_malformed": (len(scored) - len(boxes)) / len(scored) if scored else 0.0,
        "frac_gt_invalid": (n - len(scored)) / n if n else 0.0,
        "mean_pred_count": sum(boxes) / len(boxes) if boxes else 0.0,
        "mean_matched_iou": pair_sum / n_pairs if n_pairs else 0.0,
    }
