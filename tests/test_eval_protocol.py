"""protocol="visual_rft" against the re-statement of Visual-RFT's evaluation code
(tests/visual_rft_eval_reference.py: its inference-script parsing, coco_evaluation.py with
pycocotools, the notebook means, the LVIS notebook's area pooling with lvis-api), on generated
outputs with every glitch kind (tests/_visual_rft_outputs.py) and on random mutations of answers;
and the default-vs-Visual-RFT comparison every report carries."""

from __future__ import annotations

import contextlib
import io
import json
import math
import random

import numpy as np
import pytest

import _visual_rft_outputs as gen
import visual_rft_eval_reference as ref
from _pipeline_data import NAMES, lvis_api_compat, make_gt
from vrft_rewards.eval import detections_from_records, evaluate_detection
from vrft_rewards.eval.visual_rft_answers import rank_non_finite_scores

pytest.importorskip("pycocotools")


def _gt(seed: int, n_images: int = 30, lvis: bool = False) -> dict:
    gt = make_gt(np.random.default_rng(seed), n_images=n_images, crowd=0.0 if lvis else 0.05)
    if lvis:
        rng = random.Random(seed)
        for im in gt["images"]:
            present = {a["category_id"] for a in gt["annotations"] if a["image_id"] == im["id"]}
            absent = [c["id"] for c in gt["categories"] if c["id"] not in present]
            im["neg_category_ids"] = rng.sample(absent, min(2, len(absent)))
            im["not_exhaustive_category_ids"] = []
        for c in gt["categories"]:
            c["frequency"] = "rcf"[c["id"] % 3]
    return gt


def _reference_dets(records: list, gt: dict, crash_ok: bool = False) -> list:
    size = {im["id"]: (im["width"], im["height"]) for im in gt["images"]}
    out = []
    for r in records:
        w, h = size[r["image_id"]]
        dets = ref.answer_to_detections(r["completion"], r["image_id"], r["category_id"], w, h).dets
        if crash_ok:  # our policy: a box with a non-numeric Confidence is dropped
            dets = [d for d in dets if isinstance(d["score"], (bool, int, float))]
        out += dets
    return out


def _rows(dets: list) -> np.ndarray:
    return np.array(
        [[d["image_id"], *d["bbox"], float(d["score"]), d["category_id"]] for d in dets], dtype=np.float64
    ).reshape(-1, 7)


# -- reading the answers ------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(6))
def test_detections_equal_visual_rft_reading_on_every_glitch_kind(seed):
    gt = _gt(seed, n_images=60)
    records = gen.generate(gt, seed=seed, p_glitch=0.6, n_neg=2)
    assert {r["glitch"] for r in records} == set(gen.GLITCHES) | {gen.CLEAN}
    batch = detections_from_records(records, gt, protocol="visual_rft")
    expected = _rows(_reference_dets(records, gt))
    # Same rows, same order, same bits (pixels x / 1000.0 * W, scores).
    assert np.array_equal(batch.dets, expected)
    assert batch.protocol == "visual_rft" and len(batch.rule) == len(records)


@pytest.mark.parametrize("seed", range(4))
def test_chat_completions_and_tied_scores_read_the_same(seed):
    gt = _gt(seed + 10)
    records = gen.generate(gt, seed=seed, p_glitch=0.3, ties=True)
    for r in records[::2]:
        r["completion"] = [{"role": "user", "content": "x"}, {"role": "assistant", "content": r["completion"]}]
    texts = [r["completion"] if isinstance(r["completion"], str) else r["completion"][-1]["content"] for r in records]
    expected = _rows(_reference_dets([dict(r, completion=t) for r, t in zip(records, texts)], gt))
    assert np.array_equal(detections_from_records(records, gt, protocol="visual_rft").dets, expected)


_PIECES = [
    "<answer>",
    "</answer>",
    "<think>",
    "</think>",
    "[[",
    "]]",
    "\n",
    ", ...",
    "'",
    '"',
    "},",
    "}",
    "{",
    "[",
    "]",
    ",",
    " ",
    "'Confidence': ",
    "'Position': ",
    "NaN",
    "Infinity",
    "-0",
    "1e999",
    ".5",
    "true",
    "null",
    "'high'",
    "[1, 2, 3, 4]",
    "12345678901234567890",
    "No Objects",
]


def _mutate(rng: random.Random, text: str) -> str:
    """1-2 edits, mostly inside the answer block: insert a piece, delete a span, or (rarely) cut."""
    for _ in range(rng.randint(1, 2)):
        start = text.find("<answer>")
        lo = start if start >= 0 and rng.random() < 0.8 else 0
        i = rng.randint(lo, len(text))
        op = rng.random()
        if op < 0.6:
            text = text[:i] + rng.choice(_PIECES) + text[i:]
        elif op < 0.9:
            text = text[:i] + text[min(len(text), i + rng.randint(1, 6)) :]
        else:
            text = text[:i]
    return text


@pytest.mark.parametrize("seed", range(3))
def test_random_mutations_of_answers_read_as_visual_rft_reads_them(seed):
    """Adversarial answers: random insertions of tags, brackets, quotes, the repairs' patterns, odd
    numbers and literals, deletions and truncations of generated answers (~3,000 records a seed)."""
    gt = _gt(99 + seed, n_images=90)
    rng = random.Random(seed)
    records = [dict(r, completion=_mutate(rng, r["completion"])) for r in gen.generate(gt, seed=seed) for _ in range(8)]
    expected = [d for d in _reference_dets(records, gt, crash_ok=True) if all(map(math.isfinite, d["bbox"]))]
    batch = detections_from_records(records, gt, protocol="visual_rft")
    rows = _rows(expected)
    rows[:, 5] = rank_non_finite_scores(rows[:, 5])  # our policy: non-finite boxes dropped, scores ranked
    assert len(records) > 2000 and len(rows) > 300
    assert np.array_equal(batch.dets, rows)
    assert 0 < batch.counts["records_read_one_by_one"] < len(records)


@pytest.mark.parametrize(
    "completion, kept",
    [
        # D1: the first block wins, even an example inside <think>.
        (
            "<think>like <answer>[{'Position': [1, 1, 9, 9], 'Confidence': 0.5}]</answer></think>"
            "<answer>[{'Position': [100, 100, 500, 500], 'Confidence': 0.9}]</answer>",
            [0.5],
        ),
        # D2: truncated after <think>: the whole answer is lost.
        ("<think>a</think><answer>[{'Position': [1, 2, 300, 400], 'Confidence': 0.9}, {'Posi", []),
        # D3: a bare truncated list is repaired.
        ("[{'Position': [1, 2, 300, 400], 'Confidence': 0.9}, {'Position': [1, 2", [0.9]),
        # D5: text after the list drops the last item.
        (
            "<answer>[{'Position': [1, 2, 300, 400], 'Confidence': 0.9}, "
            "{'Position': [5, 6, 300, 400], 'Confidence': 0.8}] done</answer>",
            [0.9],
        ),
        # D9: a non-dict item anywhere loses the whole answer.
        ("<answer>[{'Position': [1, 2, 300, 400], 'Confidence': 0.9}, 7]</answer>", []),
        # D10 / D11: the items before a bad Position / a missing Confidence stay.
        (
            "<answer>[{'Position': [1, 2, 300, 400], 'Confidence': 0.9}, {'Position': [1, 2, 3]}, "
            "{'Position': [5, 6, 300, 400], 'Confidence': 0.8}]</answer>",
            [0.9],
        ),
        (
            "<answer>[{'Position': [1, 2, 300, 400], 'Confidence': 0.9}, {'Position': [5, 6, 300, 400]}, "
            "{'Position': [7, 6, 300, 400], 'Confidence': 0.8}]</answer>",
            [0.9],
        ),
        # D7: an apostrophe in a label breaks the JSON.
        ("<answer>[{'Position': [1, 2, 300, 400], 'Confidence': 0.9, 'label': 'dog's'}]</answer>", []),
        # D8: a first item that is a string: nothing.
        ("<answer>['dog', {'Position': [1, 2, 300, 400], 'Confidence': 0.9}]</answer>", []),
        # D19: [[ ]] and newlines are repaired on the whole text.
        ("<answer>[[{'Position': [1, 2, 300, 400],\n 'Confidence': 0.7}]]</answer>", [0.7]),
        # True is a number (1) for pycocotools.
        ("<answer>[{'Position': [1, 2, 300, 400], 'Confidence': true}]</answer>", [1.0]),
    ],
)
def test_each_reading_rule_on_a_hand_case(completion, kept):
    gt = {
        "images": [{"id": 1, "width": 640, "height": 480}],
        "annotations": [],
        "categories": [{"id": 1, "name": "dog"}],
    }
    recs = [{"image_id": 1, "category_id": 1, "completion": completion}]
    batch = detections_from_records(recs, gt, protocol="visual_rft")
    assert batch.dets[:, 5].tolist() == kept
    assert np.array_equal(batch.dets, _rows(_reference_dets(recs, gt)))


def test_non_numeric_confidence_is_dropped_where_visual_rft_crashes():
    gt = _gt(3)
    records = gen.generate(gt, seed=1, p_glitch=0.4, kinds=gen.CRASHING)
    with pytest.raises(ref.VisualRFTCrash):
        ref.coco_per_class(gt, _reference_dets(records, gt))
    batch = detections_from_records(records, gt, protocol="visual_rft")
    assert np.array_equal(batch.dets, _rows(_reference_dets(records, gt, crash_ok=True)))
    n_bad = sum(r["glitch"] in gen.CRASHING for r in records)
    assert batch.counts["non_numeric_confidence"] == n_bad > 0
    report = evaluate_detection(gt, records, protocol="visual_rft")
    assert any("non-numeric Confidence dropped" in n for n in report.notes)


def test_non_finite_confidences_rank_as_pycocotools_sorts_them():
    """NaN / Infinity confidences are kept by Visual-RFT; pycocotools sorts NaN last and +inf first.
    Our finite stand-ins give pycocotools' per-category AP on the raw values."""
    gt = _gt(4, n_images=20)
    records = gen.generate(gt, seed=4, p_glitch=0.0)
    rng = random.Random(4)
    for r in records:
        if rng.random() < 0.3:
            r["completion"] = r["completion"].replace(
                "'Confidence': 0.", f"'Confidence': {rng.choice(['NaN', 'Infinity', '-Infinity'])}, 'x': 0.", 1
            )
    dets = _reference_dets(records, gt)
    assert any(not math.isfinite(d["score"]) for d in dets)
    ap, ap50, _ = ref.coco_per_class(gt, dets)
    report = evaluate_detection(gt, records, protocol="visual_rft", categories=[c["id"] for c in gt["categories"]])
    for row in report.metrics["per_category"]:
        want = ap[row["name"]]
        assert (row["AP"] <= -1 and math.isnan(want)) or row["AP"] * 100 == want
    assert report.metrics["detections"]["non_finite_confidence"] > 0


# -- the numbers ------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(5))
def test_coco_per_category_ap_and_notebook_mean_equal_the_reference(seed):
    gt = _gt(seed + 20)
    records = gen.generate(gt, seed=seed, p_glitch=0.35, n_neg=2)
    names = [c["name"] for c in gt["categories"]]
    selected = names[: 3 + seed % 3] + (["toaster"] if seed % 2 else [])  # a name the GT lacks
    ap, ap50, _ = ref.coco_per_class(gt, _reference_dets(records, gt))
    report = evaluate_detection(gt, records, protocol="visual_rft", categories=",".join(selected))
    rows = {r["name"]: r for r in report.metrics["per_category"]}
    for name in selected:
        if name not in rows:
            continue
        for ours, want in ((rows[name]["AP"], ap[name]), (rows[name]["AP50"], ap50[name])):
            assert (ours <= -1 and math.isnan(want)) or ours * 100 == want
    want = ref.notebook_mean(ap, selected)
    ours = report.metrics["category_set"]["mean_AP"] * 100
    assert (math.isnan(want) and math.isnan(ours)) or ours == pytest.approx(want, abs=1e-9)


def test_never_queried_category_counts_as_zero_and_no_gt_makes_the_mean_nan():
    gt = _gt(31)
    queried = [1, 2, 3]
    records = [r for r in gen.generate(gt, seed=2, p_glitch=0.2) if r["category_id"] in queried]
    with_gt = sorted({a["category_id"] for a in gt["annotations"]})
    never = [c for c in with_gt if c not in queried][:1]
    selected = [NAMES[c - 1] for c in queried + never]
    ap, _, _ = ref.coco_per_class(gt, _reference_dets(records, gt))
    rep = evaluate_detection(gt, records, protocol="visual_rft", categories=selected)
    assert ap[NAMES[never[0] - 1]] == 0.0
    assert rep.metrics["category_set"]["not_queried"] == [NAMES[never[0] - 1]]
    assert rep.metrics["category_set"]["mean_AP"] * 100 == pytest.approx(ref.notebook_mean(ap, selected), abs=1e-9)
    default = evaluate_detection(gt, records, categories=selected)
    assert default.metrics["category_set"]["not_queried"] == [NAMES[never[0] - 1]]
    assert never[0] not in default.metrics["category_set"]["ids"]
    # A category of the set without GT: Visual-RFT's mean is NaN; ours leaves it out.
    gt2 = json.loads(json.dumps(gt))
    gt2["annotations"] = [a for a in gt2["annotations"] if a["category_id"] != 1]
    rep2 = evaluate_detection(gt2, records, protocol="visual_rft", categories=selected)
    assert math.isnan(rep2.metrics["category_set"]["mean_AP"])
    assert math.isfinite(evaluate_detection(gt2, records, categories=selected).metrics["category_set"]["mean_AP"])


@pytest.mark.parametrize("seed", range(3))
def test_lvis_per_category_ap_pools_the_area_ranges_as_the_notebook(seed):
    pytest.importorskip("lvis")
    gt = _gt(seed + 40, n_images=25, lvis=True)
    records = gen.generate(gt, seed=seed, p_glitch=0.3, neg_from_lvis=True)
    dets = _reference_dets(records, gt)
    with lvis_api_compat(), contextlib.redirect_stdout(io.StringIO()):
        pooled, _ = ref.lvis_per_class(gt, dets, pool_areas=True)
        area_all, _ = ref.lvis_per_class(gt, dets, pool_areas=False)
    report = evaluate_detection(gt, records, kind="lvis", protocol="visual_rft")
    assert any(not math.isclose(pooled[n], area_all[n]) for n in pooled if not math.isnan(pooled[n]))
    for row in report.metrics["per_category"]:
        want = pooled[row["name"]]
        assert (row["AP"] <= -1 and math.isnan(want)) or row["AP"] * 100 == want
        want_all = area_all[row["name"]]
        assert (row["AP_area_all"] <= -1 and math.isnan(want_all)) or row["AP_area_all"] * 100 == want_all
    names = [r["name"] for r in report.metrics["per_category"]]
    want = ref.lvis_mean(pooled, names)
    ours = report.metrics["category_set"]["mean_AP"] * 100
    assert (math.isnan(want) and math.isnan(ours)) or ours == pytest.approx(want, abs=1e-9)


# -- the comparison in every report -------------------------------------------------------------------
def test_the_report_says_by_how_much_and_why_the_protocols_differ():
    gt = {
        "images": [{"id": 1, "width": 1000, "height": 1000}],
        "annotations": [
            {"id": k, "image_id": 1, "category_id": 1, "bbox": [100 * k, 100, 80, 80], "area": 6400, "iscrowd": 0}
            for k in range(1, 4)
        ],
        "categories": [{"id": 1, "name": "dog"}],
    }
    item = "{'Position': [%d, 100, %d, 180], 'Confidence': %s}"
    no_conf = "{'Position': [%d, 100, %d, 180]}"
    completion = (
        "<answer>[" + ", ".join([item % (100, 180, 0.9), no_conf % (200, 280), item % (300, 380, 0.7)]) + "]</answer>"
    )
    recs = [{"image_id": 1, "category": "dog", "completion": completion}]
    report = evaluate_detection(gt, recs)
    assert report.protocol == "default" and report.to_dict()["protocol"] == "default"
    cmp = report.metrics["protocol_comparison"]
    assert cmp["records_differing"] == 1
    assert cmp["boxes_only_default"] == 2 and cmp["boxes_only_visual_rft"] == 0
    rule = [r for r in cmp["by_rule"] if r["records_differing"]]
    assert len(rule) == 1 and rule[0]["rule"].startswith("D11")
    assert cmp["mean_AP"]["default"] > cmp["mean_AP"]["visual_rft"]
    assert cmp["steps"]["reading answers"] == pytest.approx(cmp["difference"])
    assert "Protocol: `default`" in report.markdown()
    vr = evaluate_detection(gt, recs, protocol="visual-rft")
    assert vr.metrics["protocol"] == "visual_rft"
    assert vr.metrics["protocol_comparison"]["mean_AP"] == cmp["mean_AP"]


def test_the_protocol_refuses_options_that_change_how_answers_are_read():
    gt = _gt(0, n_images=2)
    recs = [{"image_id": 1, "category_id": 1, "completion": "<answer>[]</answer>"}]
    for kw in ({"frame": "abs"}, {"default_score": 0.5}, {"dedupe": False}, {"require_tags": False}):
        with pytest.raises(ValueError, match="protocol='visual_rft'"):
            evaluate_detection(gt, recs, protocol="visual_rft", **kw)
    with pytest.raises(ValueError, match="protocol must be one of"):
        evaluate_detection(gt, recs, protocol="paper")


def test_parse_table_boxes_are_the_kept_boxes():
    gt = _gt(1, n_images=3)
    box = "{'Position': [10, 10, 50, 50], 'Confidence': 0.9}"
    recs = [{"image_id": 1, "category_id": 1, "completion": f"<answer>[{box}, {box}]</answer>"}]
    parse = evaluate_detection(gt, recs).parse
    assert (parse["boxes_read"], parse["boxes"]) == (2, 1)  # the duplicate is not kept
