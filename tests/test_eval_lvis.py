"""LVIS evaluation: every number bit-identical to lvis-api 0.5.3 (bbox).

lvis 0.5.3 calls ``np.float`` (removed in numpy 1.24) in ``LVISEval.accumulate``; the
``lvis_api`` fixture aliases it to ``float`` for the duration of a test and restores numpy after.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging

import numpy as np
import pytest

lvis = pytest.importorskip("lvis")
from lvis import LVIS, LVISEval, LVISResults  # noqa: E402

from _eval_synth import make_dataset  # noqa: E402
from _pipeline_data import lvis_api_compat  # noqa: E402
from vrft_rewards.eval import LVISeval, evaluate_lvis  # noqa: E402

KEYS = ["AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf", "AR@300", "ARs@300", "ARm@300", "ARl@300"]


@pytest.fixture
def lvis_api():
    """lvis-api with `np.float` aliased (restored afterwards) and its logger.warn quiet."""
    with lvis_api_compat():
        yield reference


class _LVISFromDict(LVIS):
    def __init__(self, dataset):  # LVIS() only takes a path
        self.logger = logging.getLogger("lvis")
        self.dataset = dataset
        self._create_index()


def reference(gt: dict, results: list, max_dets: int = 300, **params) -> LVISEval:
    g = _LVISFromDict(copy.deepcopy(gt))
    dt = LVISResults(g, copy.deepcopy(results), max_dets=max_dets)
    E = LVISEval(g, dt, "bbox")  # params.max_dets stays 300: it only names the recall keys
    for k, v in params.items():
        setattr(E.params, k, v)
    E.run()
    return E


_OURS_KW = {
    "img_ids": "img_ids",
    "cat_ids": "cat_ids",
    "area_rng": "area_ranges",
    "iou_thrs": "iou_thrs",
    "rec_thrs": "rec_thrs",
}


def ours(gt, results, max_dets=300, **params):
    return evaluate_lvis(gt, results, max_dets=max_dets, **{_OURS_KW[k]: v for k, v in params.items()})


def assert_identical(ref: LVISEval, res) -> None:
    # lvis-api names the recall keys after params.max_dets (300), whatever LVISResults capped.
    keys = KEYS
    assert list(ref.results) == keys == list(res.results)
    for k in keys:
        assert np.array_equal(ref.results[k], res.results[k]), (k, ref.results[k], res.results[k])
    assert np.array_equal(np.array([ref.results[k] for k in keys], dtype=float), res.stats)
    for key, mine in (("precision", res.precision), ("recall", res.recall)):
        theirs = ref.eval[key]
        assert theirs.shape == mine.shape
        diff = np.flatnonzero(theirs.ravel() != mine.ravel())
        assert diff.size == 0, f"{key}: {diff.size} cells differ"


def variant(seed: int, gt: dict) -> tuple[int, dict]:
    rng = np.random.default_rng(20_000 + seed)
    v = seed % 6
    if v == 1:
        return 15, {}  # the per-image cap bites (images carry up to ~60 detections)
    if v == 2:
        cats = [c["id"] for c in gt["categories"]]
        imgs = [im["id"] for im in gt["images"]]
        return 300, {
            "cat_ids": sorted(rng.choice(cats, size=max(1, len(cats) // 2), replace=False).tolist()),
            "img_ids": sorted(rng.choice(imgs, size=max(1, len(imgs) // 2), replace=False).tolist()),
        }
    if v == 3:
        return 300, {"iou_thrs": np.array([0.3, 0.5, 0.75, 1.0]), "rec_thrs": np.linspace(0, 1, 11)}
    if v == 4:
        return 8, {"area_rng": [[0, 1e10], [0, 400.0], [400.0, 4000.0], [4000.0, 1e10]]}
    return 300, {}


@pytest.mark.parametrize("seed", range(200))
def test_random_datasets_match_lvis_api_exactly(lvis_api, seed):
    # Federated filter (neg / not-exhaustive lists), GT ignore, r/c/f groups, per-image cap,
    # ties, id 0 on every 5th dataset; 13 results and every precision / recall cell.
    gt, results = make_dataset(seed, lvis=True, id_zero=(seed % 5 == 0))
    if not results:
        return
    max_dets, params = variant(seed, gt)
    ref = lvis_api(gt, results, max_dets, **params)
    assert_identical(ref, ours(gt, results, max_dets, **params))


@pytest.mark.parametrize("seed", range(0, 200, 10))
def test_drop_in_lvis_eval_matches(lvis_api, seed):
    gt, results = make_dataset(seed, lvis=True)
    if not results:
        return
    ref = lvis_api(gt, results)
    E = LVISeval(gt, copy.deepcopy(results), "bbox")
    E.run()
    assert list(E.results) == KEYS
    assert all(np.array_equal(ref.results[k], E.results[k]) for k in KEYS)
    assert np.array_equal(ref.eval["precision"], E.eval["precision"])
    assert np.array_equal(ref.eval["recall"], E.eval["recall"])
    out_ref, out_ours = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out_ref):
        ref.print_results()
    with contextlib.redirect_stdout(out_ours):
        E.print_results()
    assert out_ref.getvalue() == out_ours.getvalue()
    # lvis-api objects are accepted as well
    g = _LVISFromDict(copy.deepcopy(gt))
    E2 = LVISeval(g, LVISResults(g, copy.deepcopy(results)), "bbox")
    E2.run()
    assert all(np.array_equal(ref.results[k], E2.results[k]) for k in KEYS)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
def test_larger_random_datasets_match_lvis_api_exactly(lvis_api, seed):
    gt, results = make_dataset(70_000 + seed, n_images=400, n_cats=50, lvis=True)
    ref = lvis_api(gt, results, 40)
    assert_identical(ref, ours(gt, results, 40))


def _gt(anns, neg=(), nel=(), cats=((1, "f"), (2, "r"), (3, "c"))):
    full = []
    for i, a in enumerate(anns):
        b = {"id": i + 1, "image_id": 1, "category_id": 1, **a}
        b.setdefault("area", b["bbox"][2] * b["bbox"][3])
        full.append(b)
    return {
        "images": [
            {
                "id": 1,
                "width": 100,
                "height": 100,
                "neg_category_ids": list(neg),
                "not_exhaustive_category_ids": list(nel),
            }
        ],
        "annotations": full,
        "categories": [{"id": c, "name": f"c{c}", "frequency": f} for c, f in cats],
    }


def _det(bbox, score, category_id=1):
    return {"image_id": 1, "category_id": category_id, "bbox": bbox, "score": score}


LVIS_CASES = {
    # Detections of a category neither present nor negative in the image are dropped.
    "federated_filter": (
        _gt([{"bbox": [0, 0, 20, 20]}], neg=[2]),
        [_det([0, 0, 20, 20], 0.9), _det([50, 50, 20, 20], 0.95, 2), _det([50, 50, 20, 20], 0.97, 3)],
    ),
    # Unmatched detections of a not-exhaustive category are ignored, not false positives.
    "not_exhaustive": (
        _gt([{"bbox": [0, 0, 20, 20]}], nel=[1]),
        [_det([50, 50, 20, 20], 0.99), _det([0, 0, 20, 20], 0.5)],
    ),
    # GT `ignore` is respected; iscrowd is not (forced to 0).
    "ignore_and_crowd": (
        _gt([{"bbox": [0, 0, 20, 20], "ignore": 1}, {"bbox": [40, 40, 20, 20], "iscrowd": 1}]),
        [_det([0, 0, 20, 20], 0.9), _det([40, 40, 20, 20], 0.8), _det([41, 41, 20, 20], 0.7)],
    ),
    # Zero-area GT and zero-width detections are dropped (get_ann_ids keeps 0 < area < inf).
    "zero_area": (
        _gt([{"bbox": [0, 0, 20, 20], "area": 0}, {"bbox": [30, 30, 20, 20]}]),
        [_det([0, 0, 20, 20], 0.9), _det([30, 30, 0, 20], 0.95), _det([30, 30, 20, 20], 0.5)],
    ),
    # Tied scores at the per-image cap: the stable sort keeps result order.
    "cap_with_ties": (
        _gt([{"bbox": [float(i * 5), 0.0, 20.0, 20.0]} for i in range(10)]),
        [_det([float(i * 5), 0.0, 20.0, 20.0], 0.5) for i in range(12)][::-1],
    ),
}


@pytest.mark.parametrize("name", sorted(LVIS_CASES))
@pytest.mark.parametrize("max_dets", [300, 4, -1])
def test_lvis_rules_on_boundary_cases(lvis_api, name, max_dets):
    gt, results = LVIS_CASES[name]
    ref = lvis_api(gt, results, max_dets)
    assert_identical(ref, ours(gt, results, max_dets))


def test_lvis_result_object_and_summary():
    gt, results = make_dataset(4, lvis=True)
    res = evaluate_lvis(gt, results)
    assert list(res.results) == KEYS and res.stats.shape == (13,)
    assert res.precision.ndim == 4 and res.recall.ndim == 3 and res.scores.shape == res.precision.shape
    assert len(res.summary().splitlines()) == 13
    assert res.to_dict()["stats"]["AP"] == float(res.results["AP"])


def test_lvis_bad_input():
    gt = _gt([{"bbox": [0, 0, 20, 20]}])
    with pytest.raises(ValueError, match=r"results\[0\] has no 'score'"):
        evaluate_lvis(gt, [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}])
    with pytest.raises(ValueError, match=r"results\[0\]\['image_id'\] = 9 is not an image"):
        evaluate_lvis(gt, [{"image_id": 9, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1}])
    with pytest.raises(ValueError, match="iou_type must be one of 'bbox', 'segm'"):
        evaluate_lvis(gt, [], iou_type="keypoints")
    bad = copy.deepcopy(gt)
    bad["categories"][0]["frequency"] = "x"
    with pytest.raises(ValueError, match="frequency 'x'"):
        evaluate_lvis(bad, [])
    E = LVISeval(gt, [], "bbox")
    E.params.use_cats = 0
    with pytest.raises(NotImplementedError, match="use_cats=0 .* raises IndexError"):
        E.run()
