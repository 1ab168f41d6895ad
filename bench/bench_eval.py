"""COCO / LVIS evaluation: ours vs pycocotools, lvis-api, faster-coco-eval, hotcoco, ultrafast.

Workloads (bench/_eval_workloads.py, seeded): COCO-like 5,000 images / 80 categories / ~36.6k GT /
100 detections per image (500k), LVIS-like 1,000 images / 1,203 categories / 300 detections per
image (300k).  With ``--benchmark-disable`` (CI) they shrink to a few dozen images and every
competitor runs once, asserting its numbers.

Groups:
  coco-eval / lvis-eval            evaluate + accumulate + summarize on objects already loaded
                                   (ours: GroundTruth + Detections; anchors: COCO + loadRes)
  coco-eval-json / lvis-eval-json  the same, starting from the two JSON files
  lvis-scale-json / -dicts         LVIS-like 4,000 images x 300 detections (1.2M), ours vs hotcoco,
                                   each run in a fresh process by bench/eval_scale.py (which also
                                   has the 8k and LVIS v1 val rows): the timed call includes the
                                   process start; ``extra_info`` holds the job's own wall time and
                                   peak RSS (the numbers of docs/performance.md's scale table)
  coco-stream / lvis-stream        StreamingEvaluator: every update (batches of 16 images) +
                                   compute, compute alone, and the one-shot evaluation of the same
                                   detections; coco-stream-update / lvis-stream-update: one update

Every competitor must reproduce the reference numbers (hotcoco's, bit-identical to pycocotools /
lvis-api); faster-coco-eval, which drops pycocotools' np.spacing(1) term, is held to 1e-12.
pycocotools and lvis-api take about a minute at full size: they run one round (pedantic).
Peak memory: ``python bench/eval_memory.py`` runs each competitor in a fresh process and prints
its peak RSS.
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
from _eval_workloads import make_workload
from eval_scale import run_job, write_workload

try:
    import orjson

    def _dump(obj, path):
        path.write_bytes(orjson.dumps(obj))
except ImportError:  # pragma: no cover
    import json

    def _dump(obj, path):
        path.write_text(json.dumps(obj))


COCO_FULL = dict(n_images=5000, n_cats=80, dets_per_image=100)
COCO_SMALL = dict(n_images=40, n_cats=10, dets_per_image=30)
LVIS_FULL = dict(n_images=1000, n_cats=1203, dets_per_image=300, gt_per_image=11.9)
LVIS_SMALL = dict(n_images=30, n_cats=60, dets_per_image=80, gt_per_image=11.9)
LVIS_KEYS = ["AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf", "AR@300", "ARs@300", "ARm@300", "ARl@300"]


def _quiet():
    return contextlib.redirect_stdout(io.StringIO())


def _hotcoco_coco(gt, res):
    import hotcoco

    with _quiet():
        g = hotcoco.COCO(gt)
        d = g.load_res(res)
    return g, d


def _hotcoco_stats(g, d):
    import hotcoco

    with _quiet():
        E = hotcoco.COCOeval(g, d, "bbox")
        E.evaluate()
        E.accumulate()
        E.summarize()
    return np.asarray(E.stats)


def _hotcoco_lvis(g, d):
    import hotcoco

    with _quiet():
        E = hotcoco.LVISeval(g, d, "bbox")
        E.run()
    r = E.get_results()
    return np.array([r[k] for k in LVIS_KEYS])


def _workload_data(tmp_path_factory, kind, size, seed, expected_stats):
    """The seeded workload as dicts, the (N, 7) array and two JSON files, with the reference
    numbers (hotcoco's, bit-identical to pycocotools / lvis-api) every competitor must reproduce."""
    gt, res, arr = make_workload(**size, seed=seed, lvis=kind == "lvis")
    d = tmp_path_factory.mktemp(kind)
    _dump(gt, d / "gt.json")
    _dump(res, d / "res.json")
    g, dt = _hotcoco_coco(gt, res)
    return {
        "gt": gt,
        "res": res,
        "arr": arr,
        "gt_path": str(d / "gt.json"),
        "res_path": str(d / "res.json"),
        "expected": expected_stats(g, dt),
    }


@pytest.fixture(scope="module")
def coco_data(full_size, tmp_path_factory):
    return _workload_data(tmp_path_factory, "coco", COCO_FULL if full_size else COCO_SMALL, 0, _hotcoco_stats)


@pytest.fixture(scope="module")
def lvis_data(full_size, tmp_path_factory):
    return _workload_data(tmp_path_factory, "lvis", LVIS_FULL if full_size else LVIS_SMALL, 1, _hotcoco_lvis)


def _pycocotools_load(data):
    """pycocotools' COCO objects of a workload (deep copies: loadRes mutates its input)."""
    from pycocotools.coco import COCO

    with _quiet():
        g = COCO()
        g.dataset = copy.deepcopy(data["gt"])
        g.createIndex()
        return g, g.loadRes(copy.deepcopy(data["res"]))


def _ultrafast_load(gt, res):
    import ultrafast_pycocotools as U

    with _quiet():
        g = U.COCO(copy.deepcopy(gt) if isinstance(gt, dict) else gt)
        return g, g.loadRes(copy.deepcopy(res) if isinstance(res, list) else res)


def _ultrafast_stats(g, d, lvis_style=False):
    import ultrafast_pycocotools as U

    with _quiet():
        E = U.COCOeval(g, d, "bbox", lvis_style=True) if lvis_style else U.COCOeval(g, d, "bbox")
        E.evaluate()
        E.accumulate()
        E.summarize()
    return np.asarray(E.stats)


def _run(benchmark, fn, *, slow=False, full_size=True):
    if slow and full_size:
        return benchmark.pedantic(fn, rounds=1, iterations=1, warmup_rounds=0)
    return benchmark(fn)


# ---- COCO, loaded ---------------------------------------------------------------------------------


@pytest.mark.benchmark(group="coco-eval")
def test_coco_ours(benchmark, coco_data):
    gt = ve.GroundTruth(coco_data["gt"])
    dets = ve.Detections.from_array(coco_data["arr"])
    stats = benchmark(lambda: ve.evaluate_coco(gt, dets).stats)
    assert np.array_equal(stats, coco_data["expected"])


@pytest.mark.benchmark(group="coco-eval")
def test_coco_ours_dropin(benchmark, coco_data):
    g, d = _pycocotools_load(coco_data)

    def run():
        with _quiet():
            E = ve.COCOeval(g, d, "bbox")
            E.evaluate()
            E.accumulate()
            E.summarize()
        return E.stats

    assert np.array_equal(benchmark(run), coco_data["expected"])


@pytest.mark.benchmark(group="coco-eval")
def test_coco_pycocotools(benchmark, coco_data, full_size):
    from pycocotools.cocoeval import COCOeval

    g, d = _pycocotools_load(coco_data)

    def run():
        with _quiet():
            E = COCOeval(g, d, "bbox")
            E.evaluate()
            E.accumulate()
            E.summarize()
        return E.stats

    assert np.array_equal(_run(benchmark, run, slow=True, full_size=full_size), coco_data["expected"])


@pytest.mark.benchmark(group="coco-eval")
def test_coco_faster_coco_eval(benchmark, coco_data):
    from faster_coco_eval import COCO, COCOeval_faster

    g = COCO(copy.deepcopy(coco_data["gt"]))
    d = g.loadRes(copy.deepcopy(coco_data["res"]))

    def run():
        E = COCOeval_faster(g, d, "bbox")
        E.evaluate()
        E.accumulate()
        E.summarize()
        return np.asarray(E.stats)

    np.testing.assert_allclose(benchmark(run), coco_data["expected"], rtol=0, atol=1e-12)


@pytest.mark.benchmark(group="coco-eval")
def test_coco_hotcoco(benchmark, coco_data):
    g, d = _hotcoco_coco(coco_data["gt"], coco_data["res"])
    assert np.array_equal(benchmark(lambda: _hotcoco_stats(g, d)), coco_data["expected"])


@pytest.mark.benchmark(group="coco-eval")
def test_coco_ultrafast(benchmark, coco_data):
    g, d = _ultrafast_load(coco_data["gt"], coco_data["res"])
    stats = benchmark(lambda: _ultrafast_stats(g, d))
    assert np.array_equal(stats, coco_data["expected"])


# ---- COCO, from JSON files ---------------------------------------------------------------------------


@pytest.mark.benchmark(group="coco-eval-json")
def test_coco_json_ours(benchmark, coco_data):
    stats = benchmark(lambda: ve.evaluate_coco(coco_data["gt_path"], coco_data["res_path"]).stats)
    assert np.array_equal(stats, coco_data["expected"])


@pytest.mark.benchmark(group="coco-eval-json")
def test_coco_json_hotcoco(benchmark, coco_data):
    def run():
        g, d = _hotcoco_coco(coco_data["gt_path"], coco_data["res_path"])
        return _hotcoco_stats(g, d)

    assert np.array_equal(benchmark(run), coco_data["expected"])


@pytest.mark.benchmark(group="coco-eval-json")
def test_coco_json_ultrafast(benchmark, coco_data):
    def run():
        g, d = _ultrafast_load(coco_data["gt_path"], coco_data["res_path"])
        return _ultrafast_stats(g, d)

    assert np.array_equal(benchmark(run), coco_data["expected"])


# ---- LVIS, loaded ----------------------------------------------------------------------------------


@pytest.mark.benchmark(group="lvis-eval")
def test_lvis_ours(benchmark, lvis_data):
    gt = ve.GroundTruth(lvis_data["gt"])
    dets = ve.Detections.from_array(lvis_data["arr"])
    res = benchmark(lambda: ve.evaluate_lvis(gt, dets).stats)
    assert np.array_equal(res, lvis_data["expected"])


@pytest.mark.benchmark(group="lvis-eval")
def test_lvis_lvis_api(benchmark, lvis_data, full_size):
    from lvis import LVIS, LVISEval, LVISResults

    class _FromDict(LVIS):
        def __init__(self, dataset):
            self.logger = logging.getLogger("lvis")
            self.dataset = dataset
            self._create_index()

    had, old = hasattr(np, "float"), getattr(np, "float", None)
    np.float = float  # lvis 0.5.3 on numpy >= 1.24
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            logging.getLogger("lvis").setLevel(logging.ERROR)
            g = _FromDict(copy.deepcopy(lvis_data["gt"]))
            d = LVISResults(g, copy.deepcopy(lvis_data["res"]))

            def run():
                E = LVISEval(g, d, "bbox")
                E.run()
                return np.array([E.results[k] for k in LVIS_KEYS])

            res = _run(benchmark, run, slow=True, full_size=full_size)
    finally:
        if had:
            np.float = old
        else:
            del np.float
    assert np.array_equal(res, lvis_data["expected"])


@pytest.mark.benchmark(group="lvis-eval")
def test_lvis_faster_coco_eval(benchmark, lvis_data):
    from faster_coco_eval import COCO, COCOeval_faster

    g = COCO(copy.deepcopy(lvis_data["gt"]))
    d = g.loadRes(copy.deepcopy(lvis_data["res"]))

    def run():
        E = COCOeval_faster(g, d, "bbox", lvis_style=True)
        E.params.maxDets = [300]
        E.evaluate()
        E.accumulate()
        E.summarize()
        s = E.stats_as_dict
        return np.array(
            [
                s["AP_all"],
                s["AP_50"],
                s["AP_75"],
                s["AP_small"],
                s["AP_medium"],
                s["AP_large"],
                s["APr"],
                s["APc"],
                s["APf"],
                s["AR_all"],
                s["AR_small"],
                s["AR_medium"],
                s["AR_large"],
            ]
        )

    np.testing.assert_allclose(benchmark(run), lvis_data["expected"], rtol=0, atol=1e-12)


@pytest.mark.benchmark(group="lvis-eval")
def test_lvis_hotcoco(benchmark, lvis_data):
    g, d = _hotcoco_coco(lvis_data["gt"], lvis_data["res"])
    assert np.array_equal(benchmark(lambda: _hotcoco_lvis(g, d)), lvis_data["expected"])


@pytest.mark.benchmark(group="lvis-eval")
def test_lvis_ultrafast(benchmark, lvis_data):
    g, d = _ultrafast_load(lvis_data["gt"], lvis_data["res"])
    stats = benchmark(lambda: _ultrafast_stats(g, d, lvis_style=True))
    assert np.array_equal(stats, lvis_data["expected"])  # same 13-key order


# ---- LVIS, from JSON files -----------------------------------------------------------------------------


@pytest.mark.benchmark(group="lvis-eval-json")
def test_lvis_json_ours(benchmark, lvis_data):
    res = benchmark(lambda: ve.evaluate_lvis(lvis_data["gt_path"], lvis_data["res_path"]).stats)
    assert np.array_equal(res, lvis_data["expected"])


@pytest.mark.benchmark(group="lvis-eval-json")
def test_lvis_json_hotcoco(benchmark, lvis_data):
    def run():
        g, d = _hotcoco_coco(lvis_data["gt_path"], lvis_data["res_path"])
        return _hotcoco_lvis(g, d)

    assert np.array_equal(benchmark(run), lvis_data["expected"])


@pytest.mark.benchmark(group="lvis-eval-json")
def test_lvis_json_ultrafast(benchmark, lvis_data):
    def run():
        g, d = _ultrafast_load(lvis_data["gt_path"], lvis_data["res_path"])
        return _ultrafast_stats(g, d, lvis_style=True)

    assert np.array_equal(benchmark(run), lvis_data["expected"])


# ---- LVIS at scale (fresh processes; bench/eval_scale.py has the 8k and full-shape rows) ---------


@pytest.fixture(scope="module")
def scale_files(full_size, tmp_path_factory):
    n = 4000 if full_size else 40
    gt_path, res_path = write_workload(n, tmp_path_factory.mktemp("scale") / f"lvis_scale_{n}")
    g, d = _hotcoco_coco(str(gt_path), str(res_path))
    return gt_path, res_path, _hotcoco_lvis(g, d)[0]


def _scale_row(benchmark, scale_files, library, kind):
    gt_path, res_path, expected_ap = scale_files
    out = benchmark.pedantic(run_job, args=(library, kind, gt_path, res_path), rounds=1, iterations=1)
    benchmark.extra_info.update(out)
    assert out["ap"] == expected_ap


@pytest.mark.benchmark(group="lvis-scale-json")
@pytest.mark.parametrize("library", ["ours", "hotcoco"])
def test_lvis_scale_json(benchmark, scale_files, library):
    _scale_row(benchmark, scale_files, library, "path")


@pytest.mark.benchmark(group="lvis-scale-dicts")
@pytest.mark.parametrize("library", ["ours", "hotcoco"])
def test_lvis_scale_dicts(benchmark, scale_files, library):
    _scale_row(benchmark, scale_files, library, "dicts")


# ---- streaming evaluation ---------------------------------------------------------------------------


def _batches(arr, images_per_batch=16):
    """The (N, 7) rows of every 16 consecutive images (the workload lists detections by image)."""
    _, first = np.unique(arr[:, 0], return_index=True)
    bounds = np.append(np.sort(first)[::images_per_batch], len(arr))
    return [arr[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def _stream_group(benchmark, data, protocol, what):
    gt = ve.GroundTruth(data["gt"])
    batches = _batches(data["arr"])
    evaluate = ve.evaluate_coco if protocol == "coco" else ve.evaluate_lvis

    def all_updates():
        ev = ve.StreamingEvaluator(gt, protocol=protocol)
        for b in batches:
            ev.update(b)
        return ev

    if what == "updates+compute":
        res = benchmark(lambda: all_updates().compute())
    elif what == "compute":
        ev = all_updates()
        res = benchmark(ev.compute)
    else:
        dets = ve.Detections.from_array(data["arr"])
        res = benchmark(lambda: evaluate(gt, dets))
    assert np.array_equal(res.stats, data["expected"])


@pytest.mark.benchmark(group="coco-stream")
@pytest.mark.parametrize("what", ["updates+compute", "compute"])
def test_coco_stream_ours(benchmark, coco_data, what):
    _stream_group(benchmark, coco_data, "coco", what)


@pytest.mark.benchmark(group="coco-stream")
def test_coco_stream_oneshot(benchmark, coco_data):
    _stream_group(benchmark, coco_data, "coco", "one-shot")


@pytest.mark.benchmark(group="lvis-stream")
@pytest.mark.parametrize("what", ["updates+compute", "compute"])
def test_lvis_stream_ours(benchmark, lvis_data, what):
    _stream_group(benchmark, lvis_data, "lvis", what)


@pytest.mark.benchmark(group="lvis-stream")
def test_lvis_stream_oneshot(benchmark, lvis_data):
    _stream_group(benchmark, lvis_data, "lvis", "one-shot")


def _update_bench(benchmark, data, protocol):
    gt = ve.GroundTruth(data["gt"])
    batches = _batches(data["arr"])
    ev = ve.StreamingEvaluator(gt, protocol=protocol)
    todo = iter(batches)
    # Each round evaluates the next batch of 16 images (an image is evaluated once).
    benchmark.pedantic(lambda: ev.update(next(todo)), rounds=len(batches), iterations=1)
    benchmark.extra_info["detections_per_batch"] = len(data["arr"]) / len(batches)
    for rest in todo:  # with --benchmark-disable pedantic runs once
        ev.update(rest)
    assert np.array_equal(ev.compute().stats, data["expected"])


@pytest.mark.benchmark(group="coco-stream-update")
def test_coco_stream_update16_ours(benchmark, coco_data):
    _update_bench(benchmark, coco_data, "coco")


@pytest.mark.benchmark(group="lvis-stream-update")
def test_lvis_stream_update16_ours(benchmark, lvis_data):
    _update_bench(benchmark, lvis_data, "lvis")
