"""No stale numbers: every way the data of an evaluation can change is seen by the next one.

The engine keeps nothing about a user's objects between evaluations (pycocotools ``COCO`` /
lvis ``LVIS`` objects, result lists, dicts): it reads them again at every ``evaluate()`` as
pycocotools reads them in ``_prepare``.  Each test changes the data in one way after a first
evaluation and compares every stat and array with pycocotools / lvis-api run on the same objects.
Only what we own is reused: a ``GroundTruth`` (a documented snapshot) and a file read by
``COCOeval(path, ...)`` / ``LVISeval(path, ...)``.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json

import numpy as np
import pytest

pytest.importorskip("pycocotools")
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval as RefCOCOeval  # noqa: E402

from _eval_synth import make_dataset  # noqa: E402
from vrft_rewards.eval import COCOeval, GroundTruth, LVISeval, evaluate_coco, evaluate_lvis  # noqa: E402

SEEDS = [3, 11, 27]


def _quiet(fn, *args):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args)


def coco_objects(seed):
    gt, results = make_dataset(seed, n_images=20, n_cats=5)
    g = COCO()
    g.dataset = copy.deepcopy(gt)
    _quiet(g.createIndex)
    return g, _quiet(g.loadRes, copy.deepcopy(results))


def run(evaluator, g, d):
    E = evaluator(g, d, "bbox")
    _quiet(E.evaluate)
    _quiet(E.accumulate)
    _quiet(E.summarize)
    return E


def assert_same(ref, ours) -> None:
    assert np.array_equal(np.asarray(ref.stats), np.asarray(ours.stats)), (ref.stats, ours.stats)
    for key in ("precision", "recall", "scores"):
        assert np.array_equal(ref.eval[key], ours.eval[key]), key


def assert_function_same(ref, res) -> None:
    assert np.array_equal(np.asarray(ref.stats), res.stats)
    assert np.array_equal(ref.eval["precision"], res.precision)
    assert np.array_equal(ref.eval["recall"], res.recall)


# ---- one change per test, after a first evaluation on the same objects -----------------------------


def _replace_gt_annotations(g, d, rng):
    anns = copy.deepcopy(g.dataset["annotations"])
    for a in anns[::3]:
        a["bbox"][0] += 0.3 * a["bbox"][2]
    g.dataset["annotations"] = anns
    _quiet(g.createIndex)


def _edit_gt_area(g, d, rng):
    for a in g.dataset["annotations"]:  # torchmetrics rewrites `area` between bbox and segm
        a["area"] = a["bbox"][2] * a["bbox"][3] * float(rng.uniform(0.2, 3.0))


def _edit_gt_iscrowd(g, d, rng):
    for a in g.dataset["annotations"][::4]:
        a["iscrowd"] = 1 - a.get("iscrowd", 0)


def _edit_gt_bbox(g, d, rng):
    for a in g.dataset["annotations"][::2]:
        a["bbox"][1] += 0.4 * a["bbox"][3]


def _edit_dt_score(g, d, rng):
    for a in d.dataset["annotations"]:
        a["score"] = float(rng.random())


def _edit_dt_area(g, d, rng):
    for a in d.dataset["annotations"][::2]:
        a["area"] = float(rng.choice([1.0, 2000.0, 20000.0]))


def _edit_dt_bbox(g, d, rng):
    for a in d.dataset["annotations"][::2]:
        a["bbox"] = [v * 1.1 for v in a["bbox"]]


def _replace_dt_in_same_list(g, d, rng):
    new = copy.deepcopy(d.dataset["annotations"])
    for a in new:
        a["bbox"] = [v * 1.07 for v in a["bbox"]]
        a["area"] = a["bbox"][2] * a["bbox"][3]
    d.dataset["annotations"][:] = new  # same list object, same length
    _quiet(d.createIndex)


def _replace_gt_dataset(g, d, rng):
    gt2 = copy.deepcopy(g.dataset)
    gt2["annotations"] = gt2["annotations"][::2]
    g.dataset = gt2
    _quiet(g.createIndex)


CHANGES = [
    _replace_gt_annotations,
    _edit_gt_area,
    _edit_gt_iscrowd,
    _edit_gt_bbox,
    _edit_dt_score,
    _edit_dt_area,
    _edit_dt_bbox,
    _replace_dt_in_same_list,
    _replace_gt_dataset,
]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("change", CHANGES, ids=lambda f: f.__name__.strip("_"))
def test_dropin_sees_every_change_after_an_evaluation(change, seed):
    g, d = coco_objects(seed)
    before = run(COCOeval, g, d)
    assert_same(run(RefCOCOeval, g, d), before)
    change(g, d, np.random.default_rng(seed))
    ref = run(RefCOCOeval, g, d)
    assert_same(ref, run(COCOeval, g, d))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("change", CHANGES, ids=lambda f: f.__name__.strip("_"))
def test_dropin_constructed_before_the_change_evaluates_the_changed_data(change, seed):
    g, d = coco_objects(seed)
    ours, ref = COCOeval(g, d, "bbox"), RefCOCOeval(g, d, "bbox")
    change(g, d, np.random.default_rng(seed))
    for E in (ours, ref):
        _quiet(E.evaluate)
        _quiet(E.accumulate)
        _quiet(E.summarize)
    assert_same(ref, ours)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("change", CHANGES, ids=lambda f: f.__name__.strip("_"))
def test_evaluate_coco_on_objects_sees_every_change(change, seed):
    g, d = coco_objects(seed)
    evaluate_coco(g, d)
    change(g, d, np.random.default_rng(seed))
    assert_function_same(run(RefCOCOeval, g, d), evaluate_coco(g, d))


def test_dicts_and_lists_edited_in_place_are_read_again():
    gt, results = make_dataset(5, n_images=15, n_cats=4)
    first = evaluate_coco(gt, results)
    for r in results[::2]:
        r["score"] = 1.0 - r["score"]
    for a in gt["annotations"][::3]:
        a["area"] = 50.0
    again = evaluate_coco(gt, results)
    fresh = evaluate_coco(copy.deepcopy(gt), copy.deepcopy(results))
    assert np.array_equal(again.precision, fresh.precision) and np.array_equal(again.stats, fresh.stats)
    assert not np.array_equal(first.precision, again.precision)


def test_a_ground_truth_index_is_a_snapshot_and_a_file_is_read_once(tmp_path):
    gt, results = make_dataset(8, n_images=15, n_cats=4)
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(gt))
    from_file = GroundTruth.from_file(path)
    snapshot = GroundTruth(gt)
    ref = evaluate_coco(copy.deepcopy(gt), results)
    gt["annotations"] = gt["annotations"][::2]  # after the snapshot: not seen by it
    path.write_text(json.dumps(gt))  # nor by the index already read from the file
    for index in (from_file, snapshot, from_file):  # reusable
        got = evaluate_coco(index, results)
        assert np.array_equal(got.precision, ref.precision) and np.array_equal(got.stats, ref.stats)
    # A file's annotation dicts are not held; `dataset` reads the file when asked.
    assert from_file._dataset is None
    assert from_file.dataset["annotations"] == gt["annotations"]


# ---- LVIS ------------------------------------------------------------------------------------------


@pytest.fixture
def lvis_api():
    pytest.importorskip("lvis")
    from _pipeline_data import lvis_api_compat

    with lvis_api_compat():
        yield


def _lvis_objects(seed):
    import logging

    from lvis import LVIS, LVISResults

    class FromDict(LVIS):
        def __init__(self, dataset):
            self.logger = logging.getLogger("lvis")
            self.dataset = dataset
            self._create_index()

    gt, results = make_dataset(40_000 + seed, lvis=True, n_images=20, n_cats=6)
    g = FromDict(copy.deepcopy(gt))
    return g, LVISResults(g, copy.deepcopy(results))


def _lvis_run(evaluator, g, d):
    E = evaluator(g, d, "bbox")
    E.run()
    return E


def _lvis_gt_bbox(g, d):
    for a in g.dataset["annotations"][::2]:
        a["bbox"][0] += 0.3 * a["bbox"][2]


def _lvis_gt_area(g, d):
    for a in g.dataset["annotations"][::2]:
        a["area"] *= 5


def _lvis_dt_score(g, d):
    for a in d.dataset["annotations"][::2]:
        a["score"] = 1.0 - a["score"]


def _lvis_dt_bbox(g, d):
    for a in d.dataset["annotations"]:
        a["bbox"] = [v * 1.1 for v in a["bbox"]]


LVIS_CHANGES = {f.__name__[6:]: f for f in (_lvis_gt_bbox, _lvis_gt_area, _lvis_dt_score, _lvis_dt_bbox)}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("change", sorted(LVIS_CHANGES))
def test_lvis_sees_every_change(lvis_api, change, seed):
    from lvis import LVISEval

    g, d = _lvis_objects(seed)
    constructed_before = LVISeval(g, d, "bbox")
    evaluate_lvis(g, d.dataset["annotations"])
    LVIS_CHANGES[change](g, d)
    ref = _lvis_run(LVISEval, g, d)
    assert dict(_lvis_run(LVISeval, g, d).results) == dict(ref.results)
    constructed_before.run()
    assert dict(constructed_before.results) == dict(ref.results)
    assert np.array_equal(constructed_before.eval["precision"], ref.eval["precision"])


def test_lvis_files_are_read_by_the_constructor_once(tmp_path):
    gt, results = make_dataset(41_000, lvis=True, n_images=15, n_cats=5)
    gt_path, res_path = tmp_path / "gt.json", tmp_path / "res.json"
    gt_path.write_text(json.dumps(gt))
    res_path.write_text(json.dumps(results))
    E = LVISeval(str(gt_path), str(res_path), "bbox")
    with pytest.raises(RuntimeError, match="evaluate"):
        E.accumulate()
    res_path.write_text("[]")  # read already: not seen
    E.run()
    assert dict(E.results) == dict(evaluate_lvis(gt, results).results)
