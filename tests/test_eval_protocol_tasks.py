"""protocol="visual_rft" for classification and grounding against the re-statement of Visual-RFT's
scripts (tests/visual_rft_eval_reference.py), on random and adversarial answers."""

from __future__ import annotations

import random
import warnings

import numpy as np
import pytest

import visual_rft_eval_reference as ref
from vrft_rewards.eval import evaluate_classification, evaluate_grounding

CLASSES = ["Boeing 737-200", "Cessna 172", "A320", "DHC-8-100", "F_16A/B", "Tu-154"]


def _class_answer(rng: random.Random, label: str) -> str:
    name = rng.choice([label, rng.choice(CLASSES), "", label.lower(), label.replace(" ", "_"), label[:4],
                       label + " or " + rng.choice(CLASSES), label.replace(" ", "\t")])  # fmt: skip
    think = rng.choice(["", "<think>it is a plane</think>", "<think>maybe <answer>A320</answer></think>"])
    form = rng.random()
    if form < 0.5:
        return f"{think}<answer>{name}</answer>"
    if form < 0.6:
        return f"{think}<answer>{rng.choice(CLASSES)}</answer> <answer>{name}</answer>"  # two blocks
    if form < 0.7:
        return f"{think}<answer>{name}\n</answer>"  # a newline inside: no match without DOTALL
    if form < 0.8:
        return f"{think} {name}"  # no tags
    if form < 0.9:
        return f"{think}<answer>{name}"  # unclosed
    return f"<answer> {name} </answer>"


@pytest.mark.parametrize("seed", range(5))
def test_classification_judged_as_visual_rft_judges(seed):
    rng = random.Random(seed)
    recs = []
    for _ in range(400):
        label = rng.choice(CLASSES)
        recs.append({"completion": _class_answer(rng, label), "label": label})
    report = evaluate_classification(recs, protocol="visual_rft", classes=CLASSES)
    want = np.array([bool(ref.classification_correct(r["completion"], r["label"])) for r in recs])
    assert np.array_equal(report.arrays["correct"], want)
    assert report.metrics["accuracy"] == float(want.mean())
    cmp = report.metrics["protocol_comparison"]
    default = evaluate_classification(recs, compare_protocols=False)
    assert cmp["accuracy"] == {"default": default.metrics["accuracy"], "visual_rft": float(want.mean())}
    differs = default.arrays["correct"] != want
    assert cmp["records_differing"] == int(differs.sum()) > 0
    assert sum(r["records_differing"] for r in cmp["by_reason"]) == int(differs.sum())
    assert report.protocol == "visual_rft" and report.to_dict()["protocol"] == "visual_rft"


def test_classification_protocol_refuses_options_it_fixes():
    recs = [{"completion": "<answer>cat</answer>", "label": "cat"}]
    for kw in ({"mode": "choice"}, {"aliases": {"cat": ["kitty"]}}, {"require_tags": False}):
        with pytest.raises(ValueError, match="protocol='visual_rft'"):
            evaluate_classification(recs, protocol="visual_rft", **kw)


def _ground_answer(rng: random.Random, box: list) -> str:
    x1, y1, x2, y2 = box
    pair = f"({x1},{y1}),({x2},{y2})"
    other = f"({rng.randint(0, 500)}, {rng.randint(0, 500)}), ({rng.randint(500, 1000)},{rng.randint(500, 1000)})"
    form = rng.random()
    if form < 0.4:
        return f"<think>the object</think><answer>{pair}</answer>"
    if form < 0.5:
        return f"<think>first guess {other}</think><answer>{pair}</answer>"  # Visual-RFT reads the guess
    if form < 0.6:
        return f"<answer>({x1}.5,{y1}),({x2},{y2})</answer>"  # decimals: no integer pair for Visual-RFT
    if form < 0.7:
        return f"<answer>{pair} and {other}</answer>"
    if form < 0.8:
        return f"<answer>[{x1}, {y1}, {x2}, {y2}]</answer>"
    if form < 0.9:
        return f"<answer>({x2},{y2}),({x1},{y1})</answer>"  # inverted
    return "<answer>nothing</answer>"


@pytest.mark.parametrize("seed", range(5))
def test_grounding_box_iou_equals_visual_rft_lisa_script(seed):
    rng = random.Random(seed)
    recs, want = [], []
    for i in range(300):
        w, h = rng.randint(200, 1600), rng.randint(200, 1200)
        gx, gy = rng.uniform(0, w * 0.6), rng.uniform(0, h * 0.6)
        gbox = [gx, gy, gx + rng.uniform(5, w * 0.4), gy + rng.uniform(5, h * 0.4)]
        size = [w, h, w, h]
        pbox = [max(0, round(v / s * 1000) + rng.randint(-30, 30)) for v, s in zip(gbox, size)]
        prompt = rng.choice([None, "Locate the object; answer as (x1,y1),(x2,y2).", "Example: (1,2),(3,4)."])
        rec = {"id": i, "completion": _ground_answer(rng, pbox), "width": w, "height": h, "box": gbox}
        if prompt is not None:
            rec["prompt"] = prompt
        recs.append(rec)
        want.append(ref.lisa_box_iou((prompt or "") + rec["completion"], gbox, w, h))
    report = evaluate_grounding(recs, protocol="visual_rft")
    assert report.arrays["iou"].tolist() == want
    assert report.metrics["mIoU"] == float(np.mean(want))
    assert report.metrics["acc"]["0.75"] == float(np.mean(np.array(want) >= 0.75))
    cmp = report.metrics["protocol_comparison"]
    assert cmp["mIoU"]["visual_rft"] == report.metrics["mIoU"]
    assert cmp["mIoU"]["default"] == evaluate_grounding(recs, compare_protocols=False).metrics["mIoU"]
    assert sum(r["records"] for r in cmp["by_reason"]) == len(recs)


def test_grounding_masks_use_the_first_polygon_and_the_epsilon():
    pytest.importorskip("pycocotools")
    from pycocotools import mask as mask_utils

    w, h = 200, 100
    polys = [[10, 10, 60, 10, 60, 60, 10, 60], [120, 20, 180, 20, 180, 80, 120, 80]]
    rec = {"completion": "<answer>(50,100),(300,600)</answer>", "width": w, "height": h, "segmentation": polys}
    rep = evaluate_grounding([rec], protocol="visual_rft")
    with warnings.catch_warnings():  # pycocotools' decode on numpy 2
        warnings.simplefilter("ignore", DeprecationWarning)
        first = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(polys[:1], h, w))).astype(bool)
    box = np.zeros((h, w), bool)
    box[10:60, 10:60] = True  # (50, 100)-(300, 600) on 0..1000 is x 10..60, y 10..60
    inter, union = (first & box).sum(), (first | box).sum()
    assert rep.metrics["gIoU"] == inter / (union + 1e-6)
    assert rep.metrics["cIoU"] == inter / (union + 1e-6)
    default = evaluate_grounding([rec])
    assert default.metrics["gIoU"] < rep.metrics["gIoU"]  # both polygons in the union
    assert set(default.metrics["protocol_comparison"]["gIoU"]) == {"default", "visual_rft"}


def test_grounding_breakdown_by_query_length_image_size_and_object_size():
    recs = []
    for q, sent, w, h, iou_box in (
        ("the dog", False, 400, 300, [0, 0, 100, 100]),
        ("what would keep me warm on a cold night in this room", True, 2000, 1500, [0, 0, 10, 10]),
        ("the red cup on the left", False, 1000, 900, [0, 0, 500, 500]),
    ):
        recs.append(
            {
                "completion": "<answer>(0,0),(250,333)</answer>",
                "width": w,
                "height": h,
                "box": iou_box,
                "query": q,
                "is_sentence": sent,
            }
        )
    rep = evaluate_grounding(recs)
    b = rep.metrics["breakdown"]
    iou = rep.arrays["iou"]
    assert [r["n"] for r in b["query_type"]] == [2, 1]
    assert b["query_type"][1]["mean_IoU"] == iou[1]
    assert [r["n"] for r in b["query_words"]] == [1, 1, 0, 1, 0]
    assert [r["n"] for r in b["image_pixels"]] == [1, 1, 1, 0]  # 120,000 / 900,000 / 3,000,000 px
    assert [r["n"] for r in b["object_area"]] == [1, 0, 2]
    assert b["image_pixels"][0]["acc@0.5"] == float(iou[0] >= 0.5)
    titles = [t[0] for t in rep.tables]
    assert "Grounding by query length" in titles and "Grounding by image size" in titles
