"""Detection rewards: IoU after matching, confidence calibration, F1, per-completion AP.

Every function scores the whole batch with one parse (cached), one native matching call and
vectorised numpy; see ``docs/rewards.md`` for the dataset columns and every rule.

Row outcomes shared by all of them:

* ground truth missing or unreadable (``solution`` without a box answer, ``gt_boxes`` row
  ``None`` or not ``(k, 4)``, inverted / non-finite GT boxes): ``None`` (TRL skips the row);
* the completion's answer is not a box answer (no ``<answer>``, empty, malformed, plain text):
  ``0``;
* an explicit empty answer (``No Objects``, ``[]``) against empty ground truth: ``empty_score``
  (1 by default; Visual-RFT's own functions give 0 there);
* an inverted predicted box (x2 < x1 or y2 < y1) counts as a prediction that overlaps nothing.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .._ext import _C
from .._options import IOU_KINDS, MATCH_METHODS, check_option
from ..cocoeval.params import COCO_IOU_THRS, COCO_MAX_DETS, COCO_REC_THRS
from ..matching import match_boxes
from ._base import BatchReward, check_unit_interval
from ._cache import RecentResults
from ._problems import BoxProblems, box_problems, check_box_options, conversion_factors
from ._tiny import box_metrics, detection_result, ground_truth

__all__ = [
    "APReward",
    "ConfidenceReward",
    "F1Reward",
    "IoUReward",
    "ap_reward",
    "confidence_reward",
    "f1_reward",
    "iou_reward",
    "get_ap_reward",
    "get_confidence_reward",
    "get_f1_reward",
    "get_iou_reward",
]


class _MatchedBoxes:
    """Matching of flat problems (boxes + offsets) plus the per-row sums the rewards need."""

    def __init__(
        self,
        pred: np.ndarray,
        pred_offsets: np.ndarray,
        gt: np.ndarray,
        gt_offsets: np.ndarray,
        confidences: np.ndarray,
        *,
        method: str,
        iou_threshold: float,
        kind: str,
        strict: bool,
    ) -> None:
        n_rows = len(pred_offsets) - 1
        self.owner = np.repeat(np.arange(n_rows), np.diff(pred_offsets))
        # Greedy matching visits predictions by descending confidence; rows without
        # confidences keep their written order (missing values sort last).
        scores = np.where(np.isnan(confidences), -np.inf, confidences)
        self.result = match_boxes(
            pred,
            gt,
            pred_offsets=pred_offsets,
            gt_offsets=gt_offsets,
            scores=scores,
            method=method,
            iou_threshold=iou_threshold,
            kind=kind,
            strict=strict,
        )
        # Visit order (the order Visual-RFT adds its terms in): by descending score within a
        # row for greedy, written order for Hungarian.
        n = pred.shape[0]
        if method == "greedy":
            self.visit = _C.segment_stable_argsort_desc(scores, pred_offsets)
            rank = np.empty(n, dtype=np.int64)
            rank[self.visit] = np.arange(n)
            pair_order = np.argsort(rank[self.result.pred_global], kind="stable")
            self.sum_matched = _C.segment_sum_sequential(
                np.ascontiguousarray(self.result.iou[pair_order], dtype=np.float64), self.result.offsets
            )
        else:
            self.visit = np.arange(n)
            # Written order is the order the core already added the matched values in.
            self.sum_matched = self.result.sum_matched_iou

    @property
    def matched(self) -> np.ndarray:
        return self.result.matched_gt >= 0


def _iou_values(sum_matched: np.ndarray, n_pred: np.ndarray, n_gt: np.ndarray) -> np.ndarray:
    """Visual-RFT's ``R_iou`` of each row: ``min(1, sum of matched IoU / max(N_gt, N_pred))``."""
    denom = np.maximum(np.maximum(n_gt, n_pred), 1).astype(np.float64)
    return np.minimum(1.0, sum_matched / denom)


def matched_iou_reward(
    pred: np.ndarray,
    pred_offsets: np.ndarray,
    gt: np.ndarray,
    gt_offsets: np.ndarray,
    confidences: np.ndarray,
    *,
    method: str = "hungarian",
    iou_threshold: float = 0.5,
    kind: str = "iou",
    strict: bool = False,
    empty_score: float = 1.0,
) -> np.ndarray:
    """:class:`IoUReward`'s value of each row of flat, scorable problems (its formula, its matching
    and its order of additions); a row with neither predictions nor ground truth gets
    ``empty_score``.

    ``pred`` / ``gt`` are xyxy boxes with offsets, ``confidences`` one per prediction (NaN: none).
    The evaluation pipeline scores its per-prompt records with it.
    """
    m = _MatchedBoxes(
        pred,
        pred_offsets,
        gt,
        gt_offsets,
        confidences,
        method=method,
        iou_threshold=iou_threshold,
        kind=kind,
        strict=strict,
    )
    n_pred, n_gt = np.diff(pred_offsets), np.diff(gt_offsets)
    return np.where((n_pred == 0) & (n_gt == 0), empty_score, _iou_values(m.sum_matched, n_pred, n_gt))


_RECENT_MATCHES = RecentResults(4)


def matched_boxes(problems: BoxProblems, reward: "_BoxReward") -> _MatchedBoxes:
    """:class:`_MatchedBoxes` of ``problems`` under ``reward``'s matching options, shared by the
    rewards that score the same problems with the same options (a preset's IoU and confidence)."""
    key = (reward.method, reward.iou_threshold, reward.kind, reward.strict)
    m = _RECENT_MATCHES.get((problems,), key)
    if m is None:
        p = problems
        m = _MatchedBoxes(
            p.pred,
            p.pred_offsets,
            p.gt,
            p.gt_offsets,
            p.confidences,
            method=reward.method,
            iou_threshold=reward.iou_threshold,
            kind=reward.kind,
            strict=reward.strict,
        )
        _RECENT_MATCHES.put((problems,), key, m)
    return m


class _BoxReward(BatchReward):
    """Options shared by the matching-based box rewards."""

    def __init__(
        self,
        *,
        name: str,
        method: str = "hungarian",
        iou_threshold: float = 0.5,
        strict: bool = False,
        kind: str = "iou",
        coord_frame: str = "same",
        gt_frame: str | None = None,
        dedupe: bool = False,
        empty_score: float = 1.0,
        answer: str = "last",
        min_pixels: float | None = None,
        max_pixels: float | None = None,
    ) -> None:
        check_option(method, MATCH_METHODS, "method")
        check_option(kind, IOU_KINDS, "kind")
        check_box_options(coord_frame, gt_frame, answer)
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty str, got {name!r}")
        for arg, v in (("min_pixels", min_pixels), ("max_pixels", max_pixels)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0):
                raise ValueError(f"{arg} must be a positive number or None, got {v!r}")
        self.__name__ = name
        self.method = method
        self.iou_threshold = check_unit_interval(iou_threshold, "iou_threshold")
        self.strict = bool(strict)
        self.kind = kind
        self.coord_frame = coord_frame
        self.gt_frame = gt_frame
        self.dedupe = bool(dedupe)
        self.empty_score = check_unit_interval(empty_score, "empty_score")
        self.answer = answer
        self.min_pixels = min_pixels
        self.max_pixels = max_pixels
        # The fused path's options (_C.score_detection_rows).
        self._fused = (answer == "first", MATCH_METHODS.index(method), IOU_KINDS.index(kind), self.iou_threshold,
                       self.strict, self.dedupe)  # fmt: skip

    def _problems(self, completions: Sequence[Any], columns: dict, **extra: Any) -> BoxProblems:
        return box_problems(
            completions,
            columns,
            reward=self.__name__,
            coord_frame=self.coord_frame,
            gt_frame=self.gt_frame,
            answer=self.answer,
            dedupe=self.dedupe,
            pixels=(self.min_pixels, self.max_pixels),
            **extra,
        )

    # Index of the reward's raw value in a fused row (_C.score_detection_rows), None: no fused path.
    _field: int | None = None

    def _tiny(self, completions: Sequence[Any], columns: dict) -> list | None:
        if self._field is None:
            return None
        n = len(completions)
        truth = ground_truth(columns, n, self.__name__)
        if truth is None:
            return None
        solutions, data, column = truth
        # As box_problems: solution rows default to the model's frame, gt_boxes rows to pixels.
        gt_frame = self.gt_frame if self.gt_frame is not None else "abs" if column == "gt_boxes" else self.coord_frame
        frames = None
        if self.coord_frame != "same" and gt_frame != self.coord_frame:
            pred, gt = conversion_factors(
                columns, n, self.__name__, self.coord_frame, gt_frame, (self.min_pixels, self.max_pixels)
            )
            frames = np.ascontiguousarray(np.concatenate([pred, gt], axis=1))
        rows, pair_sum, n_pairs = detection_result(completions, solutions, self._fused, frames, data)
        # The row outcomes of _finish: no ground truth -> NaN, not a box answer -> 0, both empty
        # -> empty_score, else the reward's value.
        k, empty, nan = self._field, self.empty_score, float("nan")
        values = [nan if not r[1] else (r[k] if r[2] or r[3] else empty) if r[0] else 0.0 for r in rows]
        if callable(columns.get("log_metric")):
            self._log(columns, box_metrics(rows, pair_sum, n_pairs))
        return values

    def _finish(self, values: np.ndarray, p: BoxProblems, both_empty_ok: bool = True) -> np.ndarray:
        """Apply the shared row outcomes (module docstring) to per-row ``values``."""
        n_pred, n_gt = p.n_pred, p.n_gt
        out = np.where(p.pred_ok, values, 0.0)
        if both_empty_ok:
            out = np.where(p.pred_ok & (n_pred == 0) & (n_gt == 0), self.empty_score, out)
        return np.where(p.gt_ok, out, np.nan)

    @staticmethod
    def _metrics(p: BoxProblems, m: _MatchedBoxes | None = None) -> dict:
        rows = p.gt_ok
        metrics = {
            "frac_malformed": float(np.mean(~p.pred_ok[rows])) if rows.any() else 0.0,
            "frac_gt_invalid": float(np.mean(~p.gt_ok)) if len(rows) else 0.0,
            "mean_pred_count": float(np.mean(p.n_pred[rows & p.pred_ok])) if (rows & p.pred_ok).any() else 0.0,
        }
        if m is not None:
            iou = m.result.iou
            metrics["mean_matched_iou"] = float(np.mean(iou)) if len(iou) else 0.0
        return metrics


class IoUReward(_BoxReward):
    r"""Sum of matched IoU over the larger of the two box counts (Visual-RFT's ``R_iou``).

    .. math:: R = \min\Big(1, \frac{\sum_{(p, g) \in M} \mathrm{IoU}(p, g)}{\max(N_{gt}, N_{pred})}\Big)

    where :math:`M` matches predictions to ground truth (``method``: Hungarian, maximising the
    total IoU, or Visual-RFT / COCO greedy by confidence) among pairs with IoU at least
    ``iou_threshold`` (strictly above with ``strict=True``, as Visual-RFT).  Dividing by the larger
    count penalises both missed objects and extra boxes.  Reference: Liu et al., *Visual-RFT*,
    arXiv:2503.01785, §3.2 (IoU reward); ``compute_reward_iou_v2`` in its code.
    """

    _field = 5

    def __init__(self, *, name: str = "iou_reward", **options: Any) -> None:
        super().__init__(name=name, **options)

    def score(self, completions: Sequence[Any], columns: dict) -> tuple[np.ndarray, dict]:
        p = self._problems(completions, columns)
        m = matched_boxes(p, self)
        return self._finish(_iou_values(m.sum_matched, p.n_pred, p.n_gt), p), self._metrics(p, m)


class ConfidenceReward(_BoxReward):
    r"""Visual-RFT's confidence reward: reward confident hits and unconfident misses.

    .. math:: R = \mathrm{clip}_{[0,1]}\Big(\frac{1}{N_{pred}} \sum_{p}
              \begin{cases} c_p & p \text{ matched} \\ 1 - c_p & \text{otherwise}\end{cases}\Big)

    Missed ground truth does not enter.  A completion where any box lacks a confidence scores 0
    (Visual-RFT's function fails, and so scores 0, on such answers).  Reference: Visual-RFT
    §3.2 (confidence reward); ``compute_reward_confidence`` in its code.
    """

    _field = 6

    def __init__(self, *, name: str = "confidence_reward", **options: Any) -> None:
        super().__init__(name=name, **options)

    def score(self, completions: Sequence[Any], columns: dict) -> tuple[np.ndarray, dict]:
        p = self._problems(completions, columns)
        m = matched_boxes(p, self)
        conf = p.confidences
        terms = np.where(m.matched, conf, 1.0 - conf)[m.visit]
        missing = np.bincount(m.owner[np.isnan(conf)], minlength=len(p.n_pred)) > 0
        totals = _C.segment_sum_sequential(np.where(np.isnan(terms), 0.0, terms), p.pred_offsets)
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.clip(totals / p.n_pred, 0.0, 1.0)
        values = np.where((p.n_pred == 0) | missing, 0.0, values)
        return self._finish(values, p), self._metrics(p, m)


class F1Reward(_BoxReward):
    r"""Precision, recall or F1 of the matched boxes (Perception-R1 / Vision-R1 style).

    With :math:`K` matched pairs: precision :math:`K / N_{pred}`, recall :math:`K / N_{gt}`,
    F1 :math:`2K / (N_{pred} + N_{gt})`.  Over-prediction lowers precision and F1,
    under-prediction lowers recall and F1.  An empty answer against empty ground truth scores
    ``empty_score``; otherwise an empty side gives 0.
    """

    def __init__(self, *, name: str = "f1_reward", metric: str = "f1", **options: Any) -> None:
        check_option(metric, ("f1", "precision", "recall"), "metric")
        super().__init__(name=name, **options)
        self.metric = metric
        self._field = {"f1": 7, "precision": 8, "recall": 9}[metric]

    def score(self, completions: Sequence[Any], columns: dict) -> tuple[np.ndarray, dict]:
        p = self._problems(completions, columns)
        m = matched_boxes(p, self)
        k = m.result.n_matched.astype(np.float64)
        denom = {"f1": (p.n_pred + p.n_gt) / 2.0, "precision": p.n_pred, "recall": p.n_gt}[self.metric]
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.where(denom > 0, k / np.maximum(denom, 1e-300), 0.0)
        return self._finish(values, p), self._metrics(p, m)


class APReward(_BoxReward):
    r"""Per-completion COCO average precision, computed natively.

    The value is what a per-sample pycocotools evaluation gives (VLM-R1's ``map_reward``): the
    completion's boxes are the detections of one image, scored by their confidences
    (``score_fallback`` where absent), evaluated with ``COCOeval(..., "bbox")`` at
    ``iou_thresholds`` (default ``np.linspace(.5, .95, 10)``, i.e. AP50:95 = ``stats[0]``; pass
    ``"50"`` for AP50 = ``stats[1]``), 101 recall points, 100 detections, area "all".  With
    ``use_labels=True`` each label is a category (ground-truth categories only, as pycocotools
    evaluates the categories of the GT; predicted labels absent from the GT are ignored, so use
    :class:`F1Reward` or class-agnostic AP to penalise them).  Equal to pycocotools bit for bit
    (tests/test_rewards_ap.py), without building a COCO object per sample.
    """

    def __init__(
        self,
        *,
        name: str = "ap_reward",
        iou_thresholds: Any = "50:95",
        use_labels: bool = False,
        score_fallback: float = 1.0,
        max_dets: int = COCO_MAX_DETS[-1],
        **options: Any,
    ) -> None:
        options.pop("method", None)  # AP does its own COCO matching
        super().__init__(name=name, **options)
        if isinstance(iou_thresholds, str):
            check_option(iou_thresholds, ("50:95", "50", "75"), "iou_thresholds")
            thrs = {"50:95": COCO_IOU_THRS, "50": np.array([0.5]), "75": np.array([0.75])}[iou_thresholds]
        else:
            thrs = np.asarray(iou_thresholds, dtype=np.float64).reshape(-1)
            if thrs.size == 0 or not np.all((thrs > 0) & (thrs <= 1)):
                raise ValueError(
                    "iou_thresholds must be '50:95', '50', '75' or a non-empty list of "
                    f"values in (0, 1], got {iou_thresholds!r}"
                )
        self.iou_thresholds = iou_thresholds
        self._thrs = np.ascontiguousarray(thrs)
        self.use_labels = bool(use_labels)
        self.score_fallback = float(score_fallback)
        if int(max_dets) < 1:
            raise ValueError(f"max_dets must be >= 1, got {max_dets!r}")
        self.max_dets = int(max_dets)

    def score(self, completions: Sequence[Any], columns: dict) -> tuple[np.ndarray, dict]:
        p = self._problems(completions, columns, want_labels=self.use_labels)
        scores = np.where(np.isnan(p.confidences), self.score_fallback, p.confidences)
        pred_cat = gt_cat = None
        if self.use_labels:
            gt_names = p.gt_labels if p.gt_labels is not None else np.empty(0, dtype=object)
            names = np.concatenate([p.pred_labels, gt_names])
            names[names == None] = ""  # noqa: E711 - elementwise: boxes without a label
            ids = (
                np.unique(names.astype(str), return_inverse=True)[1].astype(np.int64)
                if len(names)
                else np.zeros(0, np.int64)
            )
            pred_cat, gt_cat = ids[: p.pred.shape[0]], ids[p.pred.shape[0] :]
            if gt_cat.shape[0] != p.gt.shape[0]:  # rows without GT labels: class-agnostic
                pred_cat = gt_cat = None
        ap = _C.completion_ap(
            np.ascontiguousarray(p.pred),
            np.ascontiguousarray(scores),
            pred_cat,
            p.pred_offsets,
            np.ascontiguousarray(p.gt),
            gt_cat,
            p.gt_offsets,
            self._thrs,
            COCO_REC_THRS,
            self.max_dets,
        )
        # -1 means "no ground truth": no predictions either -> empty_score, else 0.
        values = np.where(ap < 0, 0.0, ap)
        return self._finish(values, p), self._metrics(p)


def get_iou_reward(**options: Any) -> IoUReward:
    """Configured :class:`IoUReward` (options: method, iou_threshold, strict, kind, coord_frame,
    gt_frame, dedupe, empty_score, answer, min_pixels, max_pixels, name)."""
    return IoUReward(**options)


def get_confidence_reward(**options: Any) -> ConfidenceReward:
    """Configured :class:`ConfidenceReward` (same options as :func:`get_iou_reward`)."""
    return ConfidenceReward(**options)


def get_f1_reward(**options: Any) -> F1Reward:
    """Configured :class:`F1Reward` (``metric`` in f1 | precision | recall, plus the matching
    options of :func:`get_iou_reward`)."""
    return F1Reward(**options)


def get_ap_reward(**options: Any) -> APReward:
    """Configured :class:`APReward` (iou_thresholds, use_labels, score_fallback, max_dets,
    coord_frame, gt_frame, dedupe, empty_score, answer, name)."""
    return APReward(**options)


iou_reward = IoUReward()
confidence_reward = ConfidenceReward()
f1_reward = F1Reward()
ap_reward = APReward()
