"""ap_reward equals a per-sample pycocotools evaluation bit for bit; the reductions it uses equal
numpy's."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vrft_rewards import _C
from vrft_rewards.rewards import get_ap_reward

pycocotools = pytest.importorskip("pycocotools")
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402


def pycocotools_ap(pred, scores, pred_labels, gt, gt_labels, stat):
    """The obvious per-sample evaluation: one image, GT categories, loadRes, summarize."""
    if len(gt) == 0:
        return None
    cats = sorted(set(gt_labels))
    cat_id = {c: i + 1 for i, c in enumerate(cats)}
    anns = [
        dict(
            id=i + 1,
            image_id=1,
            category_id=cat_id[c],
            bbox=[b[0], b[1], b[2] - b[0], b[3] - b[1]],
            area=(b[2] - b[0]) * (b[3] - b[1]),
            iscrowd=0,
        )
        for i, (b, c) in enumerate(zip(gt, gt_labels))
    ]
    dets = [
        dict(image_id=1, category_id=cat_id.get(c, 10_000), bbox=[b[0], b[1], b[2] - b[0], b[3] - b[1]], score=float(s))
        for b, s, c in zip(pred, scores, pred_labels)
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = dict(images=[dict(id=1)], annotations=anns, categories=[dict(id=i) for i in cat_id.values()])
        coco.createIndex()
        if not dets:
            return 0.0
        ev = COCOeval(coco, coco.loadRes(dets), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return max(float(ev.stats[stat]), 0.0)


def _answer(boxes, scores, labels):
    items = [
        f'{{"bbox_2d": [{", ".join(repr(float(v)) for v in b)}], "label": "{c}", "score": {float(s)!r}}}'
        for b, s, c in zip(boxes, scores, labels)
    ]
    return "<answer>[" + ", ".join(items) + "]</answer>"


def _case(rng):
    n_gt = int(rng.integers(1, 7))
    xy = rng.uniform(0, 500, (n_gt, 2))
    gt = np.concatenate([xy, xy + rng.uniform(1, 200, (n_gt, 2))], axis=1)
    if rng.random() < 0.5:
        gt = np.round(gt)
    n_pred = int(rng.integers(0, 12))
    src = rng.integers(0, n_gt, n_pred)
    pred = gt[src] + rng.normal(0, float(rng.choice([1, 10, 30])), (n_pred, 4))
    pred[:, 2:] = np.maximum(pred[:, 2:], pred[:, :2] + 0.5)
    scores = np.round(rng.random(n_pred), int(rng.integers(1, 3)))  # ties
    labels = ["cat", "dog", "bird"][: int(rng.integers(1, 4))]
    gt_labels = [str(rng.choice(labels)) for _ in range(n_gt)]
    pred_labels = [str(rng.choice(labels + ["zebra"])) for _ in range(n_pred)]
    return pred, scores, pred_labels, gt, gt_labels


@pytest.mark.parametrize("use_labels", [False, True])
@pytest.mark.parametrize("thresholds,stat", [("50:95", 0), ("50", 1), ("75", 2)])
def test_ap_reward_equals_per_sample_pycocotools(use_labels, thresholds, stat):
    rng = np.random.default_rng(7 + stat + 10 * use_labels)
    cases = [_case(rng) for _ in range(60)]
    completions = [_answer(p, s, pl) for p, s, pl, _, _ in cases]
    gt_boxes = [g.tolist() for *_, g, _ in cases]
    gt_labels = [gl for *_, gl in cases]
    reward = get_ap_reward(iou_thresholds=thresholds, use_labels=use_labels)
    ours = reward(completions, gt_boxes=gt_boxes, gt_labels=gt_labels)
    expected = [
        pycocotools_ap(p, s, pl if use_labels else ["x"] * len(p), g, gl if use_labels else ["x"] * len(g), stat)
        for p, s, pl, g, gl in cases
    ]
    # Values from parsed text: the answer writes repr(float), which round-trips exactly.
    assert ours == expected


def test_ap_reward_empty_answers_and_empty_truth():
    reward = get_ap_reward()
    out = reward(
        ["<answer>[]</answer>", "<answer>[]</answer>", "no answer"], gt_boxes=[[], [[0, 0, 10, 10]], [[0, 0, 10, 10]]]
    )
    # both empty -> empty_score (1); GT but no boxes -> 0; no answer at all -> 0
    assert out == [1.0, 0.0, 0.0]


@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), max_size=700))
def test_numpy_pairwise_sum_equals_np_sum(values):
    a = np.array(values, dtype=np.float64)
    assert _C.numpy_pairwise_sum(a) == np.sum(a)


def test_numpy_pairwise_sum_equals_np_sum_on_long_arrays():
    rng = np.random.default_rng(3)
    for n in (127, 128, 129, 1010, 8192, 8193, 80_800, 100_003):
        a = rng.random(n) * 3
        assert _C.numpy_pairwise_sum(a) == np.sum(a)


def test_segment_sum_adds_left_to_right_like_python():
    rng = np.random.default_rng(4)
    values = rng.random(1000) * 10.0 ** rng.integers(-8, 8, 1000)
    offsets = np.array([0, 0, 3, 10, 500, 999, 1000])
    expected = [sum(values[a:b].tolist(), 0.0) for a, b in zip(offsets[:-1], offsets[1:])]
    assert _C.segment_sum_sequential(values, offsets).tolist() == expected


def test_segment_sum_rejects_bad_offsets():
    with pytest.raises(ValueError, match="offsets"):
        _C.segment_sum_sequential(np.zeros(3), np.array([0, 4]))
    with pytest.raises(ValueError, match="non-decreasing"):
        _C.segment_sum_sequential(np.zeros(3), np.array([0, 2, 1, 3]))
