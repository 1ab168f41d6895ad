"""Calibration of the stated confidence: does ``Confidence`` say how often a box is right?

Visual-RFT rewards the stated confidence; this measures it against pycocotools' own matching, read
from the engine's evaluation state (no re-matching):

* **sample**: every detection the evaluation ranks at area "all" after the per-(image, category)
  cap (LVIS: after its per-image cap) whose confidence was stated by the model and lies in
  [0, 1]; a detection scored by ``default_score``, or with a confidence outside [0, 1], is
  counted and left out;
* **label** at IoU threshold t: 1 when the detection is matched (a true positive), 0 when it is
  a false positive; detections ignored at t (matched to a crowd / ignored GT, or of a category
  the image does not annotate exhaustively) are left out at that t, as AP leaves them out;
* **bins**: ``n_bins`` equal-width bins ``[b / n, (b + 1) / n)`` with edges computed as ``k / n``
  (so a two-decimal 0.30 falls in [0.3, 0.4)); the last bin is closed (1.0 is in it);
* ``ECE_t = sum_b (n_b / N) |accuracy_b - mean confidence_b|`` (empty bins add 0); ``ece`` is
  ECE at IoU 0.5, ``ece_50_95`` the mean of ECE_t over the IoU thresholds, each over its own
  samples; overall values pool every detection of the set (they are not a mean of categories).

torchmetrics' ``BinaryCalibrationError(norm="l1")`` and netcal's ``ECE`` compute the same
count-weighted L1 ECE; they differ only on bin edges (torchmetrics puts 0.3 in [0.2, 0.3) and
gives 1.0 a bin of its own; netcal puts 0.3, 0.6, 0.7 in the bin below).
"""

from __future__ import annotations

import numpy as np

from .engine_state import EngineState

__all__ = ["calibration", "expected_calibration_error"]

_TP, _IGNORED = 1, 2  # the engine's DetState codes (csrc/eval/evaluate.h)


def expected_calibration_error(conf: np.ndarray, label: np.ndarray, n_bins: int = 10) -> tuple:
    """``(ece, bins)`` of confidences in [0, 1] against 0/1 labels (module docstring);
    ``bins``: ``count``, ``mean_confidence``, ``accuracy`` per bin (NaN where empty)."""
    conf = np.asarray(conf, dtype=np.float64)
    label = np.asarray(label, dtype=np.float64)
    inner = np.arange(1, n_bins) / n_bins  # exact k / n edges
    b = np.searchsorted(inner, conf, side="right")
    n = np.bincount(b, minlength=n_bins).astype(np.float64)
    sc = np.bincount(b, weights=conf, minlength=n_bins)
    sl = np.bincount(b, weights=label, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mc, acc = sc / n, sl / n
    gap = np.where(n > 0, np.abs(acc - mc), 0.0)
    total = n.sum()
    ece = float(np.sum(n / total * gap)) if total else float("nan")
    return ece, {"count": n.astype(np.int64).tolist(), "mean_confidence": mc.tolist(), "accuracy": acc.tolist()}


def calibration(es: EngineState, stated: np.ndarray, names: list, n_bins: int = 10) -> dict:
    """The ``calibration`` section of a detection report.

    ``stated`` (bool, one per row of the caller's detection array): the confidence is the model's
    own.  ``names``: category names in ``es.cat_ids`` order.
    """
    st = es.state
    slots_per_group = np.diff(st.dt_offsets)
    cat = np.repeat(st.group_category, slots_per_group)  # position in es.cat_ids
    rows = es.rows[st.dt_index]  # caller's row of every ranked slot
    conf = np.asarray(st.dt_score, dtype=np.float64)
    t_count, a_count = len(es.iou_thrs), len(es.area_rng)
    state = np.asarray(st.dt_state).reshape(-1, a_count, t_count)[:, 0, :]  # area "all"
    has_conf = np.asarray(stated, dtype=bool)[rows]
    in_range = (conf >= 0) & (conf <= 1)
    usable = has_conf & in_range
    t50 = np.flatnonzero(es.iou_thrs == 0.5)

    def ece_at(sel: np.ndarray, t: int) -> tuple:
        keep = sel & (state[:, t] != _IGNORED)
        return expected_calibration_error(conf[keep], state[keep, t] == _TP, n_bins), int(keep.sum())

    def summary(sel: np.ndarray) -> dict:
        per_t = [ece_at(sel, t)[0][0] for t in range(t_count)]
        (e50, bins), n50 = ece_at(sel, int(t50[0])) if len(t50) else ((float("nan"), None), 0)
        return {"ece": e50, "ece_50_95": float(np.mean(per_t)) if per_t else float("nan"), "n": n50, "bins": bins}

    overall = summary(usable)
    per_cat = []
    for k, name in enumerate(names):
        sel = usable & (cat == k)
        if not sel.any():
            continue
        s = summary(sel)
        per_cat.append({"name": name, "category_id": int(es.cat_ids[k]), "ece": s["ece"],
                        "ece_50_95": s["ece_50_95"], "n": s["n"], "bins": s["bins"]})  # fmt: skip
    return {
        "ece": overall["ece"],
        "ece_50_95": overall["ece_50_95"],
        "n": overall["n"],
        "n_bins": n_bins,
        "bins": overall["bins"],
        "excluded": {
            "no_confidence": int((~has_conf).sum()),
            "out_of_range": int((has_conf & ~in_range).sum()),
            "ignored_at_0.5": int((usable & (state[:, int(t50[0])] == _IGNORED)).sum()) if len(t50) else 0,
        },
        "per_category": per_cat,
    }
