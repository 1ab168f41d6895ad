"""Single-target grounding rewards (LISA-style reasoning grounding, REC).

The first box of the answer is compared with the first box of the ground truth by a paired
overlap, in one vectorised call for the batch.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .._options import check_option
from ..boxes import paired_box_iou
from ..parsing import boxes_to_pixels
from ..polygons import _shapely, paired_polygon_iou, polygon_regions
from ._base import BatchReward, require_one_of
from ._cache import cached_parse
from ._problems import answer_is_boxes, box_problems, check_box_options, image_sizes_from_columns

__all__ = ["GroundingReward", "grounding_reward", "get_grounding_reward"]

_VARIANTS = ("iou", "giou_plus_one", "iou_squared", "giou", "diou", "ciou")


class GroundingReward(BatchReward):
    r"""Overlap of the predicted box with the single ground-truth box.

    ``variant``:

    * ``"iou"`` (default): :math:`\mathrm{IoU} \in [0, 1]`;
    * ``"giou_plus_one"``: :math:`\mathrm{GIoU} + 1 \in [0, 2]`, Visual-RFT's LISA reward
      (``compute_giou``; arXiv:2503.01785 §4.4);
    * ``"iou_squared"``: :math:`\mathrm{IoU}^2`, sharper near 1 (Perception-R1-style shaping);
    * ``"giou"``, ``"diou"``, ``"ciou"``: the raw torchvision measures in [-1, 1].

    The first box of the answer is used (answers with several boxes are scored on their first;
    Visual-RFT's own parser mixes the corners of the first two boxes, see docs/rewards.md).  A
    completion without a readable box scores 0 (-1 for the raw signed variants); rows without
    ground truth are skipped (``None``).  ``exact_match_score``, when set, is given to answers
    whose text equals the ground-truth answer text after trimming (Visual-RFT gives 2.0).
    ``scale`` divides all coordinates first (Visual-RFT's LISA reward divides its 0..1000 values
    by 1000).

    ``gt_polygons`` names a column whose rows hold the ground-truth *region* in pixels: one flat
    polygon ``[x1, y1, x2, y2, ...]`` or a list of them (their union), as COCO / LISA
    segmentations.  The reward is then the IoU (``"iou"``) or squared IoU (``"iou_squared"``) of
    the predicted box with that region, computed by shapely 2 (:func:`vrft_rewards.polygon_iou`);
    the box is converted from ``coord_frame`` to pixels with the rows' image sizes.  Rows whose
    polygon is missing or unreadable are skipped (``None``).
    """

    def __init__(
        self,
        *,
        name: str = "grounding_reward",
        variant: str = "iou",
        coord_frame: str = "same",
        gt_frame: str | None = None,
        exact_match_score: float | None = None,
        scale: float | None = None,
        answer: str = "last",
        gt_polygons: str | None = None,
    ) -> None:
        check_option(variant, _VARIANTS, "variant")
        if gt_polygons is not None:
            if not isinstance(gt_polygons, str):
                raise TypeError(f"gt_polygons must be the name of a column, got {type(gt_polygons).__name__}")
            if variant not in ("iou", "iou_squared"):
                raise ValueError(f"gt_polygons supports variant 'iou' or 'iou_squared', got {variant!r}")
        check_box_options(coord_frame, gt_frame, answer)
        self.__name__ = name
        self.variant = variant
        self.coord_frame = coord_frame
        self.gt_frame = gt_frame
        self.exact_match_score = None if exact_match_score is None else float(exact_match_score)
        self.scale = None if scale is None else float(scale)
        self.answer = answer
        self.gt_polygons = gt_polygons

    def _score_polygons(self, completions: Sequence[Any], columns: dict) -> tuple[np.ndarray, dict]:
        require_one_of(
            columns, (self.gt_polygons,), self.__name__, "the ground-truth region: per-row polygons in pixels"
        )
        n = len(completions)
        rows = columns[self.gt_polygons]
        if len(rows) != n:
            raise ValueError(f"{self.__name__}: {self.gt_polygons} has {len(rows)} rows for {n} completions")
        parsed = cached_parse(completions, schema="auto", answer=self.answer, require_tags=True, invalid="raise")
        counts = np.diff(parsed.offsets)
        has = answer_is_boxes(parsed) & (counts > 0)
        regions, gt_ok = polygon_regions(rows, self.gt_polygons)
        first = parsed.boxes[parsed.offsets[:-1][has]]
        if self.coord_frame not in ("same", "abs") and len(first):
            sizes = image_sizes_from_columns(columns, n, self.__name__)[has]
            first = boxes_to_pixels(first, np.arange(len(first) + 1), sizes, self.coord_frame)
        if self.scale is not None:
            first = first / self.scale
        rows_ok = np.flatnonzero(has & gt_ok)
        pos = np.searchsorted(np.flatnonzero(has), rows_ok)
        b = first[pos]
        b = np.column_stack([b[:, 0], b[:, 1], np.maximum(b[:, 2], b[:, 0]), np.maximum(b[:, 3], b[:, 1])])
        shapely = _shapely()
        v = (
            paired_polygon_iou(list(shapely.box(b[:, 0], b[:, 1], b[:, 2], b[:, 3])), list(regions[rows_ok]))
            if len(rows_ok)
            else np.zeros(0)
        )
        if self.variant == "iou_squared":
            v = v * v
        values = np.zeros(n)
        values[rows_ok] = v
        values = np.where(gt_ok, values, np.nan)
        metrics = {"frac_malformed": float(np.mean(~has[gt_ok])) if gt_ok.any() else 0.0}
        return values, metrics

    def score(self, completions: Sequence[Any], columns: dict) -> tuple[np.ndarray, dict]:
        if self.gt_polygons is not None:
            return self._score_polygons(completions, columns)
        p = box_problems(
            completions,
            columns,
            reward=self.__name__,
            coord_frame=self.coord_frame,
            gt_frame=self.gt_frame,
            answer=self.answer,
            scale=self.scale,
        )
        has_pred = p.pred_ok & (p.n_pred > 0) & (p.n_gt > 0)
        rows = np.flatnonzero(has_pred)
        kind = {"iou": "iou", "iou_squared": "iou", "giou_plus_one": "giou"}.get(self.variant, self.variant)
        v = paired_box_iou(p.pred[p.pred_offsets[rows]], p.gt[p.gt_offsets[rows]], kind=kind)
        if self.variant == "giou_plus_one":
            v = v + 1.0
        elif self.variant == "iou_squared":
            v = v * v
        failure = -1.0 if self.variant in ("giou", "diou", "ciou") else 0.0
        values = np.full(len(p.n_pred), failure)
        values[rows] = v
        if self.exact_match_score is not None and "solution" in columns:
            answers = np.array(p.parsed.answer_text, dtype=object)
            truth = cached_parse(columns["solution"], schema="auto", answer="last", require_tags=False, invalid="empty")
            same = (answers == np.array(truth.answer_text, dtype=object)) & (answers != None)  # noqa: E711
            values = np.where(same, self.exact_match_score, values)
        values = np.where(p.gt_ok, values, np.nan)
        metrics = {
            "frac_malformed": float(np.mean(~p.pred_ok[p.gt_ok])) if p.gt_ok.any() else 0.0,
            "mean_iou": float(np.mean(v)) if len(v) and kind == "iou" and self.variant == "iou" else 0.0,
        }
        return values, metrics


def get_grounding_reward(**options: Any) -> GroundingReward:
    """Configured :class:`GroundingReward` (variant, coord_frame, gt_frame, exact_match_score,
    scale, answer, gt_polygons, name)."""
    return GroundingReward(**options)


grounding_reward = GroundingReward()
