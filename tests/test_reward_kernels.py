"""The native per-segment kernels behind the box rewards, against obvious numpy / Python loops."""

from __future__ import annotations

import numpy as np
import pytest

from vrft_rewards import _C


def _random_segments(rng, n_segments=200, max_len=12):
    counts = rng.integers(0, max_len, n_segments)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return counts, offsets


def test_stable_argsort_desc_equals_python_sorted_per_segment():
    rng = np.random.default_rng(0)
    counts, offsets = _random_segments(rng)
    scores = np.round(rng.random(offsets[-1]), 1)  # many ties
    scores[rng.random(len(scores)) < 0.05] = -np.inf
    got = _C.segment_stable_argsort_desc(scores, offsets)
    expected = []
    for lo, hi in zip(offsets[:-1], offsets[1:]):
        expected += sorted(range(lo, hi), key=lambda i: scores[i], reverse=True)
    assert got.tolist() == expected


def test_stable_argsort_desc_rejects_nan_and_bad_offsets():
    with pytest.raises(ValueError, match=r"scores\[1\] is NaN"):
        _C.segment_stable_argsort_desc(np.array([1.0, np.nan]), np.array([0, 2]))
    with pytest.raises(ValueError, match="offsets"):
        _C.segment_stable_argsort_desc(np.zeros(3), np.array([0, 2]))


@pytest.mark.parametrize("dedupe", [False, True])
def test_select_segment_boxes_equals_python_reference(dedupe):
    rng = np.random.default_rng(1 + dedupe)
    counts, offsets = _random_segments(rng)
    boxes = rng.integers(0, 5, (offsets[-1], 4)).astype(np.float64)  # small range: duplicates
    boxes[rng.random(len(boxes)) < 0.1] *= -0.0  # -0.0 equals 0.0, as in Python
    keep_rows = (rng.random(len(counts)) < 0.8).astype(np.uint8)
    out, out_off, src = _C.select_segment_boxes(boxes, offsets, keep_rows, dedupe, True)
    exp_boxes, exp_off, exp_src = [], [0], []
    for b, (lo, hi) in enumerate(zip(offsets[:-1], offsets[1:])):
        seen = []
        for i in range(lo, hi):
            if not keep_rows[b]:
                break
            key = tuple(boxes[i].tolist())
            if dedupe and key in seen:
                continue
            seen.append(key)
            x1, y1, x2, y2 = key
            if x2 < x1 or y2 < y1:
                x2, y2 = x1, y1  # inverted: collapsed to zero size
            exp_boxes.append([x1, y1, x2, y2])
            exp_src.append(i)
        exp_off.append(len(exp_src))
    assert out.tolist() == exp_boxes
    assert out_off.tolist() == exp_off
    assert src.tolist() == exp_src


def test_select_segment_boxes_rejects_a_wrong_row_mask():
    with pytest.raises(ValueError, match=r"keep_segment must have shape \(1,\)"):
        _C.select_segment_boxes(np.zeros((2, 4)), np.array([0, 2]), np.ones(2, np.uint8), False, False)
