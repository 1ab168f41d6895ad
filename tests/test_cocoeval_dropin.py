"""The drop-ins are pycocotools' ``COCOeval`` / lvis-api's ``LVISEval`` for the scripts that use them.

Checked against the references themselves: every attribute a script reads (``evalImgs`` entry
by entry with dtypes, ``ious``, ``_gts`` / ``_dts``, ``params``, ``eval``, ``stats``; LVIS
``eval_imgs``, ``ious``, ``img_nel``, ``eval['dt_pointers']``), the per-cell methods driven the way
DETR's and torchvision's ``CocoEvaluator`` drive them (restated below from
pytorch/vision ``references/detection/coco_eval.py`` at 12e7d7b391a3455e4eb9af251d47c6c73c33edb6,
which copies pycocotools' ``evaluate`` and ``loadRes``; and torchvision's current helper that calls
``evaluate()`` and reshapes ``evalImgs``), one process and a two-process merge; torchmetrics'
``MeanAveragePrecision`` (installed from PyPI) under :func:`patch_pycocotools` and without it;
and a perturbation table (empty inputs, omitted fields, emptied params) where both give the same
numbers or raise the same exception type.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import sys

import numpy as np
import pytest

pytest.importorskip("pycocotools")
import pycocotools.cocoeval as pycocotools_cocoeval  # noqa: E402
from pycocotools.coco import COCO  # noqa: E402

from _eval_synth import make_dataset  # noqa: E402
from _segm_synth import make_keypoint_dataset, make_segm_dataset  # noqa: E402
from vrft_rewards.eval import COCOeval, LVISeval, Params, patch_pycocotools, patched_pycocotools  # noqa: E402

# The reference classes live in a dict, not in module globals: patch_pycocotools rebinds every
# module global that is pycocotools' class, and these tests need the original under the patch.
REF = {"COCOeval": pycocotools_cocoeval.COCOeval, "Params": pycocotools_cocoeval.Params}


def quiet(f, *a, **k):
    with contextlib.redirect_stdout(io.StringIO()):
        return f(*a, **k)


def coco_of(gt: dict) -> COCO:
    c = COCO()
    c.dataset = copy.deepcopy(gt)
    quiet(c.createIndex)
    return c


def dataset(iou_type: str, seed: int):
    if iou_type == "bbox":
        return make_dataset(seed, id_zero=seed % 5 == 0)
    if iou_type == "segm":
        return make_segm_dataset(seed)
    return make_keypoint_dataset(seed)


def pair(iou_type, gt, results):
    """(pycocotools' COCOeval, ours) on separate copies of the same COCO objects."""
    out = []
    for cls in (REF["COCOeval"], COCOeval):
        g = coco_of(gt)
        out.append(cls(g, quiet(g.loadRes, copy.deepcopy(results)), iou_type))
    return out


def same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and np.array_equal(a, b)
        )
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def assert_same_eval_imgs(ref: list, mine: list) -> None:
    assert len(ref) == len(mine)
    for i, (r, m) in enumerate(zip(ref, mine)):
        assert (r is None) == (m is None), i
        if r is None:
            continue
        assert list(r) == list(m), i
        for key in r:
            assert same(r[key], m[key]), (i, key, r[key], m[key])


def assert_same_ious(ref: dict, mine) -> None:
    assert list(ref) == list(mine)
    for key, block in ref.items():
        assert same(block if isinstance(block, list) else np.asarray(block), mine[key]), key
        if isinstance(block, np.ndarray):
            assert block.flags.f_contiguous == mine[key].flags.f_contiguous, key


def assert_same_cells(ref, mine, ignore_key="ignore") -> None:
    assert list(ref) == list(mine)
    for key in ref:
        assert [a["id"] for a in ref[key]] == [a["id"] for a in mine[key]], key
        assert [bool(a[ignore_key]) for a in ref[key]] == [bool(a[ignore_key]) for a in mine[key]], key


def run(E, *steps):
    for step in steps:
        quiet(getattr(E, step))
    return E


def assert_same_eval(ref, mine) -> None:
    assert np.array_equal(np.asarray(ref.stats), np.asarray(mine.stats))
    for key in ("precision", "recall", "scores"):
        assert same(ref.eval[key], mine.eval[key]), key
    assert ref.eval["counts"] == mine.eval["counts"]


# ---- attributes ---------------------------------------------------------------------------------


CASES = [("bbox", s) for s in range(0, 40, 5)] + [("segm", s) for s in range(8)] + [("keypoints", s) for s in range(8)]


@pytest.mark.parametrize("iou_type, seed", CASES)
def test_attributes_scripts_read_match_pycocotools(iou_type, seed):
    gt, results = dataset(iou_type, seed)
    if not results:
        return
    ref, mine = pair(iou_type, gt, results)
    if seed % 3 == 1:
        ref.params.useCats = mine.params.useCats = 0
    run(ref, "evaluate")
    run(mine, "evaluate")
    assert_same_ious(ref.ious, mine.ious)
    assert_same_eval_imgs(ref.evalImgs, mine.evalImgs)
    assert_same_cells(ref._gts, mine._gts)
    assert_same_cells(ref._dts, mine._dts, ignore_key="id")
    run(ref, "accumulate", "summarize")
    run(mine, "accumulate", "summarize")
    assert_same_eval(ref, mine)
    assert vars(ref.params).keys() == vars(mine.params).keys()


def test_params_are_pycocotools_params():
    for iou_type in ("bbox", "segm", "keypoints"):
        a, b = REF["Params"](iou_type), Params(iou_type)
        assert vars(a).keys() == vars(b).keys()
        for key, value in vars(a).items():
            assert same(value, getattr(b, key)), key
        a.setKpParams(), b.setKpParams()
        a.setDetParams(), b.setDetParams()
        assert all(same(v, getattr(b, k)) for k, v in vars(a).items())
    with pytest.raises(Exception, match="iouType not supported"):
        Params("mask")


def test_accumulate_with_other_params_follows_pycocotools():
    gt, results = make_dataset(7, n_images=12, n_cats=5)
    ref, mine = pair("bbox", gt, results)
    run(ref, "evaluate")
    run(mine, "evaluate")
    for p_of in (lambda E: E.params, lambda E: copy.deepcopy(E.params)):
        pr, pm = p_of(ref), p_of(mine)
        for p in (pr, pm):
            p.catIds = p.catIds[1:4]
            p.maxDets = [1, 100]
            p.areaRng = p.areaRng[:3]
            p.recThrs = np.linspace(0, 1, 11)
        quiet(ref.accumulate, pr)
        quiet(mine.accumulate, pm)
        for key in ("precision", "recall", "scores"):
            assert same(ref.eval[key], mine.eval[key]), key


# ---- the CocoEvaluator patterns -----------------------------------------------------------------


def detr_evaluate(self):
    """pytorch/vision references/detection/coco_eval.py @ 12e7d7b3 (and DETR's
    datasets/coco_eval.py): its copy of pycocotools' evaluate without the prints, restated."""
    p = self.params
    p.imgIds = list(np.unique(p.imgIds))
    if p.useCats:
        p.catIds = list(np.unique(p.catIds))
    p.maxDets = sorted(p.maxDets)
    self.params = p
    self._prepare()
    cat_ids = p.catIds if p.useCats else [-1]
    compute = self.computeOks if p.iouType == "keypoints" else self.computeIoU
    self.ious = {(i, c): compute(i, c) for i in p.imgIds for c in cat_ids}
    max_det = p.maxDets[-1]
    cells = [self.evaluateImg(i, c, a, max_det) for c in cat_ids for a in p.areaRng for i in p.imgIds]
    cells = np.asarray(cells).reshape(len(cat_ids), len(p.areaRng), len(p.imgIds))
    self._paramsEval = copy.deepcopy(self.params)
    return p.imgIds, cells


def current_evaluate(coco_eval):
    """torchvision's current helper: run evaluate() quietly, reshape evalImgs."""
    quiet(coco_eval.evaluate)
    return coco_eval.params.imgIds, np.asarray(coco_eval.evalImgs).reshape(
        -1, len(coco_eval.params.areaRng), len(coco_eval.params.imgIds)
    )


def coco_evaluator(cls, gt, results, iou_type, shards, evaluate):
    """CocoEvaluator.update per process, then merge (np.unique of the image ids, as `merge`),
    create_common_coco_eval (assign evalImgs, params.imgIds, _paramsEval), accumulate, summarize."""
    coco_gt = coco_of(gt)
    img_ids_all, cells_all = [], []
    coco_eval = None
    for shard in shards:  # one "process" each
        coco_eval = cls(coco_gt, iouType=iou_type)
        mine = [r for r in results if r["image_id"] in shard]
        coco_eval.cocoDt = quiet(coco_gt.loadRes, copy.deepcopy(mine)) if mine else COCO()
        coco_eval.params.imgIds = list(shard)
        ids, cells = evaluate(coco_eval)
        img_ids_all.extend(ids)
        cells_all.append(cells)
    merged_ids, idx = np.unique(np.array(img_ids_all), return_index=True)
    merged = np.concatenate(cells_all, 2)[..., idx]
    coco_eval.evalImgs = list(merged.flatten())
    coco_eval.params.imgIds = list(merged_ids)
    coco_eval._paramsEval = copy.deepcopy(coco_eval.params)
    run(coco_eval, "accumulate", "summarize")
    return coco_eval


@pytest.mark.parametrize("evaluate", [detr_evaluate, current_evaluate], ids=["copied_evaluate", "evaluate_helper"])
@pytest.mark.parametrize("iou_type, seed", [("bbox", 1), ("bbox", 4), ("segm", 2), ("keypoints", 3)])
@pytest.mark.parametrize("processes", [1, 2])
def test_coco_evaluator_pattern_gives_pycocotools_numbers(evaluate, iou_type, seed, processes):
    gt, results = dataset(iou_type, seed)
    ids = [im["id"] for im in gt["images"]]
    shards = [ids] if processes == 1 else [ids[::2], ids[1::2]]
    ref = coco_evaluator(REF["COCOeval"], gt, results, iou_type, shards, evaluate)
    mine = coco_evaluator(COCOeval, gt, results, iou_type, shards, evaluate)
    assert_same_eval(ref, mine)
    one = run(pair(iou_type, gt, results)[0], "evaluate", "accumulate", "summarize")
    assert np.array_equal(one.stats, mine.stats)  # the merge changes nothing


def test_one_process_merge_keeps_the_native_accumulation():
    # torchvision re-assigns our own evalImgs entries after a one-process "merge": recognised.
    gt, results = make_dataset(3)
    _, mine = pair("bbox", gt, results)
    ids, cells = current_evaluate(mine)
    mine.evalImgs = list(cells.flatten())
    mine._paramsEval = copy.deepcopy(mine.params)
    assert mine._our_eval_imgs()
    run(mine, "accumulate")


def test_no_results_and_empty_coco_mean_no_detections():
    gt, results = make_dataset(2)
    g = coco_of(gt)
    ref = run(REF["COCOeval"](g, COCO(), "bbox"), "evaluate", "accumulate", "summarize")
    for dt in (COCO(), None, []):
        E = COCOeval(coco_of(gt), iouType="bbox")
        E.cocoDt = dt
        run(E, "evaluate", "accumulate", "summarize")
        assert_same_eval(ref, E)


# ---- patch_pycocotools ---------------------------------------------------------------------------


def test_patch_rebinds_module_attributes_and_imported_globals_and_undoes():
    import types

    user = types.ModuleType("user_script_for_patch_test")
    user.COCOeval = REF["COCOeval"]  # `from pycocotools.cocoeval import COCOeval` at import
    sys.modules[user.__name__] = user
    try:
        undo = patch_pycocotools()
        assert pycocotools_cocoeval.COCOeval is COCOeval and user.COCOeval is COCOeval
        undo2 = patch_pycocotools()  # nested: nothing left to rebind
        undo2()
        assert pycocotools_cocoeval.COCOeval is COCOeval
        undo()
        undo()  # idempotent
        assert pycocotools_cocoeval.COCOeval is REF["COCOeval"] and user.COCOeval is REF["COCOeval"]
        with patched_pycocotools():
            from pycocotools.cocoeval import COCOeval as inside

            assert inside is COCOeval
        assert pycocotools_cocoeval.COCOeval is REF["COCOeval"]
    finally:
        del sys.modules[user.__name__]


def test_patch_covers_lvis_and_not_subclasses():
    lvis = pytest.importorskip("lvis")
    original = lvis.LVISEval

    class Subclass(REF["COCOeval"]):  # e.g. detectron2's COCOeval_opt, defined at import
        pass

    with patched_pycocotools():
        assert lvis.LVISEval is LVISeval and lvis.eval.LVISEval is LVISeval
        assert Subclass.__mro__[1] is REF["COCOeval"]
    assert lvis.LVISEval is original and lvis.eval.LVISEval is original


# ---- torchmetrics -------------------------------------------------------------------------------


def _torchmetrics_inputs(seed: int):
    torch = pytest.importorskip("torch")
    from pycocotools import mask as mask_utils

    rng = np.random.default_rng(seed)
    preds, target = [], []
    for _ in range(4):
        h, w = 40, 50
        n_gt, n_dt = int(rng.integers(1, 5)), int(rng.integers(0, 7))

        def masks_and_boxes(n, h=h, w=w):
            masks = np.zeros((n, h, w), bool)
            boxes = np.zeros((n, 4), np.float32)
            for i in range(n):
                x0, y0 = int(rng.integers(0, w - 5)), int(rng.integers(0, h - 5))
                x1, y1 = int(rng.integers(x0 + 2, w)), int(rng.integers(y0 + 2, h))
                masks[i, y0:y1, x0:x1] = rng.random((y1 - y0, x1 - x0)) < 0.9
                boxes[i] = [x0, y0, x1, y1]
            return masks, boxes

        gm, gb = masks_and_boxes(n_gt)
        dm, db = masks_and_boxes(n_dt)
        target.append(
            {
                "boxes": torch.tensor(gb),
                "masks": torch.tensor(gm),
                "labels": torch.tensor(rng.integers(0, 3, n_gt)),
                "iscrowd": torch.tensor((rng.random(n_gt) < 0.2).astype(int)),
            }
        )
        preds.append(
            {
                "boxes": torch.tensor(db),
                "masks": torch.tensor(dm),
                "labels": torch.tensor(rng.integers(0, 3, n_dt)),
                "scores": torch.tensor(np.round(rng.random(n_dt), 2).astype(np.float32)),
            }
        )
    del mask_utils
    return preds, target


def _box_convert(boxes, in_fmt, out_fmt):
    """torchvision.ops.box_convert (pytorch/vision torchvision/ops/boxes.py and _box_convert.py,
    0.2x), restated for the formats torchmetrics converts: torchvision does not import beside the
    CPU torch wheel here ("operator torchvision::nms does not exist"), and torchmetrics'
    MeanAveragePrecision needs nothing else from it."""
    import torch

    if in_fmt == out_fmt:
        return boxes.clone()
    if in_fmt == "xywh":
        x, y, w, h = boxes.unbind(-1)
        boxes = torch.stack([x, y, x + w, y + h], dim=-1)
    elif in_fmt == "cxcywh":
        cx, cy, w, h = boxes.unbind(-1)
        boxes = torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=-1)
    if out_fmt == "xywh":
        x1, y1, x2, y2 = boxes.unbind(-1)
        return torch.stack([x1, y1, x2 - x1, y2 - y1], dim=-1)
    if out_fmt == "cxcywh":
        x1, y1, x2, y2 = boxes.unbind(-1)
        return torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], dim=-1)
    return boxes


@pytest.fixture
def torchmetrics_map(monkeypatch):
    """torchmetrics' MeanAveragePrecision, run as installed from PyPI; where torchvision does not
    import, its box_convert is the restatement above."""
    pytest.importorskip("torchmetrics")
    pytest.importorskip("torch")
    import types

    import torchmetrics.detection.mean_ap as mean_ap

    try:
        import torchvision.ops  # noqa: F401
    except Exception:  # noqa: BLE001 - absent, or present but unloadable beside this torch
        ops = types.ModuleType("torchvision.ops")
        ops.box_convert = _box_convert
        root = types.ModuleType("torchvision")
        root.ops = ops
        monkeypatch.setitem(sys.modules, "torchvision", root)
        monkeypatch.setitem(sys.modules, "torchvision.ops", ops)
        monkeypatch.setattr(mean_ap, "_TORCHVISION_AVAILABLE", True)

    def compute(iou_type, preds, target, **kw):
        metric = mean_ap.MeanAveragePrecision(iou_type=iou_type, extended_summary=True, class_metrics=True, **kw)
        metric.update(preds, target)
        return metric.compute()

    return compute


@pytest.mark.parametrize("iou_type", ["bbox", "segm", ("bbox", "segm")])
@pytest.mark.parametrize("seed", range(3))
def test_torchmetrics_mean_average_precision_is_unchanged_under_the_patch(torchmetrics_map, iou_type, seed):
    # extended_summary reads `ious`; class_metrics re-evaluates with params.catIds = [c]; the
    # (bbox, segm) pair rewrites the predictions' `area` in place between the two evaluations.
    import torch

    preds, target = _torchmetrics_inputs(seed)
    ref = torchmetrics_map(iou_type, preds, target)
    with patched_pycocotools():
        mine = torchmetrics_map(iou_type, preds, target)
    assert ref.keys() == mine.keys()
    for key, value in ref.items():
        if isinstance(value, dict):  # the extended summary's ious
            assert value.keys() == mine[key].keys(), key
            for cell, block in value.items():
                other = mine[key][cell]
                if isinstance(block, list):
                    assert other == block, (key, cell)
                else:
                    assert torch.equal(block, other), (key, cell)
        else:
            assert torch.equal(value, mine[key]), key


# ---- perturbations: same numbers or the same exception type --------------------------------------


def _outcome(cls, gt, results, iou_type, params):
    try:
        g = coco_of(gt)
        d = quiet(g.loadRes, copy.deepcopy(results)) if results is not None else COCO()
        E = cls(g, d, iou_type)
        for k, v in params.items():
            setattr(E.params, k, v)
        run(E, "evaluate", "accumulate", "summarize")
        return ("ok", np.asarray(E.stats), E.eval["precision"], E.eval["recall"])
    except Exception as e:  # noqa: BLE001 - the exception type is the outcome compared
        return ("raise", type(e))


def _perturbations():
    """(name, gt, results, params, documented difference or None)."""
    gt, results = make_dataset(11, n_images=6, n_cats=3)
    out = [
        ("no detections", gt, None, {}, None),
        ("no GT annotations", dict(gt, annotations=[]), results, {}, None),
        ("no GT images or annotations", dict(gt, annotations=[], images=[]), [], {}, None),
    ]
    lenient = {"iscrowd": "a GT without iscrowd counts as iscrowd=0 (docs/evaluation.md, migration notes)"}
    for field in ("iscrowd", "area", "bbox"):
        g = copy.deepcopy(gt)
        for a in g["annotations"]:
            a.pop(field, None)
        out.append((f"GT without {field}", g, results, {}, lenient.get(field)))
    for field in ("score", "bbox", "category_id"):
        r = [{k: v for k, v in x.items() if k != field} for x in results]
        out.append((f"results without {field}", gt, r, {}, None))
    for key, value in (
        ("imgIds", []),
        ("catIds", []),
        ("maxDets", []),
        ("maxDets", [100]),
        ("areaRng", []),
        ("areaRngLbl", []),
        ("iouThrs", np.array([])),
        ("recThrs", np.array([])),
        ("useCats", 0),
    ):
        out.append((f"params.{key} = {value!r}", gt, results, {key: value}, None))
    return out


PERTURBATIONS = _perturbations()


@pytest.mark.parametrize("name, gt, results, params, documented", PERTURBATIONS, ids=[p[0] for p in PERTURBATIONS])
def test_perturbations_give_pycocotools_outcome(name, gt, results, params, documented):
    ref = _outcome(REF["COCOeval"], gt, results, "bbox", params)
    mine = _outcome(COCOeval, gt, results, "bbox", params)
    if documented:
        assert ref[0] == "raise" and mine[0] == "ok", documented
        return
    assert ref[0] == mine[0], (name, ref, mine)
    if ref[0] == "ok":
        for a, b in zip(ref[1:], mine[1:]):
            assert same(a, b), name
    else:  # e.g. MissingFieldError is a ValueError naming the record and a KeyError as there
        assert issubclass(mine[1], ref[1]), (name, ref[1], mine[1])


# ---- LVISeval ------------------------------------------------------------------------------------


@pytest.fixture
def lvis_api():
    lvis = pytest.importorskip("lvis")
    from _pipeline_data import lvis_api_compat

    class FromDict(lvis.LVIS):
        def __init__(self, ds):
            self.logger = logging.getLogger("lvis")
            self.dataset = ds
            self._create_index()

    with lvis_api_compat():
        yield lvis, FromDict


@pytest.mark.parametrize("iou_type, seed", [("bbox", 1), ("bbox", 6), ("segm", 2), ("segm", 5)])
@pytest.mark.parametrize("cap", [300, 5])
def test_lvis_attributes_match_lvis_api(lvis_api, iou_type, seed, cap):
    lvis, FromDict = lvis_api
    if iou_type == "bbox":
        gt, results = make_dataset(seed, lvis=True)
    else:
        gt, results = make_segm_dataset(seed, lvis=True, results_form="rle")
    if not results:
        return
    g = FromDict(copy.deepcopy(gt))
    ref = lvis.LVISEval(g, lvis.LVISResults(g, copy.deepcopy(results), max_dets=cap), iou_type)
    ref.run()
    mine = LVISeval(gt, copy.deepcopy(results), iou_type, max_dets=cap)
    mine.run()
    assert list(ref.results.items()) == list(mine.results.items())
    assert len(ref.eval_imgs) == len(mine.eval_imgs)
    for i, (r, m) in enumerate(zip(ref.eval_imgs, mine.eval_imgs)):
        assert (r is None) == (m is None), i
        if r is not None:
            assert list(r) == list(m)
            for key in r:
                assert same(r[key], m[key]), (i, key)
    assert list(ref.ious) == list(mine.ious)
    for key, block in ref.ious.items():
        assert same(block, mine.ious[key]), key
    assert ref.img_nel == mine.img_nel
    assert_same_cells(ref._gts, mine._gts)
    assert_same_cells(ref._dts, mine._dts, ignore_key="id")
    for k in range(len(ref.params.cat_ids)):
        for a in range(len(ref.params.area_rng)):
            r, m = ref.eval["dt_pointers"][k][a], mine.eval["dt_pointers"][k][a]
            assert r.keys() == m.keys()
            for key in r:
                assert same(r[key], m[key]), (k, a, key)
