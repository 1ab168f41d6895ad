"""Keypoint evaluation (iou_type="keypoints"): bit-identical to pycocotools 2.0.11.

OKS needs numpy's exp (SIMD code whose last bit differs from libm's on some CPUs): the engine
computes every exponent natively, calls np.exp once on the flat array and sums each pair in
numpy's pairwise order (vrft_rewards/cocoeval/engine.py, csrc/eval/oks.cpp).  Checked here cell by
cell against ``COCOeval.computeOks`` and stat by stat against the whole pycocotools run, on random
sets (integer and float keypoints, invisible ones at the origin, no visible keypoint, zero area,
crowd, user sigmas, K != 17) and on faster-coco-eval's real keypoint file.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import pathlib

import numpy as np
import pytest

pytest.importorskip("pycocotools")
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval as RefCOCOeval  # noqa: E402

from _segm_synth import SIGMAS17, make_keypoint_dataset  # noqa: E402
from vrft_rewards.eval import COCOeval, evaluate_coco  # noqa: E402

REAL = pathlib.Path("/work/shared/data/real-coco")


def quiet(f, *a, **k):
    with contextlib.redirect_stdout(io.StringIO()):
        return f(*a, **k)


def coco_of(gt: dict) -> COCO:
    c = COCO()
    c.dataset = copy.deepcopy(gt)
    quiet(c.createIndex)
    return c


def reference(gt, results, sigmas=None, **params) -> RefCOCOeval:
    g = coco_of(gt)
    E = RefCOCOeval(g, quiet(g.loadRes, copy.deepcopy(results)), "keypoints")
    if sigmas is not None:
        E.params.kpt_oks_sigmas = np.asarray(sigmas)
    for k, v in params.items():
        setattr(E.params, k, v)
    quiet(E.evaluate)
    quiet(E.accumulate)
    quiet(E.summarize)
    return E


_KW = {
    "imgIds": "img_ids",
    "maxDets": "max_dets",
    "areaRng": "area_ranges",
    "areaRngLbl": "area_labels",
    "useCats": "use_cats",
    "iouThrs": "iou_thrs",
}


def ours(gt, results, sigmas=None, **params):
    return evaluate_coco(
        gt, results, iou_type="keypoints", kpt_oks_sigmas=sigmas, **{_KW[k]: v for k, v in params.items()}
    )


def assert_identical(ref, res) -> None:
    assert np.array_equal(np.asarray(ref.stats), res.stats), (ref.stats, res.stats)
    for key, mine in (("precision", res.precision), ("recall", res.recall), ("scores", res.scores)):
        assert np.array_equal(ref.eval[key], mine), key


def assert_same_oks(ref: RefCOCOeval, dropin: COCOeval) -> int:
    cells = 0
    assert set(ref.ious) == set(dropin.ious)
    for key, block in ref.ious.items():
        mine = dropin.ious[key]
        assert np.array_equal(np.asarray(block), np.asarray(mine)), key
        cells += np.asarray(block).size
    return cells


def variant(seed: int, gt: dict):
    rng = np.random.default_rng(40_000 + seed)
    v = seed % 6
    if v == 1:
        return SIGMAS17 / 10.0 * rng.uniform(0.5, 2.0, 17), {}  # user sigmas (float64)
    if v == 2:
        return (SIGMAS17 / 10.0).astype(np.float32), {"maxDets": [5]}  # float32 sigmas: vars in float32
    if v == 3:
        return None, {"areaRng": [[0, 1e10], [0, 2000.0], [2000.0, 1e10]], "areaRngLbl": ["all", "medium", "large"]}
    if v == 4:
        return None, {"iouThrs": np.array([0.0, 0.5, 0.9, 1.0]), "maxDets": [3, 20]}
    return None, {}


@pytest.mark.parametrize("seed", range(120))
def test_random_keypoint_sets_match_pycocotools_exactly(seed):
    gt, results = make_keypoint_dataset(seed)
    if not results:
        return
    sigmas, params = variant(seed, gt)
    ref = reference(gt, results, sigmas, **params)
    assert_identical(ref, ours(gt, results, sigmas, **params))


@pytest.mark.parametrize("seed", range(30))
def test_every_oks_cell_matches_compute_oks(seed):
    # Other keypoint counts too (K = 1..29 with random sigmas).
    K = 17 if seed % 2 == 0 else int(np.random.default_rng(seed).integers(1, 30))
    sigmas = SIGMAS17 / 10.0 if K == 17 else np.random.default_rng(seed + 1).uniform(0.01, 0.2, K)
    gt, results = make_keypoint_dataset(50_000 + seed, num_keypoints=K)
    if not results:
        return
    ref = reference(gt, results, sigmas)
    g = coco_of(gt)
    mine = COCOeval(g, quiet(g.loadRes, copy.deepcopy(results)), "keypoints")
    mine.params.kpt_oks_sigmas = np.asarray(sigmas)
    quiet(mine.evaluate)
    assert assert_same_oks(ref, mine) >= 0


@pytest.mark.slow
def test_thousands_of_oks_cells_match_compute_oks():
    cells = 0
    for seed in range(200):
        gt, results = make_keypoint_dataset(60_000 + seed, n_images=10)
        if not results:
            continue
        ref = reference(gt, results)
        g = coco_of(gt)
        mine = COCOeval(g, quiet(g.loadRes, copy.deepcopy(results)), "keypoints")
        quiet(mine.evaluate)
        cells += assert_same_oks(ref, mine)
        quiet(mine.accumulate)
        quiet(mine.summarize)
        assert np.array_equal(ref.stats, mine.stats)
    assert cells > 5000


def test_keypoint_rules():
    # computeOks with useCats=0 reads _gts[img, -1]: nothing matches (AP 0 instead of 1); crowd
    # GTs are ignored but absorb any number of detections; num_keypoints == 0 ignores a GT.
    gt = {
        "images": [{"id": 1, "height": 480, "width": 640}],
        "categories": [{"id": 1, "name": "person"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "keypoints": [10, 10, 2] * 17,
                "num_keypoints": 17,
                "bbox": [0, 0, 50, 50],
                "area": 900.0,
                "iscrowd": 0,
            },
            {
                "id": 2,
                "image_id": 1,
                "category_id": 1,
                "keypoints": [50, 50, 2] * 17,
                "num_keypoints": 17,
                "bbox": [0, 0, 100, 100],
                "area": 9000.0,
                "iscrowd": 1,
            },
            {
                "id": 3,
                "image_id": 1,
                "category_id": 1,
                "keypoints": [0, 0, 0] * 17,
                "num_keypoints": 0,
                "bbox": [200, 200, 50, 80],
                "area": 3000.0,
                "iscrowd": 0,
            },
        ],
    }
    dets = [
        {"image_id": 1, "category_id": 1, "keypoints": [10.0, 10.0, 1.0] * 17, "score": 0.9},
        {"image_id": 1, "category_id": 1, "keypoints": [50.0, 50.0, 1.0] * 17, "score": 0.8},
        {"image_id": 1, "category_id": 1, "keypoints": [50.0, 51.0, 1.0] * 17, "score": 0.7},
        {"image_id": 1, "category_id": 1, "keypoints": [220.0, 230.0, 1.0] * 17, "score": 0.6},
    ]
    for use_cats in (1, 0):
        ref = reference(gt, dets, useCats=use_cats)
        assert_identical(ref, ours(gt, dets, useCats=use_cats))
    assert reference(gt, dets).stats[0] > 0.99 and reference(gt, dets, useCats=0).stats[0] == 0.0


def test_loadres_keypoint_branch_area_from_the_extent():
    # Without a bbox, loadRes takes the area from all keypoints' extent (the origin included).
    gt, results = make_keypoint_dataset(7, with_bbox=False)
    for r in results[::3]:
        r["keypoints"][0:2] = [0, 0]
    assert_identical(reference(gt, results), ours(gt, results))
    with_box = [dict(r, bbox=[1.0, 2.0, 300.0, 400.0]) for r in results]
    assert_identical(reference(gt, with_box), ours(gt, with_box))


def test_real_keypoint_file_matches_pycocotools():
    gtp, dtp = (
        REAL / "faster_coco_eval/keypoints_dataset__gt_dataset.json",
        REAL / "faster_coco_eval/keypoints_dataset__dt_dataset.json",
    )
    if not gtp.exists():
        pytest.skip("real fixtures absent")
    res = json.loads(dtp.read_text())
    g = quiet(COCO, str(gtp))
    E = RefCOCOeval(g, quiet(g.loadRes, copy.deepcopy(res)), "keypoints")
    quiet(E.evaluate)
    quiet(E.accumulate)
    quiet(E.summarize)
    assert_identical(E, evaluate_coco(str(gtp), res, iou_type="keypoints"))
    D = COCOeval(g, quiet(g.loadRes, copy.deepcopy(res)), "keypoints")
    quiet(D.evaluate)
    assert assert_same_oks(E, D) == 14 * 20  # every OKS cell (20 = maxDets[-1] kept per image)
    quiet(D.accumulate)
    quiet(D.summarize)
    assert np.array_equal(E.stats, D.stats) and len(D.stats) == 10


def test_keypoint_input_errors_are_named():
    gt, results = make_keypoint_dataset(3)
    bad = copy.deepcopy(results)
    bad[1]["keypoints"] = bad[1]["keypoints"][:-3]
    with pytest.raises(ValueError, match=r"results\[1\]\['keypoints'\]: has 48 values, expected 3 \* 17"):
        ours(gt, bad)
    bad = copy.deepcopy(results)
    bad[0]["keypoints"][4] = float("nan")
    with pytest.raises(ValueError, match=r"results\[0\]\['keypoints'\]: values must be finite"):
        ours(gt, bad)
    g2 = copy.deepcopy(gt)
    del g2["annotations"][0]["num_keypoints"]
    with pytest.raises(ValueError, match=r"gt\['annotations'\]\[0\] has no 'num_keypoints'"):
        ours(g2, results)
    with pytest.raises(ValueError, match="kpt_oks_sigmas must be a non-empty 1-D"):
        ours(gt, results, sigmas=[])
