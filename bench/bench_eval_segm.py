"""Masks and keypoints: ours vs pycocotools, lvis-api, faster-coco-eval and hotcoco.

Workloads (bench/_shape_workloads.py, seeded, built on _eval_workloads' boxes): star polygons for
the GT (1 % crowd regions as uncompressed RLE) and for the detections, given as compressed RLE
(``rle``, loadRes' segm branch) or as polygon + bbox (``poly``, loadRes' bbox branch);
17-keypoint persons.  Full sizes (timed runs): COCO-like 500 images / 80 categories / 50
detections per image (25k masks), LVIS-like 200 images / 1,203 categories / 100 per image (20k),
keypoints 2,000 images / 20 per image (40k).  With ``--benchmark-disable`` (CI) the sets shrink to
a few dozen images and every competitor runs once, asserting its numbers.

Groups (``<task>-<format>`` loaded: ours a GroundTruth + the result dicts, the anchors their
objects after loadRes / LVISResults; ``...-json``: from the two files, load + evaluate):
  coco-segm-rle(-json), coco-segm-poly(-json), lvis-segm-rle(-json), coco-kp(-json)

pycocotools and lvis-api are the references: ours and hotcoco must equal their stats
(np.array_equal); faster-coco-eval, which drops the np.spacing(1) term, is held to 1e-12.  On
LVIS masks hotcoco and faster-coco-eval agree with each other but differ from lvis-api by up to
1.2e-5 (AP, AP50, APs, APr on the full set): held to 1e-4 there.
ultrafast-pycocotools and vernier evaluate boxes only (not timed here).
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import warnings

import numpy as np
import pytest

import vrft_rewards.eval as ve
from _shape_workloads import make_keypoint_workload, make_segm_workload

try:
    import orjson

    def _dump(obj, path):
        path.write_bytes(orjson.dumps(obj))
except ImportError:  # pragma: no cover
    import json

    def _dump(obj, path):
        path.write_text(json.dumps(obj))


SIZES = {
    "coco": (dict(n_images=500, n_cats=80, dets_per_image=50), dict(n_images=20, n_cats=6, dets_per_image=15)),
    "lvis": (
        dict(n_images=200, n_cats=1203, dets_per_image=100, gt_per_image=11.9, lvis=True),
        dict(n_images=15, n_cats=40, dets_per_image=30, gt_per_image=11.9, lvis=True),
    ),
    "kp": (dict(n_images=2000, dets_per_image=20), dict(n_images=20, dets_per_image=8)),
}
LVIS_KEYS = ["AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf", "AR@300", "ARs@300", "ARm@300", "ARl@300"]
CASES = {  # group name: (workload, iou_type, polygons)
    "coco-segm-rle": ("coco", "segm", False),
    "coco-segm-poly": ("coco", "segm", True),
    "lvis-segm-rle": ("lvis", "segm", False),
    "coco-kp": ("kp", "keypoints", False),
}


def _quiet():
    return contextlib.redirect_stdout(io.StringIO())


def _run(benchmark, fn, *, slow, full_size):
    if slow and full_size:
        return benchmark.pedantic(fn, rounds=1, iterations=1, warmup_rounds=0)
    return benchmark(fn)


def _pycocotools(gt, res, iou_type):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def load():
        with _quiet():
            g = COCO()
            g.dataset = copy.deepcopy(gt) if isinstance(gt, dict) else gt
            g.createIndex()
            return g, g.loadRes(copy.deepcopy(res) if isinstance(res, list) else res)

    def evaluate(g, d):
        with _quiet():
            E = COCOeval(g, d, iou_type)
            E.evaluate()
            E.accumulate()
            E.summarize()
        return np.asarray(E.stats)

    return load, evaluate


@contextlib.contextmanager
def _lvis_api():
    had, old = hasattr(np, "float"), getattr(np, "float", None)
    np.float = float  # lvis 0.5.3 on numpy >= 1.24
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            logging.getLogger("lvis").setLevel(logging.ERROR)
            yield
    finally:
        if had:
            np.float = old
        else:
            del np.float


def _lvis_stats(gt, res):
    from lvis import LVIS, LVISEval, LVISResults

    with _lvis_api():
        g = LVIS(gt) if isinstance(gt, str) else _lvis_from_dict(LVIS, copy.deepcopy(gt))
        d = LVISResults(g, res if isinstance(res, str) else copy.deepcopy(res))
        E = LVISEval(g, d, "segm")
        E.run()
    return np.array([E.results[k] for k in LVIS_KEYS])


def _lvis_from_dict(cls, dataset):
    g = cls.__new__(cls)
    g.logger = logging.getLogger("lvis")
    g.dataset = dataset
    g._create_index()
    return g


def _hotcoco_load(gt, res):
    import hotcoco

    with _quiet():
        g = hotcoco.COCO(gt)
        return g, g.load_res(res)


def _hotcoco(gt, res, iou_type, lvis, loaded=None):
    import hotcoco

    with _quiet():
        g, d = loaded or _hotcoco_load(gt, res)
        if lvis:
            E = hotcoco.LVISeval(g, d, iou_type)
            E.run()
            r = E.get_results()
            return np.array([r[k] for k in LVIS_KEYS])
        E = hotcoco.COCOeval(g, d, iou_type)
        E.evaluate()
        E.accumulate()
        E.summarize()
    return np.asarray(E.stats)


def _faster_load(gt, res):
    from faster_coco_eval import COCO

    with _quiet():
        g = COCO(copy.deepcopy(gt) if isinstance(gt, dict) else gt)
        return g, g.loadRes(copy.deepcopy(res) if isinstance(res, list) else res)


def _faster(gt, res, iou_type, lvis, loaded=None):
    from faster_coco_eval import COCOeval_faster

    with _quiet():
        g, d = loaded or _faster_load(gt, res)
        E = COCOeval_faster(g, d, iou_type, lvis_style=lvis)
        if lvis:
            E.params.maxDets = [300]
        E.evaluate()
        E.accumulate()
        E.summarize()
    if not lvis:
        return np.asarray(E.stats)
    s = E.stats_as_dict
    keys = ["AP_all", "AP_50", "AP_75", "AP_small", "AP_medium", "AP_large", "APr", "APc", "APf"]
    return np.array([s[k] for k in keys + ["AR_all", "AR_small", "AR_medium", "AR_large"]])


def _ours(gt, res, iou_type, lvis):
    if lvis:
        out = ve.evaluate_lvis(gt, res, iou_type=iou_type).results
        return np.array([out[k] for k in LVIS_KEYS])
    return ve.evaluate_coco(gt, res, iou_type=iou_type).stats


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request, full_size, tmp_path_factory):
    """The workload of one group as dicts and files, and the reference's numbers."""
    name = request.param
    kind, iou_type, polygons = CASES[name]
    size = SIZES[kind][0 if full_size else 1]
    if kind == "kp":
        gt, res = make_keypoint_workload(**size, seed=3)
    else:
        gt, res = make_segm_workload(**size, seed=2, polygons=polygons)
    d = tmp_path_factory.mktemp(name)
    _dump(gt, d / "gt.json")
    _dump(res, d / "res.json")
    lvis = kind == "lvis"
    if lvis:
        expected = _lvis_stats(gt, res)
    else:
        load, evaluate = _pycocotools(gt, res, iou_type)
        expected = evaluate(*load())
    data = dict(name=name, gt=gt, res=res, iou_type=iou_type, lvis=lvis, expected=expected)
    return dict(data, gt_path=str(d / "gt.json"), res_path=str(d / "res.json"))


def _group(benchmark, case, json_files):
    benchmark.group = case["name"] + ("-json" if json_files else "")


@pytest.mark.parametrize("json_files", [False, True], ids=["loaded", "json"])
def test_ours(benchmark, case, json_files):
    _group(benchmark, case, json_files)
    if json_files:
        args = (case["gt_path"], case["res_path"])
    else:
        args = (ve.GroundTruth(case["gt"]), case["res"])
    got = benchmark(lambda: _ours(*args, case["iou_type"], case["lvis"]))
    assert np.array_equal(got, case["expected"])


@pytest.mark.parametrize("json_files", [False, True], ids=["loaded", "json"])
def test_reference(benchmark, case, json_files, full_size):
    """pycocotools (COCO) / lvis-api (LVIS): one round at full size."""
    _group(benchmark, case, json_files)
    if case["lvis"]:
        gt, res = (case["gt_path"], case["res_path"]) if json_files else (case["gt"], case["res"])
        got = _run(benchmark, lambda: _lvis_stats(gt, res), slow=True, full_size=full_size)
    else:
        load, evaluate = _pycocotools(case["gt"], case["res"], case["iou_type"])
        if json_files:
            from pycocotools.coco import COCO

            def run():
                with _quiet():
                    g = COCO(case["gt_path"])
                    return evaluate(g, g.loadRes(case["res_path"]))

            got = _run(benchmark, run, slow=True, full_size=full_size)
        else:
            g, d = load()
            got = _run(benchmark, lambda: evaluate(g, d), slow=True, full_size=full_size)
    assert np.array_equal(got, case["expected"])


@pytest.mark.parametrize("json_files", [False, True], ids=["loaded", "json"])
def test_hotcoco(benchmark, case, json_files):
    pytest.importorskip("hotcoco")
    _group(benchmark, case, json_files)
    gt, res = (case["gt_path"], case["res_path"]) if json_files else (case["gt"], case["res"])
    loaded = None if json_files else _hotcoco_load(gt, res)
    got = benchmark(lambda: _hotcoco(gt, res, case["iou_type"], case["lvis"], loaded))
    if case["lvis"]:  # hotcoco's (and faster-coco-eval's) LVIS masks differ from lvis-api's by ~1e-5
        np.testing.assert_allclose(got, case["expected"], rtol=0, atol=1e-4)
    else:
        assert np.array_equal(got, case["expected"])


@pytest.mark.parametrize("json_files", [False, True], ids=["loaded", "json"])
def test_faster_coco_eval(benchmark, case, json_files):
    pytest.importorskip("faster_coco_eval")
    _group(benchmark, case, json_files)
    gt, res = (case["gt_path"], case["res_path"]) if json_files else (case["gt"], case["res"])
    loaded = None if json_files else _faster_load(gt, res)
    got = benchmark(lambda: _faster(gt, res, case["iou_type"], case["lvis"], loaded))
    np.testing.assert_allclose(got, case["expected"], rtol=0, atol=1e-4 if case["lvis"] else 1e-12)
