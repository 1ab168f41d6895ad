"""From model outputs to COCO metrics: ours vs Visual-RFT's evaluation script (issue 6).

Workload: a seeded COCO-format GT (full: 1000 images, 8 categories -> 8000 per-prompt
completions in Visual-RFT's answer format with 0..1000 coordinates; as tests: 60 images).

* group ``outputs-to-detections``: completions -> the (N, 7) detection array in pixels.
  Ours: ``detections_from_records`` (one native parse, vectorised dedupe and conversion).
  Anchor: Visual-RFT's ``Qwen2_VL_coco_infere.py`` text handling per completion (``replace``
  repairs, ``re.search``, ``extract_bbox`` with ``json.loads``, ``remove_duplicates``,
  ``trans_bbox``), rewritten in ``_visual_rft_detections``.
* group ``outputs-to-metrics``: the same plus the evaluation; ours: ``evaluate_detection``
  (native COCO engine); anchor: the script's detections + pycocotools ``COCOeval``.

Every competitor asserts its result equals the expected detections / pycocotools' stats.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from visual_rft_reference import extract_bbox, remove_duplicates  # noqa: E402
from vrft_rewards.eval import detections_from_records, evaluate_detection  # noqa: E402

pycocotools = pytest.importorskip("pycocotools")

CATS = ["bus", "train", "fire hydrant", "stop sign", "cat", "dog", "bed", "toilet"]
_ANSWER = re.compile(r"<answer>(.*?)</answer>")


def _workload(n_images: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    images, anns, records = [], [], []
    for i in range(1, n_images + 1):
        w, h = int(rng.choice([640, 800, 1024])), int(rng.choice([480, 600, 768]))
        images.append({"id": i, "width": w, "height": h})
        for c in range(1, len(CATS) + 1):
            gts = []
            for _ in range(int(rng.integers(0, 3))):
                bw, bh = float(rng.uniform(10, w / 3)), float(rng.uniform(10, h / 3))
                x, y = float(rng.uniform(0, w - bw)), float(rng.uniform(0, h - bh))
                anns.append(
                    {
                        "id": len(anns) + 1,
                        "image_id": i,
                        "category_id": c,
                        "bbox": [x, y, bw, bh],
                        "area": bw * bh,
                        "iscrowd": 0,
                    }
                )
                gts.append([x, y, x + bw, y + bh])
            items = []
            for x1, y1, x2, y2 in gts:
                j = rng.integers(-15, 16, 4)
                box = [
                    int(round(x1 / w * 1000)) + j[0],
                    int(round(y1 / h * 1000)) + j[1],
                    int(round(x2 / w * 1000)) + j[2],
                    int(round(y2 / h * 1000)) + j[3],
                ]
                items.append("{'Position': [%d, %d, %d, %d], 'Confidence': %.2f}" % (*box, rng.uniform(0.3, 1)))
            if rng.random() < 0.3:
                x, y = rng.integers(0, 800, 2)
                items.append(
                    "{'Position': [%d, %d, %d, %d], 'Confidence': %.2f}" % (x, y, x + 90, y + 70, rng.uniform(0, 0.6))
                )
            answer = "[" + ", ".join(items) + "]" if items else "No Objects"
            think = " ".join(["I", "look", "for", "the", CATS[c - 1], "in", "the", "image"] * 4)
            records.append(
                {
                    "image_id": i,
                    "category": CATS[c - 1],
                    "completion": f"<think>{think}</think> <answer>{answer}</answer>",
                }
            )
    gt = {"images": images, "annotations": anns, "categories": [{"id": k + 1, "name": n} for k, n in enumerate(CATS)]}
    return gt, records


def _visual_rft_detections(records, gt):
    """Visual-RFT's coco_evaluation script: text -> detection dicts, one completion at a time."""
    size = {im["id"]: (im["width"], im["height"]) for im in gt["images"]}
    cat_id = {c["name"]: c["id"] for c in gt["categories"]}
    out = []
    for r in records:
        w, h = size[r["image_id"]]
        response = r["completion"].replace("[[", "[").replace("]]", "]").replace("\n", "").replace(", ...", "")
        m = _ANSWER.search(response)
        response = "<answer>" + (m.group(1).strip() if m else response.strip()) + "</answer>"
        boxes = extract_bbox(response)
        if boxes is None or isinstance(boxes[0], str):
            continue
        for b in remove_duplicates(boxes):
            x1, y1, x2, y2 = b["Position"]
            x1, y1, x2, y2 = x1 / 1000.0 * w, y1 / 1000.0 * h, x2 / 1000.0 * w, y2 / 1000.0 * h
            out.append([r["image_id"], x1, y1, x2 - x1, y2 - y1, b["Confidence"], cat_id[r["category"]]])
    return np.array(out, dtype=np.float64).reshape(-1, 7)


def _pycocotools_stats(gt, dets):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(dets), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


@pytest.fixture(scope="module")
def workload(full_size):
    gt, records = _workload(1000 if full_size else 60)
    expected = _visual_rft_detections(records, gt)
    return gt, records, expected


@pytest.mark.benchmark(group="outputs-to-detections")
def test_detections_ours(benchmark, workload):
    gt, records, expected = workload
    batch = benchmark(detections_from_records, records, gt)
    assert np.array_equal(batch.dets, expected)


@pytest.mark.benchmark(group="outputs-to-detections")
def test_detections_visual_rft_script(benchmark, workload):
    gt, records, expected = workload
    assert np.array_equal(benchmark(_visual_rft_detections, records, gt), expected)


@pytest.mark.benchmark(group="outputs-to-metrics")
def test_metrics_ours(benchmark, workload):
    gt, records, expected = workload
    report = benchmark(evaluate_detection, gt, records, categories=CATS, compare_protocols=False, model_metrics=False)
    assert report.result.stats.tolist() == _pycocotools_stats(json.loads(json.dumps(gt)), expected).tolist()


@pytest.mark.benchmark(group="outputs-to-metrics")
def test_metrics_visual_rft_script_and_pycocotools(benchmark, workload):
    gt, records, expected = workload
    stats = benchmark(lambda: _pycocotools_stats(json.loads(json.dumps(gt)), _visual_rft_detections(records, gt)))
    assert stats.tolist() == evaluate_detection(gt, records, model_metrics=False).result.stats.tolist()


# -- protocol and model-output metrics on a 5,000-image evaluation -----------------------------------
@pytest.fixture(scope="module")
def big(full_size):
    """5,000 images x 8 categories (40,000 completions; ~40k detections), the engine state of the
    evaluation, and the same detections with every score tied at 1.0 (answers without confidence)."""
    from vrft_rewards.cocoeval.ground_truth import as_ground_truth
    from vrft_rewards.eval.engine_state import engine_state

    gt_d, records = _workload(5000 if full_size else 60, seed=1)
    gt = as_ground_truth(gt_d)
    dets = detections_from_records(records, gt).dets
    tied = dets.copy()
    tied[:, 5] = 1.0
    cats = list(range(1, len(CATS) + 1))
    return {
        "gt_dict": gt_d,
        "gt": gt,
        "records": records,
        "dets": dets,
        "state": engine_state("coco", gt, dets, cats, None, {}),
        "tied_state": engine_state("coco", gt, tied, cats, None, {}),
        "tied": tied,
        "cats": cats,
    }


@pytest.mark.benchmark(group="model-output-metrics")
def test_reading_default_protocol(benchmark, big):
    batch = benchmark(detections_from_records, big["records"], big["gt"])
    assert np.array_equal(batch.dets, big["dets"])


@pytest.mark.benchmark(group="model-output-metrics")
def test_reading_visual_rft_protocol(benchmark, big):
    batch = benchmark(detections_from_records, big["records"], big["gt"], protocol="visual_rft")
    assert np.array_equal(batch.dets, big["dets"])  # clean answers: read the same way


@pytest.mark.benchmark(group="model-output-metrics")
def test_engine_evaluate_step(benchmark, big):
    """The anchor: one evaluate step of the engine (what the metrics below add to read)."""
    from vrft_rewards.eval.engine_state import engine_state

    es = benchmark(engine_state, "coco", big["gt"], big["dets"], big["cats"], None, {})
    assert len(es.rows) == len(big["dets"])


@pytest.mark.benchmark(group="model-output-metrics")
def test_tie_range_distinct_scores(benchmark, big):
    from vrft_rewards.eval.ties import ap_tie_range

    tr = benchmark(ap_tie_range, big["state"], n_draws=200)
    assert (tr["min"] <= tr["reported"]).all() and (tr["reported"] <= tr["max"]).all()


@pytest.mark.benchmark(group="model-output-metrics")
def test_tie_range_all_scores_tied(benchmark, big):
    from vrft_rewards.eval.ties import ap_tie_range

    tr = benchmark(ap_tie_range, big["tied_state"], n_draws=200)
    assert (tr["min"] <= tr["mean"] + 1e-12).all() and (tr["mean"] <= tr["max"] + 1e-12).all()


@pytest.mark.benchmark(group="model-output-metrics")
def test_order_free_counts(benchmark, big):
    from vrft_rewards.eval.ties import order_free_counts

    cnt = benchmark(order_free_counts, big["state"], 0.5)
    assert (cnt["tp"] + cnt["fp"] + cnt["ignored"]).sum() == len(big["dets"])


@pytest.mark.benchmark(group="model-output-metrics")
def test_calibration(benchmark, big):
    from vrft_rewards.eval.calibration import calibration

    cal = benchmark(calibration, big["state"], np.ones(len(big["dets"]), bool), CATS)
    assert cal["n"] > 0


@pytest.mark.benchmark(group="model-output-metrics")
def test_tide_errors_ours(benchmark, big):
    from vrft_rewards.eval.errors import error_breakdown

    err = benchmark(error_breakdown, big["gt"], big["dets"], kind="coco", cat_ids=np.array(big["cats"]))
    assert err["missed"]["count"] >= 0


@pytest.mark.benchmark(group="model-output-metrics")
def test_tide_errors_tidecv(benchmark, big):
    pytest.importorskip("tidecv")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from _tide_reference import run_tidecv
    from vrft_rewards.eval.errors import error_breakdown

    ref = benchmark.pedantic(run_tidecv, args=(big["gt_dict"], big["dets"]), rounds=1, iterations=1)
    ours = error_breakdown(big["gt"], big["dets"], kind="coco", cat_ids=np.array(big["cats"]))["raw"]
    assert ours["main_dap"].tolist() == ref["main_dap"] and ours["counts"].tolist() == ref["counts"]


@pytest.mark.benchmark(group="model-output-metrics")
def test_report_with_comparison_and_metrics(benchmark, big):
    """The whole report: both protocols (one parse), the model-output metrics, all of it."""
    report = benchmark.pedantic(evaluate_detection, args=(big["gt"], big["records"]), rounds=1, iterations=1)
    assert "ap_tie_range" in report.metrics and "protocol_comparison" in report.metrics


@pytest.mark.benchmark(group="model-output-metrics")
def test_grounding_breakdown(benchmark, full_size):
    from vrft_rewards.eval.grounding_metrics import grounding_breakdown

    n = 5000 if full_size else 100
    rng = np.random.default_rng(0)
    iou = rng.uniform(0, 1, n)
    queries = [" ".join(["w"] * int(k)) for k in rng.integers(1, 30, n)]
    sizes = rng.uniform(200, 3000, (n, 2))
    boxes = np.column_stack([np.zeros((n, 2)), rng.uniform(5, 200, (n, 2))])
    out, _ = benchmark(grounding_breakdown, iou, queries, [bool(k % 2) for k in range(n)], sizes, boxes)
    assert sum(r["n"] for r in out["query_words"]) == n


# -- grounding mask metrics (gIoU / cIoU) ----------------------------------------------------------
def _grounding_workload(n: int, seed: int = 0):
    """LISA-like samples: every image its own size (as in LISA's mixed sources), 1-3 GT polygons
    of 8-40 points, one predicted box near the object."""
    rng = np.random.default_rng(seed)
    segs, sizes, boxes = [], [], []
    for _ in range(n):
        w, h = int(rng.integers(300, 1400)), int(rng.integers(300, 1400))
        polys = []
        cx, cy = rng.uniform(0.2 * w, 0.8 * w), rng.uniform(0.2 * h, 0.8 * h)
        for _ in range(int(rng.integers(1, 4))):
            k = int(rng.integers(8, 41))
            r = rng.uniform(20, 0.3 * min(w, h)) * rng.uniform(0.6, 1.0, k)
            ang = np.sort(rng.uniform(0, 2 * np.pi, k))
            polys.append(np.column_stack([cx + r * np.cos(ang), cy + r * np.sin(ang)]).round(2).ravel().tolist())
            cx += rng.normal(0, 30)
            cy += rng.normal(0, 30)
        s = rng.uniform(0.1 * min(w, h), 0.5 * min(w, h))
        x1, y1 = cx - s + rng.normal(0, 10), cy - s + rng.normal(0, 10)
        boxes.append([x1, y1, x1 + 2 * s * rng.uniform(0.7, 1.3), y1 + 2 * s * rng.uniform(0.7, 1.3)])
        segs.append(polys)
        sizes.append((w, h))
    return segs, np.array(sizes, float), np.array(boxes, float), np.ones(n, bool)


def _masks_pycocotools_per_sample(segs, sizes, boxes, valid):
    """The per-sample pycocotools loop (what a LISA-style script does, without decoding)."""
    from pycocotools import mask as m

    inter, union = np.zeros(len(segs), np.int64), np.zeros(len(segs), np.int64)
    for i, seg in enumerate(segs):
        w, h = int(sizes[i, 0]), int(sizes[i, 1])
        g = m.merge(m.frPyObjects(seg, h, w))
        x1, y1, x2, y2 = boxes[i]
        p = m.frPyObjects(np.array([[x1, y1, x2 - x1, y2 - y1]]), h, w)[0]
        it = int(m.area(m.merge([p, g], intersect=True)))
        inter[i], union[i] = it, int(m.area(p)) + int(m.area(g)) - it
    return inter, union


@pytest.fixture(scope="module")
def grounding_workload(full_size):
    return _grounding_workload(2000 if full_size else 50)


@pytest.mark.benchmark(group="grounding-masks")
def test_grounding_masks_ours(benchmark, grounding_workload):
    from vrft_rewards.masks import mask_intersection_union

    segs, sizes, boxes, valid = grounding_workload
    got = benchmark(mask_intersection_union, boxes, segs, sizes, valid)
    ref = _masks_pycocotools_per_sample(*grounding_workload)
    assert np.array_equal(got[0], ref[0]) and np.array_equal(got[1], ref[1])


@pytest.mark.benchmark(group="grounding-masks")
def test_grounding_masks_pycocotools_per_sample(benchmark, grounding_workload):
    benchmark(_masks_pycocotools_per_sample, *grounding_workload)
