"""pycocotools' and lvis-api's per-cell views of a native evaluation, built on request.

The drop-ins keep the per-(image, category) matches in native memory; scripts that read
``COCOeval.evalImgs`` / ``ious`` / ``_gts`` / ``_dts`` (torchvision's and DETR's ``CocoEvaluator``,
torchmetrics' extended summary) or ``LVISEval.eval_imgs`` / ``ious`` / ``eval['dt_pointers']`` get
them from :class:`Evaluated`, an evaluation run with its IoU blocks and matches kept, in
pycocotools' / lvis-api's exact layout (dict keys, dtypes, orders).  Nothing here runs on the plain
evaluate / accumulate / summarize path.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .columns import positions
from .ground_truth import GroundTruth
from .loadres import Results

__all__ = ["Evaluated", "LazyIous", "LazySequence", "LazyDtPointers"]

_IGNORED, _TRUE_POSITIVE = 2, 1  # csrc/eval/evaluate.h DetState


@dataclass
class Evaluated:
    """A native evaluation kept with its IoU blocks and matches, and what maps it back to records.

    ``gt_rows`` / ``dt_rows``: annotation / result index of each row the engine saw;
    ``gt_ignore``: the engine's GT ignore flag per row; ``img_ids`` / ``cat_ids``: the ids at the
    engine's image / category positions (``cat_ids`` is ``[-1]`` when categories are pooled).
    """

    state: Any
    gt: GroundTruth
    res: Results
    gt_rows: np.ndarray
    dt_rows: np.ndarray
    gt_ignore: np.ndarray
    img_ids: list
    cat_ids: list
    area_rng: list
    num_thrs: int
    max_det: int
    iou_type: str
    use_cats: bool = True
    lvis: bool = False
    _a: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        s, a = self.state, self._a
        for name in ("group_image", "group_category", "gt_offsets", "gt_index", "dt_offsets", "dt_index"):
            a[name] = getattr(s, name)
        a["dt_score"] = s.dt_score
        shape = (len(a["dt_index"]), len(self.area_rng), self.num_thrs)
        a["dt_state"] = s.dt_state.reshape(shape)
        a["dt_match"] = s.dt_match.reshape(shape)
        a["iou_offsets"] = s.iou_offsets
        a["ious"] = s.ious
        self._keys = a["group_category"] * len(self.img_ids) + a["group_image"]
        self._num_groups = len(self._keys)

    # -- lookups --------------------------------------------------------------------------------
    def group(self, k: int, i: int) -> int:
        """The group of (category position k, image position i), or -1."""
        key = k * len(self.img_ids) + i
        g = int(np.searchsorted(self._keys, key))
        return g if g < self._num_groups and self._keys[g] == key else -1

    def groups_table(self) -> np.ndarray:
        """(K, I) group index of every cell, -1 where none."""
        n_cat, n_img = len(self.cat_ids), len(self.img_ids)
        table = np.full(n_cat * n_img, -1, dtype=np.int64)
        table[self._keys] = np.arange(self._num_groups)
        return table.reshape(n_cat, n_img)

    def gt_of(self, g: int) -> np.ndarray:
        a = self._a
        return a["gt_index"][a["gt_offsets"][g] : a["gt_offsets"][g + 1]]  # engine rows, dataset order

    def slots_of(self, g: int) -> slice:
        a = self._a
        return slice(int(a["dt_offsets"][g]), int(a["dt_offsets"][g + 1]))

    def block(self, g: int):
        """pycocotools' ``ious[img, cat]`` of group g: ``[]`` or the (D, G) array."""
        a = self._a
        D = a["dt_offsets"][g + 1] - a["dt_offsets"][g]
        G = a["gt_offsets"][g + 1] - a["gt_offsets"][g]
        if D == 0 or G == 0 or (self.iou_type == "keypoints" and not self.use_cats):
            return []
        b = a["ious"][a["iou_offsets"][g] : a["iou_offsets"][g + 1]].reshape(D, G)
        # maskUtils.iou returns a Fortran-ordered array; computeOks a C-ordered one.
        return b.copy() if self.iou_type == "keypoints" else np.asfortranarray(b)

    # -- pycocotools evaluateImg / lvis-api evaluate_img ------------------------------------------
    def cell(self, g: int, a: int, img_id, cat_id) -> dict:
        arr = self._a
        rows = self.gt_of(g)
        ann = self.gt_rows[rows]
        lo, hi = self.area_rng[a][0], self.area_rng[a][1]
        area = self.gt.ann_area[ann]
        ig = ((self.gt_ignore[rows] != 0) | (area < lo) | (area > hi)).astype(np.int64)
        perm = np.argsort(ig, kind="mergesort")
        gt_ignore = ig[perm] if len(ig) else np.array([])  # np.array([]) is float64, as there
        gt_ids = self.gt.ann_id[ann]
        sl = self.slots_of(g)
        det = self.dt_rows[arr["dt_index"][sl]]
        dt_ids = self.res.dets.ids[det]
        match = arr["dt_match"][sl, a, :].T  # (T, D): the GT's index in dataset order, or -1
        T, D, G = self.num_thrs, len(det), len(rows)
        if G:
            dtm = np.where(match >= 0, gt_ids[np.maximum(match, 0)], 0).astype(np.float64)
        else:
            dtm = np.zeros((T, D))
        inv = np.empty(G, dtype=np.int64)
        inv[perm] = np.arange(G)
        gtm = np.zeros((T, G))
        for t in range(T):
            for d in np.flatnonzero(match[t] >= 0):  # score order: the last match wins, as there
                gtm[t, inv[match[t, d]]] = dt_ids[d]
        dt_ignore = (arr["dt_state"][sl, a, :] == _IGNORED).T.reshape(T, D)
        scores = arr["dt_score"][sl].tolist()
        if self.lvis:
            return {
                "image_id": img_id,
                "category_id": cat_id,
                "area_rng": self.area_rng[a],
                "dt_ids": dt_ids.tolist(),
                "gt_ids": gt_ids[perm].tolist(),
                "dt_matches": dtm,
                "gt_matches": gtm,
                "dt_scores": scores,
                "gt_ignore": gt_ignore,
                "dt_ignore": dt_ignore,
            }
        return {
            "image_id": img_id,
            "category_id": cat_id,
            "aRng": self.area_rng[a],
            "maxDet": self.max_det,
            "dtIds": dt_ids.tolist(),
            "gtIds": gt_ids[perm].tolist(),
            "dtMatches": dtm,
            "gtMatches": gtm,
            "dtScores": scores,
            "gtIgnore": gt_ignore,
            "dtIgnore": dt_ignore,
        }

    def eval_imgs_list(self) -> list:
        """pycocotools' ``evalImgs``: K * A * I entries (category, area, image order), None where
        the cell has neither GT nor detection."""
        n_cat, n_area, n_img = len(self.cat_ids), len(self.area_rng), len(self.img_ids)
        out: list = [None] * (n_cat * n_area * n_img)
        gi, gk = self._a["group_image"], self._a["group_category"]
        for g in range(self._num_groups):
            k, i = int(gk[g]), int(gi[g])
            for a in range(n_area):
                out[(k * n_area + a) * n_img + i] = self.cell(g, a, self.img_ids[i], self.cat_ids[k])
        return out

    def eval_img_at(self, index: int):
        n_cat, n_area, n_img = len(self.cat_ids), len(self.area_rng), len(self.img_ids)
        if not 0 <= index < n_cat * n_area * n_img:
            raise IndexError("eval_imgs index out of range")
        k, rest = divmod(index, n_area * n_img)
        a, i = divmod(rest, n_img)
        g = self.group(k, i)
        return None if g < 0 else self.cell(g, a, self.img_ids[i], self.cat_ids[k])

    def ious_dict(self) -> dict:
        """pycocotools' ``ious``: every (imgId, catId) of the evaluated ids -> ``[]`` or (D, G)."""
        table = self.groups_table()
        out = {}
        for i, img in enumerate(self.img_ids):
            for k, cat in enumerate(self.cat_ids):
                g = int(table[k, i])
                out[img, cat] = [] if g < 0 else self.block(g)
        return out

    def iou_at(self, img_id, cat_id):
        i = self._position(self.img_ids, img_id)
        k = 0 if not self.use_cats and not self.lvis else self._position(self.cat_ids, cat_id)
        if i < 0 or k < 0:
            raise KeyError((img_id, cat_id))
        g = self.group(k, i)
        return [] if g < 0 else self.block(g)

    @staticmethod
    def _position(ids: list, value) -> int:
        try:
            arr = np.asarray(ids, dtype=np.int64)
            pos, found = positions(np.array([int(value)], dtype=np.int64), arr)
        except (TypeError, ValueError, OverflowError):
            return -1
        return int(pos[0]) if found[0] else -1

    # -- lvis-api dt_pointers ----------------------------------------------------------------------
    def dt_pointers(self, k: int, a: int) -> dict:
        arr = self._a
        cat = np.flatnonzero(arr["group_category"] == k)
        if len(cat) == 0:
            return {}
        npig = self.state.num_positive_gt.reshape(-1, len(self.area_rng))[cat, a].sum()
        if npig == 0:
            return {}
        slot_lists = [np.arange(arr["dt_offsets"][g], arr["dt_offsets"][g + 1]) for g in cat]
        slots = np.concatenate(slot_lists)
        order = np.argsort(-arr["dt_score"][slots], kind="mergesort")
        slots = slots[order]
        ids = self.res.dets.ids[self.dt_rows[arr["dt_index"][slots]]]
        # np.concatenate of the cells' id lists: float64 as soon as one cell has no detection.
        ids = ids.astype(np.float64) if any(len(s) == 0 for s in slot_lists) else ids.astype(np.int64)
        st = arr["dt_state"][slots, a, :].T
        return {"dt_ids": ids, "tps": st == _TRUE_POSITIVE, "fps": st == 0}


class LazyIous(Mapping):
    """``ious`` as a mapping over every (image, category) whose values are built on access."""

    def __init__(self, ev: Evaluated | Mapping) -> None:
        self._ev = ev if isinstance(ev, Evaluated) else None
        self._plain = None if isinstance(ev, Evaluated) else dict(ev)

    def __getitem__(self, key):
        if self._plain is not None:
            return self._plain[key]
        img, cat = key
        return self._ev.iou_at(img, cat)

    def __iter__(self):
        if self._plain is not None:
            return iter(self._plain)
        return ((img, cat) for img in self._ev.img_ids for cat in self._ev.cat_ids)

    def __len__(self) -> int:
        if self._plain is not None:
            return len(self._plain)
        return len(self._ev.img_ids) * len(self._ev.cat_ids)


class LazySequence(Sequence):
    """A read-only sequence of ``n`` items built on access by ``item(index)``."""

    def __init__(self, n: int, item: Callable[[int], Any]) -> None:
        self._n, self._item = n, item

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self._item(i) for i in range(*index.indices(self._n))]
        if index < 0:
            index += self._n
        if not 0 <= index < self._n:
            raise IndexError("index out of range")
        return self._item(index)


class LazyDtPointers(Mapping):
    """lvis-api's ``eval['dt_pointers']``: ``[category position][area position]`` -> ``{}`` or
    ``{'dt_ids', 'tps', 'fps'}``, built on access."""

    def __init__(self, ev: Evaluated, num_cats: int, num_areas: int) -> None:
        self._ev, self._k, self._a = ev, num_cats, num_areas

    def __getitem__(self, k):
        if not (isinstance(k, (int, np.integer)) and 0 <= k < self._k):
            raise KeyError(k)
        return {a: self._ev.dt_pointers(int(k), a) for a in range(self._a)}

    def __iter__(self):
        return iter(range(self._k))

    def __len__(self) -> int:
        return self._k


def touch_cells(cells: defaultdict, img_ids, cat_ids, *, use_cats: bool, keypoints: bool = False) -> None:
    """Reads every cell as the references' evaluate loops read ``_gts`` / ``_dts`` (a
    defaultdict: each read of a missing cell adds it, empty, with the loop's key types):
    computeIoU / compute_iou over (image, category), pooled over the categories with
    ``useCats=0``; computeOks reads (image, -1) there first."""
    if use_cats:
        for img in img_ids:
            for cat in cat_ids:
                cells[img, cat]
        return
    if keypoints:
        for img in img_ids:
            cells[img, -1]
    for img in img_ids:
        for cat in cat_ids:
            cells[img, cat]


def annotations_by_cell(
    records: list, image_id: np.ndarray, category_id: np.ndarray, img_ids, cat_ids, *, use_cats: bool, keep=None
) -> defaultdict:
    """``defaultdict(list)`` of (image_id, category_id) -> shallow copies of ``records``, selected
    and ordered as ``COCO.getAnnIds(imgIds=..., catIds=...)`` (images in the given order, then
    record order; an empty id list selects everything); ``keep`` adds the loadRes / _prepare
    fields to each copy.  The evaluate loops' reads (:func:`touch_cells`) are the caller's."""
    n = len(image_id)
    sel = np.ones(n, bool)
    img_ids = np.asarray(img_ids, dtype=np.int64)
    if len(img_ids):
        ipos, ifound = positions(image_id, img_ids)
        sel &= ifound
        order_key = ipos
    else:
        order_key = np.zeros(n, np.int64)
    if use_cats and len(cat_ids):
        sel &= positions(category_id, np.asarray(cat_ids, dtype=np.int64))[1]
    idx = np.flatnonzero(sel)
    idx = idx[np.argsort(order_key[idx], kind="stable")]
    out: defaultdict = defaultdict(list)
    for j in idx.tolist():
        rec = dict(records[j])
        if keep is not None:
            keep(rec, j)
        out[rec["image_id"], rec["category_id"]].append(rec)
    return out
