"""Issue 14, items 1 and 6: one completion's content only ever changes that completion's reward.

Item 1: a finite coordinate above 2**510 (1e200) in one completion must give that row the reward
a non-finite coordinate (1e400, parsed as inf, dropped by the parser) gives it: the documented
"malformed / no boxes" outcome; the other rows are untouched.  The same in the ground truth gives
``None`` ("missing / unreadable / inverted or non-finite boxes -> None", docs/rewards.md).
Item 6: the parse cache must never hand back the parse of chat messages that were edited in place.
"""

from __future__ import annotations

import copy

import pytest

from _reliability_data import HUGE, NONFINITE, det, solution
from vrft_rewards.rewards import (
    RewardSet,
    ap_reward,
    classification_reward,
    clear_parse_cache,
    confidence_reward,
    f1_reward,
    format_reward,
    get_grounding_reward,
    get_iou_reward,
    grounding_reward,
    iou_reward,
    resolve_reward_set,
    visual_rft_rewards,
)
from vrft_rewards.rewards._tiny import TINY_BATCH

# (name, reward) for every box reward, the Visual-RFT presets' functions included.
BOX_REWARDS = [
    ("iou_reward", iou_reward),
    ("confidence_reward", confidence_reward),
    ("f1_reward", f1_reward),
    ("grounding_reward", grounding_reward),
    ("grounding_giou_plus_one", get_grounding_reward(variant="giou_plus_one")),
    ("ap_reward", ap_reward),
    ("iou_reward_greedy", get_iou_reward(method="greedy")),
    ("iou_reward_giou", get_iou_reward(kind="giou")),
]
BOX_REWARDS += [
    (f"visual_rft/{task}:{f.__name__}", f)
    for task in ("detection", "grounding")
    for f in visual_rft_rewards(task)
    if f.__name__ != "format_reward"
]


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_parse_cache()
    yield
    clear_parse_cache()


def _batch(bad_x: str):
    """Three rows; row 1's completion has the coordinate ``bad_x``."""
    return [det(), det(bad_x, bad_x), det("8", "9", "0.7")], [solution()] * 3


@pytest.mark.parametrize("name, reward", BOX_REWARDS, ids=[n for n, _ in BOX_REWARDS])
def test_huge_predicted_coordinate_only_changes_its_own_row(name, reward):
    completions, sol = _batch(HUGE)
    got = reward(completions, solution=sol)  # today: ValueError "pred[1] is invalid ..."
    want = reward(_batch(NONFINITE)[0], solution=sol)
    assert got == want
    alone = reward([completions[0], completions[2]], solution=[sol[0], sol[2]])
    assert [got[0], got[2]] == alone  # the other rows are untouched


@pytest.mark.parametrize("name, reward", BOX_REWARDS, ids=[n for n, _ in BOX_REWARDS])
def test_huge_ground_truth_coordinate_gives_none(name, reward):
    completions = [det(), det(), det("8", "9", "0.7")]
    sol = [solution(), solution(HUGE, HUGE), solution()]
    got = reward(completions, solution=sol)  # today: ValueError "gt[1] ..." (ap_reward: 0.0)
    assert got[1] is None
    assert got == reward(completions, solution=[solution(), solution(NONFINITE, NONFINITE), solution()])


@pytest.mark.parametrize(
    "reward", [iou_reward, confidence_reward, f1_reward, ap_reward], ids=["iou", "confidence", "f1", "ap"]
)
def test_huge_gt_boxes_column_gives_none(reward):
    completions = [det(), det()]
    got = reward(completions, gt_boxes=[[[0, 0, 10, 10]], [[0, 0, 1e200, 1e200]]])
    assert got[1] is None and got[0] == reward(completions[:1], gt_boxes=[[[0, 0, 10, 10]]])[0]


@pytest.mark.parametrize("task", ["detection", "visual_rft/detection", "grounding", "visual_rft/grounding"])
def test_reward_set_scores_a_batch_with_a_huge_coordinate(task):
    rs = resolve_reward_set(task)
    assert isinstance(rs, RewardSet)
    completions, sol = _batch(HUGE)
    got = rs(completions, solution=sol)  # today: ValueError for the whole batch
    want = rs(_batch(NONFINITE)[0], solution=sol)
    assert got.per_function() == want.per_function()
    assert got.column("overall") == want.column("overall")


def test_huge_coordinate_in_chat_messages_never_raises():
    # The TRL conversational form goes through the same parser.
    chat = [[{"role": "assistant", "content": c}] for c in _batch(HUGE)[0]]
    assert iou_reward(chat, solution=_batch(HUGE)[1]) == iou_reward(_batch(NONFINITE)[0], solution=_batch(HUGE)[1])


# -- item 6: parse cache and chat messages edited in place --------------------------------------------
def test_parse_cache_is_not_fooled_by_a_chat_message_edited_in_place():
    msgs = [{"role": "assistant", "content": "<answer>cat</answer>"}]
    assert classification_reward([msgs], label=["cat"]) == [1.0]
    msgs[0]["content"] = "<answer>dog</answer>"
    fresh = [[{"role": "assistant", "content": "<answer>dog</answer>"}]]
    assert classification_reward(fresh, label=["cat"]) == [0.0]  # today: 1.0 (stale parse of "cat")
    assert classification_reward([msgs], label=["cat"]) == [0.0]  # today: 1.0


def test_parse_cache_edited_boxes_in_chat_messages():
    msgs = [{"role": "assistant", "content": "<answer>[0, 0, 10, 10]</answer>"}]
    sol = ["<answer>[0, 0, 10, 10]</answer>"]
    assert iou_reward([msgs], solution=sol) == [1.0]
    msgs[0]["content"] = "<answer>[50, 50, 60, 60]</answer>"
    assert iou_reward([copy.deepcopy(msgs)], solution=sol) == [0.0]  # today: 1.0
    assert format_reward([msgs]) == [0.0]  # no think block: strict format fails either way


# -- where the bound lives: the parser drops a box beyond the overflow guard like a non-finite one ----
def test_parser_drops_a_box_beyond_the_overflow_guard_like_a_non_finite_one():
    import vrft_rewards as vr

    limit = repr(2.0**510)
    texts = [det(HUGE, HUGE), det(NONFINITE, NONFINITE), det(limit, limit), det("-" + limit, "0")]
    p = vr.parse_completions(texts)
    assert p.status_names.tolist() == ["malformed", "malformed", "ok", "ok"]
    assert p.n_dropped.tolist() == [1, 1, 0, 0]
    tuples = vr.parse_completions([f"<answer>(0,0),({HUGE},5) (1,2),(3,4)</answer>"])
    assert tuples.boxes.tolist() == [[1, 2, 3, 4]] and tuples.n_dropped.tolist() == [1]


@pytest.mark.parametrize("copies", [1, TINY_BATCH], ids=["tiny-batch path", "batch path"])
def test_coordinate_pushed_past_the_guard_by_a_frame_conversion_fails_only_its_row(copies):
    # 3e153 is kept by the parser, but x / 1000 * width crosses 2**510 ~ 3.4e153.  Run on both
    # reward paths: 3 rows take the fused per-completion kernel, 3 * TINY_BATCH rows the batch one.
    big = "3e153"
    reward = get_iou_reward(coord_frame="norm1000", gt_frame="abs")
    completions = [det("500", "500"), det(big, big), det("400", "400")] * copies
    sol = [solution("50", "50")] * 3 * copies
    sizes = [100, 5000, 100] * copies
    got = reward(completions, solution=sol, width=sizes, height=sizes)
    assert got[1::3] == [0.0] * copies
    alone = reward([completions[0], completions[2]], solution=sol[:2], width=[100, 100], height=[100, 100])
    assert [got[0], got[2]] == alone
    gt_frame = get_iou_reward(coord_frame="abs", gt_frame="norm1000")
    got = gt_frame(
        [det("5", "5")] * 3 * copies,
        solution=[solution("50", "50"), solution(big, big), solution("50", "50")] * copies,
        width=sizes,
        height=sizes,
    )
    assert got[1::3] == [None] * copies and got[0::3] == got[2::3] == [1.0] * copies
