"""GRPO reward step: our detection preset and AP reward vs the field's Python implementations.

Anchors, each asserting the same values as ours on the same seeded step:
* Visual-RFT's reward functions as plain Python (bench/visual_rft_reference.py: regex + json per
  completion, greedy matching in Python), no math_verify;
* per-sample pycocotools AP (VLM-R1's ``map_reward`` style: a COCO + COCOeval per completion).
Our calls run with the parse cache cleared before every round, so each round parses from scratch.
"""

from __future__ import annotations

import contextlib
import io

import pytest

import visual_rft_reference as ref
from _reward_workloads import detection_step
from vrft_rewards.rewards import clear_parse_cache, get_ap_reward, visual_rft_rewards


def _step(n_prompts):
    completions, solutions, gts = detection_step(n_prompts)
    return completions, solutions, gts


@pytest.fixture(scope="module")
def step_4096(full_size):
    return _step(512 if full_size else 16)


def _ours_detection(completions, solutions):
    return [f(completions, solution=solutions) for f in visual_rft_rewards("detection")]


def _reference_detection(completions, solutions):
    return [
        ref.iou_reward(completions, solutions),
        ref.confidence_reward(completions, solutions),
        ref.format_reward(completions),
    ]


@pytest.mark.benchmark(group="grpo-step-detection-4096")
def test_detection_step_ours(benchmark, step_4096):
    completions, solutions, _ = step_4096
    out = benchmark.pedantic(
        _ours_detection, args=(completions, solutions), setup=clear_parse_cache, rounds=20, warmup_rounds=1
    )
    assert out == _reference_detection(completions, solutions)


@pytest.mark.benchmark(group="grpo-step-detection-4096")
def test_detection_step_visual_rft_python(benchmark, step_4096):
    completions, solutions, _ = step_4096
    out = benchmark.pedantic(_reference_detection, args=(completions, solutions), rounds=3)
    assert out[2] == [1.0] * len(completions)


@pytest.mark.benchmark(group="grpo-step-detection-65536")
def test_detection_step_65536_ours(benchmark, full_size):
    completions, solutions, _ = _step(8192 if full_size else 8)
    out = benchmark.pedantic(
        _ours_detection, args=(completions, solutions), setup=clear_parse_cache, rounds=5, warmup_rounds=1
    )
    assert len(out[0]) == len(completions)


def _pycocotools_ap(completions, gts):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    out = []
    for comp, gt in zip(completions, gts):
        pred = ref.extract_bbox(comp[0]["content"])
        with contextlib.redirect_stdout(io.StringIO()):
            coco = COCO()
            coco.dataset = dict(
                images=[dict(id=1)],
                categories=[dict(id=1)],
                annotations=[
                    dict(
                        id=i + 1,
                        image_id=1,
                        category_id=1,
                        iscrowd=0,
                        bbox=[float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])],
                        area=float((b[2] - b[0]) * (b[3] - b[1])),
                    )
                    for i, b in enumerate(gt)
                ],
            )
            coco.createIndex()
            dets = coco.loadRes(
                [
                    dict(
                        image_id=1,
                        category_id=1,
                        score=p["Confidence"],
                        bbox=[
                            p["Position"][0],
                            p["Position"][1],
                            p["Position"][2] - p["Position"][0],
                            p["Position"][3] - p["Position"][1],
                        ],
                    )
                    for p in pred
                ]
            )
            ev = COCOeval(coco, dets, "bbox")
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
        out.append(max(float(ev.stats[0]), 0.0))
    return out


@pytest.fixture(scope="module")
def ap_step(full_size):
    return _step(512 if full_size else 4)


@pytest.mark.benchmark(group="grpo-step-ap-4096")
def test_ap_reward_ours(benchmark, ap_step):
    completions, _, gts = ap_step
    reward = get_ap_reward()
    gt_boxes = [g.tolist() for g in gts]
    out = benchmark.pedantic(
        reward, args=(completions,), kwargs=dict(gt_boxes=gt_boxes), setup=clear_parse_cache, rounds=20, warmup_rounds=1
    )
    assert out == _pycocotools_ap(completions[:64], gts[:64]) + out[64:]


@pytest.mark.benchmark(group="grpo-step-ap-4096")
def test_ap_reward_pycocotools_per_sample(benchmark, ap_step):
    completions, _, gts = ap_step
    out = benchmark.pedantic(_pycocotools_ap, args=(completions, gts), rounds=1)
    assert out == get_ap_reward()(completions, gt_boxes=[g.tolist() for g in gts])
