"""A light, reusable ground-truth index: COCO / LVIS annotations as flat numpy columns."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .._json import load_json
from .columns import box_column, check_finite, flag_column, float_column, int_column, positions

__all__ = ["GroundTruth", "as_ground_truth"]


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
    Python visits each annotation once here; evaluations only slice these columns.  Ids must be
    integers (pycocotools accepts any hashable id; string ids are not supported).
    """

    def __init__(self, dataset: dict) -> None:
        if not isinstance(dataset, dict):
            raise TypeError(f"gt must be a COCO-format dict, got {type(dataset).__name__}")
        for key in ("images", "annotations", "categories"):
            if key not in dataset:
                raise ValueError(f"gt has no {key!r} list")
        self.dataset = dataset
        images = dataset["images"]
        anns = dataset["annotations"]
        cats = dataset["categories"]
        self.image_ids = int_column(images, "id", "gt['images']")
        self.cat_ids = int_column(cats, "id", "gt['categories']")
        self.cat_names = [str(c.get("name", c["id"])) for c in cats]
        self.cat_frequency = [c.get("frequency") for c in cats]
        self.ann_image_id = int_column(anns, "image_id", "gt['annotations']")
        self.ann_category_id = int_column(anns, "category_id", "gt['annotations']")
        self.ann_id = int_column(anns, "id", "gt['annotations']")
        # Mask evaluation reads no GT box (torchmetrics' segm GT has none): a missing `bbox` is a NaN
        # row, listed in ann_box_missing, an error only where a box is read (engine.py).
        self.ann_box, self.ann_box_missing = _boxes(anns)
        self.ann_area = float_column(anns, "area", "gt['annotations']")
        self.ann_iscrowd = flag_column(anns, "iscrowd", "gt['annotations']")
        self.ann_ignore = flag_column(anns, "ignore", "gt['annotations']")
        self._sorted_image_ids = np.unique(self.image_ids)
        self._lvis_lists: tuple | None = None

    # -- LVIS image lists --------------------------------------------------------------------
    def lvis_lists(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(image id, category id) pairs of ``neg_category_ids`` and ``not_exhaustive_category_ids``.

        Images without these keys contribute no pairs (lvis-api would raise ``KeyError``).
        """
        if self._lvis_lists is None:
            out = []
            for key in ("neg_category_ids", "not_exhaustive_category_ids"):
                imgs, cats = [], []
                for img in self.dataset["images"]:
                    ids = img.get(key) or ()
                    imgs.extend([img["id"]] * len(ids))
                    cats.extend(ids)
                out.append(np.asarray(imgs, dtype=np.int64))
                out.append(np.asarray(cats, dtype=np.int64))
            self._lvis_lists = tuple(out)
        return self._lvis_lists

    def has_image(self, ids: np.ndarray) -> np.ndarray:
        """Boolean mask: which of ``ids`` are images of this dataset."""
        return positions(ids, self._sorted_image_ids)[1]

    def __len__(self) -> int:
        return len(self.ann_id)

    def __repr__(self) -> str:
        return (
            f"GroundTruth(images={len(self.image_ids)}, categories={len(self.cat_ids)}, annotations={len(self.ann_id)})"
        )


def _boxes(anns: list) -> tuple[np.ndarray, np.ndarray]:
    """(``bbox`` column, indices of annotations without one) of GT annotations."""
    where = "gt['annotations']"
    try:
        box = box_column(anns, "bbox", where)
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
    return box, missing


def _check_rows_finite(box: np.ndarray, ok: np.ndarray, where: str) -> None:
    bad = ok & ~np.isfinite(box).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{where}[{i}]['bbox'] must be finite, got {box[i].tolist()!r}")


def as_ground_truth(gt: Any) -> GroundTruth:
    """Accept a path, a dict, a pycocotools ``COCO`` / lvis ``LVIS`` object or a ``GroundTruth``."""
    if isinstance(gt, GroundTruth):
        return gt
    cached = getattr(gt, "_vrft_ground_truth", None)
    if isinstance(cached, GroundTruth) and cached.dataset is getattr(gt, "dataset", None):
        return cached
    if isinstance(gt, (str, os.PathLike)):
        return GroundTruth(load_json(gt))
    if isinstance(gt, dict):
        return GroundTruth(gt)
    dataset = getattr(gt, "dataset", None)
    if isinstance(dataset, dict):  # pycocotools COCO, lvis LVIS, faster-coco-eval COCO, ...
        index = GroundTruth(dataset)
        try:
            gt._vrft_ground_truth = index  # reuse across COCOeval instances on the same object
        except AttributeError:  # pragma: no cover - slotted objects
            pass
        return index
    raise TypeError(
        "gt must be a path to a COCO json, a dict, a pycocotools COCO / lvis LVIS object or a "
        f"vrft_rewards.eval.GroundTruth, got {type(gt).__name__}"
    )
