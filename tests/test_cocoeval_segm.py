"""Mask evaluation (iou_type="segm"): bit-identical to pycocotools 2.0.11 and lvis-api 0.5.3.

Every stat and every cell of precision / recall / scores is compared with ``np.array_equal`` on
seeded random and adversarial sets (``_segm_synth.py``), on the real COCO val2014 fixtures
(cocoapi's demo segm results), and every IoU cell of random mask pairs is compared with
``maskUtils.iou``.  Inputs on which pycocotools hangs, crashes or fails get a ValueError naming
the record.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import pathlib

import numpy as np
import pytest

pytest.importorskip("pycocotools")
from pycocotools import mask as mask_utils  # noqa: E402
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval as RefCOCOeval  # noqa: E402

from _segm_synth import make_segm_dataset  # noqa: E402
from vrft_rewards import _C  # noqa: E402
from vrft_rewards.eval import COCOeval, evaluate_coco, evaluate_lvis  # noqa: E402

REAL = pathlib.Path(__file__).resolve().parents[1] / ".." / ".." / "shared" / "data" / "real-coco"
REAL = pathlib.Path("/work/shared/data/real-coco") if not REAL.exists() else REAL


def quiet(f, *a, **k):
    with contextlib.redirect_stdout(io.StringIO()):
        return f(*a, **k)


def coco_of(gt: dict) -> COCO:
    c = COCO()
    c.dataset = copy.deepcopy(gt)
    quiet(c.createIndex)
    return c


def reference(gt, results, iou_type="segm", **params) -> RefCOCOeval:
    g = coco_of(gt)
    d = quiet(g.loadRes, copy.deepcopy(results))
    E = RefCOCOeval(g, d, iou_type)
    for k, v in params.items():
        setattr(E.params, k, v)
    quiet(E.evaluate)
    quiet(E.accumulate)
    quiet(E.summarize)
    return E


_KW = {
    "imgIds": "img_ids",
    "catIds": "cat_ids",
    "maxDets": "max_dets",
    "areaRng": "area_ranges",
    "useCats": "use_cats",
    "iouThrs": "iou_thrs",
    "recThrs": "rec_thrs",
}


def ours(gt, results, iou_type="segm", **params):
    return evaluate_coco(gt, results, iou_type=iou_type, **{_KW[k]: v for k, v in params.items()})


def assert_identical(ref, res) -> None:
    assert np.array_equal(np.asarray(ref.stats), res.stats), (ref.stats, res.stats)
    for key, mine in (("precision", res.precision), ("recall", res.recall), ("scores", res.scores)):
        theirs = ref.eval[key]
        assert theirs.shape == mine.shape
        diff = np.flatnonzero(theirs.ravel() != mine.ravel())
        assert diff.size == 0, f"{key}: {diff.size} cells differ, first {diff[:5]}"


def variant_params(seed: int, gt: dict) -> dict:
    rng = np.random.default_rng(30_000 + seed)
    v = seed % 7
    if v == 1:
        return {"maxDets": [1, 2, 5]}
    if v == 2:
        return {"useCats": 0}
    if v == 3:
        imgs = [im["id"] for im in gt["images"]]
        return {"imgIds": sorted(rng.choice(imgs, size=max(1, len(imgs) // 2), replace=False).tolist())}
    if v == 4:
        return {"iouThrs": np.array([0.0, 0.3, 0.5, 0.9, 1.0]), "recThrs": np.linspace(0, 1, 21)}
    if v == 5:
        return {"areaRng": [[0, 1e10], [0, 60.0], [60.0, 400.0], [400.0, 1e10]]}
    return {}


# ---- parity sweeps ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(150))
def test_random_mask_sets_match_pycocotools_exactly(seed):
    gt, results = make_segm_dataset(seed)
    if not results:
        return
    params = variant_params(seed, gt)
    assert_identical(reference(gt, results, **params), ours(gt, results, **params))


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(150, 450))
def test_more_random_mask_sets_match_pycocotools_exactly(seed):
    gt, results = make_segm_dataset(seed, n_images=int(4 + seed % 9), n_cats=int(1 + seed % 4))
    if not results:
        return
    params = variant_params(seed, gt)
    assert_identical(reference(gt, results, **params), ours(gt, results, **params))


@pytest.mark.parametrize("seed", range(12))
def test_segm_results_evaluated_as_boxes_match_pycocotools(seed):
    # loadRes derives bbox (toBbox) and area (mask pixels) from compressed-RLE results.
    gt, results = make_segm_dataset(seed, results_form="rle")
    if not results:
        return
    assert_identical(reference(gt, results, "bbox"), ours(gt, results, "bbox"))


def _pairs(rng, h, w, n):
    from _segm_synth import _as_rle, _decode, _segmentation

    out = []
    for _ in range(n):
        kind = rng.integers(0, 4)
        if kind == 0:
            out.append(_segmentation(rng, w, h))
            continue
        m = np.zeros((h, w), np.uint8)
        if kind == 1:
            m = (rng.random((h, w)) < rng.random() ** 2).astype(np.uint8)
        elif kind == 2:
            m = _decode(_segmentation(rng, w, h), h, w)
        out.append(_as_rle(rng, m, compressed=rng.random() < 0.5, irregular=rng.random() < 0.3))
    return out


def _to_rle(s, h, w):
    if isinstance(s, list):
        return mask_utils.merge(mask_utils.frPyObjects(s, h, w))
    if isinstance(s["counts"], list):
        return mask_utils.frPyObjects(s, h, w)
    return s


def _our_ious(G, D, h, w, crowd):
    ga = _C.segm_arena(G, np.full(len(G), h), np.full(len(G), w), None, "gt")
    da = _C.segm_arena(D, np.full(len(D), h), np.full(len(D), w), None, "dt")
    ng, nd = len(G), len(D)
    gcols = dict(
        image=np.zeros(ng, np.int64),
        category=np.zeros(ng, np.int64),
        area=np.ones(ng),
        ignore=np.zeros(ng, np.uint8),
        crowd=crowd,
        id_nonzero=np.ones(ng, np.uint8),
        shape=np.arange(ng),
    )
    dcols = dict(
        image=np.zeros(nd, np.int64),
        category=np.zeros(nd, np.int64),
        area=np.ones(nd),
        score=np.linspace(1, 0.1, nd),
        id_positive=np.ones(nd, np.uint8),
        shape=np.arange(nd),
    )
    st = _C.eval_evaluate(
        gcols, dcols, 1, 1, np.array([0.5]), np.array([[0, 1e10]]), -1, gt_masks=ga, dt_masks=da, keep_ious=True
    )
    area, box = _C.segm_area_box(da)
    return st.ious.reshape(nd, ng), area, box


@pytest.mark.parametrize("seed", range(4))
def test_every_iou_cell_area_and_box_matches_mask_utils(seed):
    # Random polygons (odd counts, degenerate parts, outside the image), random / empty masks as
    # compressed and uncompressed RLE (some with zero-length runs, on which rleIou's walk stops
    # early), masks of another size, 30 % crowd: maskUtils.iou / area / toBbox, cell by cell.
    rng = np.random.default_rng(seed)
    cells = 0
    for _ in range(60):
        h, w = int(rng.integers(1, 40)), int(rng.integers(1, 40))
        G, D = _pairs(rng, h, w, int(rng.integers(1, 5))), _pairs(rng, h, w, int(rng.integers(1, 6)))
        if rng.random() < 0.3:
            D.append({"size": [h + 1, w], "counts": [(h + 1) * w]})  # another size: -1 where boxes overlap
        crowd = (rng.random(len(G)) < 0.3).astype(np.uint8)
        ref = mask_utils.iou([_to_rle(s, h, w) for s in D], [_to_rle(s, h, w) for s in G], crowd.tolist())
        mine, area, box = _our_ious(G, D, h, w, crowd)
        assert np.array_equal(mine, np.asarray(ref)), (G, D, crowd)
        for i, s in enumerate(D):
            r = _to_rle(s, h, w)
            assert area[i] == int(mask_utils.area(r)) and np.array_equal(box[i], mask_utils.toBbox(r)), s
        cells += mine.size
    assert cells > 300


def test_pycocotools_iou_walk_quirks_are_reproduced():
    # Identical masks with zero-length runs at the same pixel: rleIou's walk stops there (IoU 0);
    # an RLE whose ones runs are all empty gets the wrapped box [w, h, 1 - w, 1 - h] (mod 2**32).
    a = {"size": [10, 1], "counts": [5, 0, 0, 3, 2]}
    ra = mask_utils.frPyObjects(a, 10, 1)
    mine, area, box = _our_ious([a], [a], 10, 1, np.zeros(1, np.uint8))
    assert mask_utils.iou([ra], [ra], [0])[0][0] == mine[0, 0] == 0.0
    b = {"size": [5, 1], "counts": [5, 0]}
    _, area, box = _our_ious([b], [b], 5, 1, np.zeros(1, np.uint8))
    assert np.array_equal(box[0], mask_utils.toBbox(mask_utils.frPyObjects(b, 5, 1)))
    assert box[0][3] == 2.0**32 - 4


# ---- real fixtures ---------------------------------------------------------------------------------


def _real(name):
    path = REAL / name
    if not path.exists():
        pytest.skip(f"real fixture {path} absent")
    return str(path)


@pytest.mark.parametrize("iou_type", ["segm", "bbox"])
def test_real_val2014_segm_results_match_pycocotools(iou_type):
    gt = _real("faster_coco_eval/dataset__cocoapi__instances_val2014_100.json")
    res = json.loads(pathlib.Path(_real("cocoapi/instances_val2014_fakesegm100_results.json")).read_text())
    g = quiet(COCO, gt)
    d = quiet(g.loadRes, copy.deepcopy(res))
    E = RefCOCOeval(g, d, iou_type)
    quiet(E.evaluate)
    quiet(E.accumulate)
    quiet(E.summarize)
    mine = evaluate_coco(gt, res, iou_type=iou_type)
    assert_identical(E, mine)
    if iou_type == "segm":  # the published printout of cocoapi's demo: AP 0.320; every IoU cell
        assert round(float(mine.stats[0]), 3) == 0.320
        D = COCOeval(gt, copy.deepcopy(res), "segm")
        quiet(D.evaluate)
        assert set(D.ious) == set(E.ious)
        for key, block in E.ious.items():
            assert np.array_equal(np.asarray(block), np.asarray(D.ious[key])), key


def test_real_box_results_evaluated_as_masks_match_pycocotools():
    # loadRes gives box results their box polygon as segmentation.
    gt = _real("faster_coco_eval/dataset__cocoapi__instances_val2014_100.json")
    res = json.loads(pathlib.Path(_real("cocoapi/instances_val2014_fakebbox100_results.json")).read_text())
    g = quiet(COCO, gt)
    E = RefCOCOeval(g, quiet(g.loadRes, copy.deepcopy(res)), "segm")
    quiet(E.evaluate)
    quiet(E.accumulate)
    quiet(E.summarize)
    assert_identical(E, evaluate_coco(gt, res, iou_type="segm"))


def test_real_small_polygon_set_matches_pycocotools():
    gt = _real("faster_coco_eval/dataset__gt_dataset.json")
    res = json.loads(pathlib.Path(_real("faster_coco_eval/dataset__dt_dataset.json")).read_text())
    assert_identical(reference(json.loads(pathlib.Path(gt).read_text()), res), evaluate_coco(gt, res, iou_type="segm"))


# ---- LVIS ------------------------------------------------------------------------------------------


@pytest.fixture
def lvis_api():
    lvis = pytest.importorskip("lvis")
    from _pipeline_data import lvis_api_compat

    class FromDict(lvis.LVIS):
        def __init__(self, dataset):
            self.logger = logging.getLogger("lvis")
            self.dataset = dataset
            self._create_index()

    def run(gt, results, max_dets=300):
        g = FromDict(copy.deepcopy(gt))
        E = lvis.LVISEval(g, lvis.LVISResults(g, copy.deepcopy(results), max_dets=max_dets), "segm")
        E.run()
        return E

    with lvis_api_compat():
        yield run


@pytest.mark.parametrize("seed", range(40))
def test_random_lvis_mask_sets_match_lvis_api_exactly(lvis_api, seed):
    # LVIS: crowd regions are plain regions, results with an empty mask (area 0) are dropped,
    # the federated and not-exhaustive rules, the per-image cap before the branch rule.
    gt, results = make_segm_dataset(seed, lvis=True, results_form=["rle", "bbox"][seed % 2])
    if not results:
        return
    max_dets = [300, 3, -1][seed % 3]
    ref = lvis_api(gt, results, max_dets)
    mine = evaluate_lvis(gt, results, iou_type="segm", max_dets=max_dets)
    assert list(ref.results) == list(mine.results)
    for k in ref.results:
        assert np.array_equal(ref.results[k], mine.results[k]), k
    assert np.array_equal(ref.eval["precision"], mine.precision)
    assert np.array_equal(ref.eval["recall"], mine.recall)


def test_lvis_branch_is_decided_by_the_first_record_after_the_cap(lvis_api):
    # The first result has no bbox but the lowest score of an image over the cap: LVISResults
    # drops it first, so the next record (with a bbox) decides: box areas, not mask areas.
    gt, results = make_segm_dataset(5, lvis=True, results_form="rle", n_images=3)
    first_img = results[0]["image_id"]
    mine_img = [r for r in results if r["image_id"] == first_img]
    for r in results[1:]:
        r["bbox"] = [float(v) * 1.7 for v in mask_utils.toBbox(r["segmentation"])]
    results[0]["score"] = -1.0
    cap = len(mine_img) - 1
    ref = lvis_api(gt, results, cap)
    mine = evaluate_lvis(gt, results, iou_type="segm", max_dets=cap)
    assert all(np.array_equal(ref.results[k], mine.results[k]) for k in ref.results)
    assert np.array_equal(ref.eval["precision"], mine.precision)


def test_real_lvis_val_100_polygons_match_lvis_api(lvis_api):
    # Real LVIS v0.5 val GT polygons; detections = each GT's own polygon, jittered, as compressed RLE.
    gt = json.loads(pathlib.Path(_real("faster_coco_eval/lvis_dataset__lvis_val_100.json")).read_text())
    rng = np.random.default_rng(0)
    sizes = {im["id"]: (im["height"], im["width"]) for im in gt["images"]}
    results = []
    for a in gt["annotations"][:400]:
        h, w = sizes[a["image_id"]]
        m = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(a["segmentation"], h, w)))
        m = np.roll(m, int(rng.integers(-2, 3)), axis=int(rng.integers(0, 2)))
        rle = mask_utils.encode(np.asfortranarray(m))
        rle["counts"] = rle["counts"].decode()
        results.append(
            {
                "image_id": a["image_id"],
                "category_id": a["category_id"],
                "segmentation": rle,
                "score": float(np.round(rng.random(), 3)),
            }
        )
    ref = lvis_api(gt, results)
    mine = evaluate_lvis(gt, results, iou_type="segm")
    for k in ref.results:
        assert np.array_equal(ref.results[k], mine.results[k]), k
    assert np.array_equal(ref.eval["precision"], mine.precision)


# ---- inputs pycocotools cannot evaluate ------------------------------------------------------------


def _one(seg, res_seg=None, **res):
    gt = {
        "images": [{"id": 1, "height": 20, "width": 30}],
        "categories": [{"id": 1, "name": "a"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "segmentation": seg,
                "area": 10.0,
                "bbox": [0, 0, 5, 5],
                "iscrowd": 0,
            }
        ],
    }
    rec = {"image_id": 1, "category_id": 1, "score": 0.5, "bbox": [0, 0, 5, 5]}
    if res_seg is not None:
        rec["segmentation"] = res_seg
    rec.update(res)
    return gt, [rec]


@pytest.mark.parametrize(
    "seg, match",
    [
        ({"size": [20, 30], "counts": [5, 5]}, r"gt\['annotations'\]\[0\]\['segmentation'\]: RLE counts add up to 10"),
        ([[1.0, 2.0, float("nan"), 4.0, 5.0, 6.0]], r"\[0\]\['segmentation'\]: polygon coordinate 2 \(nan\)"),
        ([], "empty polygon list"),
        ([[1, 2, 3, 4]], "4 coordinates"),
        ([[1, 2]], "fewer than 3 points"),
        ({"size": [20, 30]}, "needs 'size' and 'counts'"),
        ({"size": [20, 30], "counts": "!!"}, "not a valid compressed RLE"),
        ({"size": [20, 30], "counts": [-1, 601]}, "outside"),
        ([[1, 2, 3, 4, 5, 1e9]], "beyond"),
        ("polygon", "must be a list of polygons or an RLE"),
        ([{"size": [20, 30], "counts": [600]}], "list of RLE dicts"),
    ],
)
def test_segmentations_pycocotools_cannot_evaluate_are_named(seg, match):
    gt, results = _one(seg)
    with pytest.raises(ValueError, match=match):
        evaluate_coco(gt, results, iou_type="segm")


def test_bbox_branch_needs_a_bbox_on_every_result():
    gt, results = _one([[0, 0, 5, 0, 5, 5]], res_seg=[[0, 0, 5, 0, 5, 5]])
    results.append({"image_id": 1, "category_id": 1, "score": 0.3, "segmentation": [[0, 0, 5, 0, 5, 5]]})
    with pytest.raises(ValueError, match=r"results\[1\] has no 'bbox'"):  # pycocotools: KeyError
        evaluate_coco(gt, results, iou_type="segm")


def test_result_segmentation_errors_name_the_result():
    gt, results = _one([[0, 0, 5, 0, 5, 5]], res_seg={"size": [20, 30], "counts": [1, 2]})
    with pytest.raises(ValueError, match=r"results\[0\]\['segmentation'\]: RLE counts add up to 3"):
        evaluate_coco(gt, results, iou_type="segm")


def test_gt_without_segmentation_and_polygon_image_without_size_are_named():
    gt, results = _one([[0, 0, 5, 0, 5, 5]])
    del gt["annotations"][0]["segmentation"]
    with pytest.raises(ValueError, match=r"gt\['annotations'\]\[0\] has no 'segmentation'"):
        evaluate_coco(gt, results, iou_type="segm")
    gt, results = _one([[0, 0, 5, 0, 5, 5]])
    del gt["images"][0]["height"]
    with pytest.raises(ValueError, match="no 'height' / 'width'"):
        evaluate_coco(gt, results, iou_type="segm")


def test_inputs_are_not_modified():
    gt, results = make_segm_dataset(3)
    gt0, res0 = copy.deepcopy(gt), copy.deepcopy(results)
    evaluate_coco(gt, results, iou_type="segm")
    assert gt == gt0 and results == res0
