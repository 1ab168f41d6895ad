"""``LVISeval``: a drop-in replacement for lvis-api 0.5.3's ``LVISEval`` on the native engine.

The plain run() path keeps the per-image matches in native memory; ``eval_imgs``, ``ious``,
``_gts``, ``_dts``, ``img_nel`` and ``eval['dt_pointers']`` are built when first read from an
evaluation that keeps its IoU blocks and matches (:mod:`.views`), with LVISResults' record order
and ids.  LVIS v1 val has 19,809 x 1,203 (image, category) cells: ``ious`` and ``eval_imgs``
are lazy mappings / sequences, not dicts / lists of that size.
"""

from __future__ import annotations

import datetime
import logging
import os
from collections import OrderedDict, defaultdict

import numpy as np

from .._json import load_json
from .detections import as_detections
from .engine import run_lvis
from .ground_truth import GroundTruth, as_ground_truth, ground_truth_ids, snapshot_ground_truth
from .lvis_core import LVIS_IOU_TYPES, lvis_cat_ids, lvis_results, run_lvis_summary
from .params import LVIS_MAX_DETS, LVISParams, area_ranges_array, check_iou_type, float_vector
from .summary import lvis_summary_lines
from .views import Evaluated, LazyDtPointers, LazyIous, LazySequence, annotations_by_cell, touch_cells

__all__ = ["LVISeval"]


def _read_results_file(path, iou_type: str):
    """The results of a file: bbox as columns (the native reader), else the result dicts."""
    if iou_type == "bbox":
        try:
            return as_detections(path)
        except ValueError:
            pass  # e.g. results without 'bbox': the general reader derives them
    records = load_json(path)
    if not isinstance(records, list):
        raise TypeError(f"a results file must hold a list of result dicts, got {type(records).__name__}")
    return records


class LVISeval:
    """Drop-in replacement for lvis-api's ``LVISEval`` (bbox, segm), on the native engine.

    Parameters
    ----------
    lvis_gt : lvis.LVIS, path, dict or GroundTruth
    lvis_dt : lvis.LVISResults, path, list of result dicts or (N, 7) array
        Lists / paths / arrays are read and capped at ``max_dets`` (300) per image as
        ``LVISResults`` does; an ``LVISResults`` object is taken as already capped.
    iou_type : {"bbox", "segm"}, default "segm" as in lvis-api
    max_dets : int, default 300
        Our extension: the per-image cap of ``LVISResults`` for lists and paths.  The recall keys
        follow ``params.max_dets`` (300) as in lvis-api.

    Notes
    -----
    ``run()``, ``evaluate()``, ``accumulate()``, ``summarize()``, ``print_results()``,
    ``get_results()``, ``results`` (OrderedDict of 13 keys), ``eval`` (``params``, ``counts``,
    ``date``, ``precision``, ``recall``, ``dt_pointers``; plus ``scores``), ``params`` (lvis-api
    names), ``eval_imgs``, ``ious``, ``_gts``, ``_dts``, ``img_nel`` and ``freq_groups`` behave as
    lvis-api 0.5.3's (``eval_imgs`` is a read-only sequence, ``ious`` a read-only mapping, both
    built on access; ``_gts`` / ``_dts`` hold copies of your dicts).  ``params.use_cats = 0``
    raises ``NotImplementedError``: lvis-api 0.5.3 evaluates nothing there and then raises
    ``IndexError`` in ``summarize`` (all -1 with a single category).
    """

    def __init__(self, lvis_gt, lvis_dt, iou_type: str = "segm", max_dets: int = LVIS_MAX_DETS) -> None:
        self.logger = logging.getLogger(__name__)
        if iou_type not in LVIS_IOU_TYPES:
            raise ValueError("iou_type: {} is not supported.".format(iou_type))
        self.lvis_gt = lvis_gt
        self.lvis_dt = lvis_dt
        # A results file is read once, here (LVISResults reads it in its constructor): boxes as
        # columns, masks as their records; a user's object or list is read at each evaluate().
        self._dt_file = _read_results_file(lvis_dt, iou_type) if isinstance(lvis_dt, (str, os.PathLike)) else None
        self._cap = int(max_dets)
        # A file / GroundTruth is read once; a user's LVIS object or dict again at each
        # evaluate(), as lvis-api reads it in _prepare (nothing is cached on the user's object).
        self._gt_snapshot = (lvis_gt, snapshot_ground_truth(lvis_gt))
        self.eval: dict = {}
        self.params = LVISParams(iou_type=iou_type)
        self.results: OrderedDict = OrderedDict()
        image_ids, cat_ids = ground_truth_ids(self._gt_snapshot[1] or lvis_gt)
        self.params.img_ids = sorted(image_ids.tolist())
        self.params.cat_ids = sorted(cat_ids.tolist())
        self._arrays = None
        self._evaluated = None  # (params snapshot) of the last evaluate()
        self._run_views: Evaluated | None = None
        self._lazy: dict = {}

    def _results_source(self):
        return self._dt_file if self._dt_file is not None else self.lvis_dt

    def _gt(self) -> GroundTruth:
        source, snapshot = self._gt_snapshot
        return snapshot if snapshot is not None and source is self.lvis_gt else as_ground_truth(self.lvis_gt)

    def evaluate(self) -> None:
        self.logger.info("Running per image evaluation.")
        self.logger.info("Evaluate annotation type *{}*".format(self.params.iou_type))
        check_iou_type(self.params.iou_type, supported=LVIS_IOU_TYPES)
        if not self.params.use_cats:
            raise NotImplementedError(
                "use_cats=0 is not supported: lvis-api 0.5.3 evaluates nothing there and raises IndexError in "
                "summarize() (returns -1 everywhere with a single category)"
            )
        self.params.img_ids = list(np.unique(self.params.img_ids))
        p = self.params
        gt = self._gt()
        res = lvis_results(self._results_source(), gt, p.iou_type, self._cap, where="lvis_dt")
        cats = lvis_cat_ids(gt, p.cat_ids)
        img_ids, precision, recall, scores, out, groups = run_lvis_summary(
            gt,
            res,
            img_ids=p.img_ids,
            cat_ids=cats,
            iou_thrs=float_vector(p.iou_thrs, "params.iou_thrs"),
            rec_thrs=float_vector(p.rec_thrs, "params.rec_thrs"),
            area_rng=area_ranges_array(p.area_rng),
            area_lbl=p.area_rng_lbl,
            key_max_dets=p.max_dets,
            iou_type=p.iou_type,
        )
        self.freq_groups = groups
        self._arrays = (precision, recall, scores, out)
        self._evaluated = {
            "img_ids": list(p.img_ids),
            "cat_ids": list(p.cat_ids),
            "area_rng": list(p.area_rng),
            "iou_thrs": np.array(p.iou_thrs, dtype=np.float64),
        }
        self._run_views = None
        self._lazy = {}

    # -- views ------------------------------------------------------------------------------------
    def _views(self) -> Evaluated:
        if self._run_views is None:
            if self._evaluated is None:
                raise RuntimeError("Please run evaluate() first.")
            e, p = self._evaluated, self.params
            gt = self._gt()
            res = lvis_results(self._results_source(), gt, p.iou_type, self._cap, where="lvis_dt", ordered=True)
            cats = np.asarray(e["cat_ids"], dtype=np.int64)
            img_ids = np.asarray(e["img_ids"], dtype=np.int64)
            state, gi, di, ignore = run_lvis(
                gt,
                res.dets,
                img_ids=img_ids,
                cat_ids=cats,
                iou_thrs=e["iou_thrs"],
                rec_thrs=None,
                area_rng=area_ranges_array(e["area_rng"]),
                iou_type=p.iou_type,
                results=res,
                keep=True,
            )
            self._run_views = Evaluated(
                state=state,
                gt=gt,
                res=res,
                gt_rows=gi,
                dt_rows=di,
                gt_ignore=ignore,
                img_ids=list(e["img_ids"]),
                cat_ids=list(e["cat_ids"]),
                area_rng=list(e["area_rng"]),
                num_thrs=len(e["iou_thrs"]),
                max_det=-1,
                iou_type=p.iou_type,
                lvis=True,
            )
        return self._run_views

    def _view(self, name: str, build):
        if name not in self._lazy:
            self._lazy[name] = build() if self._evaluated is not None else defaultdict(list)
        return self._lazy[name]

    def _set_view(self, name: str, value) -> None:
        self._lazy[name] = value

    @property
    def eval_imgs(self):
        def build():
            ev = self._views()
            return LazySequence(len(ev.cat_ids) * len(ev.area_rng) * len(ev.img_ids), ev.eval_img_at)

        return self._view("eval_imgs", build)

    @eval_imgs.setter
    def eval_imgs(self, value) -> None:
        self._set_view("eval_imgs", value)

    @property
    def ious(self):
        return self._view("ious", lambda: LazyIous(self._views()))

    @ious.setter
    def ious(self, value) -> None:
        self._set_view("ious", value)

    @property
    def _gts(self):
        def build():
            ev = self._views()
            anns = ev.gt.dataset["annotations"]
            rows = np.asarray(ev.gt_rows, dtype=np.int64)
            cells = annotations_by_cell(
                [anns[r] for r in rows.tolist()],
                ev.gt.ann_image_id[rows],
                ev.gt.ann_category_id[rows],
                ev.img_ids,
                ev.cat_ids,
                use_cats=True,
                keep=lambda rec, j: rec.setdefault("ignore", 0),
            )
            touch_cells(cells, ev.img_ids, ev.cat_ids, use_cats=True)
            return cells

        return self._view("_gts", build)

    @_gts.setter
    def _gts(self, value) -> None:
        self._set_view("_gts", value)

    @property
    def _dts(self):
        def build():
            ev = self._views()
            dets = ev.res.dets
            rows = np.asarray(ev.dt_rows, dtype=np.int64)
            records = ev.res.records_or_columns()

            def load_res(rec: dict, j: int) -> None:  # the fields LVISResults adds
                rec.setdefault("area", float(dets.area[rows[j]]))
                rec.setdefault("id", int(dets.ids[rows[j]]))

            cells = annotations_by_cell(
                [records[r] for r in rows.tolist()],
                dets.image_id[rows],
                dets.category_id[rows],
                ev.img_ids,
                ev.cat_ids,
                use_cats=True,
                keep=load_res,
            )
            touch_cells(cells, ev.img_ids, ev.cat_ids, use_cats=True)
            return cells

        return self._view("_dts", build)

    @_dts.setter
    def _dts(self, value) -> None:
        self._set_view("_dts", value)

    @property
    def img_nel(self) -> dict:
        """``{image id: not_exhaustive_category_ids}`` of the evaluated images (set by _prepare)."""

        def build():
            images = {im["id"]: im for im in self._gt().dataset["images"]}
            return {i: images[int(i)].get("not_exhaustive_category_ids", []) for i in self._evaluated["img_ids"]}

        return self._view("img_nel", build)

    @img_nel.setter
    def img_nel(self, value) -> None:
        self._set_view("img_nel", value)

    # -- accumulate / summarize -------------------------------------------------------------------
    def accumulate(self) -> None:
        self.logger.info("Accumulating evaluation results.")
        if self._arrays is None:
            raise RuntimeError("Please run evaluate() first.")
        precision, recall, scores, _ = self._arrays
        self.eval = {
            "params": self.params,
            "counts": list(precision.shape),
            "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
            "precision": precision,
            "recall": recall,
            "dt_pointers": _LazyPointers(self),
            "scores": scores,
        }

    def summarize(self) -> None:
        if not self.eval:
            raise RuntimeError("Please run accumulate() first.")
        self.results = OrderedDict(self._arrays[3])

    def run(self) -> None:
        self.evaluate()
        self.accumulate()
        self.summarize()

    def print_results(self) -> None:
        for line in lvis_summary_lines(self.results, self.params.iou_thrs, self.params.max_dets):
            print(line)

    def get_results(self) -> OrderedDict:
        if not self.results:
            self.logger.warning("results is empty. Call run().")
        return self.results


class _LazyPointers(LazyDtPointers):
    """``eval['dt_pointers']``: its views run only when it is read."""

    def __init__(self, owner: LVISeval) -> None:
        self._owner = owner
        self._k = len(owner._evaluated["cat_ids"])
        self._a = len(owner._evaluated["area_rng"])

    @property
    def _ev(self) -> Evaluated:  # type: ignore[override]
        return self._owner._views()
