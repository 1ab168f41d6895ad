"""Detections (model results) as flat numpy columns."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .._ext import _C
from .._json import loads_json
from .columns import box_column, check_finite, float_column, int_column

__all__ = ["Detections", "as_detections"]


class Detections:
    """Detection results as columns: ``image_id``, ``category_id``, ``box`` (xywh), ``score``.

    ``area`` is ``w * h`` (as pycocotools' ``loadRes`` sets it) unless the source carried its own
    (a pycocotools ``COCO`` results object); ``id`` is 1..N in input order unless the source
    carried ids.
    """

    def __init__(self, image_id, category_id, box, score, area=None, ids=None) -> None:
        self.image_id = np.ascontiguousarray(image_id, dtype=np.int64)
        self.category_id = np.ascontiguousarray(category_id, dtype=np.int64)
        self.box = np.ascontiguousarray(box, dtype=np.float64).reshape(-1, 4)
        self.score = np.ascontiguousarray(score, dtype=np.float64)
        n = len(self.score)
        if not (len(self.image_id) == len(self.category_id) == len(self.box) == n):
            raise ValueError("results columns must have the same length")
        # loadRes: ann['area'] = bb[2] * bb[3]
        self.area = self.box[:, 2] * self.box[:, 3] if area is None else np.ascontiguousarray(area, dtype=np.float64)
        self.ids = np.arange(1, n + 1, dtype=np.int64) if ids is None else np.asarray(ids, np.int64)

    def __len__(self) -> int:
        return len(self.score)

    def subset(self, mask: np.ndarray) -> "Detections":
        return Detections(
            self.image_id[mask],
            self.category_id[mask],
            self.box[mask],
            self.score[mask],
            self.area[mask],
            self.ids[mask],
        )

    @classmethod
    def from_records(
        cls, records: list, where: str = "results", *, use_area: bool = False, use_ids: bool = False
    ) -> "Detections":
        """From result dicts ``{"image_id", "category_id", "bbox", "score"}`` (one loop, at load)."""
        if not isinstance(records, (list, tuple)):
            raise TypeError(f"{where} must be a list of dicts, got {type(records).__name__}")
        image_id = int_column(records, "image_id", where)
        category_id = int_column(records, "category_id", where)
        box = box_column(records, "bbox", where)
        score = float_column(records, "score", where)
        area = float_column(records, "area", where) if use_area else None
        ids = int_column(records, "id", where) if use_ids else None
        check_finite(box, where, "bbox")
        check_finite(score, where, "score")
        return cls(image_id, category_id, box, score, area, ids)

    @classmethod
    def from_array(cls, arr: Any, where: str = "results") -> "Detections":
        """From an (N, 7) array ``[image_id, x, y, w, h, score, category_id]`` (loadNumpyAnnotations)."""
        a = np.asarray(arr)
        if a.ndim != 2 or a.shape[1] != 7:
            raise ValueError(
                f"{where} array must have shape (N, 7) [image_id, x, y, w, h, score, category_id], got {a.shape}"
            )
        a = a.astype(np.float64, copy=False)
        for col, key in ((0, "image_id"), (6, "category_id")):
            bad = ~np.isfinite(a[:, col]) | (a[:, col] != np.round(a[:, col]))
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(f"{where}[{i}, {col}] ({key}) must be an integer id, got {a[i, col]!r}")
        check_finite(a[:, 1:5], where, "bbox (columns 1:5)")
        check_finite(a[:, 5], where, "score (column 5)")
        return cls(a[:, 0].astype(np.int64), a[:, 6].astype(np.int64), a[:, 1:5], a[:, 5])


def load_results_file(path) -> Detections:
    """A results JSON file: native fast path (no dict per detection), else the general loader.

    The fast path takes the usual layout (a list of objects with integer ``image_id`` /
    ``category_id``, a 4-number ``bbox`` and a numeric ``score``; other keys skipped); anything
    else, including every malformed file, goes through ``load_json`` + ``from_records``, which
    raise the errors naming the record.
    """
    with open(path, "rb") as f:
        data = f.read()
    cols = _C.eval_parse_results(data)
    if cols is not None:
        return Detections(cols["image_id"], cols["category_id"], cols["bbox"], cols["score"])
    return Detections.from_records(loads_json(data), "results")


def as_detections(results: Any) -> Detections:
    """Accept a path, a list of result dicts, an (N, 7) array, a pycocotools ``COCO`` results
    object (its annotations' ``area`` and ``id`` are used, as pycocotools uses them) or
    ``Detections``."""
    if isinstance(results, Detections):
        return results
    if isinstance(results, (str, os.PathLike)):
        return load_results_file(results)
    if isinstance(results, np.ndarray) or type(results).__module__.startswith("torch"):
        return Detections.from_array(np.asarray(results))
    if isinstance(results, (list, tuple)):
        return Detections.from_records(list(results), "results")
    dataset = getattr(results, "dataset", None)
    if isinstance(dataset, dict) and "annotations" in dataset:
        anns = dataset["annotations"]
        key = (id(anns), len(anns))
        cached = getattr(results, "_vrft_detections", None)
        if cached is not None and cached[0] == key:
            return cached[1]  # the same annotation list as last time (re-evaluation)
        has_area = bool(anns) and all("area" in a for a in anns)
        has_ids = bool(anns) and all("id" in a for a in anns)
        dets = Detections.from_records(anns, "cocoDt.dataset['annotations']", use_area=has_area, use_ids=has_ids)
        try:
            results._vrft_detections = (key, dets)
        except AttributeError:  # pragma: no cover - slotted objects
            pass
        return dets
    raise TypeError(
        "results must be a path to a results json, a list of result dicts, an (N, 7) "
        f"array or a pycocotools COCO results object, got {type(results).__name__}"
    )
