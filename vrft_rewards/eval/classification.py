"""Classification evaluation of model completions: accuracy overall and per class, confusion matrix.

Correctness is decided by :class:`vrft_rewards.rewards.ClassificationReward` itself, so the
normalisation and the anti-hacking rules are exactly those of ``classification_reward`` (or of
Visual-RFT's substring rule with ``mode="substring"``).
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from .._options import CLASSIFICATION_MODES, check_option
from ..parsing import parse_completions
from ..rewards.classification_rewards import DEFAULT_NORMALIZATION, VISUAL_RFT_NORMALIZATION, ClassificationReward
from .parse_stats import parse_statistics
from .protocols import get_protocol
from .records import SkipLog, load_json_file, load_records, scorable_records
from .report import EvalReport
from .visual_rft_tasks import CLASSIFICATION_REASONS, classification_reasons, visual_rft_classification

__all__ = ["evaluate_classification"]

OTHER = "(other)"


def _gt_labels(gt: Any) -> dict:
    """``{id: label}`` from a path / dict / list of ``{"id", "label"}`` records."""
    data = load_json_file(gt, "classification ground truth") if isinstance(gt, (str, os.PathLike)) else gt
    name = os.fspath(gt) if isinstance(gt, (str, os.PathLike)) else "classification ground truth"
    if isinstance(data, dict):
        return {str(k): v for k, v in data.items()}
    if isinstance(data, list):
        out = {}
        for i, r in enumerate(data):
            if not isinstance(r, dict) or "id" not in r or "label" not in r:
                raise ValueError(f"{name}: entry {i} must be an object with 'id' and 'label'")
            out[str(r["id"])] = r["label"]
        return out
    raise TypeError(
        f"{name}: classification ground truth must map id -> label (a JSON object or a list of "
        f"{{'id', 'label'}} records), got {type(data).__name__}"
    )


def evaluate_classification(
    records: Any,
    gt: Any = None,
    *,
    mode: str = "exact",
    classes: Optional[Sequence[str]] = None,
    aliases: Optional[Mapping[str, Sequence[str]]] = None,
    require_tags: bool = True,
    strict: bool = False,
    source: Optional[str] = None,
    lines: Optional[Sequence[int]] = None,
    show_progress: Optional[bool] = False,
    protocol: str = "default",
    compare_protocols: bool = True,
) -> EvalReport:
    """Accuracy of class-name answers, overall and per class, and the confusion matrix.

    Parameters
    ----------
    records : str, os.PathLike or list of dict
        ``{"completion", "label"}`` (ground truth inline) or ``{"id", "completion"}`` with ``gt``.
    gt : str, os.PathLike, dict or list, optional
        ``{id: label}`` or a list of ``{"id", "label"}`` (JSON or JSONL file).
    mode : {"exact", "substring", "choice"}, default "exact"
        The rule of :class:`~vrft_rewards.rewards.ClassificationReward`: ``"substring"`` is
        Visual-RFT's (gameable) rule used by its evaluation script.
    classes : sequence of str, optional
        All class names: rows/columns of the confusion matrix (default: the labels seen), and in
        ``"substring"`` mode the guard that scores an answer naming two classes as wrong.
    aliases : mapping, optional
        Class name -> accepted alternatives.
    require_tags : bool, default True
        Read only ``<answer>`` blocks (Visual-RFT's classification reward does not require them:
        pass False to reproduce it).
    strict : bool, default False
        Raise on the first bad record.
    protocol : {"default", "visual_rft"}, default "default"
        ``"visual_rft"``: Visual-RFT's classification script (:mod:`vrft_rewards.eval.visual_rft_tasks`:
        the first one-line ``<answer>`` block, no fallback, spaces and underscores removed,
        substring either way); it fixes ``mode``, ``aliases`` and ``require_tags``.
    compare_protocols : bool, default True
        Also judge the records by the other protocol: ``metrics["protocol_comparison"]`` gives
        both accuracies and the records judged differently, per reason.

    Returns
    -------
    EvalReport
        ``metrics``: ``accuracy``, ``n``, ``correct``, ``per_class`` (rows ``class``, ``n``,
        ``correct``, ``accuracy``), ``classes``, ``confusion`` (rows: truth, columns: predicted
        class then ``(other)``); ``arrays["confusion"]`` as an int64 matrix.

    Notes
    -----
    ``accuracy = correct / N`` over the kept records.  A prediction is placed in the confusion
    matrix at the class whose normalised name equals the normalised answer, else at the truth
    when the reward counted it correct (substring / alias matches), else in ``(other)``.

    Examples
    --------
    >>> recs = [{"completion": "<answer>cat</answer>", "label": "cat"},
    ...         {"completion": "<answer>dog</answer>", "label": "cat"}]
    >>> evaluate_classification(recs).metrics["accuracy"]
    0.5
    """
    check_option(mode, CLASSIFICATION_MODES, "mode")
    proto = get_protocol(protocol)
    if proto.visual_rft_answers and (mode != "exact" or aliases or not require_tags):
        raise ValueError(
            "protocol='visual_rft' judges answers by Visual-RFT's script (its substring rule, no aliases, "
            "tags required); drop mode / aliases / require_tags"
        )
    skips = SkipLog(strict=strict)
    recs, nums, src = load_records(records, skips=skips, lines=lines, source=source, show_progress=show_progress)
    labels_of = _gt_labels(gt) if gt is not None else None
    comps, truth, where = [], [], []
    for line, rec in scorable_records(recs, nums, src, skips):
        c = rec["completion"]
        if rec.get("label") is not None:
            label = rec["label"]
        elif labels_of is not None and "id" in rec:
            if str(rec["id"]) not in labels_of:
                skips.skip(src, line, "id not in the ground truth", repr(rec["id"])[:40])
                continue
            label = labels_of[str(rec["id"])]
        else:
            skips.skip(
                src,
                line,
                "record has no 'label'"
                + (" and no 'id'" if labels_of is not None else " (and no --gt to look its 'id' up)"),
            )
            continue
        if not isinstance(label, str) or not label.strip():
            skips.skip(src, line, "'label' must be a non-empty string", repr(label)[:40])
            continue
        comps.append(c)
        truth.append(label)
        where.append(f"{src}:{line}")
    if not comps:
        raise ValueError(f"{src}: no valid classification record to evaluate")
    reward = ClassificationReward(mode=mode, classes=classes, aliases=aliases, require_tags=require_tags)
    values = reward(comps, label=truth)
    correct_default = np.array([v == 1.0 for v in values], dtype=bool)  # None (unreadable truth) -> wrong
    correct_vrft, answers_vrft, matched = visual_rft_classification(comps, truth)
    correct = correct_vrft if proto.visual_rft_answers else correct_default

    norm = VISUAL_RFT_NORMALIZATION if mode == "substring" else DEFAULT_NORMALIZATION
    parsed = parse_completions(comps, require_tags=require_tags, invalid="empty")
    class_names = list(dict.fromkeys(classes)) if classes is not None else sorted(set(truth))
    if classes is not None:
        extra = sorted(set(truth) - set(class_names))
        class_names += extra
    if proto.visual_rft_answers:  # the script's own normalisation of answers, labels and classes
        answers = np.array(answers_vrft, dtype=object).astype(str)
        truth_norm = np.array([t.replace(" ", "").replace("_", "").lower() for t in truth], dtype=object).astype(str)
        cls_norm = np.array([c.replace(" ", "").replace("_", "").lower() for c in class_names], dtype=object)
        cls_norm = cls_norm.astype(str)
    else:
        answers = np.array(parsed.normalized_answers(**norm), dtype=object).astype(str)
        truth_norm = np.array(
            parse_completions(truth, require_tags=False, invalid="empty").normalized_answers(**norm), dtype=object
        ).astype(str)
        cls_norm = np.array(
            parse_completions(class_names, require_tags=False, invalid="empty").normalized_answers(**norm),
            dtype=object,
        ).astype(str)
    # Normalised name -> class index (first class wins on collisions); vectorised lookups.
    order = np.argsort(cls_norm, kind="stable")
    sorted_norm = cls_norm[order]

    def index_of(values: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(sorted_norm, values)
        pos = np.minimum(pos, len(sorted_norm) - 1)
        hit = sorted_norm[pos] == values
        return np.where(hit, order[pos], -1)

    t_idx = index_of(truth_norm)
    p_idx = index_of(answers)
    p_idx = np.where((p_idx < 0) & correct, t_idx, p_idx)
    if mode == "choice" and not proto.visual_rft_answers:
        p_idx = np.where(correct, t_idx, -1)
    k = len(class_names)
    p_col = np.where(p_idx < 0, k, p_idx)
    confusion = np.zeros((k, k + 1), dtype=np.int64)
    np.add.at(confusion, (t_idx, p_col), 1)
    n_per = np.bincount(t_idx, minlength=k)
    c_per = np.bincount(t_idx, weights=correct.astype(np.float64), minlength=k).astype(np.int64)
    per_class = [
        {"class": name, "n": int(n), "correct": int(c), "accuracy": float(c / n) if n else float("nan")}
        for name, n, c in zip(class_names, n_per, c_per)
    ]
    acc = float(correct.mean())
    parse = parse_statistics(parsed, comps, where=where)
    notes = []
    if proto.visual_rft_answers:
        notes.append(
            "protocol 'visual_rft': Visual-RFT's classification script judges the answers (first one-line "
            "<answer> block, no fallback, substring either way: an empty answer counts as correct)"
        )
    elif mode == "substring":
        notes.append(
            "mode 'substring' is Visual-RFT's rule: an empty answer, a truncated name or a "
            "list of classes count as correct unless --classes enables the guard"
        )
    n_empty = int((answers == "").sum())
    if n_empty:
        notes.append(f"{n_empty} answers are empty after normalisation")
    comparison = None
    if compare_protocols:
        comparison = _compare(proto.name, correct_default, correct_vrft, comps, matched, parsed.answer_text)
        notes += comparison["notes"]
    metrics = {
        "protocol": proto.name,
        "mode": mode,
        "n": int(len(comps)),
        "correct": int(correct.sum()),
        "accuracy": acc,
        "mean_class_accuracy": float(np.nanmean([r["accuracy"] for r in per_class])),
        "per_class": per_class,
        "classes": class_names,
        "confusion": confusion.tolist(),
    }
    if comparison is not None:
        metrics["protocol_comparison"] = comparison["metrics"]
    tables = [
        (
            "Classification",
            ["metric", "value"],
            [
                ["accuracy", acc],
                ["mean per-class accuracy", metrics["mean_class_accuracy"]],
                ["correct", int(correct.sum())],
                ["records", int(len(comps))],
            ],
        ),
        (
            "Per class",
            ["class", "n", "correct", "accuracy"],
            [[r["class"], r["n"], r["correct"], r["accuracy"]] for r in per_class],
        ),
    ]
    if comparison is not None:
        tables.append(comparison["table"])
    return EvalReport(
        task="classification",
        metrics=metrics,
        tables=tables,
        parse=parse,
        skipped=skips,
        notes=notes,
        arrays={"confusion": confusion, "classes": class_names + [OTHER], "correct": correct},
        protocol=proto.name,
    )


def _compare(this: str, correct_default, correct_vrft, comps, matched, native_answers) -> dict:
    """Both protocols' accuracies and the records judged differently, per reason."""
    other = "default" if this == "visual_rft" else "visual_rft"
    acc = {"default": float(correct_default.mean()), "visual_rft": float(correct_vrft.mean())}
    reasons = np.asarray(classification_reasons(comps, matched, native_answers), dtype=np.int64)
    differs = correct_default != correct_vrft
    rows = []
    for code, name in enumerate(CLASSIFICATION_REASONS):
        sel = reasons == code
        if sel.any():
            rows.append(
                {
                    "reason": name if code else "C3/C5/C6 same block: the rules and normalisations differ",
                    "records": int(sel.sum()),
                    "records_differing": int((sel & differs).sum()),
                    "right_only_default": int((sel & correct_default & ~correct_vrft).sum()),
                    "right_only_visual_rft": int((sel & correct_vrft & ~correct_default).sum()),
                }
            )
    metrics = {
        "this": this,
        "other": other,
        "accuracy": acc,
        "records_differing": int(differs.sum()),
        "by_reason": rows,
    }
    table = (
        f"Protocol comparison: {this} vs {other} on the same outputs",
        ["reason", "records", "judged differently", "right only (default)", "right only (visual_rft)"],
        [
            [r["reason"], r["records"], r["records_differing"], r["right_only_default"], r["right_only_visual_rft"]]
            for r in rows
        ],
    )
    note = (
        f"protocol '{other}' gives accuracy {acc[other]:.4f} (this report, '{this}': {acc[this]:.4f}); "
        f"{int(differs.sum())} records judged differently"
    )
    return {"metrics": metrics, "table": table, "notes": [note]}
