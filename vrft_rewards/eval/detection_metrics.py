"""The metrics of a detection report that no evaluator gives for model outputs: the AP range over
the orders of tied scores (``ap_tie_range``), order-free counts at IoU 0.5 (``f1_at_50``), the
calibration of the stated confidence (``calibration``) and TIDE's error breakdown (``errors``).

One extra evaluate step of the engine (:mod:`.engine_state`) feeds the first three; TIDE runs
natively on the same detections.  Each section's definition is in its module: :mod:`.ties`,
:mod:`.calibration`, :mod:`.errors`.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from ..cocoeval.ground_truth import GroundTruth
from .calibration import calibration
from .engine_state import engine_state
from .errors import ERROR_TYPES, error_breakdown
from .protocols import Protocol, set_mean
from .ties import WARN_WIDTH, ap_tie_range, order_free_counts, prf, tie_statistics

__all__ = ["model_output_metrics"]


def _set_range(tr: dict, m: int, pos: dict, protocol: Protocol, kind: str, chosen: dict, n_draws: int) -> dict:
    """The set mean's reported value, min, max, Monte Carlo mean and errors (metric column m)."""
    ids = sorted(int(c) for c in chosen["ids"])

    def mean_of(key: str) -> float:
        return set_mean(protocol, kind, {c: float(tr[key][pos[c], m]) for c in ids}, chosen)

    lo, hi = mean_of("min"), mean_of("max")
    with_gt = [c for c in ids if tr["reported"][pos[c], m] > -1]
    divisor = (
        (len(ids) + (len(chosen["unknown"]) if kind == "coco" else 0)) if protocol.divide_by_selected else len(with_gt)
    )
    sd = math.sqrt(sum(float(tr["sd"][pos[c], m]) ** 2 for c in with_gt)) / divisor if divisor else float("nan")
    return {
        "reported": mean_of("reported"),
        "min": lo,
        "max": hi,
        "mean": mean_of("mean"),
        "se": sd / math.sqrt(n_draws) if n_draws else float("nan"),
        "se_bound": (hi - lo) / (2 * math.sqrt(n_draws)) if n_draws else float("nan"),
        "exact": bool(all(tr["exact"][pos[c], m] for c in with_gt)),
    }


def _tie_section(es, protocol, kind, chosen, summary, dets, n_draws, seed, name_of) -> tuple:
    tr = ap_tie_range(es, pooled=summary["pooled"], n_draws=n_draws, seed=seed)
    pos = {int(c): k for k, c in enumerate(es.cat_ids.tolist())}
    per_cat = []
    for c in sorted(int(x) for x in chosen["ids"]):
        k = pos[c]
        row = {"name": name_of[c], "category_id": c, "tied_groups": int(tr["tied_groups"][k]),
               "competing_groups": int(tr["hard_groups"][k])}  # fmt: skip
        for m, key in enumerate(("AP", "AP50")):
            row[key] = {
                "reported": float(tr["reported"][k, m]),
                "min": float(tr["min"][k, m]),
                "max": float(tr["max"][k, m]),
                "mean": float(tr["mean"][k, m]),
                "sd": float(tr["sd"][k, m]),
                "exact": bool(tr["exact"][k, m]),
            }
        per_cat.append(row)
    sec = {
        "notion": "record_order",
        "n_draws": n_draws,
        "seed": seed,
        "mean_AP": _set_range(tr, 0, pos, protocol, kind, chosen, n_draws),
        "mean_AP50": _set_range(tr, 1, pos, protocol, kind, chosen, n_draws),
        "scores": tie_statistics(dets),
        "per_category": per_cat,
        "affected_categories": [r["name"] for r in per_cat if r["AP"]["max"] - r["AP"]["min"] > WARN_WIDTH],
    }
    s = sec["mean_AP"]
    sec["warning"] = bool(np.isfinite([s["max"], s["min"]]).all() and s["max"] - s["min"] > WARN_WIDTH)
    rows = [["mean over the set", s["reported"], s["min"], s["max"], s["mean"], s["se"], s["exact"]]]
    rows += [
        [
            r["name"],
            r["AP"]["reported"],
            r["AP"]["min"],
            r["AP"]["max"],
            r["AP"]["mean"],
            r["AP"]["sd"],
            r["AP"]["exact"],
        ]
        for r in per_cat
        if r["tied_groups"]
    ]
    table = (
        f"AP over the orders of tied scores ({sec['scores']['tied']} of {sec['scores']['detections']} detections "
        f"tie within an image and category; mean of {n_draws} random orders)",
        ["category", "reported", "min", "max", "mean", "sd / se", "exact"],
        rows,
    )
    notes = []
    if sec["warning"]:
        notes.append(
            f"the order of tied scores decides AP: over the orders of the records the set's mean AP ranges from "
            f"{s['min']:.4f} to {s['max']:.4f} (reported {s['reported']:.4f}, expectation {s['mean']:.4f} "
            f"+- {max(s['se'], 0):.4f}); categories: {', '.join(sec['affected_categories'])}"
        )
    return sec, table, notes, tr


def _f1_section(es, name_of) -> tuple:
    cnt = order_free_counts(es, 0.5)
    per_cat = []
    for k, c in enumerate(es.cat_ids.tolist()):
        tp, fp, fn = int(cnt["tp"][k]), int(cnt["fp"][k]), int(cnt["fn"][k])
        p, r, f = prf(tp, fp, fn)
        per_cat.append({"name": name_of[int(c)], "category_id": int(c), "tp": tp, "fp": fp, "fn": fn,
                        "ignored": int(cnt["ignored"][k]), "precision": p, "recall": r, "f1": f})  # fmt: skip
    with_gt = [r for r in per_cat if r["tp"] + r["fn"] > 0]
    micro = prf(sum(r["tp"] for r in per_cat), sum(r["fp"] for r in per_cat), sum(r["fn"] for r in per_cat))

    def nanmean(key: str) -> float:
        v = [r[key] for r in with_gt if not math.isnan(r[key])]
        return float(np.mean(v)) if v else float("nan")

    sec = {
        "matching": "maximum cardinality at IoU >= 0.5 (order-free), area all, no maxDets cap",
        "macro": {"precision": nanmean("precision"), "recall": nanmean("recall"), "f1": nanmean("f1")},
        "micro": {"precision": micro[0], "recall": micro[1], "f1": micro[2]},
        "per_category": per_cat,
    }
    rows = [[r["name"], r["tp"], r["fp"], r["fn"], r["precision"], r["recall"], r["f1"]] for r in per_cat]
    rows.append(["macro (categories with GT)", "", "", "", sec["macro"]["precision"], sec["macro"]["recall"],
                 sec["macro"]["f1"]])  # fmt: skip
    rows.append(["micro", sum(r["tp"] for r in per_cat), sum(r["fp"] for r in per_cat),
                 sum(r["fn"] for r in per_cat), micro[0], micro[1], micro[2]])  # fmt: skip
    table = (
        "Precision / recall / F1 at IoU 0.5 (maximum matching: independent of the order of ties)",
        ["category", "TP", "FP", "FN", "precision", "recall", "F1"],
        rows,
    )
    return sec, table


def _calibration_section(es, stated, name_of) -> tuple:
    names = [name_of[int(c)] for c in es.cat_ids.tolist()]
    sec = calibration(es, stated, names)
    rows = [["all detections", sec["n"], sec["ece"], sec["ece_50_95"]]]
    rows += [[r["name"], r["n"], r["ece"], r["ece_50_95"]] for r in sec["per_category"]]
    table = (
        f"Calibration of the stated confidence ({sec['n_bins']} bins; "
        f"{sec['excluded']['no_confidence']} detections without a stated confidence left out)",
        ["category", "detections (IoU .5)", "ECE @ IoU .5", "ECE @ .50:.95"],
        rows,
    )
    return sec, table


def _errors_section(gt, dets, kind, cat_ids, img_ids, ties) -> tuple:
    sec = error_breakdown(gt, dets, kind=kind, cat_ids=cat_ids, img_ids=img_ids)
    rows = [[k, sec[k]["count"], sec[k]["dAP"]] for k in ERROR_TYPES]
    rows += [[f"(special) {k.replace('_', ' ')}", "", v] for k, v in sec["special"].items()]
    table = (
        f"Error breakdown (TIDE; its AP50 {sec['ap50']:.4f}, not pycocotools'): dAP = AP gained by fixing the type",
        ["error", "count", "dAP"],
        rows,
    )
    notes = []
    if ties["tied"] and ties["tied"] >= 0.5 * ties["detections"]:
        notes.append(
            "most detections tie on score: TIDE's dAP are not meaningful under ties (fixing puts the tied "
            "errors before the true positives, so the 'fixed' AP can drop and is reported as 0)"
        )
    return sec, table, notes


def model_output_metrics(
    kind: str,
    protocol: Protocol,
    gt: GroundTruth,
    batch: Any,
    chosen: dict,
    img_ids: Optional[np.ndarray],
    eval_params: dict,
    summary: dict,
    *,
    n_draws: int = 200,
    seed: int = 0,
) -> dict:
    """``{"metrics", "tables", "notes", "arrays"}`` of the model-output metrics (module docstring)."""
    name_of = dict(zip(gt.cat_ids.tolist(), gt.cat_names))
    es = engine_state(kind, gt, batch.dets, chosen["ids"], img_ids, eval_params)
    if es is None:
        return {"metrics": {}, "tables": [], "notes": ["use_cats=False: no per-category metrics of model outputs"],
                "arrays": {}}  # fmt: skip
    ties, t_table, notes, tr = _tie_section(es, protocol, kind, chosen, summary, batch.dets, n_draws, seed, name_of)
    f1, f_table = _f1_section(es, name_of)
    cal, c_table = _calibration_section(es, batch.stated, name_of)
    err, e_table, e_notes = _errors_section(gt, batch.dets, kind, es.cat_ids, img_ids, ties["scores"])
    raw = err.pop("raw")
    return {
        "metrics": {"ap_tie_range": ties, "f1_at_50": f1, "calibration": cal, "errors": err},
        "raw_errors": raw,
        "tables": [t_table, f_table, c_table, e_table],
        "notes": notes + e_notes,
        "arrays": {"tie_range": ties, "calibration": cal, "errors": err},
    }
