"""One option vocabulary (vrft_rewards/_options.py): every string option, wherever it is taken,
refuses an unknown name and a non-string alike, with a ValueError naming the argument, the
allowed names and the value given."""

from __future__ import annotations

import numpy as np
import pytest

import vrft_rewards as vr
from vrft_rewards import _options
from vrft_rewards.eval import detections_from_records, evaluate_classification, evaluate_detection, evaluate_grounding
from vrft_rewards.rewards import (
    ClassificationReward,
    ConfidenceReward,
    F1Reward,
    FormatReward,
    GroundingReward,
    IoUReward,
)

BOX = np.zeros((1, 4))
GT = {"images": [{"id": 1, "width": 10, "height": 10}], "annotations": [], "categories": [{"id": 1, "name": "a"}]}
RECORDS = [{"image_id": 1, "category": "a", "completion": "<answer>[]</answer>"}]
GROUNDING = [{"completion": "<answer>(1,2),(3,4)</answer>", "width": 10, "height": 10, "box": [0, 0, 5, 5]}]


def _normalized(**kw):
    return vr.parse_completions(["<answer>a</answer>"]).normalized_answers(**kw)


# (call, argument name, allowed names)
CASES = [
    (lambda v: vr.box_iou(BOX, BOX, fmt=v), "fmt", _options.BOX_FORMATS),
    (lambda v: vr.box_iou(BOX, BOX, kind=v), "kind", _options.IOU_KINDS),
    (lambda v: vr.paired_box_iou(BOX, BOX, kind=v), "kind", _options.IOU_KINDS),
    (lambda v: vr.convert_boxes(BOX, v, "xyxy"), "src", _options.BOX_FORMATS),
    (lambda v: vr.convert_boxes(BOX, "xyxy", v), "dst", _options.BOX_FORMATS),
    (lambda v: vr.match_boxes(BOX, BOX, method=v), "method", _options.MATCH_METHODS),
    (lambda v: vr.match_boxes(BOX, BOX, kind=v), "kind", _options.IOU_KINDS),
    (lambda v: vr.match_boxes(BOX, BOX, fmt=v), "fmt", _options.BOX_FORMATS),
    (lambda v: vr.parse_completions(["x"], schema=v), "schema", _options.PARSE_SCHEMAS),
    (lambda v: vr.parse_completions(["x"], answer=v), "answer", _options.ANSWER_BLOCKS),
    (lambda v: vr.parse_completions(["x"], invalid=v), "invalid", _options.INVALID_ENTRIES),
    (lambda v: _normalized(underscores=v), "underscores", _options.UNDERSCORE_RULES),
    (lambda v: _normalized(whitespace=v), "whitespace", _options.WHITESPACE_RULES),
    (lambda v: vr.boxes_to_pixels(BOX, [0, 1], [[10, 10]], v), "frame", _options.FRAMES),
    (lambda v: IoUReward(method=v), "method", _options.MATCH_METHODS),
    (lambda v: ConfidenceReward(kind=v), "kind", _options.IOU_KINDS),
    (lambda v: F1Reward(coord_frame=v), "coord_frame", ("same",) + _options.FRAMES),
    (lambda v: IoUReward(gt_frame=v), "gt_frame", _options.FRAMES),
    (lambda v: IoUReward(answer=v), "answer", _options.ANSWER_BLOCKS),
    (lambda v: GroundingReward(coord_frame=v), "coord_frame", ("same",) + _options.FRAMES),
    (lambda v: ClassificationReward(mode=v), "mode", _options.CLASSIFICATION_MODES),
    (lambda v: FormatReward(mode=v), "mode", ("strict", "tags", "answer")),
    (lambda v: detections_from_records(RECORDS, GT, frame=v), "frame", _options.FRAMES),
    (lambda v: evaluate_detection(GT, RECORDS, frame=v), "frame", _options.FRAMES),
    (lambda v: evaluate_detection(GT, RECORDS, kind=v), "kind", _options.DETECTION_KINDS),
    (lambda v: evaluate_detection(GT, RECORDS, images=v), "images", _options.DETECTION_IMAGES),
    (lambda v: evaluate_grounding(GROUNDING, frame=v), "frame", _options.FRAMES),
    (
        lambda v: evaluate_classification([{"completion": "a", "label": "a"}], mode=v),
        "mode",
        _options.CLASSIFICATION_MODES,
    ),
]


REFUSED = [
    (call, name, allowed, value)
    for call, name, allowed in CASES
    for value in ("unknown", 1, None, b"xyxy")
    if not (name == "gt_frame" and value is None)
]  # gt_frame=None: the default frame


@pytest.mark.parametrize(
    "call, name, allowed, value", REFUSED, ids=[f"{i}-{r[1]}-{r[3]!r}" for i, r in enumerate(REFUSED)]
)
def test_every_option_refuses_unknown_names_and_non_strings_alike(call, name, allowed, value):
    listed = ", ".join(repr(a) for a in allowed)
    with pytest.raises(ValueError) as info:
        call(value)
    assert str(info.value) == f"{name} must be one of {listed}, got {value!r}"


@pytest.mark.parametrize("call, name, allowed", CASES, ids=[f"{i}-{c[1]}" for i, c in enumerate(CASES)])
def test_every_allowed_name_is_accepted(call, name, allowed):
    for value in allowed:
        try:
            call(value)
        except ValueError as e:  # a later check may still refuse the toy input, never the option
            assert f"{name} must be one of" not in str(e), (value, e)
        except (TypeError, KeyError, NotImplementedError):
            pass


def test_trainer_keywords_are_one_list():
    from vrft_rewards.integrations._common import RESERVED_COLUMNS
    from vrft_rewards.rewards._base import TRAINER_KWARGS

    assert TRAINER_KWARGS is _options.TRAINER_KWARGS
    assert RESERVED_COLUMNS is _options.RESERVED_COLUMNS
    assert RESERVED_COLUMNS < TRAINER_KWARGS
    # A column may never take the name of the completions or of a trainer callback / state.
    assert {"completions", "log_metric", "log_extra", "trainer_state"} == RESERVED_COLUMNS
