"""The report of a detection evaluation: the set's mean AP by the protocol's rules, per-category
rows, counts, the parse table, the protocol comparison and the notes the reader must see."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ..cocoeval import EvalResult
from ..cocoeval.ground_truth import GroundTruth
from .detection_batch import DetectionBatch
from .parse_stats import status_statistics
from .protocols import Protocol
from .records import SkipLog
from .report import EvalReport

__all__ = ["detection_report"]


def _gt_counts(gt: GroundTruth, cat_ids: Sequence[int], img_ids: Optional[np.ndarray]) -> dict:
    sel = np.isin(gt.ann_category_id, np.asarray(cat_ids, dtype=np.int64))
    if img_ids is not None:
        sel &= np.isin(gt.ann_image_id, img_ids)
    sel &= gt.ann_iscrowd == 0
    ids, n = np.unique(gt.ann_category_id[sel], return_counts=True)
    return dict(zip(ids.tolist(), n.tolist()))


def _batch_notes(batch: DetectionBatch, default_score: Optional[float], frame: str, protocol: Protocol) -> list:
    """What the report must say about dropped or re-scored boxes."""
    notes = []
    c = batch.counts
    if protocol.visual_rft_answers:
        notes.append(
            f"answers read by Visual-RFT's rules: {c.get('records_read_one_by_one', 0)} records needed them "
            "(the others read the same way natively); per-rule counts in the protocol comparison"
        )
        if c.get("non_numeric_confidence"):
            notes.append(
                f"{c['non_numeric_confidence']} boxes with a non-numeric Confidence dropped: Visual-RFT's own "
                "evaluation raises TypeError in COCOeval on them (the whole evaluation would crash)"
            )
        if c.get("non_finite_confidence"):
            notes.append(
                f"{c['non_finite_confidence']} boxes with a NaN / Infinity Confidence given a finite score of the "
                "same rank as pycocotools' sort gives them (NaN last)"
            )
        if c.get("non_finite_box"):
            notes.append(
                f"{c['non_finite_box']} boxes with NaN / Infinity coordinates dropped (Visual-RFT keeps them; "
                "pycocotools' IoU is then NaN)"
            )
    ls = batch.label_stats
    if ls["unmatched"] or ls["missing"]:
        top = ", ".join(f"{k!r} x{v}" for k, v in list(ls["unmatched_names"].items())[:10])
        notes.append(
            f"{ls['unmatched']} boxes with labels matching no category ({top})"
            + (f", {ls['missing']} boxes without a label" if ls["missing"] else "")
            + "; dropped (add --synonyms)"
        )
    if batch.counts.get("no_confidence"):
        fb = "dropped" if default_score is None else f"scored {default_score}"
        notes.append(f"{batch.counts['no_confidence']} boxes without a confidence, {fb}")
    if batch.counts.get("no_size"):
        notes.append(
            f"{batch.counts['no_size']} boxes dropped: their image has no width/height in "
            f"the ground truth (needed for frame {frame!r})"
        )
    return notes


def detection_report(
    kind: str,
    frame: str,
    images: str,
    default_score: Optional[float],
    gt: GroundTruth,
    batch: DetectionBatch,
    result: EvalResult,
    chosen: dict,
    img_ids: Optional[np.ndarray],
    skips: SkipLog,
    notes: list,
    protocol: Protocol,
    summary: dict,
    comparison: Optional[dict],
    record_iou: np.ndarray,
    extra: Optional[dict] = None,
) -> EvalReport:
    """Assemble the :class:`EvalReport` of :func:`vrft_rewards.eval.evaluate_detection`."""
    name_of = dict(zip(gt.cat_ids.tolist(), gt.cat_names))
    eval_ids = chosen["ids"]
    rows = {r["category_id"]: r for r in result.per_category}
    gt_n = _gt_counts(gt, eval_ids, img_ids)
    det_n = (
        dict(zip(*[a.tolist() for a in np.unique(batch.dets[:, 6].astype(np.int64), return_counts=True)]))
        if len(batch.dets)
        else {}
    )
    no_gt = summary["no_gt"]
    if no_gt:
        names = ", ".join(name_of[c] for c in no_gt)
        if protocol.no_gt_mean_is_nan:
            notes.append(
                "categories without ground truth in the evaluated images: their AP is NaN in Visual-RFT's "
                f"evaluation, so its mean is NaN: {names}"
            )
        else:
            notes.append(
                f"categories without ground truth in the evaluated images (AP -1, excluded from the mean): {names}"
            )
    notes += _batch_notes(batch, default_score, frame, protocol)
    if comparison is not None:
        notes += comparison["notes"]
    stats = result.to_dict()["stats"]
    category_set = {
        "name": chosen["name"],
        "ids": list(eval_ids),
        "names": [name_of[c] for c in eval_ids],
        "n": summary["n"],
        "divisor": summary["divisor"],
        "mean_AP": summary["mean_AP"],
        "mean_AP50": summary["mean_AP50"],
        "no_gt": [name_of[c] for c in no_gt],
        "not_queried": [name_of[c] for c in chosen["not_queried"]],
        "unknown": chosen["unknown"],
    }
    per_cat = []
    for c in eval_ids:
        row = dict(rows[c], n_gt=int(gt_n.get(c, 0)), n_det=int(det_n.get(c, 0)))
        if summary["pooled"]:  # Visual-RFT's LVIS notebook: the four area ranges pooled
            row["AP_area_all"], row["AP50_area_all"] = row["AP"], row["AP50"]
            row["AP"], row["AP50"] = summary["ap"][c], summary["ap50"][c]
        per_cat.append(row)
    table = batch.table
    metrics = {
        "protocol": protocol.name,
        "kind": kind,
        "frame": frame,
        "images": images,
        "category_set": category_set,
        "stats": stats,
        "per_category": per_cat,
        "detections": dict(batch.counts, n=int(len(batch.dets)), records=int(len(table.image_id))),
        "labels": batch.label_stats,
        "iou_reward": {
            "mean": float(np.nanmean(record_iou)) if np.isfinite(record_iou).any() else float("nan"),
            "n": int(np.isfinite(record_iou).sum()),
        },
    }
    if comparison is not None:
        metrics["protocol_comparison"] = comparison["metrics"]
    if extra is not None:
        metrics.update(extra["metrics"])
        notes += extra["notes"]
    parse = status_statistics(batch.status, batch.n_dropped, len(batch.dets), table.completions, where=table.where)
    parse["boxes_read"] = int(batch.counts.get("boxes_parsed", 0))
    head = [
        ["protocol", protocol.name],
        ["mean AP over the set", summary["mean_AP"]],
        ["mean AP50 over the set", summary["mean_AP50"]],
        ["categories averaged", summary["n"]],
    ]
    if summary["divisor"] != summary["n"]:
        head.append(["divisor of the mean", summary["divisor"]])
    head += [[k, v] for k, v in stats.items()]
    ap_head = "AP (areas pooled)" if summary["pooled"] else "AP"
    tables = [
        (f"{kind.upper()} detection, category set '{chosen['name']}'", ["metric", "value"], head),
        (
            "Per category",
            ["category", "id", ap_head, "AP50", "AP75", "AR", "GT", "dets"],
            [
                [r["name"], r["category_id"], r["AP"], r["AP50"], r["AP75"], r["AR"], r["n_gt"], r["n_det"]]
                for r in per_cat
            ],
        ),
    ]
    if extra is not None:
        tables += extra["tables"]
    if comparison is not None:
        tables.append(comparison["table"])
    cat_ids = np.asarray(result.params["cat_ids"])
    return EvalReport(
        task=kind,
        metrics=metrics,
        tables=tables,
        parse=parse,
        skipped=skips,
        notes=notes,
        result=result,
        protocol=protocol.name,
        arrays={
            "scores": batch.dets[:, 5].copy(),
            "per_category": per_cat,
            "record_iou": record_iou[np.isfinite(record_iou)],
            "precision": result.precision,
            "rec_thrs": np.asarray(result.params["rec_thrs"]),
            "iou_thrs": np.asarray(result.params["iou_thrs"]),
            "cat_ids": list(cat_ids.tolist()),
            "cat_names": [name_of[int(c)] for c in cat_ids],
            **(extra["arrays"] if extra is not None else {}),
        },
    )
