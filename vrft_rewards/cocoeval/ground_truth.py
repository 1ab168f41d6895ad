"""A light, reusable ground-truth index: COCO / LVIS annotations as flat numpy columns."""

from __future__ import annotations

import itertools
import os
from typing import Any

import numpy as np

from .._json import load_json
from .columns import RecordFields, check_finite, int_column, positions

__all__ = ["GroundTruth", "as_ground_truth", "ground_truth_ids", "snapshot_ground_truth"]

# The annotation fields read into ``ann_*`` columns (one native pass reads them all) and their kinds.
_ANNOTATION_FIELDS = {
    "image_id": "int",
    "category_id": "int",
    "id": "int",
    "bbox": "box",
    "area": "float",
    "iscrowd": "flag",
    "ignore": "flag",
}


class GroundTruth:
    """COCO / LVIS ground truth as flat columns, built once and reusable across evaluations.

    Parameters
    ----------
    dataset : dict
        A COCO-format dataset (``images``, ``annotations``, ``categories``); LVIS datasets add
        ``neg_category_ids`` / ``not_exhaustive_category_ids`` per image and ``frequency`` per
        category.

    Attributes
    ----------
    image_ids : ndarray of int64, shape (I,)
        Image ids in dataset order.
    cat_ids : ndarray of int64, shape (C,)
        Category ids in dataset order; ``cat_names`` and ``cat_frequency`` (``None`` where absent)
        follow the same order.
    ann_image_id, ann_category_id, ann_id : ndarray of int64, shape (G,)
    ann_box : ndarray of float64, shape (G, 4)
        ``bbox`` as given (xywh).
    ann_area : ndarray of float64, shape (G,)
        The ``area`` field (COCO: the mask area, even for bbox evaluation).
    ann_iscrowd, ann_ignore : ndarray of uint8, shape (G,)
        Truthiness of ``iscrowd`` / ``ignore`` (absent: 0).

    Notes
    -----
    Every per-annotation column is an attribute named ``ann_*`` holding a row-aligned array
    (:meth:`take` slices them all).  A ``GroundTruth`` is a snapshot: it does not see later changes
    to the dict it was read from (pass the dict or the ``COCO`` object itself to have it read at
    every evaluation).  Each annotation field is read once here; evaluations only slice these
    columns.  Ids must be integers (pycocotools accepts any hashable id; string ids are not
    supported).
    """

    def __init__(self, dataset: dict) -> None:
        if not isinstance(dataset, dict):
            raise TypeError(f"gt must be a COCO-format dict, got {type(dataset).__name__}")
        for key in ("images", "annotations", "categories"):
            if key not in dataset:
                raise ValueError(f"gt has no {key!r} list")
        self._dataset: dict | None = dataset
        self._path: str | None = None
        images = dataset["images"]
        anns = dataset["annotations"]
        cats = dataset["categories"]
        self.image_ids = int_column(images, "id", "gt['images']")
        self.cat_ids = int_column(cats, "id", "gt['categories']")
        self.cat_names = [str(c.get("name", c["id"])) for c in cats]
        self.cat_frequency = [c.get("frequency") for c in cats]
        fields = RecordFields(anns, "gt['annotations']", _ANNOTATION_FIELDS)
        self.ann_image_id = fields["image_id"]
        self.ann_category_id = fields["category_id"]
        self.ann_id = fields["id"]
        # Mask evaluation reads no GT box (torchmetrics' segm GT has none): a missing `bbox` is a NaN
        # row, flagged in ann_no_box (row-aligned, as take() needs), an error only where a box is
        # read (engine.py).
        self.ann_box, self.ann_no_box = _boxes(anns, fields)
        self.ann_area = fields["area"]
        self.ann_iscrowd = fields["iscrowd"]
        self.ann_ignore = fields["ignore"]
        self._sorted_image_ids = np.unique(self.image_ids)
        # Read now, with the columns: a later change to the dict must not show in one and not
        # the other.
        self._lvis_lists = tuple(
            a for key in ("neg_category_ids", "not_exhaustive_category_ids") for a in _image_pairs(images, key)
        )

    @classmethod
    def from_file(cls, path) -> "GroundTruth":
        """The ground truth of a COCO / LVIS JSON file, holding only its columns.

        The annotation dicts are dropped once the columns are read (they are ~10x the columns);
        :attr:`dataset` reads the file again if it is asked for.
        """
        gt = cls(load_json(path))
        gt._dataset = None
        gt._path = os.fspath(path)
        return gt

    @property
    def dataset(self) -> dict:
        """The COCO-format dict the columns were read from (a file's is read again when asked)."""
        if self._dataset is None:
            self._dataset = load_json(self._path)
        return self._dataset

    # -- LVIS image lists --------------------------------------------------------------------
    def lvis_lists(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(image id, category id) pairs of ``neg_category_ids`` and ``not_exhaustive_category_ids``.

        Images without these keys contribute no pairs (lvis-api would raise ``KeyError``).
        """
        return self._lvis_lists

    def take(self, rows, lvis_lists: tuple | None = None) -> "GroundTruth":
        """The annotations ``rows`` (in that order) as a ``GroundTruth`` with the same images and
        categories: every per-annotation column (the ``ann_*`` attributes, row-aligned arrays) is
        sliced.  ``lvis_lists`` replaces the LVIS image lists (default: kept whole).  Used by the
        streaming evaluation to evaluate a batch of images against their annotations only."""
        out = object.__new__(GroundTruth)
        out.__dict__.update(self.__dict__)
        for name, value in self.__dict__.items():
            if name.startswith("ann_"):
                setattr(out, name, value[rows])
        if lvis_lists is not None:
            out._lvis_lists = tuple(lvis_lists)
        return out

    def has_image(self, ids: np.ndarray) -> np.ndarray:
        """Boolean mask: which of ``ids`` are images of this dataset."""
        return positions(ids, self._sorted_image_ids)[1]

    def __len__(self) -> int:
        return len(self.ann_id)

    def __repr__(self) -> str:
        return (
            f"GroundTruth(images={len(self.image_ids)}, categories={len(self.cat_ids)}, annotations={len(self.ann_id)})"
        )


def _boxes(anns: list, fields: RecordFields) -> tuple[np.ndarray, np.ndarray]:
    """(``bbox`` column, uint8 flag of the annotations without one) of GT annotations."""
    where = "gt['annotations']"
    try:
        box = fields["bbox"]
        missing = np.zeros(0, np.int64)
    except ValueError:
        missing = np.array([i for i, a in enumerate(anns) if isinstance(a, dict) and "bbox" not in a], np.int64)
        if len(missing) == 0:
            raise  # a malformed box, named by box_column
        box = np.full((len(anns), 4), np.nan)
        present = np.setdiff1d(np.arange(len(anns)), missing)
        for i in present.tolist():
            try:
                box[i] = np.asarray(anns[i]["bbox"], dtype=np.float64).reshape(4)
            except (TypeError, ValueError):
                raise ValueError(
                    f"{where}[{i}]['bbox'] must be 4 numbers [x, y, w, h], got {anns[i]['bbox']!r}"
                ) from None
    ok = np.ones(len(anns), bool)
    ok[missing] = False
    check_finite(box[ok], where, "bbox") if ok.all() else _check_rows_finite(box, ok, where)
    return box, (~ok).astype(np.uint8)


def _check_rows_finite(box: np.ndarray, ok: np.ndarray, where: str) -> None:
    bad = ok & ~np.isfinite(box).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{where}[{i}]['bbox'] must be finite, got {box[i].tolist()!r}")


def _image_pairs(images: list, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(image id, category id) of every category listed under ``key`` by each image."""
    lists = [img.get(key) or () for img in images]
    counts = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
    image_ids = np.asarray([img["id"] for img, n in zip(images, counts) if n], dtype=np.int64)
    cats = np.asarray(list(itertools.chain.from_iterable(lists)), dtype=np.int64)
    return np.repeat(image_ids, counts[counts > 0]), cats


def as_ground_truth(gt: Any) -> GroundTruth:
    """Accept a path, a dict, a pycocotools ``COCO`` / lvis ``LVIS`` object or a ``GroundTruth``.

    A dict or a ``COCO`` / ``LVIS`` object is read at every call, never cached on the object: its
    annotations may have been replaced or edited in place since the last evaluation (pycocotools
    reads them in ``_prepare``).  Only a :class:`GroundTruth` is reused as it is (a snapshot).
    """
    if isinstance(gt, GroundTruth):
        return gt
    if isinstance(gt, (str, os.PathLike)):
        return GroundTruth.from_file(gt)
    if isinstance(gt, dict):
        return GroundTruth(gt)
    dataset = getattr(gt, "dataset", None)
    if isinstance(dataset, dict):  # pycocotools COCO, lvis LVIS, faster-coco-eval COCO, ...
        return GroundTruth(dataset)
    raise TypeError(
        "gt must be a path to a COCO json, a dict, a pycocotools COCO / lvis LVIS object or a "
        f"vrft_rewards.eval.GroundTruth, got {type(gt).__name__}"
    )


def snapshot_ground_truth(gt: Any) -> GroundTruth | None:
    """The ``GroundTruth`` of an input nothing else can change (a ``GroundTruth``, or a file, read
    now), to keep across evaluations; None for a user's dict / ``COCO`` / ``LVIS`` object, which
    is read again at each evaluation (:func:`as_ground_truth`)."""
    if isinstance(gt, GroundTruth):
        return gt
    if isinstance(gt, (str, os.PathLike)):
        return GroundTruth.from_file(gt)
    return None


def ground_truth_ids(gt: Any) -> tuple[np.ndarray, np.ndarray]:
    """(image ids, category ids) of an accepted ``gt``, as pycocotools' ``COCOeval.__init__`` reads
    them (``getImgIds`` / ``getCatIds``), without reading the annotations of a dict or object."""
    if isinstance(gt, GroundTruth):
        return gt.image_ids, gt.cat_ids
    dataset = gt if isinstance(gt, dict) else getattr(gt, "dataset", None)
    if isinstance(dataset, dict) and all(k in dataset for k in ("images", "annotations", "categories")):
        images, cats = dataset["images"], dataset["categories"]
        return int_column(images, "id", "gt['images']"), int_column(cats, "id", "gt['categories']")
    index = as_ground_truth(gt)  # a path, or an input it rejects with the error naming it
    return index.image_ids, index.cat_ids
