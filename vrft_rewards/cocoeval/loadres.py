"""Results with pycocotools' ``loadRes`` (and lvis-api's ``LVISResults``) semantics for every
``iou_type``: the columns the engine needs plus the masks or keypoints.

``loadRes`` picks one branch for the whole list from its **first** record:

* ``bbox`` present (and not ``[]``): every record needs a ``bbox``; ``area = w * h`` of the box
  (also when a mask is given); a missing ``segmentation`` becomes the box polygon
  ``[[x1, y1, x1, y2, x2, y2, x2, y1]]``;
* else ``segmentation``: ``area`` = the mask's pixel count, ``bbox`` = the mask's box where absent;
* else ``keypoints``: ``area`` and ``bbox`` from the extent of all keypoints (unlabelled ones at
  (0, 0) included).

lvis-api tests only ``"bbox" in`` the first record, after its 300-per-image cap has regrouped the
list by image.  pycocotools' segm branch takes compressed RLE only; here polygons and uncompressed
RLE work there too (same masks as the bbox branch would rasterise).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._ext import _C
from .._json import load_json
from .columns import MissingFieldError, RecordFields, box_column, check_finite, float_column, int_column, positions
from .detections import Detections, as_detections
from .ground_truth import GroundTruth
from .shapes import image_sizes_of, keypoint_rows, segm_arena, segmentations_of

__all__ = ["Results", "cap_mask", "load_results", "lvis_order"]


@dataclass
class Results:
    """Detections plus, for ``segm`` / ``keypoints``, their masks / keypoints.

    ``rows`` maps each detection to its record in ``records``, ``mask_rows`` to its mask in the
    arena (None: detection i is record / mask i); ``keypoints`` has a row per detection.
    """

    dets: Detections
    masks: Any = None  # _C.SegmArena
    keypoints: np.ndarray | None = None  # (n, 3K)
    kp_integral: np.ndarray | None = None  # (n,)
    records: list | None = None  # the result dicts, where the input had them
    source: Any = None  # the results file the native reader read (it keeps no dicts)
    rows: np.ndarray | None = None
    mask_rows: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.dets)

    def record_rows(self) -> np.ndarray:
        return np.arange(len(self.dets), dtype=np.int64) if self.rows is None else self.rows

    def arena_rows(self) -> np.ndarray:
        return np.arange(len(self.dets), dtype=np.int64) if self.mask_rows is None else self.mask_rows

    def subset(self, keep: np.ndarray) -> "Results":
        """The detections ``keep`` (boolean mask or indices)."""
        out = Results(
            self.dets.subset(keep),
            self.masks,
            records=self.records,
            rows=self.record_rows()[keep],
            mask_rows=self.arena_rows()[keep],
            source=self.source,
        )
        if self.keypoints is not None:
            out.keypoints = self.keypoints[keep]
            out.kp_integral = self.kp_integral[keep]
        return out

    def records_or_columns(self) -> list:
        """A result dict per detection (row order): the input's dicts (read from the file again
        where the native reader read it: only the drop-in's views ask), or dicts of the columns."""
        records = self.records
        if records is None and self.source is not None:
            records = load_json(self.source)
        if records is not None:
            return [records[r] for r in self.record_rows().tolist()]
        d = self.dets
        return [
            {"image_id": i, "category_id": c, "bbox": b, "score": s}
            for i, c, b, s in zip(d.image_id.tolist(), d.category_id.tolist(), d.box.tolist(), d.score.tolist())
        ]


def _empty(iou_type: str = "bbox", num_keypoints: int = 0) -> Results:
    """No results (with an empty mask arena / keypoint array where the iou_type reads them)."""
    z, none = np.zeros(0), np.zeros(0, np.int64)
    out = Results(Detections(none, none, np.zeros((0, 4)), z))
    if iou_type == "segm":
        out.masks = _C.segm_arena([], none, none, None, "results")
    elif iou_type == "keypoints":
        out.keypoints, out.kp_integral = np.zeros((0, 3 * num_keypoints)), np.zeros(0, np.uint8)
    return out


def _records_of(results: Any) -> tuple[list | None, bool]:
    """(records, from a loaded results object) — records None for non-record inputs."""
    if isinstance(results, (list, tuple)):
        return list(results), False
    dataset = getattr(results, "dataset", None)
    if isinstance(dataset, dict):
        # A pycocotools COCO (loadRes) / LVISResults object; an empty COCO() means no detections.
        return list(dataset.get("annotations") or []), True
    return None, False


def cap_mask(image_id: np.ndarray, score: np.ndarray, max_dets: int, image_ids=None) -> np.ndarray | None:
    """LVISResults.limit_dets_per_image: which results are among the top ``max_dets`` scores of
    their image (None: all of them, nothing to cut).  ``image_ids``: the GT's image ids, when
    every result is on one of them (a lookup instead of a sort).

    ``sorted(key=score, reverse=True)`` is stable, so ties keep result order.
    """
    n = len(score)
    if max_dets < 0 or n == 0:
        return None
    if image_ids is not None:
        pos, _ = positions(image_id, image_ids)
        counts = np.bincount(pos)
    else:
        counts = np.unique(image_id, return_counts=True)[1]
    if counts.max() <= max_dets:
        return None  # nothing to cut (the common case): no sort needed
    order = np.lexsort((np.arange(n), -score, image_id))
    img_sorted = image_id[order]
    first = np.searchsorted(img_sorted, img_sorted, side="left")
    rank = np.arange(n) - first
    keep = np.zeros(n, bool)
    keep[order[rank < max_dets]] = True
    return None if keep.all() else keep


def lvis_order(image_id: np.ndarray, score: np.ndarray, max_dets: int) -> np.ndarray:
    """Rows of ``LVISResults``' annotation list, in its order: ``limit_dets_per_image`` groups the
    results by image (first appearance), keeps an image's own order when it has at most
    ``max_dets`` results and its top ``max_dets`` by score (stable) otherwise; LVISResults' ids
    are 1..N in this order.  ``max_dets < 0``: the input order."""
    n = len(score)
    if max_dets < 0 or n == 0:
        return np.arange(n, dtype=np.int64)
    _, first_seen, img_rank = np.unique(image_id, return_index=True, return_inverse=True)
    appearance = np.argsort(np.argsort(first_seen, kind="stable"), kind="stable")[img_rank]
    capped = np.bincount(img_rank)[img_rank] > max_dets
    within = np.where(capped, -score, 0.0)  # capped images: by score (stable); others: as given
    order = np.lexsort((np.arange(n), within, appearance))
    keep = cap_mask(image_id, score, max_dets)
    return order if keep is None else order[keep[order]]


def load_results(
    results: Any,
    gt: GroundTruth,
    iou_type: str,
    *,
    num_keypoints: int = 17,
    lvis: bool = False,
    lvis_cap: int = -1,
    lvis_ordered: bool = False,
    where: str = "results",
) -> Results:
    """``results`` (path, list of dicts, (N, 7) array, ``Detections`` or a loaded results object)
    as :class:`Results` with loadRes semantics (``lvis``: LVISResults', whose per-image cap
    ``lvis_cap`` decides which record of a raw list comes first; ``lvis_ordered``: the records
    in LVISResults' order, with its ids, as its views need them)."""
    if isinstance(results, (Detections, np.ndarray)) or type(results).__module__.startswith("torch"):
        dets = as_detections(results)
        if iou_type == "bbox":
            return Results(dets)
        if iou_type == "segm":  # loadNumpyAnnotations' records go the bbox branch: box polygons
            masks = segm_arena([None] * len(dets), dets.image_id, image_sizes_of(gt.dataset), where, dets.box)
            return Results(dets, masks)
        raise ValueError(f"iou_type='keypoints' needs results with 'keypoints', got {type(results).__name__}")
    if isinstance(results, (str, os.PathLike)):
        if iou_type == "bbox":
            try:
                return Results(as_detections(results))
            except ValueError:
                pass  # e.g. segm results without 'bbox': loadRes derives the boxes, as below
        elif not (lvis and lvis_ordered):  # the drop-in's ordered views show the records: read them
            fast = _from_file(results, gt, iou_type, num_keypoints=num_keypoints, lvis=lvis, cap=lvis_cap)
            if fast is not None:
                return fast
        records, loaded = load_json(results), False
        if not isinstance(records, list):
            raise TypeError(f"a results file must hold a list of result dicts, got {type(records).__name__}")
    else:
        records, loaded = _records_of(results)
        if records is None:
            raise TypeError(
                "results must be a path to a results json, a list of result dicts, an (N, 7) "
                f"array or a pycocotools COCO results object, got {type(results).__name__}"
            )
    if not records:
        return _empty(iou_type, num_keypoints)
    if loaded:
        where = f"{where}.dataset['annotations']"
    return _from_records(
        records,
        gt,
        iou_type,
        num_keypoints=num_keypoints,
        lvis=lvis,
        cap=lvis_cap,
        ordered=lvis_ordered,
        where=where,
        loaded=loaded,
    )


def _from_file(path, gt: GroundTruth, iou_type: str, *, num_keypoints: int, lvis: bool, cap: int) -> Results | None:
    """A ``segm`` / ``keypoints`` results file read natively (``_C.eval_read_shape_results``: no
    dict per result), with :func:`_from_records`' semantics; None when the file is off that path
    (any syntax or field it does not take, csrc/eval/shape_results_json.h) or a rule below needs
    the records: the caller then reads it the general way, which names the bad record."""
    want_segm = iou_type == "segm"
    k = int(num_keypoints) if iou_type == "keypoints" else 0
    if not want_segm and k < 1:
        return None
    if want_segm:
        try:
            sizes = image_sizes_of(gt.dataset)
        except ValueError:
            return None  # a bad GT size: reported where the general path reads it
    else:
        sizes = (np.zeros(0, np.int64),) * 3
    cols = _C.eval_read_shape_results(os.fsencode(path), *sizes, want_segm, k)
    if cols is None:
        return None
    image_id, category_id, score = cols["image_id"], cols["category_id"], cols["score"]
    if len(score) == 0:
        return _empty(iou_type, k)
    rows, first = None, 0
    if lvis:  # LVISResults caps each image first (as _from_records)
        keep = cap_mask(image_id, score, cap)
        if keep is not None:
            rows = np.flatnonzero(keep)
            if len(rows) == 0:
                return None
            first_capped = np.count_nonzero(image_id == image_id[0]) > cap
            image_id, category_id, score = image_id[rows], category_id[rows], score[rows]
            if first_capped:  # its image comes first, sorted by score (stable): the top one
                same = np.flatnonzero(image_id == image_id[0])
                first = int(same[np.argmax(score[same])])
    picked = slice(None) if rows is None else rows
    has_box, box = cols["has_bbox"][picked], cols["bbox"][picked]
    masks = cols.get("masks")
    # The branch of the first record (a "bbox" on this path is 4 numbers, never []).
    if has_box[first]:
        if not has_box.all():
            return None  # loadRes' bbox branch needs every 'bbox': the general path names the record
        dets = Detections(image_id, category_id, box, score)  # area = w * h
    elif want_segm:  # the segm branch: area and box of the mask, a given box kept
        if not cols["has_segmentation"][picked].all():
            return None  # the general path names the record without one
        mask_area, mask_box = (a[picked] for a in _C.segm_area_box(masks))
        mask_box[has_box.astype(bool)] = box[has_box.astype(bool)]
        dets = Detections(image_id, category_id, mask_box, score, mask_area.astype(np.float64))
    elif cols["has_segmentation"][picked][first] or lvis:
        return None  # keypoints results whose first record has a segmentation: masks decide the area
    else:  # the keypoints branch: box and area from the extent of the keypoints
        kps = cols["keypoints"][picked]
        x, y = kps[:, 0::3], kps[:, 1::3]
        x0, x1, y0, y1 = x.min(axis=1), x.max(axis=1), y.min(axis=1), y.max(axis=1)
        dets = Detections(
            image_id, category_id, np.stack([x0, y0, x1 - x0, y1 - y0], axis=1), score, (x1 - x0) * (y1 - y0)
        )
    out = Results(dets, masks if want_segm else None, rows=rows, mask_rows=rows, source=path)
    if k:
        out.keypoints, out.kp_integral = cols["keypoints"][picked], cols["kp_integral"][picked]
    return out


def _from_records(records, gt, iou_type, *, num_keypoints, lvis, cap, ordered, where, loaded) -> Results:
    for i, r in enumerate(records[:1]):
        if not isinstance(r, dict):
            raise TypeError(f"{where}[{i}] must be a dict, got {type(r).__name__}")
    # One native pass over the dicts reads the columns (bbox too, where every record has one).
    fields = RecordFields(records, where, {"image_id": "int", "category_id": "int", "score": "float", "bbox": "box"})
    image_id, category_id, score = fields["image_id"], fields["category_id"], fields["score"]
    check_finite(score, where, "score")
    all_records, rows, first = records, None, 0
    if lvis and not loaded and ordered:
        rows = lvis_order(image_id, score, cap)  # its first record decides the branch
        records = [records[i] for i in rows.tolist()]
        image_id, category_id, score = image_id[rows], category_id[rows], score[rows]
    elif lvis and not loaded:
        # LVISResults caps each image first, then reads the branch fields of what it kept only.
        keep = cap_mask(image_id, score, cap)
        if keep is not None:
            rows = np.flatnonzero(keep)
            first_capped = np.count_nonzero(image_id == image_id[0]) > cap
            records = [records[i] for i in rows.tolist()]
            image_id, category_id, score = image_id[rows], category_id[rows], score[rows]
            if first_capped:  # its image comes first, sorted by score (stable): the top one
                same = np.flatnonzero(image_id == image_id[0])
                first = int(same[np.argmax(score[same])])
    first = records[first]
    if lvis:  # LVISResults: `if "bbox" in result_anns[0]`
        bbox_branch = "bbox" in first
    else:  # loadRes: `'bbox' in anns[0] and not anns[0]['bbox'] == []`
        bbox_branch = "bbox" in first and not _is_empty_list(first["bbox"])
    n = len(records)
    masks = None
    if bbox_branch:
        box = fields["bbox"] if rows is None else box_column(records, "bbox", where)
        check_finite(box, where, "bbox")
        dets = Detections(image_id, category_id, box, score)  # area = w * h
        if iou_type == "segm":
            sizes = image_sizes_of(gt.dataset)  # read only for masks: a file's GT is not re-read
            masks = segm_arena(segmentations_of(records, where, required=False), image_id, sizes, where, box)
    elif "segmentation" in first:
        masks = segm_arena(segmentations_of(records, where, required=True), image_id, image_sizes_of(gt.dataset), where)
        mask_area, box = _C.segm_area_box(masks)
        for i, r in enumerate(records):
            if "bbox" in r:  # `if not 'bbox' in ann: ann['bbox'] = toBbox(...)`: a given box is kept
                box[i] = _one_box(r["bbox"], where, i)
        dets = Detections(image_id, category_id, box, score, mask_area.astype(np.float64))
    elif "keypoints" in first and not lvis:
        k = num_keypoints if iou_type == "keypoints" else len(first["keypoints"]) // 3
        kps, _ = keypoint_rows(_values(records, "keypoints", where), k, where)
        x, y = kps[:, 0::3], kps[:, 1::3]
        x0, x1, y0, y1 = x.min(axis=1), x.max(axis=1), y.min(axis=1), y.max(axis=1)
        box = np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)
        dets = Detections(image_id, category_id, box, score, (x1 - x0) * (y1 - y0))
    else:
        fields = "'bbox' or 'segmentation'" if lvis else "'bbox', 'segmentation' or 'keypoints'"
        raise MissingFieldError(f"{where}[0] has none of {fields}: cannot tell what the results are")
    if loaded:
        # Already through loadRes / LVISResults (or built like them, as torchmetrics does): their
        # own area and ids are what the references evaluate with.
        area = float_column(records, "area", where) if all("area" in r for r in records) else dets.area
        ids = int_column(records, "id", where) if all("id" in r for r in records) else None
        dets = Detections(dets.image_id, dets.category_id, dets.box, dets.score, area, ids)
    out = Results(dets, None if iou_type != "segm" else masks, records=all_records, rows=rows)
    if iou_type == "keypoints":
        out.keypoints, out.kp_integral = keypoint_rows(_values(records, "keypoints", where), num_keypoints, where)
    assert len(out.dets) == n
    return out


def _one_box(value: Any, where: str, i: int) -> np.ndarray:
    try:
        b = np.asarray(value, dtype=np.float64).reshape(4)
    except (TypeError, ValueError):
        raise ValueError(f"{where}[{i}]['bbox'] must be 4 numbers [x, y, w, h], got {value!r}") from None
    return b


def _values(records, key, where):
    try:
        return [r[key] for r in records]
    except KeyError:
        for i, r in enumerate(records):
            if key not in r:
                why = "needed for iou_type='keypoints'"
                raise MissingFieldError(f"{where}[{i}] has no {key!r} field ({why})") from None
        raise


def _is_empty_list(v: Any) -> bool:
    return isinstance(v, list) and len(v) == 0
