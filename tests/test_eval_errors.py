"""TIDE's error breakdown (``_C.eval_tide``) equal to tidecv 1.0.1 on the same detections: every
number (AP at each threshold, the dAP of each main and special error, the counts), on random COCO
cases (crowds as ignore regions), LVIS cases (whole-image ignored classes) and all-tied scores;
stored tidecv numbers where tidecv is not installed."""

from __future__ import annotations

import json

import numpy as np
import pytest

from _tide_reference import CASES, STORED, make_case, run_tidecv
from vrft_rewards.cocoeval.ground_truth import as_ground_truth
from vrft_rewards.eval import evaluate_detection
from vrft_rewards.eval.errors import ERROR_TYPES, error_breakdown


def _ours(gt: dict, dets: np.ndarray, lvis: bool) -> dict:
    g = as_ground_truth(gt)
    return error_breakdown(g, dets, kind="lvis" if lvis else "coco", cat_ids=g.cat_ids)["raw"]


def _assert_equal(ours: dict, ref: dict) -> None:
    assert ours["ap"] == ref["ap"]
    assert ours["ap_per_threshold"].tolist() == ref["ap_per_threshold"]
    assert ours["main_dap"].tolist() == ref["main_dap"]
    assert ours["counts"].tolist() == ref["counts"]
    assert (ours["false_pos"], ours["false_neg"]) == (ref["false_pos"], ref["false_neg"])


@pytest.mark.parametrize("i", range(len(CASES)))
def test_equals_stored_tidecv_numbers(i):
    stored = json.loads(STORED.read_text())["results"][i]
    gt, dets = make_case(stored["case"]["seed"], ties=stored["case"]["ties"], lvis=stored["case"]["lvis"])
    _assert_equal(_ours(gt, dets, stored["case"]["lvis"]), stored["tidecv"])


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("ties", [False, True])
def test_equals_tidecv_on_random_coco_cases(seed, ties):
    pytest.importorskip("tidecv", reason="tidecv (PyPI) is the reference: pip install tidecv")
    gt, dets = make_case(100 + seed, ties=ties, n_images=20 + seed)
    _assert_equal(_ours(gt, dets, False), run_tidecv(gt, dets))


@pytest.mark.parametrize("seed", range(5))
def test_equals_tidecv_on_random_lvis_cases(seed):
    pytest.importorskip("tidecv", reason="tidecv (PyPI) is the reference: pip install tidecv")
    gt, dets = make_case(200 + seed, lvis=True, ties=seed % 2 == 1)
    _assert_equal(_ours(gt, dets, True), run_tidecv(gt, dets, lvis=True))


def test_equals_tidecv_on_edge_cases():
    """Images without GT or predictions, more than 100 predictions in one image (the cap), a
    prediction of a class no GT has, equal IoUs, one class only."""
    pytest.importorskip("tidecv", reason="tidecv (PyPI) is the reference: pip install tidecv")
    gt, dets = make_case(7, n_images=6, n_cats=2)
    gt["images"].append({"id": 999, "width": 100, "height": 100, "file_name": "e.jpg"})
    rng = np.random.default_rng(0)
    many = np.column_stack([np.full(130, 999.0), rng.uniform(0, 50, (130, 2)), rng.uniform(5, 40, (130, 2)),
                            rng.choice([0.5, 0.7], 130), np.full(130, 2.0)])  # fmt: skip
    gt["annotations"].append({"id": 10_000, "image_id": 999, "category_id": 2, "bbox": [10, 10, 30, 30],
                              "area": 900, "iscrowd": 0})  # fmt: skip
    extra = np.array([[gt["images"][0]["id"], 1, 1, 10, 10, 0.9, 3]])  # class 3: no GT anywhere
    gt["categories"].append({"id": 3, "name": "c3"})
    dets = np.vstack([dets, many, extra])
    _assert_equal(_ours(gt, dets, False), run_tidecv(gt, dets))


def test_in_the_detection_report():
    gt, dets = make_case(1, n_images=10)
    size = {im["id"]: (im["width"], im["height"]) for im in gt["images"]}
    recs = []
    for img, w_h in size.items():
        for c in gt["categories"]:
            rows = dets[(dets[:, 0] == img) & (dets[:, 6] == c["id"])]
            w, h = w_h
            items = ", ".join(
                "{'Position': [%d, %d, %d, %d], 'Confidence': %.2f}"
                % (x / w * 1000, y / h * 1000, (x + bw) / w * 1000, (y + bh) / h * 1000, s)
                for _, x, y, bw, bh, s, _ in rows
            )
            recs.append({"image_id": img, "category_id": c["id"], "completion": f"<answer>[{items}]</answer>"})
    report = evaluate_detection(gt, recs)
    err = report.metrics["errors"]
    assert set(ERROR_TYPES) <= set(err)
    batch_dets = report.arrays["scores"]
    assert len(batch_dets) > 0
    assert err["missed"]["count"] > 0 and err["cls"]["count"] >= 0
    assert all(err[k]["dAP"] >= 0 for k in ERROR_TYPES)
    titles = [t[0] for t in report.tables]
    assert any(t.startswith("Error breakdown (TIDE") for t in titles)
