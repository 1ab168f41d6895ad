"""Streaming COCO / LVIS evaluation for training loops: ``update`` per batch, ``merge`` across
processes, ``compute`` at the end, identical to the one-shot :func:`evaluate_coco` /
:func:`evaluate_lvis` on the same detections.

How: the engine evaluates every (image, category) group on its own, and the sharded matching
already merges states evaluated on disjoint images exactly (:mod:`.sharding`,
``_C.eval_merge``).  A streaming evaluator is that with the shards arriving over time: each
``update`` prepares the batch's columns with the engine's own code (``run_coco`` / ``run_lvis``,
stopped before their native call) against the annotations of the batch's images only, evaluates
them natively, and keeps the small per-image state (not the detections).  Rows are numbered as
in the one-shot evaluation of the concatenated batches, so the merged state equals the one-shot
state array for array; ``compute`` adds the annotations of images no batch mentioned (missed
objects) and accumulates.

The rule for an image in several batches: **all of an image's detections arrive in one update**
(of one evaluator).  The per-(image, category) cap of COCO (``max_dets[-1]``) and the 300 per image
of LVIS need all of an image's detections at once, so a second update, or a ``merge``, that
mentions an image already evaluated raises ``ValueError`` naming it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .._ext import _C
from . import coco as _coco
from .columns import positions
from .detections import Detections
from .engine import cap_per_image, check_image_ids, evaluate_columns, run_coco, run_lvis
from .ground_truth import GroundTruth, as_ground_truth
from .loadres import Results
from .lvis_core import lvis_cat_ids, lvis_eval_result, run_lvis_summary
from .params import (
    AREA_LABELS,
    COCO_MAX_DETS,
    LVIS_MAX_DETS,
    area_ranges_array,
    check_iou_type,
    default_area_ranges,
    float_vector,
    iou_thresholds,
    recall_thresholds,
    sorted_max_dets,
)
from .result import EvalResult
from .stream_parts import BatchStats, RowsByImage, StreamingState, batch_detections, resolve_refs

__all__ = ["BatchStats", "StreamingEvaluator", "StreamingState", "gather_evaluator"]


class _Prepared(Exception):
    """Stops ``run_coco`` / ``run_lvis`` at their matcher call, carrying its arguments."""

    def __init__(self, args: tuple) -> None:
        super().__init__("columns prepared")
        self.args = args


def _stop_at_matcher(*args):
    raise _Prepared(args)


@dataclass
class _Part:
    evaluation: Any  # _C.EvalState
    gt_rows: np.ndarray | None  # its GT rows -> the evaluator's (None: the same)
    dt_rows: np.ndarray | None
    size: int


def _found_positions(ids, table) -> np.ndarray:
    pos, found = positions(ids, table)
    return pos[found]


class StreamingEvaluator:
    """COCO / LVIS box evaluation fed batch by batch, merged across processes, computed once.

    Parameters
    ----------
    gt : str, os.PathLike, dict, pycocotools COCO, lvis LVIS or GroundTruth
        Read once, here (the evaluator keeps a :class:`GroundTruth` snapshot).
    protocol : {"coco", "lvis"}, default "coco"
        The rules of :func:`evaluate_coco` or :func:`evaluate_lvis`.
    iou_type : {"bbox"}, default "bbox"
    cat_ids, img_ids, max_dets, area_ranges, area_labels, use_cats, iou_thrs, rec_thrs
        As for :func:`evaluate_coco` (``protocol="coco"``) or :func:`evaluate_lvis` (``max_dets``
        is then the per-image cap, default 300; ``use_cats`` must stay True).

    Notes
    -----
    ``compute()`` equals ``evaluate_coco(gt, all_detections, ...)`` (or ``evaluate_lvis``) on the
    detections of every update, in any order, array for array and bit for bit.  All of an
    image's detections must arrive in one update (see the module notes); images that no update
    mentions are evaluated at ``compute()`` with no detections, as the one-shot evaluation does.
    Memory: the per-image state (about 60 bytes per detection kept), not the detections.
    """

    def __init__(
        self,
        gt: Any,
        *,
        protocol: str = "coco",
        iou_type: str = "bbox",
        cat_ids: Sequence[int] | None = None,
        img_ids: Sequence[int] | None = None,
        max_dets: Any = None,
        area_ranges: Sequence[Sequence[float]] | None = None,
        area_labels: Sequence[str] | None = None,
        use_cats: bool = True,
        iou_thrs: Sequence[float] | None = None,
        rec_thrs: Sequence[float] | None = None,
    ) -> None:
        if protocol not in ("coco", "lvis"):
            raise ValueError(f"protocol must be 'coco' or 'lvis', got {protocol!r}")
        check_iou_type(iou_type)
        if iou_type != "bbox":
            raise NotImplementedError(
                f"iou_type={iou_type!r}: streaming evaluates boxes only; evaluate_coco / evaluate_lvis "
                "evaluate masks and keypoints"
            )
        self.protocol = protocol
        self._gt = as_ground_truth(gt)
        gt_index = self._gt
        self._img_ids = np.unique(np.asarray(gt_index.image_ids if img_ids is None else img_ids, dtype=np.int64))
        if protocol == "coco":
            cats = np.asarray(gt_index.cat_ids if cat_ids is None else cat_ids, dtype=np.int64)
            self._cat_ids = np.unique(cats) if use_cats else cats
            self._max_dets = sorted_max_dets(COCO_MAX_DETS if max_dets is None else max_dets)
            self._use_cats = bool(use_cats)
        else:
            if not use_cats:
                raise ValueError("use_cats=False is not an LVIS protocol")
            self._cat_ids = lvis_cat_ids(gt_index, cat_ids)
            if len(self._cat_ids) == 0:
                raise ValueError("cat_ids is empty: nothing to evaluate")
            self._max_dets = int(LVIS_MAX_DETS if max_dets is None else max_dets)
            self._use_cats = True
        self._iou_thrs = iou_thresholds() if iou_thrs is None else float_vector(iou_thrs, "iou_thrs")
        self._rec_thrs = recall_thresholds() if rec_thrs is None else float_vector(rec_thrs, "rec_thrs")
        self._area_rng = area_ranges_array(default_area_ranges() if area_ranges is None else area_ranges)
        self._area_lbl = list(AREA_LABELS if area_labels is None else area_labels)
        t50 = np.flatnonzero(self._iou_thrs == 0.5)
        self._t50 = int(t50[0]) if len(t50) else 0  # the counts' IoU threshold (0.5 when evaluated)

        n_img = len(self._img_ids)
        lists = gt_index.lvis_lists()  # annotations and LVIS image lists, by evaluated image
        self._ann_rows = RowsByImage(self._image_positions(gt_index.ann_image_id), n_img)
        self._list_rows = [RowsByImage(self._image_positions(lists[i]), n_img) for i in (0, 2)]
        # The one-shot evaluation's GT rows (those its rules keep, in its order), by image.
        gt_cols = self._prepare(gt_index, Detections(*_EMPTY))[0]
        self._gt_image = gt_cols["image"]
        self._gt_rows = RowsByImage(self._gt_image, n_img)
        self._fingerprint = self._make_fingerprint()
        self.reset()

    def _image_positions(self, image_ids: np.ndarray) -> np.ndarray:
        """Position of each id among the evaluated images; len(img_ids) for the others."""
        pos, found = positions(image_ids, self._img_ids)
        return np.where(found, pos, len(self._img_ids))

    # -- state ------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget every update (the ground truth and parameters stay)."""
        self._parts: list[_Part] = []
        self._num_dets = 0
        self._seen = np.zeros(len(self._img_ids), bool)
        self.running = BatchStats()

    def empty_copy(self) -> "StreamingEvaluator":
        """An evaluator with the same ground truth and parameters and no updates."""
        out = object.__new__(StreamingEvaluator)
        out.__dict__.update(self.__dict__)
        out.reset()
        return out

    def _make_fingerprint(self) -> bytes:
        h = hashlib.blake2b(digest_size=16)
        h.update(f"{self.protocol}|{self._use_cats}|{self._max_dets}|{self._area_lbl}".encode())
        gt = self._gt
        for a in (self._img_ids, self._cat_ids, self._iou_thrs, self._rec_thrs, self._area_rng, gt.ann_id, gt.ann_box):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.digest()

    # -- updates ----------------------------------------------------------------------------------
    def _prepare(self, gt: GroundTruth, dets: Detections) -> tuple:
        """The native evaluation's arguments, prepared by the engine's own code."""
        try:
            if self.protocol == "coco":
                run_coco(
                    gt,
                    dets,
                    img_ids=self._img_ids,
                    cat_ids=self._cat_ids,
                    iou_thrs=self._iou_thrs,
                    rec_thrs=None,
                    max_dets=self._max_dets,
                    area_rng=self._area_rng,
                    use_cats=self._use_cats,
                    matcher=_stop_at_matcher,
                )
            else:
                run_lvis(
                    gt,
                    dets,
                    img_ids=self._img_ids,
                    cat_ids=self._cat_ids,
                    iou_thrs=self._iou_thrs,
                    rec_thrs=self._rec_thrs,
                    area_rng=self._area_rng,
                    matcher=_stop_at_matcher,
                )
        except _Prepared as prepared:
            return prepared.args
        raise RuntimeError("the engine returned without evaluating")  # pragma: no cover

    def _evaluate_images(self, images: np.ndarray, dets: Detections) -> tuple[Any, int]:
        """Evaluate image positions ``images`` (all their detections in ``dets``) as a part."""
        lists = self._gt.lvis_lists()
        neg, nel = (r.rows(images) for r in self._list_rows)
        view = self._gt.take(self._ann_rows.rows(images), (lists[0][neg], lists[1][neg], lists[2][nel], lists[3][nel]))
        args = self._prepare(view, dets)
        gt_cols, dt_cols = args[0], args[1]
        gt_rows = self._gt_rows.rows(images)
        if not np.array_equal(gt_cols["image"], self._gt_image[gt_rows]):  # pragma: no cover
            raise RuntimeError("streaming GT rows disagree with the one-shot evaluation's")
        state = evaluate_columns(*args)
        n = len(dt_cols["image"])
        dt_rows = np.arange(self._num_dets, self._num_dets + n, dtype=np.int64)
        self._num_dets += n
        self._push(_Part(state, gt_rows, dt_rows, len(gt_rows) + n + 1))
        return state, n

    def _push(self, part: _Part) -> None:
        # Merge the newest parts while they are as large as the one before: O(log n) parts, and
        # every row is copied O(log n) times over a whole evaluation.
        self._parts.append(part)
        while len(self._parts) >= 2 and self._parts[-2].size <= 2 * self._parts[-1].size:
            a, b = self._parts[-2], self._parts[-1]
            merged = _C.eval_merge([a.evaluation, b.evaluation], [a.gt_rows, b.gt_rows], [a.dt_rows, b.dt_rows])
            self._parts[-2:] = [_Part(merged, None, None, a.size + b.size)]

    def update(self, detections: Any, image_ids: Sequence[int] | None = None) -> BatchStats:
        """Evaluate one batch of images.

        Parameters
        ----------
        detections : list of result dicts, (N, 7) array / tensor, Detections, or a list of
            per-image dicts ``{"boxes", "scores", "labels"}`` (torchvision's detection output,
            boxes ``xyxy`` in pixels; needs ``image_ids``)
            All detections of the batch's images (see the module notes).
        image_ids : sequence of int, optional
            The batch's images (every detection must belong to one; images without detections
            count their GT objects as missed now rather than at ``compute``).  Default: the
            images the detections name.

        Returns
        -------
        BatchStats
            The batch's counts at IoU 0.5 (``.precision``, ``.recall``); ``running`` holds the
            sum over every update.

        Raises
        ------
        ValueError
            A detection on an image outside the ground truth or outside ``image_ids``, an image
            already evaluated by an earlier update, or a malformed detection (named).
        """
        dets = batch_detections(detections, image_ids)
        check_image_ids(self._gt, dets, "detections")
        if image_ids is None:
            batch = np.unique(dets.image_id)
        else:
            batch = np.unique(np.asarray(image_ids, dtype=np.int64).reshape(-1))
            inside = positions(dets.image_id, batch)[1]
            if not inside.all():
                i = int(np.flatnonzero(~inside)[0])
                raise ValueError(f"detections[{i}]['image_id'] = {int(dets.image_id[i])} is not one of image_ids")
        images = _found_positions(batch, self._img_ids)
        again = images[self._seen[images]]
        if len(again):
            raise ValueError(
                f"image {int(self._img_ids[again[0]])} was already evaluated by an earlier update: all of an "
                "image's detections must arrive in one update (the per-image caps need them together)"
            )
        self._seen[images] = True
        if self.protocol == "lvis":
            dets = cap_per_image(dets, self._max_dets, self._gt)
        state, n = self._evaluate_images(images, dets)
        stats = self._counts(state, len(images), n)
        self.running = self.running + stats
        return stats

    def _counts(self, state, images: int, detections: int) -> BatchStats:
        T, A = len(self._iou_thrs), len(self._area_rng)
        if T == 0 or A == 0:
            return BatchStats(images, detections)
        states = state.dt_state.reshape(-1, A, T)[:, 0, self._t50]
        npig = state.num_positive_gt.reshape(-1, A)[:, 0]
        return BatchStats(
            images, detections, int(np.count_nonzero(states == 1)), int(np.count_nonzero(states == 0)), int(npig.sum())
        )

    # -- merging ----------------------------------------------------------------------------------
    def state(self) -> StreamingState:
        """Everything another evaluator needs to merge this one's updates (picklable, small)."""
        self._compact()
        part = self._parts[0] if self._parts else None
        return StreamingState(
            self._fingerprint,
            self._num_dets,
            np.packbits(self._seen),
            None if part is None else part.evaluation,
            self.running,
        )

    def _compact(self) -> None:
        if len(self._parts) > 1 or (self._parts and self._parts[0].gt_rows is not None):
            ps = self._parts
            merged = _C.eval_merge([p.evaluation for p in ps], [p.gt_rows for p in ps], [p.dt_rows for p in ps])
            self._parts = [_Part(merged, None, None, sum(p.size for p in ps))]

    def merge(self, *others: Any) -> "StreamingEvaluator":
        """Add the updates of other evaluators (each a ``StreamingEvaluator``, its ``state()``, or a
        Ray ``ObjectRef`` to either), in order, after this one's.  Returns ``self``.

        Raises ``ValueError`` when an evaluator has another ground truth or other parameters, or
        when two evaluators evaluated the same image.
        """
        for other in resolve_refs(others):
            st = other.state() if isinstance(other, StreamingEvaluator) else other
            if not isinstance(st, StreamingState):
                raise TypeError(f"merge() takes StreamingEvaluator or StreamingState objects, got {type(st).__name__}")
            if st.fingerprint != self._fingerprint:
                raise ValueError("cannot merge evaluators with different ground truths or parameters")
            seen = np.unpackbits(st.seen, count=len(self._seen)).astype(bool)
            both = np.flatnonzero(seen & self._seen)
            if len(both):
                raise ValueError(
                    f"image {int(self._img_ids[both[0]])} was evaluated by both evaluators: all of an image's "
                    "detections must arrive in one update"
                )
            if st.evaluation is not None:
                dt_rows = np.arange(self._num_dets, self._num_dets + st.num_detections, dtype=np.int64)
                self._push(_Part(st.evaluation, None, dt_rows, st.num_detections + 1))
            self._num_dets += st.num_detections
            self._seen |= seen
            self.running = self.running + st.running
        return self

    # -- result -----------------------------------------------------------------------------------
    def compute(self) -> EvalResult:
        """The evaluation of every update so far (more updates may follow): what
        ``evaluate_coco`` / ``evaluate_lvis`` return for all their detections."""
        state = self._final_state()
        empty = Detections(*_EMPTY)
        if self.protocol == "coco":
            return _coco._evaluate(
                self._gt,
                Results(empty),
                img_ids=self._img_ids,
                cat_ids=self._cat_ids,
                iou_thrs=self._iou_thrs,
                rec_thrs=self._rec_thrs,
                max_dets=self._max_dets,
                area_rng=self._area_rng,
                area_lbl=self._area_lbl,
                use_cats=self._use_cats,
                matcher=lambda *args: state,
            )
        return self._lvis_result(state, empty)

    def _final_state(self):
        """The merged state of every update plus the GT of the images no update named: the
        one-shot evaluation's state, array for array."""
        saved = (list(self._parts), self._num_dets)
        try:
            self._evaluate_images(np.flatnonzero(~self._seen), Detections(*_EMPTY))
            self._compact()
            return self._parts[0].evaluation
        finally:
            self._parts, self._num_dets = saved

    def _lvis_result(self, state, empty: Detections) -> EvalResult:
        # evaluate_lvis' result, from the merged state.
        summary = run_lvis_summary(
            self._gt,
            Results(empty),
            img_ids=self._img_ids,
            cat_ids=self._cat_ids,
            iou_thrs=self._iou_thrs,
            rec_thrs=self._rec_thrs,
            area_rng=self._area_rng,
            area_lbl=self._area_lbl,
            key_max_dets=LVIS_MAX_DETS,  # lvis-api names the recall keys by params.max_dets, 300
            matcher=lambda *args: state,
        )
        return lvis_eval_result(
            self._gt,
            summary,
            cat_ids=self._cat_ids,
            iou_thrs=self._iou_thrs,
            rec_thrs=self._rec_thrs,
            max_dets=self._max_dets,
            area_rng=self._area_rng,
            area_lbl=self._area_lbl,
        )

    def __repr__(self) -> str:
        return (
            f"StreamingEvaluator(protocol={self.protocol!r}, images={int(self._seen.sum())}/{len(self._seen)}, "
            f"detections={self._num_dets}, running P@0.5={self.running.precision:.4f} "
            f"R@0.5={self.running.recall:.4f})"
        )


_EMPTY = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0))


def gather_evaluator(evaluator: StreamingEvaluator, *, group: Any = None) -> StreamingEvaluator:
    """Every process's updates in one evaluator, on every process (``torch.distributed``).

    Sends each rank's ``state()`` with ``all_gather_object`` and merges them in rank order into a
    new evaluator (``evaluator`` is left as it is).  Without an initialised process group it
    returns a copy of ``evaluator``'s updates.  For Ray actors or tasks, return ``state()`` (or the
    evaluator) and ``merge`` the ``ObjectRef``s: ``evaluator.empty_copy().merge(*refs)``.
    """
    merged = evaluator.empty_copy()
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover - torch absent: one process
        return merged.merge(evaluator)
    if not (dist.is_available() and dist.is_initialized()):
        return merged.merge(evaluator)
    states: list = [None] * dist.get_world_size(group)
    dist.all_gather_object(states, evaluator.state(), group=group)
    return merged.merge(*states)
