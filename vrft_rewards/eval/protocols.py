"""Evaluation protocols: the few rules on which Visual-RFT's evaluation scripts and ours differ.

The pipeline is one pipeline; a :class:`Protocol` is consulted at its decision points:

* **reading a detection answer** (:mod:`.detection_batch`): our native parser with its repairs and
  score fallback, or Visual-RFT's inference-script rules (:mod:`.visual_rft_answers`);
* **which categories are evaluated and averaged** (:mod:`.detection`): a category of the set that
  no record queried (we leave it out; Visual-RFT evaluates every category, so it scores AP 0 and
  counts), one without ground truth (we leave it out; Visual-RFT's mean becomes NaN), and the
  divisor of the mean (ours: the categories averaged; Visual-RFT's: ``len(selected_cate)``);
* **a category's AP on LVIS** (:func:`category_ap`): area "all" (lvis-api's AP), or Visual-RFT's
  LVIS notebook, which pools the four area ranges (``precisions[:, :, idx, :]``);
* **classification and grounding answers** (:mod:`.visual_rft_tasks`): Visual-RFT's first-block
  regular expressions and its normalisation / IoU formula.

``docs/evaluation_pipeline.md`` ("Protocols") lists every rule with the upstream file and commit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._options import EVAL_PROTOCOLS, check_option
from ..cocoeval.summary import mean_valid

__all__ = ["DEFAULT", "PROTOCOLS", "VISUAL_RFT", "Protocol", "category_ap", "get_protocol", "set_mean", "set_summary"]


@dataclass(frozen=True)
class Protocol:
    """The rules one protocol follows at the pipeline's decision points.

    Attributes
    ----------
    name : {"default", "visual_rft"}
    visual_rft_answers : bool
        Read detection, classification and grounding answers by Visual-RFT's scripts' rules
        (first ``<answer>`` block, strict JSON, a missing ``Confidence`` ends the answer, ...).
    lvis_area_pooling : bool
        A category's LVIS AP averages ``precision[:, :, k, :]`` over the four area ranges.
    evaluate_never_queried : bool
        A category of the set that no record queried is evaluated (AP 0 when it has GT) and
        averaged, instead of being left out.
    no_gt_mean_is_nan : bool
        A category of the set without GT makes the mean NaN (Visual-RFT's ``np.mean`` of an
        empty array), instead of being left out.
    divide_by_selected : bool
        The mean divides by the number of names in the set (names unknown to the GT add 0),
        instead of by the number of categories averaged.
    """

    name: str
    visual_rft_answers: bool
    lvis_area_pooling: bool
    evaluate_never_queried: bool
    no_gt_mean_is_nan: bool
    divide_by_selected: bool

    @property
    def label(self) -> str:
        """How reports name the protocol."""
        return "Visual-RFT's evaluation scripts" if self.visual_rft_answers else "vrft_rewards (default)"


DEFAULT = Protocol("default", False, False, False, False, False)
VISUAL_RFT = Protocol("visual_rft", True, True, True, True, True)
PROTOCOLS = {p.name: p for p in (DEFAULT, VISUAL_RFT)}


def get_protocol(protocol: "str | Protocol") -> Protocol:
    """The :class:`Protocol` of a name (``"default"``, ``"visual_rft"``; ``"visual-rft"`` too)."""
    if isinstance(protocol, Protocol):
        return protocol
    if isinstance(protocol, str):
        protocol = protocol.replace("-", "_")
    return PROTOCOLS[check_option(protocol, EVAL_PROTOCOLS, "protocol")]


def category_ap(precision: np.ndarray, k: int, *, pooled: bool, t: "slice | np.ndarray" = slice(None)) -> float:
    """A category's AP from an engine precision array, -1 when no cell is defined.

    ``precision`` is (T, R, K, A[, M]) (the last maxDets is used).  ``pooled=False``: the mean
    of the defined cells of ``precision[t, :, k, 0]`` (area "all", pycocotools' per-category AP);
    ``pooled=True``: of ``precision[t, :, k, :]`` (every area range, Visual-RFT's LVIS notebook).
    Cells are flattened in C order before the mean, as ``np.mean(p[p > -1])`` does.
    """
    p = precision if precision.ndim == 4 else precision[..., -1]
    return float(mean_valid(p[t, :, k, :] if pooled else p[t, :, k, 0]))


def set_mean(protocol: Protocol, kind: str, values: dict, chosen: dict, with_gt: "list | None" = None) -> float:
    """The mean of per-category values ``{id: value}`` (-1: no GT) over the set by the protocol's
    averaging rules (:func:`set_summary`); ``with_gt``: the categories the default averages
    (those with a defined value unless given)."""
    ids = sorted(int(c) for c in chosen["ids"])
    if protocol.divide_by_selected:
        divisor = len(ids) + (len(chosen["unknown"]) if kind == "coco" else 0)
        total = 0.0
        for c in ids:  # the notebook's running sum, in the evaluator's (category id) order
            total += values[c] if values[c] > -1 else float("nan")
        return total / divisor if divisor else float("nan")
    keep = [c for c in ids if values[c] > -1] if with_gt is None else [c for c in with_gt if values[c] > -1]
    return float(np.mean([values[c] for c in keep])) if keep else float("nan")


def set_summary(
    protocol: Protocol, kind: str, precision: np.ndarray, iou_thrs: np.ndarray, result_cat_ids: list, chosen: dict
) -> dict:
    """Per-category AP / AP50 by the protocol's AP rule, and the set's means by its averaging rules.

    ``chosen`` is the category set (:func:`vrft_rewards.eval.detection` ``_category_set``):
    ``ids`` (the categories this protocol evaluates, all in ``result_cat_ids``) and ``unknown``
    (names of the set the GT does not have).  Returns ``ap``, ``ap50`` (``{id: value}``, -1
    without GT), ``mean_AP``, ``mean_AP50``, ``mean_AP_with_gt`` (the mean once the categories
    without GT are taken out of the set: finite where Visual-RFT's is NaN), ``n`` (categories
    averaged), ``divisor``, ``no_gt`` (ids without GT), ``pooled``.

    Default: the mean over the categories with GT.  Visual-RFT (``evaluation.ipynb``):
    ``sum(AP of the selected GT classes) / len(selected_cate)`` in category-id order, where a class
    without GT has AP NaN (so the mean is NaN) and a name the GT lacks adds 0 but counts; on LVIS
    (issue #100's ``ap_sum / ap_count``) the divisor is the number of selected names the GT has.
    """
    pooled = protocol.lvis_area_pooling and kind == "lvis"
    pos = {int(c): k for k, c in enumerate(result_cat_ids)}
    t50 = np.flatnonzero(np.asarray(iou_thrs) == 0.5)
    ids = sorted(int(c) for c in chosen["ids"])
    ap = {c: category_ap(precision, pos[c], pooled=pooled) for c in ids}
    ap50 = {c: category_ap(precision, pos[c], pooled=pooled, t=t50) for c in ids}
    no_gt = [c for c in ids if ap[c] <= -1]
    with_gt = [c for c in ids if ap[c] > -1]
    mean = set_mean(protocol, kind, ap, chosen)
    mean50 = set_mean(protocol, kind, ap50, chosen, with_gt=with_gt)
    if protocol.divide_by_selected:
        n, divisor = len(ids), len(ids) + (len(chosen["unknown"]) if kind == "coco" else 0)
        # What the notebook prints once the classes without GT are taken out of selected_cate.
        d = divisor - len(no_gt)
        mean_with_gt = sum(ap[c] for c in with_gt) / d if d else float("nan")
    else:
        n = divisor = len(with_gt)
        mean_with_gt = mean
    return {
        "ap": ap,
        "ap50": ap50,
        "mean_AP": float(mean),
        "mean_AP50": float(mean50),
        "mean_AP_with_gt": float(mean_with_gt),
        "n": n,
        "divisor": divisor,
        "no_gt": no_gt,
        "pooled": pooled,
    }
