"""Ground truth given as data (vrft_rewards/rewards/_truth.py): a ``solution`` or ``gt_boxes`` row
that is a parsed Qwen JSON list, a Visual-RFT list of objects or a list of boxes is read as
boxes (and labels), and scores exactly as the same ground truth written as text; anything else is
refused with an error naming the row.  Before issue 11 such rows were read as "no box answer" and
scored None (skipped) without a word: the first test failed then.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from vrft_rewards.rewards import (
    RewardSet,
    get_ap_reward,
    get_f1_reward,
    get_preset,
    iou_reward,
    visual_rft_rewards,
)
from vrft_rewards.rewards._tiny import TINY_BATCH

PRED = (
    "<think>x</think><answer>[{'Position': [0, 0, 10, 10], 'Confidence': 0.9}, "
    "{'Position': [20, 20, 30, 32], 'Confidence': 0.4}]</answer>"
)
BOXES = [[0, 0, 10, 10], [20, 20, 30, 30]]
TEXT = (
    "<answer>[{'Position': [0, 0, 10, 10], 'Confidence': 1}, {'Position': [20, 20, 30, 30], 'Confidence': 1}]</answer>"
)
SHAPES = {
    "qwen_json": [{"bbox_2d": BOXES[0], "label": "dog"}, {"bbox_2d": BOXES[1], "label": "cat"}],
    "visual_rft": [{"Position": BOXES[0], "Confidence": 1}, {"Position": BOXES[1], "Confidence": 1}],
    "boxes": BOXES,
    "array": np.array(BOXES, dtype=float),
    "tuples": [tuple(b) for b in BOXES],
    "any_case_keys": [{"BBox": BOXES[0]}, {"position": BOXES[1], "CLASS": "cat"}],
}


def test_a_parsed_list_as_solution_is_read_not_skipped():
    # Before: [None] (the list was read as text, found empty, and the row skipped silently).
    assert iou_reward([PRED], solution=[SHAPES["qwen_json"]]) == iou_reward([PRED], solution=[TEXT])
    assert iou_reward([PRED], solution=[SHAPES["qwen_json"]])[0] is not None


# A numpy array inside a `solution` column is left out: the parse cache (rewards/_cache.py) compares
# columns with ==, which numpy refuses to reduce to one bool (reported with issue 14's cache fix).
@pytest.mark.parametrize(
    "shape, column",
    [(s, c) for s in SHAPES for c in ("solution", "gt_boxes") if (s, c) != ("array", "solution")],
)
def test_every_shape_scores_as_the_text_does(shape, column):
    rewards = get_preset("detection") + visual_rft_rewards("detection") + [get_f1_reward(metric="precision")]
    for n in (1, TINY_BATCH + 3):  # the tiny path and the batch path
        for f in rewards:
            assert f([PRED] * n, **{column: [SHAPES[shape]] * n}) == f([PRED] * n, solution=[TEXT] * n), f
    rs = RewardSet(get_preset("detection"))
    assert rs([PRED], **{column: [SHAPES[shape]]}).matrix.tolist() == rs([PRED], solution=[TEXT]).matrix.tolist()


def test_one_box_an_empty_list_and_none():
    assert iou_reward([PRED], solution=[[0, 0, 10, 10]]) == [0.5]
    assert iou_reward(["<answer>[]</answer>"], solution=[[]]) == [1.0]  # both empty: empty_score
    assert iou_reward([PRED], solution=[[]]) == [0.0]
    assert iou_reward([PRED], solution=[None]) == [None]
    assert iou_reward([PRED], gt_boxes=[[{"bbox_2d": [0, 0, 10, 10]}]]) == [0.5]
    assert iou_reward([PRED], solution=[{"bbox_2d": [0, 0, 10, 10], "label": "dog"}]) == [0.5]  # one object


def test_a_column_mixing_text_and_data_rows():
    n = TINY_BATCH + 5
    sol = [TEXT if i % 3 else SHAPES["visual_rft"] for i in range(n)]
    sol[4] = "cat"  # text without boxes: skipped, as before
    sol[6] = None
    out = iou_reward([PRED] * n, solution=sol)
    want = iou_reward([PRED], solution=[TEXT])[0]
    assert out == [None if i in (4, 6) else want for i in range(n)]


def test_labels_of_objects_reach_the_ap_reward():
    reward = get_ap_reward(use_labels=True, iou_thresholds="50")
    pred = '<answer>[{"bbox_2d": [0, 0, 10, 10], "label": "cat", "score": 0.9}]</answer>'
    hit = reward([pred], solution=[json.dumps([{"bbox_2d": [0, 0, 10, 10], "label": "cat"}])])
    assert hit[0] > 0.99
    assert reward([pred], solution=[[{"bbox_2d": [0, 0, 10, 10], "label": "dog"}]]) == [0.0]
    assert reward([pred], solution=[[{"bbox_2d": [0, 0, 10, 10], "label": "cat"}]]) == hit
    assert reward([pred], gt_boxes=[[{"bbox_2d": [0, 0, 10, 10], "label": "cat"}]]) == hit
    assert reward([pred], gt_boxes=[[[0, 0, 10, 10]]], gt_labels=[["cat"]]) == hit


@pytest.mark.parametrize(
    "row, message",
    [
        ([{"Confidence": 1}], r"solution\[0\]\[0\] has no box: expected one of the keys"),
        ([{"bbox_2d": [0, 0, 10]}], r"solution\[0\]\[0\]\['bbox_2d'\] must be 4 numbers"),
        ([{"bbox_2d": ["a", 0, 10, 10]}], r"solution\[0\]\[0\]\['bbox_2d'\] must be numbers"),
        ([[0, 0, 10]], r"solution\[0\] must be boxes of shape \(k, 4\)"),
        ([[0, 0, 10, 10], [1, 2]], r"solution\[0\] must be numbers"),
        ([[[0, 0, 10, 10]]], r"solution\[0\] must be boxes of shape \(k, 4\)"),
        (3.5, r"solution\[0\] must be boxes"),
        ([True, False, True, True], r"solution\[0\] must be numbers"),
    ],
)
def test_unreadable_data_is_refused_naming_the_row(row, message):
    for n in (1, TINY_BATCH + 1):
        with pytest.raises(ValueError, match=message):
            iou_reward([PRED] * n, solution=[row] * n)


def test_gt_boxes_rows_are_refused_too():
    with pytest.raises(ValueError, match=r"iou_reward: gt_boxes\[1\] must be boxes of shape"):
        iou_reward([PRED, PRED], gt_boxes=[BOXES, [[1, 2, 3]]])
    with pytest.raises(ValueError, match=r"gt_labels\[0\] must list one name per box of gt_boxes\[0\] \(2\)"):
        get_ap_reward(use_labels=True)([PRED], gt_boxes=[BOXES], gt_labels=[["cat"]])


def test_an_in_place_edit_of_a_data_row_is_seen():
    sol = [[list(b) for b in BOXES]] * (TINY_BATCH + 1)
    first = iou_reward([PRED] * len(sol), solution=sol)
    sol[0][1][3] = 32  # the same list object, now matching the second predicted box exactly
    assert iou_reward([PRED] * len(sol), solution=sol) != first
