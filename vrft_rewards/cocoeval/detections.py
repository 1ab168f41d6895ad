"""Detections (model results) as flat numpy columns."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .._ext import _C
from .._json import loads_json
from .columns import RecordFields, check_finite

__all__ = ["Detections", "as_detections"]

# The fields of a result record (one native pass reads them all) and their kinds.
_RESULT_FIELDS = {"image_id": "int", "category_id": "int", "bbox": "box", "score": "float"}


class Detections:
    """Detection results as columns: ``image_id``, ``category_id``, ``box`` (xywh), ``score``.

    ``area`` is ``w * h`` (as pycocotools' ``loadRes`` sets it) unless the source carried its own
    (a pycocotools ``COCO`` results object); ``ids`` are 1..N in input order unless the source
    carried ids.  Neither is stored unless given: both are derived when read (``area_at`` /
    ``id_positive_at`` derive only the rows asked for), which keeps 16 bytes per detection out of
    memory at LVIS scale.
    """

    def __init__(self, image_id, category_id, box, score, area=None, ids=None) -> None:
        self.image_id = np.ascontiguousarray(image_id, dtype=np.int64)
        self.category_id = np.ascontiguousarray(category_id, dtype=np.int64)
        self.box = np.ascontiguousarray(box, dtype=np.float64).reshape(-1, 4)
        self.score = np.ascontiguousarray(score, dtype=np.float64)
        n = len(self.score)
        if not (len(self.image_id) == len(self.category_id) == len(self.box) == n):
            raise ValueError("results columns must have the same length")
        self.area = area
        self.ids = ids

    # -- area and ids: given, or derived ------------------------------------------------------------
    @property
    def area(self) -> np.ndarray:
        """Per-detection area: the source's, else ``w * h`` (loadRes: ``ann['area'] = bb[2] * bb[3]``)."""
        if self._area is not None:
            return self._area
        with np.errstate(over="ignore"):  # loadRes' bb[2] * bb[3] on Python floats: inf, silently
            return self.box[:, 2] * self.box[:, 3]

    @area.setter
    def area(self, value) -> None:
        self._area = None if value is None else self._column(value, np.float64, "area")

    @property
    def ids(self) -> np.ndarray:
        """Per-detection id: the source's, else 1..N in input order (loadRes' ``id = i + 1``)."""
        return np.arange(1, len(self) + 1, dtype=np.int64) if self._ids is None else self._ids

    @ids.setter
    def ids(self, value) -> None:
        self._ids = None if value is None else self._column(value, np.int64, "ids")

    @property
    def given_area(self) -> np.ndarray | None:
        """The source's own per-detection area, or None when ``area`` is derived (``w * h``)."""
        return self._area

    def _column(self, value, dtype, name: str) -> np.ndarray:
        arr = np.ascontiguousarray(value, dtype=dtype)
        if arr.shape != (len(self),):
            raise ValueError(f"results {name} must have shape ({len(self)},), got {arr.shape}")
        return arr

    def area_at(self, rows) -> np.ndarray:
        """``area[rows]`` without deriving the other rows' areas."""
        if self._area is not None:
            return self._area[rows]
        box = self.box[rows]
        with np.errstate(over="ignore"):  # loadRes' bb[2] * bb[3] on Python floats: inf, silently
            return box[:, 2] * box[:, 3]

    def id_positive_at(self, rows) -> np.ndarray:
        """``ids[rows] > 0`` as uint8 (the only use of the id: pycocotools tests ``gtm > 0``)."""
        if self._ids is None:
            return np.ones(len(self.score[rows]), np.uint8)
        return (self._ids[rows] > 0).astype(np.uint8)

    def __len__(self) -> int:
        return len(self.score)

    def subset(self, mask: np.ndarray) -> "Detections":
        return Detections(
            self.image_id[mask],
            self.category_id[mask],
            self.box[mask],
            self.score[mask],
            None if self._area is None else self._area[mask],
            None if self._ids is None else self._ids[mask],
        )

    @classmethod
    def from_records(
        cls, records: list, where: str = "results", *, use_area: bool = False, use_ids: bool = False
    ) -> "Detections":
        """From result dicts ``{"image_id", "category_id", "bbox", "score"}`` (one native pass).

        ``use_area`` / ``use_ids``: take the records' ``area`` / ``id`` when every record has one
        (a pycocotools results object: loadRes put them there), else derive them."""
        if not isinstance(records, (list, tuple)):
            raise TypeError(f"{where} must be a list of dicts, got {type(records).__name__}")
        kinds = dict(_RESULT_FIELDS, **({"area": "float"} if use_area else {}), **({"id": "int"} if use_ids else {}))
        fields = RecordFields(records, where, kinds)
        box, score = fields["bbox"], fields["score"]
        check_finite(box, where, "bbox")
        check_finite(score, where, "score")
        return cls(
            fields["image_id"],
            fields["category_id"],
            box,
            score,
            fields.optional("area") if use_area else None,
            fields.optional("id") if use_ids else None,
        )

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
    ``category_id``, a 4-number ``bbox`` and a numeric ``score``; other keys skipped) and reads
    the file in blocks straight into the final columns; anything else, including every malformed
    file, goes through ``load_json`` + ``from_records``, which raise the errors naming the record.
    """
    cols = _C.eval_read_results(os.fsencode(path))
    if cols is not None:
        return Detections(cols["image_id"], cols["category_id"], cols["bbox"], cols["score"])
    with open(path, "rb") as f:
        data = f.read()
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
        # Read at every call, never cached on the object: its annotations may have been replaced
        # or edited in place since the last evaluation (pycocotools reads them in _prepare).
        return Detections.from_records(
            dataset["annotations"], "cocoDt.dataset['annotations']", use_area=True, use_ids=True
        )
    raise TypeError(
        "results must be a path to a results json, a list of result dicts, an (N, 7) "
        f"array or a pycocotools COCO results object, got {type(results).__name__}"
    )
