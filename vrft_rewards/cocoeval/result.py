"""The result object returned by evaluate_coco / evaluate_lvis."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .summary import mean_valid

__all__ = ["EvalResult", "per_category_table"]

COCO_STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
#: The 10 keypoint stats of ``COCOeval._summarizeKps`` (all at maxDets=20).
KEYPOINT_STAT_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")


def per_category_table(precision, recall, iou_thrs, cat_ids, cat_names) -> list[dict]:
    """AP (IoU .50:.95), AP50, AP75 and AR per category at area 'all' and the last maxDets.

    precision: (T, R, K, A[, M]); recall: (T, K, A[, M]).  Categories without GT get -1.
    """
    p = precision if precision.ndim == 4 else precision[..., -1]
    r = recall if recall.ndim == 3 else recall[..., -1]
    thr = np.asarray(iou_thrs)
    t50 = np.where(0.5 == thr)[0]
    t75 = np.where(0.75 == thr)[0]
    rows = []
    for k, (cid, name) in enumerate(zip(cat_ids, cat_names)):
        rows.append(
            {
                "category_id": int(cid),
                "name": name,
                "AP": float(mean_valid(p[:, :, k, 0])),
                "AP50": float(mean_valid(p[t50, :, k, 0])),
                "AP75": float(mean_valid(p[t75, :, k, 0])),
                "AR": float(mean_valid(r[:, k, 0])),
            }
        )
    return rows


@dataclass(eq=False)
class EvalResult:
    """Outcome of :func:`evaluate_coco` / :func:`evaluate_lvis`.

    Attributes
    ----------
    stats : ndarray of float64, shape (12,) (COCO boxes / masks), (10,) (COCO keypoints) or (13,) (LVIS)
        The summary numbers, bit-identical to pycocotools' ``COCOeval.stats`` / the values of
        lvis-api's ``LVISEval.results``.
    precision : ndarray of float64, shape (T, R, K, A, M) (COCO) or (T, R, K, A) (LVIS)
    recall : ndarray of float64, shape (T, K, A, M) (COCO) or (T, K, A) (LVIS)
    scores : ndarray of float64, same shape as ``precision``
        Detection score at each recall threshold (pycocotools' ``eval['scores']``).
    params : dict
        The parameters used (``img_ids``, ``cat_ids``, ``iou_thrs``, ``rec_thrs``, ``max_dets``,
        ``area_rng``, ``area_rng_lbl``, ``use_cats``).
    per_category : list of dict
        One row per evaluated category: ``category_id``, ``name``, ``AP``, ``AP50``, ``AP75``,
        ``AR`` (area 'all', largest maxDets; -1 without GT).
    results : dict or None
        LVIS only: lvis-api's 13 keys (``AP`` ... ``ARl@300``).
    """

    stats: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    scores: np.ndarray
    params: dict
    category_names: list = field(repr=False, default_factory=list)
    lines: list = field(repr=False, default_factory=list)
    results: dict | None = None
    kind: str = "coco"
    _per_category: list | None = field(default=None, repr=False)

    @property
    def per_category(self) -> list:
        """Per-category AP / AP50 / AP75 / AR rows (computed on first access)."""
        if self._per_category is None:
            cat_ids = self.params["cat_ids"] if self.params.get("use_cats", True) else [-1]
            self._per_category = per_category_table(
                self.precision, self.recall, self.params["iou_thrs"], cat_ids, self.category_names
            )
        return self._per_category

    def summary(self) -> str:
        """The summary table in pycocotools' (or lvis-api's) printed layout."""
        return "\n".join(self.lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary: stats by name, per-category rows and the parameters."""
        if self.results is not None:
            stats = {k: float(v) for k, v in self.results.items()}
        else:
            names = KEYPOINT_STAT_NAMES if self.params.get("iou_type") == "keypoints" else COCO_STAT_NAMES
            stats = {name: float(v) for name, v in zip(names, self.stats)}
        params = {k: (np.asarray(v).tolist() if isinstance(v, np.ndarray) else v) for k, v in self.params.items()}
        return {"kind": self.kind, "stats": stats, "per_category": list(self.per_category), "params": params}
