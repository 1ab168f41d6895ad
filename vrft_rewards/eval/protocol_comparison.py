"""How much, and why, the two protocols differ on the same model outputs.

Both protocols read the same records (one native parse); :func:`compare_protocols` evaluates the
other protocol's detections too and reports:

* the set's mean AP / AP50 under each protocol, and the difference split into three steps
  (each applied on top of the previous one): the other protocol's **category rules** (which
  categories are evaluated and averaged, the divisor), its **LVIS area pooling**, and its
  **reading of the answers** (the detections themselves);
* the records and boxes treated differently, per rule of Visual-RFT's answer reading
  (:data:`~vrft_rewards.eval.visual_rft_answers.RULES`), from a vectorised multiset comparison of
  the two detection arrays (a box with another score counts on both sides);
* the per-category AP under each protocol.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from .protocols import Protocol, get_protocol, set_summary
from .visual_rft_answers import RULES

__all__ = ["compare_protocols", "differing_boxes"]

_OPTIONS_RULE = "options of the default protocol (dedupe, default score, require_tags, schema)"


def differing_boxes(rec_a: np.ndarray, dets_a: np.ndarray, rec_b: np.ndarray, dets_b: np.ndarray, n_records: int):
    """Per record, boxes of ``a`` missing from ``b`` and of ``b`` missing from ``a``, as multisets
    of ``(record, x, y, w, h, score, category)`` rows.  Returns two int64 arrays (R,)."""
    a = np.column_stack([rec_a.astype(np.float64), dets_a[:, 1:7]]) if len(dets_a) else np.zeros((0, 7))
    b = np.column_stack([rec_b.astype(np.float64), dets_b[:, 1:7]]) if len(dets_b) else np.zeros((0, 7))
    rows = np.vstack([a, b])
    if not len(rows):
        return np.zeros(n_records, np.int64), np.zeros(n_records, np.int64)
    rows = rows + 0.0  # -0.0 -> 0.0: equal boxes compare equal
    keys, inv = np.unique(rows, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    ca = np.bincount(inv[: len(a)], minlength=len(keys))
    cb = np.bincount(inv[len(a) :], minlength=len(keys))
    rec = keys[:, 0].astype(np.int64)
    only_a = np.bincount(rec, weights=np.maximum(ca - cb, 0), minlength=n_records).astype(np.int64)
    only_b = np.bincount(rec, weights=np.maximum(cb - ca, 0), minlength=n_records).astype(np.int64)
    return only_a, only_b


def compare_protocols(
    kind: str,
    batch,
    this: Protocol,
    chosen_this: dict,
    chosen_other: dict,
    summary_this: dict,
    result_this,
    evaluate: Callable,
    name_of: dict,
) -> dict:
    """The comparison section of a detection report (module docstring).

    ``evaluate(dets, cat_ids)`` runs the engine; ``result_this`` is this protocol's evaluation on
    its own categories, ``summary_this`` its :func:`set_summary`.  Returns ``{"metrics",
    "table", "notes", "other_summary"}``.
    """
    other = get_protocol("default" if this.name == "visual_rft" else "visual_rft")
    union = sorted(set(chosen_this["ids"]) | set(chosen_other["ids"]))
    this_union = (
        result_this if union == sorted(int(c) for c in result_this.params["cat_ids"]) else evaluate(batch.dets, union)
    )
    other_union = evaluate(batch.other.dets, union)
    ids_t, ids_o = this_union.params["cat_ids"].tolist(), other_union.params["cat_ids"].tolist()
    thr_t, thr_o = this_union.params["iou_thrs"], other_union.params["iou_thrs"]
    # Step by step from this protocol to the other: its category rules, its area pooling, its answers.
    rules_only = dataclasses.replace(other, lvis_area_pooling=this.lvis_area_pooling)
    s_rules = set_summary(rules_only, kind, this_union.precision, thr_t, ids_t, chosen_other)
    s_pool = set_summary(other, kind, this_union.precision, thr_t, ids_t, chosen_other)
    s_other = set_summary(other, kind, other_union.precision, thr_o, ids_o, chosen_other)
    # Visual-RFT's mean is NaN when a category of the set has no GT: the steps then use the means
    # over the categories with GT (what its notebook prints once those are taken out of the set).
    key = "mean_AP" if np.isfinite([summary_this["mean_AP"], s_other["mean_AP"]]).all() else "mean_AP_with_gt"
    steps = {
        "category rules": s_rules[key] - summary_this[key],
        "area pooling": s_pool[key] - s_rules[key],
        "reading answers": s_other[key] - s_pool[key],
    }
    by_rule, totals = _rule_counts(batch, this, other)
    per_cat = []
    for c in union:
        a, b = summary_this["ap"].get(c), s_other["ap"].get(c)
        per_cat.append(
            {
                "category_id": c,
                "name": name_of[c],
                f"AP_{this.name}": a,
                f"AP_{other.name}": b,
                "difference": None if a is None or b is None or a <= -1 or b <= -1 else b - a,
            }
        )
    metrics = {
        "this": this.name,
        "other": other.name,
        "mean_AP": {this.name: summary_this["mean_AP"], other.name: s_other["mean_AP"]},
        "mean_AP50": {this.name: summary_this["mean_AP50"], other.name: s_other["mean_AP50"]},
        "difference": s_other["mean_AP"] - summary_this["mean_AP"],
        "steps": steps,
        "steps_over": "the set" if key == "mean_AP" else "the categories of the set with GT",
        "records_differing": totals["records_differing"],
        f"boxes_only_{this.name}": totals["only_this"],
        f"boxes_only_{other.name}": totals["only_other"],
        "by_rule": by_rule,
        "per_category": per_cat,
    }
    table_rows = [
        [r["rule"], r["records"], r["records_differing"], r[f"boxes_only_{this.name}"], r[f"boxes_only_{other.name}"]]
        for r in by_rule
    ]
    table = (
        f"Protocol comparison: {this.name} vs {other.name} on the same outputs",
        ["rule", "records", "records differing", f"boxes only {this.name}", f"boxes only {other.name}"],
        table_rows,
    )
    notes = [
        f"protocol '{other.name}' gives mean AP {_fmt(s_other['mean_AP'])} (this report, '{this.name}': "
        f"{_fmt(summary_this['mean_AP'])}); steps: "
        + ", ".join(f"{k} {_fmt(v, signed=True)}" for k, v in steps.items())
        + ("" if key == "mean_AP" else " (over the categories with GT)")
        + f"; {totals['records_differing']} records read differently ({totals['only_this']} boxes only in "
        f"'{this.name}', {totals['only_other']} only in '{other.name}')"
    ]
    return {"metrics": metrics, "table": table, "notes": notes, "other_summary": s_other}


def _rule_counts(batch, this: Protocol, other: Protocol) -> tuple:
    """Records and boxes treated differently, per rule of Visual-RFT's reading."""
    n = len(batch.image_id)
    vrft = batch if this.visual_rft_answers else batch.other
    only_this, only_other = differing_boxes(batch.det_record, batch.dets, batch.other.det_record, batch.other.dets, n)
    differs = (only_this + only_other) > 0
    rule = vrft.rule.astype(np.int64)
    names = list(RULES)
    rows = []
    for code, name in enumerate(names):
        sel = rule == code
        if not sel.any():
            continue
        d = sel & differs
        rows.append(
            {
                "rule": _OPTIONS_RULE if code == 0 and d.any() else name,
                "records": int(sel.sum()),
                "records_differing": int(d.sum()),
                f"boxes_only_{this.name}": int(only_this[d].sum()),
                f"boxes_only_{other.name}": int(only_other[d].sum()),
            }
        )
    rows.sort(key=lambda r: (-r["records_differing"], r["rule"]))
    totals = {
        "records_differing": int(differs.sum()),
        "only_this": int(only_this.sum()),
        "only_other": int(only_other.sum()),
    }
    return rows, totals


def _fmt(v: float, signed: bool = False) -> str:
    if v is None or not np.isfinite(v):
        return "NaN"
    return f"{v:+.4f}" if signed else f"{v:.4f}"
