"""``COCOeval``: a drop-in replacement for ``pycocotools.cocoeval.COCOeval`` on the native engine.

The plain evaluate / accumulate / summarize path keeps the per-image matches in native memory.
Everything else pycocotools exposes is built when first read, from an evaluation that keeps its
IoU blocks and matches (:mod:`.views`): ``evalImgs``, ``ious``, ``_gts``, ``_dts``, and the
per-cell methods ``computeIoU`` / ``computeOks`` / ``evaluateImg`` that DETR's and detectron2's
copies of ``evaluate`` call.  ``evalImgs`` assigned from outside (torchvision's / DETR's merge of
processes) is accumulated by :func:`.eval_imgs.accumulate_eval_imgs`.
"""

from __future__ import annotations

import copy
import datetime
import time
from collections import defaultdict
from typing import Any

import numpy as np

from .engine import accumulate_coco, check_image_ids, run_coco
from .eval_imgs import accumulate_eval_imgs
from .ground_truth import GroundTruth, as_ground_truth, ground_truth_ids, snapshot_ground_truth
from .loadres import load_results
from .params import Params, area_ranges_array, float_vector, sorted_max_dets
from .shapes import oks_vars
from .summary import coco_summary
from .views import Evaluated, annotations_by_cell, touch_cells

__all__ = ["COCOeval", "Params"]

_UNSET = object()


def _no_results(gt: GroundTruth):
    return load_results([], gt, "bbox")


class COCOeval:
    """Drop-in replacement for ``pycocotools.cocoeval.COCOeval`` (bbox, segm, keypoints).

    Parameters
    ----------
    cocoGt : pycocotools COCO, dict, path or GroundTruth
    cocoDt : pycocotools COCO results (``cocoGt.loadRes(...)``; an empty ``COCO()`` or None
        means no detections), or a list of result dicts, an (N, 7) array or a path (our
        extension: no ``loadRes`` needed)
    iouType : {"segm", "bbox", "keypoints"}, default "segm" as in pycocotools

    Notes
    -----
    ``evaluate()``, ``accumulate()`` and ``summarize()`` print what pycocotools prints and fill
    ``params``, ``eval`` and ``stats`` with identical values.  ``evalImgs``, ``ious``, ``_gts``,
    ``_dts``, ``_prepare()``, ``computeIoU``, ``computeOks`` and ``evaluateImg`` give pycocotools'
    values too, computed when first used (``_gts`` / ``_dts`` hold copies of your annotation
    dicts, so your data is never modified).  The ground truth and results are read at
    ``evaluate()`` time.  See docs/evaluation.md for the differences that remain.
    """

    def __init__(self, cocoGt=None, cocoDt=None, iouType: str = "segm") -> None:  # noqa: N803
        if not iouType:
            print("iouType not specified. use default iouType segm")
        self.cocoGt = cocoGt
        self.cocoDt = cocoDt
        self.eval: dict = {}
        self.params = Params(iouType=iouType)
        self._paramsEval: Any = {}
        self.stats: Any = []
        self._run: Evaluated | None = None  # the last evaluation, with its views' data
        self._state = None  # the last plain evaluation (matches only)
        self._evaluated_params = None
        self._eval_imgs: Any = defaultdict(list)  # materialised or assigned evalImgs
        self._eval_imgs_mine: list | None = None  # our own materialisation of _run
        self._ious: Any = {}
        self._ious_set = False
        self._gts_view: Any = None
        self._dts_view: Any = None
        # A file / GroundTruth is read once; a user's COCO object or dict again at each evaluate(),
        # as pycocotools reads it in _prepare (nothing is cached on the user's object).
        self._gt_snapshot = (cocoGt, snapshot_ground_truth(cocoGt))
        if cocoGt is not None:
            image_ids, cat_ids = ground_truth_ids(self._gt_snapshot[1] or cocoGt)
            self.params.imgIds = sorted(image_ids.tolist())
            self.params.catIds = sorted(cat_ids.tolist())

    # -- the evaluation ----------------------------------------------------------------------------
    def _gt(self) -> GroundTruth:
        if self.cocoGt is None:
            raise ValueError("COCOeval needs cocoGt (the ground truth) to evaluate")
        source, snapshot = self._gt_snapshot
        return snapshot if snapshot is not None and source is self.cocoGt else as_ground_truth(self.cocoGt)

    def _kpt_vars(self, p):
        return oks_vars(p.kpt_oks_sigmas) if p.iouType == "keypoints" else None

    def _evaluate_native(self, keep: bool):
        """Runs the engine on the current params; keep=True also keeps what the views need."""
        p = self.params
        if p.iouType not in ("bbox", "segm", "keypoints"):
            raise ValueError(f"unknown iouType for iou computation: {p.iouType!r}")
        gt = self._gt()
        kpt_vars = self._kpt_vars(p)
        if self.cocoDt is None:
            res = _no_results(gt)
        else:
            res = load_results(
                self.cocoDt, gt, p.iouType, num_keypoints=0 if kpt_vars is None else len(kpt_vars), where="cocoDt"
            )
        check_image_ids(gt, res.dets, "cocoDt")
        use_cats = bool(p.useCats)
        img_ids = np.asarray(p.imgIds, dtype=np.int64).reshape(-1)
        cat_ids = np.asarray(p.catIds, dtype=np.int64).reshape(-1)
        max_dets = sorted_max_dets(p.maxDets)
        iou_thrs = float_vector(p.iouThrs, "params.iouThrs")
        out = run_coco(
            gt,
            res.dets,
            img_ids=img_ids,
            cat_ids=cat_ids,
            iou_thrs=iou_thrs,
            rec_thrs=None,
            max_dets=max_dets,
            area_rng=area_ranges_array(p.areaRng) if len(p.areaRng) else np.zeros((0, 2)),
            use_cats=use_cats,
            iou_type=p.iouType,
            results=res,
            kpt_vars=kpt_vars,
            keep=keep,
        )
        if not keep:
            return out
        state, gt_rows, dt_rows, gt_ignore = out
        return Evaluated(
            state=state,
            gt=gt,
            res=res,
            gt_rows=gt_rows,
            dt_rows=dt_rows,
            gt_ignore=gt_ignore,
            img_ids=list(p.imgIds),
            cat_ids=list(p.catIds) if use_cats else [-1],
            area_rng=list(p.areaRng),
            num_thrs=len(iou_thrs),
            max_det=max_dets[-1],
            iou_type=p.iouType,
            use_cats=use_cats,
        )

    def _normalise_params(self) -> None:
        p = self.params
        if p.useSegm is not None:
            p.iouType = "segm" if p.useSegm == 1 else "bbox"
            print("useSegm (deprecated) is not None. Running {} evaluation".format(p.iouType))
        print("Evaluate annotation type *{}*".format(p.iouType))
        p.imgIds = list(np.unique(p.imgIds))
        if p.useCats:
            p.catIds = list(np.unique(p.catIds))
        p.maxDets = sorted(p.maxDets)
        self.params = p

    def _reset_views(self) -> None:
        self._run = None
        self._eval_imgs = defaultdict(list)
        self._eval_imgs_mine = None
        self._ious, self._ious_set = {}, False
        self._gts_view = self._dts_view = None

    def evaluate(self) -> None:
        tic = time.time()
        print("Running per image evaluation...")
        self._normalise_params()
        self._reset_views()
        self._state = self._evaluate_native(keep=False)
        self._evaluated_params = copy.deepcopy(self.params)
        self._paramsEval = copy.deepcopy(self.params)
        self.eval = {}
        toc = time.time()
        print("DONE (t={:0.2f}s).".format(toc - tic))

    def _prepare(self) -> None:
        """pycocotools' ``_prepare``: here it evaluates the current params once, keeping the IoU
        blocks and matches that ``computeIoU`` / ``computeOks`` / ``evaluateImg`` then serve."""
        self._reset_views()
        self._state = None
        self._run = self._evaluate_native(keep=True)
        self._evaluated_params = copy.deepcopy(self.params)
        self.eval = {}

    def _views(self) -> Evaluated:
        """The kept evaluation of the evaluated params (run once, on first need)."""
        if self._run is None:
            if self._evaluated_params is None:
                raise RuntimeError("Please run evaluate() first")
            current = self.params
            self.params = copy.deepcopy(self._evaluated_params)
            try:
                self._run = self._evaluate_native(keep=True)
            finally:
                self.params = current
        return self._run

    # -- pycocotools' attributes -------------------------------------------------------------------
    @property
    def evalImgs(self):  # noqa: N802 - pycocotools' name
        if not self._eval_imgs and self._evaluated_params is not None:
            self._eval_imgs = self._eval_imgs_mine = self._views().eval_imgs_list()
        return self._eval_imgs

    @evalImgs.setter
    def evalImgs(self, value) -> None:  # noqa: N802
        self._eval_imgs = value

    @property
    def ious(self):
        if not self._ious_set and self._evaluated_params is not None:
            self._ious = self._views().ious_dict()
            self._ious_set = True
        return self._ious

    @ious.setter
    def ious(self, value) -> None:
        self._ious, self._ious_set = value, True

    @property
    def _gts(self):
        if self._gts_view is None:
            if self._evaluated_params is None and self._run is None:
                return defaultdict(list)
            run, p = self._views(), self._evaluated_params
            gt = run.gt
            keypoints = p.iouType == "keypoints"

            def prepare(rec: dict, j: int) -> None:
                rec["ignore"] = "iscrowd" in rec and rec["iscrowd"]
                if keypoints:
                    rec["ignore"] = (rec["num_keypoints"] == 0) or rec["ignore"]

            self._gts_view = annotations_by_cell(
                gt.dataset["annotations"],
                gt.ann_image_id,
                gt.ann_category_id,
                p.imgIds,
                p.catIds,
                use_cats=bool(p.useCats),
                keep=prepare,
            )
            touch_cells(self._gts_view, p.imgIds, p.catIds, use_cats=bool(p.useCats), keypoints=keypoints)
        return self._gts_view

    @_gts.setter
    def _gts(self, value) -> None:
        self._gts_view = value

    @property
    def _dts(self):
        if self._dts_view is None:
            if self._evaluated_params is None and self._run is None:
                return defaultdict(list)
            run, p = self._views(), self._evaluated_params
            dets = run.res.dets
            records = run.res.records_or_columns()

            def load_res(rec: dict, j: int) -> None:  # the fields loadRes adds
                rec.setdefault("area", float(dets.area[j]))
                rec.setdefault("id", int(dets.ids[j]))
                rec.setdefault("iscrowd", 0)

            self._dts_view = annotations_by_cell(
                records, dets.image_id, dets.category_id, p.imgIds, p.catIds, use_cats=bool(p.useCats), keep=load_res
            )
            keypoints = p.iouType == "keypoints"
            touch_cells(self._dts_view, p.imgIds, p.catIds, use_cats=bool(p.useCats), keypoints=keypoints)
        return self._dts_view

    @_dts.setter
    def _dts(self, value) -> None:
        self._dts_view = value

    # -- per-cell methods (DETR's / detectron2's evaluate loops call them) -------------------------
    def computeIoU(self, imgId, catId):  # noqa: N802, N803
        if self.params.iouType == "keypoints":
            raise Exception("unknown iouType for iou computation")
        return self._views().iou_at(imgId, catId if self.params.useCats else -1)

    def computeOks(self, imgId, catId):  # noqa: N802, N803
        run = self._views()
        if not self.params.useCats:
            if catId != -1:
                raise NotImplementedError("computeOks(img, category) with useCats=0 reads one category's cell")
            return []
        return run.iou_at(imgId, catId)

    def evaluateImg(self, imgId, catId, aRng, maxDet):  # noqa: N802, N803
        run = self._views()
        if maxDet != run.max_det:
            raise NotImplementedError(
                f"evaluateImg(maxDet={maxDet}) other than the evaluated maxDets[-1] = {run.max_det}"
            )
        area = [a for a, rng in enumerate(run.area_rng) if list(rng) == list(aRng)]
        if not area:
            raise NotImplementedError(f"evaluateImg(aRng={aRng}) with an area range that was not evaluated")
        i = run._position(run.img_ids, imgId)
        k = 0 if not run.use_cats else run._position(run.cat_ids, catId)
        g = -1 if i < 0 or k < 0 else run.group(k, i)
        if g < 0:
            return None
        out = run.cell(g, area[0], imgId, catId)
        out["aRng"] = aRng
        return out

    # -- accumulate / summarize ---------------------------------------------------------------------
    def _our_eval_imgs(self) -> bool:
        """True when ``evalImgs`` is untouched or holds our own entries of the evaluated params, in
        their order (torchvision re-assigns them after a one-process "merge")."""
        current, mine = self._eval_imgs, self._eval_imgs_mine
        if current is mine or isinstance(current, defaultdict):
            return True
        if mine is None:
            return False
        return len(mine) == len(current) and all(a is b for a, b in zip(mine, current))

    def accumulate(self, p: Params | None = None) -> None:
        print("Accumulating evaluation results...")
        tic = time.time()
        if self._evaluated_params is None and not self._eval_imgs:
            print("Please run evaluate() first")
            raise RuntimeError("Please run evaluate() first")
        if p is None:
            p = self.params
        pe = self._paramsEval
        same = (
            self._evaluated_params is not None
            and self._our_eval_imgs()
            and _same_params(p, self._evaluated_params)
            and _same_params(pe, self._evaluated_params)
        )
        if same:
            state = self._state if self._state is not None else self._views().state
            precision, recall, scores = accumulate_coco(
                state, float_vector(p.recThrs, "params.recThrs"), sorted_max_dets(p.maxDets)
            )
            p.catIds = p.catIds if p.useCats == 1 else [-1]
            counts = list(precision.shape)
        else:
            out = accumulate_eval_imgs(self.evalImgs, p, pe)
            precision, recall, scores, counts = out["precision"], out["recall"], out["scores"], out["counts"]
        self.eval = {
            "params": p,
            "counts": counts,
            "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
            "precision": precision,
            "recall": recall,
            "scores": scores,
        }
        toc = time.time()
        print("DONE (t={:0.2f}s).".format(toc - tic))

    def summarize(self) -> None:
        if not self.eval:
            raise Exception("Please run accumulate() first")
        p = self.params
        if p.iouType not in ("bbox", "segm", "keypoints"):
            raise ValueError(f"unknown iouType {p.iouType!r}")
        self.stats, lines = coco_summary(
            self.eval["precision"], self.eval["recall"], p.iouThrs, p.areaRngLbl, p.maxDets, p.iouType
        )
        for line in lines:
            print(line)

    def __str__(self) -> str:
        self.summarize()
        return ""


def _same_params(a, b) -> bool:
    """The fields accumulate reads agree (pycocotools indexes evalImgs by them)."""
    if not hasattr(a, "imgIds"):
        return False
    try:
        return (
            list(a.imgIds) == list(b.imgIds)
            and (list(a.catIds) == list(b.catIds) or not a.useCats)
            and [list(r) for r in a.areaRng] == [list(r) for r in b.areaRng]
            and list(a.maxDets) == list(b.maxDets)
            and bool(a.useCats) == bool(b.useCats)
            and np.array_equal(np.asarray(a.iouThrs), np.asarray(b.iouThrs))
        )
    except (TypeError, ValueError):
        return False
