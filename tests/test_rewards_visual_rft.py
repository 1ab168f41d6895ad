"""The Visual-RFT presets give the original reward values on well-formed answers.

The reference is bench/visual_rft_reference.py, a rule-for-rule plain-Python re-implementation of
Visual-RFT's reward functions (grpo.py, grpo_classification.py, grpo_lisa.py).  Completions are
generated from seeds: random ground truth, jittered / duplicated / extra / inverted predictions,
tied confidences, both quote styles, free key order, integer and decimal coordinates.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from vrft_rewards.rewards import visual_rft_rewards

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import visual_rft_reference as ref  # noqa: E402


def _number(v: float, rng) -> str:
    return str(int(v)) if float(v).is_integer() and rng.random() < 0.8 else repr(float(v))


def _box_item(box, conf, rng) -> str:
    q = "'" if rng.random() < 0.7 else '"'
    pos = "[" + ", ".join(_number(v, rng) for v in box) + "]"
    parts = [f"{q}Position{q}: {pos}", f"{q}Confidence{q}: {_number(conf, rng)}"]
    if rng.random() < 0.2:
        parts.reverse()
    return "{" + (", " if rng.random() < 0.8 else ",").join(parts) + "}"


def _answer(items) -> str:
    return "[" + ", ".join(items) + "]"


def _detection_case(rng):
    n_gt = int(rng.integers(0, 6))
    xy = rng.integers(0, 800, (n_gt, 2))
    gt = np.concatenate([xy, xy + rng.integers(1, 200, (n_gt, 2))], axis=1).astype(float)
    sol = "<answer>" + _answer([_box_item(b, 1, rng) for b in gt]) + "</answer>"
    preds, confs = [], []
    for _ in range(int(rng.integers(0, 10))):
        r = rng.random()
        if r < 0.5 and n_gt:
            b = gt[rng.integers(0, n_gt)] + rng.integers(-40, 40, 4)
            if rng.random() < 0.3:
                b = b + np.round(rng.normal(0, 3, 4), 1)
        elif r < 0.65 and preds:
            b = preds[int(rng.integers(0, len(preds)))].copy()  # exact duplicate
        else:
            xy1 = rng.integers(0, 900, 2)
            b = np.concatenate([xy1, xy1 + rng.integers(1, 300, 2)]).astype(float)
        if rng.random() < 0.05:
            b = b[[2, 3, 0, 1]]  # inverted
        preds.append(np.asarray(b, dtype=float))
        confs.append(
            float(rng.choice([0.3, 0.5, 0.8, 0.9, 1.0])) if rng.random() < 0.5 else round(float(rng.random()), 2)
        )
    body = _answer([_box_item(b, c, rng) for b, c in zip(preds, confs)])
    think = "<think>" + "reasoning " * int(rng.integers(0, 4)) + "</think>"
    sep = str(rng.choice(["", " ", "\n", "\n\n"]))
    return think + sep + "<answer>" + body + "</answer>", sol


@pytest.mark.parametrize("seed", range(20))
def test_detection_preset_equals_visual_rft_on_well_formed_answers(seed):
    rng = np.random.default_rng(seed)
    cases = [_detection_case(rng) for _ in range(100)]
    completions = [[{"role": "assistant", "content": c}] for c, _ in cases]
    solution = [s for _, s in cases]
    iou_f, conf_f, fmt_f = visual_rft_rewards("detection")
    # Exact equality: same float operations in the same order as the original.
    assert iou_f(completions, solution=solution) == ref.iou_reward(completions, solution)
    assert conf_f(completions, solution=solution) == ref.confidence_reward(completions, solution)
    assert fmt_f(completions, solution=solution) == ref.format_reward(completions)


@pytest.mark.parametrize("seed", range(5))
def test_detection_preset_equals_visual_rft_one_sample_at_a_time(seed):
    # The per-sample calls of verl's Reward Loop, OpenRLHF and ms-swift take the tiny-batch path.
    rng = np.random.default_rng(50 + seed)
    cases = [_detection_case(rng) for _ in range(60)]
    iou_f, conf_f, fmt_f = visual_rft_rewards("detection")
    for text, sol in cases:
        for completion in (text, [{"role": "assistant", "content": text}]):
            assert iou_f([completion], solution=[sol]) == ref.iou_reward([completion], [sol])
            assert conf_f([completion], solution=[sol]) == ref.confidence_reward([completion], [sol])
            assert fmt_f([completion], solution=[sol]) == ref.format_reward([completion])


def _class_case(rng, names):
    gt = str(rng.choice(names))
    r = rng.random()
    if r < 0.3:
        ans = gt
    elif r < 0.45:
        ans = gt.upper().replace(" ", "_")
    elif r < 0.6:
        ans = gt[: int(rng.integers(0, len(gt) + 1))]  # truncated, possibly empty
    elif r < 0.75:
        ans = ", ".join(rng.choice(names, 3))
    else:
        ans = str(rng.choice(names))
    tagged = rng.random() < 0.85
    text = f"<think>hmm</think><answer> {ans} </answer>" if tagged else f" {ans} "
    sol = f"<answer>{gt}</answer>" if rng.random() < 0.5 else gt
    return text, sol


@pytest.mark.parametrize("seed", range(10))
def test_classification_preset_equals_visual_rft(seed):
    rng = np.random.default_rng(100 + seed)
    names = [
        "Boeing 737-200",
        "boeing_747",
        "Airbus A320",
        "cat",
        "Siamese cat",
        "Golden Retriever",
        "Ćevapi plate",
        "F-16A/B",
    ]
    cases = [_class_case(rng, names) for _ in range(100)]
    completions = [c for c, _ in cases]
    solution = [s for _, s in cases]
    acc, fmt = visual_rft_rewards("classification")
    assert acc(completions, solution=solution) == ref.classification_reward(completions, solution)
    assert fmt(completions, solution=solution) == ref.format_reward(completions)


def _lisa_case(rng):
    def box():
        x1, y1 = rng.integers(0, 900, 2)
        return [int(x1), int(y1), int(x1 + rng.integers(1, 100)), int(y1 + rng.integers(1, 100))]

    def text(b):
        s1, s2 = (" " if rng.random() < 0.3 else ""), (" " if rng.random() < 0.3 else "")
        return f"({b[0]},{s1}{b[1]}),{s2}({b[2]},{b[3]})"

    g = box()
    p = g if rng.random() < 0.2 else [int(v) for v in np.clip(np.array(g) + rng.integers(-30, 30, 4), 0, 1000)]
    if p[2] <= p[0] or p[3] <= p[1]:
        p = box()
    sol = "<answer> " + text(g) + " </answer>"
    comp = "<think>find it</think>\n<answer>" + text(p) + "</answer>"
    return comp, sol


@pytest.mark.parametrize("seed", range(10))
def test_grounding_preset_equals_visual_rft_lisa_for_single_boxes(seed):
    rng = np.random.default_rng(200 + seed)
    cases = [_lisa_case(rng) for _ in range(100)]
    completions = [c for c, _ in cases]
    solution = [s for _, s in cases]
    acc, _ = visual_rft_rewards("grounding")
    assert acc(completions, solution=solution) == ref.lisa_grounding_reward(completions, solution)


# Documented differences from the original (docs/rewards.md), one per row: the original's value,
# then ours.  Each is a bug or brittleness of the original that our parser does not share.
SOL = "<answer>[{'Position': [0, 0, 10, 10], 'Confidence': 1}]</answer>"
DIFFERENCES = [
    # a newline inside the answer: the original's regex has no DOTALL and scores 0
    ("<think>a</think><answer>\n[{'Position': [0, 0, 10, 10], 'Confidence': 0.9}]</answer>", 0.0, 1.0),
    # a prompt echo inside the reasoning: the original reads the first <answer> block
    (
        "<think>format: <answer>[{'Position': [50, 50, 60, 60], 'Confidence': 1}]</answer></think>"
        "<answer>[{'Position': [0, 0, 10, 10], 'Confidence': 0.9}]</answer>",
        0.0,
        1.0,
    ),
]


@pytest.mark.parametrize("completion,original,ours", DIFFERENCES)
def test_documented_differences_from_the_original_detection_reward(completion, original, ours):
    assert ref.iou_reward([completion], [SOL]) == [original]
    assert visual_rft_rewards("detection")[0]([completion], solution=[SOL]) == [ours]


def test_lisa_several_boxes_use_the_first_box_not_mixed_corners():
    # The original pairs the top-left corners of the first two boxes (visual_rft.md §4).
    comp = "<answer>(100,100),(200,200),(500,500),(600,600)</answer>"
    sol = "<answer> (100,100),(200,200) </answer>"
    assert ref.lisa_grounding_reward([comp], [sol])[0] < 2.0
    assert visual_rft_rewards("grounding")[0]([comp], solution=[sol]) == [2.0]
