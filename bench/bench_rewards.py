"""GRPO reward step: our detection preset and AP reward vs the field's Python implementations.

Anchors, each asserting the same values as ours on the same seeded step:
* Visual-RFT's reward functions as plain Python (bench/visual_rft_reference.py: regex + json per
  completion, greedy matching in Python), no math_verify;
* per-sample pycocotools AP (VLM-R1's ``map_reward`` style: a COCO + COCOeval per completion).
Our calls run with the parse cache cleared before every round, so each round parses from scratch.

Calling patterns (2,000 Visual-RFT detection samples, ``per-sample-*`` / ``per-batch-*`` groups):
trainers call rewards either one sample at a time (verl's Reward Loop: ``compute_score`` per
sample; OpenRLHF: one request per sample; ms-swift: each reward function on one sample) or per
batch (TRL: each function on the process's batch; EasyR1 and verl's legacy ``batch`` manager:
the batch form).  Each group runs ours beside Visual-RFT's functions called the same way; every
timed call covers all 2,000 samples, so the median / 2,000 is the cost per completion.  The
``tiny-vs-batch-B`` groups time the tiny-batch path against the batch path at batch size B (the
measurement behind ``vrft_rewards.rewards._tiny.TINY_BATCH``).
"""

from __future__ import annotations

import contextlib
import io

import pytest

import visual_rft_reference as ref
from _reward_workloads import detection_step
from vrft_rewards.integrations.verl import compute_score
from vrft_rewards.rewards import RewardSet, clear_parse_cache, get_ap_reward, get_preset, visual_rft_rewards
from vrft_rewards.rewards._base import to_reward_list


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


# ---- calling patterns: per sample and per batch ----------------------------------------------------


@pytest.fixture(scope="module")
def samples_2000(full_size):
    completions, solutions, _ = _step(250 if full_size else 4)
    reference = _reference_detection(completions, solutions)
    return completions, solutions, reference


def _each(completions, solutions, funcs, text=False):
    """Every function called on one sample at a time (ms-swift; verl / OpenRLHF with functions);
    ``text``: plain strings, as ms-swift and verl pass them."""
    out = [[] for _ in funcs]
    for c, s in zip(completions, solutions):
        one, sol = [c[0]["content"] if text else c], [s]
        for col, f in zip(out, funcs):
            col += f(one, solution=sol)
    return out


@pytest.mark.benchmark(group="per-sample-2000")
def test_per_sample_visual_rft_functions_ours(benchmark, samples_2000):
    completions, solutions, reference = samples_2000
    funcs = visual_rft_rewards("detection")
    out = benchmark.pedantic(_each, args=(completions, solutions, funcs), setup=clear_parse_cache, rounds=10)
    assert out == reference


@pytest.mark.benchmark(group="per-sample-2000")
def test_per_sample_visual_rft_functions_strings_ours(benchmark, samples_2000):
    completions, solutions, reference = samples_2000
    funcs = visual_rft_rewards("detection")
    out = benchmark.pedantic(_each, args=(completions, solutions, funcs, True), setup=clear_parse_cache, rounds=10)
    assert out == reference


@pytest.mark.benchmark(group="per-sample-2000")
def test_per_sample_detection_preset_ours(benchmark, samples_2000):
    completions, solutions, _ = samples_2000
    funcs = get_preset("detection")
    out = benchmark.pedantic(_each, args=(completions, solutions, funcs), setup=clear_parse_cache, rounds=10)
    assert out == [f(completions, solution=solutions) for f in funcs]


@pytest.mark.benchmark(group="per-sample-2000")
def test_per_sample_reward_set_ours(benchmark, samples_2000):
    completions, solutions, reference = samples_2000
    rs = RewardSet(visual_rft_rewards("detection"))

    def run():
        return [rs([c], solution=[s]) for c, s in zip(completions, solutions)]

    out = benchmark.pedantic(run, setup=clear_parse_cache, rounds=10)
    assert [r.matrix[0].tolist() for r in out] == [list(v) for v in zip(*reference)]


@pytest.mark.benchmark(group="per-sample-2000")
def test_per_sample_verl_compute_score_ours(benchmark, samples_2000):
    completions, solutions, reference = samples_2000

    def run():
        return [
            compute_score("det", c[0]["content"], s, None, task="visual_rft/detection")
            for c, s in zip(completions, solutions)
        ]

    out = benchmark.pedantic(run, setup=clear_parse_cache, rounds=10)
    assert [d["accuracy_reward_iou"] for d in out] == reference[0]


@pytest.mark.benchmark(group="per-sample-2000")
def test_per_sample_visual_rft_python(benchmark, samples_2000):
    completions, solutions, reference = samples_2000

    def run():
        return _each(completions, solutions, (ref.iou_reward, _ref_confidence, _ref_format))

    out = benchmark.pedantic(run, rounds=3)
    assert out == reference


def _ref_confidence(completions, solution, **kwargs):
    return ref.confidence_reward(completions, solution)


def _ref_format(completions, **kwargs):
    return ref.format_reward(completions)


@pytest.mark.benchmark(group="per-batch-2000")
def test_per_batch_visual_rft_functions_ours(benchmark, samples_2000):
    completions, solutions, reference = samples_2000
    out = benchmark.pedantic(
        _ours_detection, args=(completions, solutions), setup=clear_parse_cache, rounds=20, warmup_rounds=1
    )
    assert out == reference


@pytest.mark.benchmark(group="per-batch-2000")
def test_per_batch_reward_set_ours(benchmark, samples_2000):
    completions, solutions, reference = samples_2000
    rs = RewardSet(visual_rft_rewards("detection"))
    out = benchmark.pedantic(
        rs, args=(completions,), kwargs=dict(solution=solutions), setup=clear_parse_cache, rounds=20
    )
    assert out.matrix.T.tolist() == reference


@pytest.mark.benchmark(group="per-batch-2000")
def test_per_batch_verl_compute_score_ours(benchmark, samples_2000):
    completions, solutions, reference = samples_2000
    texts = [c[0]["content"] for c in completions]

    def run():
        n = len(texts)
        return compute_score(
            data_sources=["det"] * n,
            solution_strs=texts,
            ground_truths=solutions,
            extra_infos=[None] * n,
            task="visual_rft/detection",
        )

    out = benchmark.pedantic(run, setup=clear_parse_cache, rounds=20)
    assert [d["accuracy_reward_iou"] for d in out] == reference[0]


@pytest.mark.benchmark(group="per-batch-2000")
def test_per_batch_visual_rft_python(benchmark, samples_2000):
    completions, solutions, reference = samples_2000
    out = benchmark.pedantic(_reference_detection, args=(completions, solutions), rounds=3)
    assert out == reference


# ---- the tiny-batch threshold: the same B through each path ------------------------------------------


def _chunks(completions, solutions, b, path):
    funcs = visual_rft_rewards("detection")
    out = [[] for _ in funcs]
    for i in range(0, len(completions), b):
        c, cols = completions[i : i + b], {"solution": solutions[i : i + b]}
        for col, f in zip(out, funcs):
            col += f._tiny(c, cols) if path == "tiny" else to_reward_list(f._score_and_log(c, cols))
    return out


@pytest.mark.parametrize("b", [1, 4, 16, 32, 64, 128])
@pytest.mark.parametrize("path", ["tiny", "batch"])
def test_tiny_vs_batch_ours(benchmark, samples_2000, b, path):
    completions, solutions, reference = samples_2000
    benchmark.group = f"tiny-vs-batch-{b:03d}"
    out = benchmark.pedantic(_chunks, args=(completions, solutions, b, path), setup=clear_parse_cache, rounds=5)
    assert out == reference
