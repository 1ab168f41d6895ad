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
from .records import SkipLog, load_json_file, load_records, scorable_records
from .report import EvalReport

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
    correct = np.array([v == 1.0 for v in values], dtype=bool)  # None (unreadable truth) -> wrong

    norm = VISUAL_RFT_NORMALIZATION if mode == "substring" else DEFAULT_NORMALIZATION
    parsed = parse_completions(comps, require_tags=require_tags, invalid="empty")
    answers = np.array(parsed.normalized_answers(**norm), dtype=object).astype(str)
    truth_norm = np.array(
        parse_completions(truth, require_tags=False, invalid="empty").normalized_answers(**norm), dtype=object
    ).astype(str)
    class_names = list(dict.fromkeys(classes)) if classes is not None else sorted(set(truth))
    if classes is not None:
        extra = sorted(set(truth) - set(class_names))
        class_names += extra
    cls_norm = np.array(
        parse_completions(class_names, require_tags=False, invalid="empty").normalized_answers(**norm), dtype=object
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
    if mode == "choice":
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
    if mode == "substring":
        notes.append(
            "mode 'substring' is Visual-RFT's rule: an empty answer, a truncated name or a "
            "list of classes count as correct unless --classes enables the guard"
        )
    n_empty = int((answers == "").sum())
    if n_empty:
        notes.append(f"{n_empty} answers are empty after normalisation")
    metrics = {
        "mode": mode,
        "n": int(len(comps)),
        "correct": int(correct.sum()),
        "accuracy": acc,
        "mean_class_accuracy": float(np.nanmean([r["accuracy"] for r in per_class])),
        "per_class": per_class,
        "classes": class_names,
        "confusion": confusion.tolist(),
    }
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
    return EvalReport(
        task="classification",
        metrics=metrics,
        tables=tables,
        parse=parse,
        skipped=skips,
        notes=notes,
        arrays={"confusion": confusion, "classes": class_names + [OTHER], "correct": correct},
    )
