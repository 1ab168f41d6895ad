"""Reward callables: TRL's contract, ground-truth columns, row outcomes, and values against slow,
obvious references."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment as scipy_lsa

from vrft_rewards.rewards import (
    MissingColumnsError,
    _cache,
    ap_reward,
    classification_reward,
    clear_parse_cache,
    confidence_reward,
    f1_reward,
    format_reward,
    get_classification_reward,
    get_f1_reward,
    get_format_reward,
    get_grounding_reward,
    get_iou_reward,
    grounding_reward,
    iou_reward,
    resolve_reward_set,
    visual_rft_rewards,
)
from vrft_rewards.rewards._tiny import TINY_BATCH

ALL_REWARDS = [
    format_reward,
    classification_reward,
    iou_reward,
    confidence_reward,
    f1_reward,
    ap_reward,
    grounding_reward,
    *visual_rft_rewards("detection"),
]

DET = "<think>look</think><answer>[{'Position': [0, 0, 10, 10], 'Confidence': 0.9}]</answer>"
DET_SOL = "<answer>[{'Position': [0, 0, 10, 10], 'Confidence': 1}]</answer>"


def _columns_for(reward):
    if reward in (classification_reward,):
        return ["<answer>cat</answer>", "dog"], dict(solution=["cat", "cat"])
    if reward is grounding_reward:
        return ["<answer>(0,0),(10,10)</answer>", "nothing"], dict(solution=["(0,0),(10,10)", "(0,0),(5,5)"])
    return [DET, "garbage"], dict(solution=[DET_SOL, DET_SOL])


# ---- TRL contract -----------------------------------------------------------------------------


@pytest.mark.parametrize("reward", ALL_REWARDS, ids=lambda r: r.__name__)
def test_reward_returns_one_float_per_completion_and_ignores_trainer_kwargs(reward):
    completions, columns = _columns_for(reward)
    out = reward(
        completions,
        prompts=["p", "p"],
        completion_ids=[[1], [2]],
        trainer_state=None,
        log_extra=None,
        some_other_column=[1, 2],
        **columns,
    )
    assert isinstance(out, list) and len(out) == 2
    assert all(isinstance(v, float) for v in out)


@pytest.mark.parametrize("reward", ALL_REWARDS, ids=lambda r: r.__name__)
def test_reward_pickles_with_its_name_and_scores_the_same(reward):
    completions, columns = _columns_for(reward)
    clone = pickle.loads(pickle.dumps(reward))
    assert clone.__name__ == reward.__name__
    assert clone(completions, **columns) == reward(completions, **columns)


def test_chat_completions_score_like_plain_strings():
    chat = [[{"role": "user", "content": "q"}, {"role": "assistant", "content": DET}]]
    assert iou_reward(chat, solution=[DET_SOL]) == iou_reward([DET], solution=[DET_SOL]) == [1.0]


def test_missing_ground_truth_column_raises_once_listing_expected_columns():
    with pytest.raises(MissingColumnsError, match=r"'solution', 'gt_boxes'.*got columns \['problem'\]"):
        iou_reward([DET], problem=["x"], prompts=["p"])
    with pytest.raises(MissingColumnsError, match=r"'solution', 'label'"):
        classification_reward(["<answer>cat</answer>"])


def test_rows_with_unusable_ground_truth_are_skipped_with_none():
    out = iou_reward([DET, DET, DET], solution=[DET_SOL, None, "<answer>not boxes</answer>"])
    assert out == [1.0, None, None]
    out = iou_reward([DET, DET], gt_boxes=[[[0, 0, 10, 10]], None])
    assert out == [1.0, None]


def test_log_metric_receives_named_batch_metrics():
    logged = {}
    iou_reward([DET, "garbage"], solution=[DET_SOL, DET_SOL], log_metric=logged.__setitem__)
    assert logged["iou_reward/frac_malformed"] == 0.5
    assert logged["iou_reward/mean_matched_iou"] == 1.0
    assert logged["iou_reward/mean_pred_count"] == 1.0


def test_completions_are_parsed_once_for_several_rewards(monkeypatch):
    clear_parse_cache()
    calls = []
    real = _cache.parse_completions

    def counting(items, **options):
        calls.append(len(items))
        return real(items, **options)

    monkeypatch.setattr(_cache, "parse_completions", counting)
    completions = [DET] * (TINY_BATCH + 8)  # the batch path (tests/test_rewards_tiny.py: tiny batches)
    solution = [DET_SOL] * (TINY_BATCH + 8)
    for reward in visual_rft_rewards("detection"):
        reward(completions, solution=solution)
    assert len(calls) == 2  # the completions once, the solutions once
    # An equal batch in a new list object hits the cache; an edited one does not.
    iou_reward(list(completions), solution=list(solution))
    assert len(calls) == 2
    completions[3] = "<answer>[]</answer>"
    assert iou_reward(completions, solution=solution)[3] == 0.0
    assert len(calls) == 3


def test_resolve_reward_set_knows_the_task_presets():
    names = resolve_reward_set("detection").names
    assert names == ("format_reward", "iou_reward", "confidence_reward")
    assert resolve_reward_set("visual_rft/detection").names == (
        "accuracy_reward_iou",
        "accuracy_reward_confidence",
        "format_reward",
    )
    with pytest.raises(ValueError, match="known preset"):
        resolve_reward_set("segmentation")


@pytest.mark.parametrize(
    "factory,kwargs,match",
    [
        (get_iou_reward, dict(method="munkres"), "method must be one of"),
        (get_iou_reward, dict(iou_threshold=1.5), r"iou_threshold must be in \[0, 1\]"),
        (get_iou_reward, dict(coord_frame="pixels"), "coord_frame must be one of"),
        (get_iou_reward, dict(kind="dice"), "kind must be one of"),
        (get_format_reward, dict(mode="loose"), "mode must be one of"),
        (get_grounding_reward, dict(variant="l1"), "variant must be one of"),
        (get_classification_reward, dict(mode="fuzzy"), "mode must be one of"),
        (get_f1_reward, dict(metric="accuracy"), "metric must be one of"),
    ],
)
def test_factories_reject_bad_options_naming_them(factory, kwargs, match):
    with pytest.raises(ValueError, match=match):
        factory(**kwargs)


# ---- box rewards against slow references --------------------------------------------------------


def _iou_matrix(a, b):
    # torchvision's operation order (box_iou), written out.
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    w = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    h = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = w * h
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def _random_problem(rng):
    n_gt, n_pred = int(rng.integers(0, 6)), int(rng.integers(0, 8))
    xy = rng.uniform(0, 100, (n_gt, 2))
    gt = np.concatenate([xy, xy + rng.uniform(1, 40, (n_gt, 2))], 1)
    src = rng.integers(0, max(n_gt, 1), n_pred)
    pred = (gt[src] if n_gt else np.zeros((n_pred, 4))) + rng.normal(0, 4, (n_pred, 4))
    pred[:, 2:] = np.maximum(pred[:, 2:], pred[:, :2] + 1)
    return pred, gt


def _answer(pred):
    return "<answer>[" + ", ".join("[" + ", ".join(repr(float(v)) for v in b) + "]" for b in pred) + "]</answer>"


def test_hungarian_iou_and_f1_rewards_equal_scipy_reference():
    rng = np.random.default_rng(11)
    problems = [_random_problem(rng) for _ in range(300)]
    completions = [_answer(p) for p, _ in problems]
    gt_boxes = [g.tolist() for _, g in problems]
    ours_iou = iou_reward(completions, gt_boxes=gt_boxes)
    ours_f1 = f1_reward(completions, gt_boxes=gt_boxes)
    for (pred, gt), got_iou, got_f1 in zip(problems, ours_iou, ours_f1):
        if len(pred) == 0 and len(gt) == 0:
            assert got_iou == got_f1 == 1.0
            continue
        iou = _iou_matrix(pred, gt) if len(pred) and len(gt) else np.zeros((len(pred), len(gt)))
        weight = np.where(iou >= 0.5, iou, 0.0)
        rows, cols = scipy_lsa(weight, maximize=True)
        keep = weight[rows, cols] > 0
        total = sum(weight[rows[keep], cols[keep]].tolist(), 0.0)
        assert got_iou == min(1.0, total / max(len(pred), len(gt)))
        assert got_f1 == 2 * keep.sum() / (len(pred) + len(gt))


def test_confidence_reward_scores_matched_c_and_unmatched_one_minus_c():
    comp = (
        "<answer>[{'Position': [0, 0, 10, 10], 'Confidence': 0.75}, "
        "{'Position': [50, 50, 60, 60], 'Confidence': 0.25}]</answer>"
    )
    assert confidence_reward([comp], gt_boxes=[[[0, 0, 10, 10]]]) == [(0.75 + 0.75) / 2]
    # A box without a confidence makes the row score 0.
    comp = "<answer>[{'Position': [0, 0, 10, 10]}]</answer>"
    assert confidence_reward([comp], gt_boxes=[[[0, 0, 10, 10]]]) == [0.0]


@pytest.mark.parametrize(
    "answer,truth,expected",
    [
        ("<answer>No Objects</answer>", [], 1.0),  # explicit empty vs empty truth
        ("<answer>[]</answer>", [[0, 0, 1, 1]], 0.0),  # explicit empty vs objects
        ("<answer></answer>", [], 0.0),  # empty answer is not "no objects"
        ("<answer>a cat</answer>", [], 0.0),  # text is not a box answer
        ("no tags at all", [[0, 0, 1, 1]], 0.0),
        ("<answer>[[0, 0, 10, 10], [0, 0, 10, 10]]</answer>", [[0, 0, 10, 10]], 0.5),  # duplicate counts
        ("<answer>[[10, 10, 0, 0]]</answer>", [[0, 0, 10, 10]], 0.0),  # inverted: matches nothing
    ],
)
def test_iou_reward_row_outcomes(answer, truth, expected):
    assert iou_reward([answer], gt_boxes=[truth]) == [expected]


def test_visual_rft_preset_scores_empty_answers_zero_like_the_original():
    assert visual_rft_rewards("detection")[0](["<answer>[]</answer>"], gt_boxes=[[]]) == [0.0]


def test_coordinate_frames_are_converted_with_the_image_size():
    # Qwen2-VL writes 0..1000; the ground truth is in pixels of a 640 x 480 image.
    comp = "<answer>[[100, 200, 500, 1000]]</answer>"
    gt = [[64.0, 96.0, 320.0, 480.0]]
    reward = get_iou_reward(coord_frame="norm1000")
    assert reward([comp], gt_boxes=[gt], image_size=[(640, 480)]) == [1.0]
    assert reward([comp], gt_boxes=[gt], width=[640], height=[480]) == [1.0]
    with pytest.raises(MissingColumnsError, match="image_size"):
        reward([comp], gt_boxes=[gt])


def test_greedy_strict_threshold_excludes_exactly_half_iou():
    # IoU([0,0,10,10], [0,0,5,10]) == 0.5: COCO's >= matches, Visual-RFT's > does not.
    comp = "<answer>[{'Position': [0, 0, 5, 10], 'Confidence': 1}]</answer>"
    truth = [[[0, 0, 10, 10]]]
    assert get_iou_reward(method="greedy")([comp], gt_boxes=truth) == [0.5]
    assert get_iou_reward(method="greedy", strict=True)([comp], gt_boxes=truth) == [0.0]


# ---- grounding --------------------------------------------------------------------------------


def test_grounding_variants_follow_their_formulas():
    comp = ["<answer>(0,0),(10,10)</answer>", "<answer>(0,0),(10,10)</answer>", "none"]
    sol = ["(0,0),(10,20)", "(20,20),(30,30)", "(0,0),(1,1)"]
    assert grounding_reward(comp, solution=sol) == [0.5, 0.0, 0.0]
    assert get_grounding_reward(variant="iou_squared")(comp, solution=sol) == [0.25, 0.0, 0.0]
    # GIoU of disjoint boxes: 0 - (900 - 200) / 900; plus one.
    out = get_grounding_reward(variant="giou_plus_one")(comp, solution=sol)
    assert out == [1.5, 1.0 + (0.0 - (900.0 - 200.0) / 900.0), 0.0]
    assert get_grounding_reward(variant="giou")(comp, solution=sol)[2] == -1.0


# ---- classification ---------------------------------------------------------------------------


def test_classification_exact_match_after_normalisation():
    comp = [
        "<answer> Boeing_737-200. </answer>",
        "<answer>Boeing</answer>",
        "<answer></answer>",
        "<answer>cat, dog</answer>",
        "<answer>CAT</answer>",
    ]
    sol = ["boeing 737-200", "Boeing 737-200", "cat", "cat", "<answer>cat</answer>"]
    assert classification_reward(comp, solution=sol) == [1.0, 0.0, 0.0, 0.0, 1.0]


def test_classification_aliases_from_a_mapping_and_from_a_column():
    comp = ["<answer>puppy</answer>", "<answer>kitten</answer>", "<answer>dog</answer>"]
    label = ["dog", "dog", "dog"]
    reward = get_classification_reward(aliases={"Dog": ["puppy", "hound"]})
    assert reward(comp, label=label) == [1.0, 0.0, 1.0]
    reward = get_classification_reward(aliases="accepted")
    assert reward(comp, label=label, accepted=[["puppy"], [], None]) == [1.0, 0.0, 1.0]


def test_substring_mode_is_visual_rft_and_the_classes_guard_stops_listing():
    comp = ["<answer></answer>", "<answer>cat dog bird</answer>", "<answer>Siamese cat</answer>"]
    sol = ["cat", "cat", "Siamese cat"]
    gameable = get_classification_reward(mode="substring")
    assert gameable(comp, solution=sol) == [1.0, 1.0, 1.0]
    guarded = get_classification_reward(mode="substring", classes=["cat", "dog", "bird", "Siamese cat"])
    # "Siamese cat" contains "cat": one class, not two.
    assert guarded(comp, solution=sol) == [1.0, 0.0, 1.0]


def test_choice_mode_compares_letters():
    comp = ["<answer>B</answer>", "<answer>(C)</answer>", "<answer>the answer is A</answer>"]
    reward = get_classification_reward(mode="choice")
    out = reward(comp, solution=["B", "B", "<answer>A</answer>"])
    assert out[:2] == [1.0, 0.0]


# ---- format -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,strict,tags,answer_only",
    [
        ("<think>a</think><answer>b</answer>", 1.0, 1.0, 0.0),
        ("<think>a\nb</think>\n\n<answer>\nc\n</answer>", 1.0, 1.0, 0.0),
        ("<answer>b</answer>", 0.0, 0.5, 1.0),
        ("  <answer>b</answer>\n", 0.0, 0.5, 1.0),
        ("<think>a</think><answer>b</answer> trailing", 0.0, 1.0, 0.0),
        ("<think>a</think><think>b</think><answer>c</answer>", 1.0, 0.5, 0.0),
        ("", 0.0, 0.0, 0.0),
    ],
)
def test_format_modes(text, strict, tags, answer_only):
    assert format_reward([text]) == [strict]
    assert get_format_reward(mode="tags")([text]) == [tags]
    assert get_format_reward(mode="answer")([text]) == [answer_only]
