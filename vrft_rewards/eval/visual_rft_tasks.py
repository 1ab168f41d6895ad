"""Visual-RFT's classification and LISA grounding evaluation rules (``protocol="visual_rft"``).

Classification (``classification/Qwen2_VL_classification_infere.py``): the **first**
``<answer>(.*?)</answer>`` (no DOTALL: a newline inside the block means no match), no fallback
(no match: wrong); answer and label lose their spaces and underscores and are lower-cased
(``.replace(' ', '').replace('_', '').lower()``, no strip); right when either contains the other
(an empty answer is right); accuracy over every record.

Grounding (``lisa_evaluation/Qwen2_VL_lisa_infere.py``, ``merge_eval.py``, ``mask_iou.py``): the
**first** integer pair of corners ``(x1,y1),(x2,y2)`` anywhere in the decoded text (the prompt,
``<think>`` included; decimals do not match), divided by 1000; the GT box divided by the image size;
``IoU = I / (A + B - I + 1e-6)`` in those normalised coordinates (no match: 0); masks: only the first
polygon of the GT, ``I / (U + 1e-6)`` per sample and ``sum I / (sum U + 1e-6)``.

Each rule is one C-speed ``re`` call per record (no boxes are looped over); the IoU is vectorised.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np

from .visual_rft_answers import completion_texts

__all__ = [
    "CLASSIFICATION_REASONS",
    "GROUNDING_REASONS",
    "classification_reasons",
    "grounding_reasons",
    "visual_rft_box_iou",
    "visual_rft_classification",
    "visual_rft_grounding_boxes",
]

_FIRST_BLOCK = re.compile(r"<answer>(.*?)</answer>")
_CORNERS = re.compile(r"\(\s*(\d+)\s*,\s*(\d+)\s*\)\s*,\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)")

#: Why Visual-RFT's classification rule may judge a record differently (reported per reason).
CLASSIFICATION_REASONS = (
    "same answer block",
    "C1/C2 no <answer>...</answer> on one line: wrong (no fallback)",
    "C4 another block: the first one",
)
#: Why Visual-RFT's grounding rule may read another box.
GROUNDING_REASONS = (
    "same box",
    "G1 no integer (x1,y1),(x2,y2) anywhere: IoU 0",
    "G1 another box: the first integer corner pair anywhere (prompt, <think> included)",
)


def _squash(text: str) -> str:
    return text.replace(" ", "").replace("_", "").lower()


def visual_rft_classification(completions: Sequence[Any], labels: Sequence[str]) -> tuple:
    """``(correct, answers, matched)``: Visual-RFT's judgement of each record, its normalised
    answer (``""`` without a match) and whether its regular expression matched."""
    texts = completion_texts(completions)
    correct = np.zeros(len(texts), dtype=bool)
    matched = np.zeros(len(texts), dtype=bool)
    answers = []
    for i, (text, label) in enumerate(zip(texts, labels)):  # per record: one regex, a few str ops
        m = _FIRST_BLOCK.search(text)
        if m is None:
            answers.append("")
            continue
        ans, cat = _squash(m.group(1)), _squash(label)
        matched[i] = True
        correct[i] = cat in ans or ans in cat
        answers.append(ans)
    return correct, answers, matched


def classification_reasons(completions: Sequence[Any], matched: np.ndarray, native_answers: Sequence[Any]) -> list:
    """The :data:`CLASSIFICATION_REASONS` code of each record: no one-line block, another block
    than the one our parser reads (``native_answers``: its answer texts), or the same block."""
    out = []
    for text, hit, mine in zip(completion_texts(completions), matched.tolist(), native_answers):
        if not hit:
            out.append(1)
            continue
        first = _FIRST_BLOCK.search(text).group(1).strip()
        out.append(0 if mine is not None and first == mine else 2)
    return out


def visual_rft_grounding_boxes(completions: Sequence[Any], prompts: Sequence[Any]) -> tuple:
    """``(boxes, found)``: the first integer corner pair of each record's prompt + completion text
    (the decoded, untrimmed sequence Visual-RFT searches), on the 0..1000 grid; zeros where none."""
    texts = completion_texts(completions)
    boxes = np.zeros((len(texts), 4))
    found = np.zeros(len(texts), dtype=bool)
    for i, (text, prompt) in enumerate(zip(texts, prompts)):  # per record: one regex
        m = _CORNERS.search((prompt if isinstance(prompt, str) else "") + text)
        if m is not None:
            boxes[i] = [int(v) for v in m.groups()]
            found[i] = True
    return boxes, found


def visual_rft_box_iou(pred_1000: np.ndarray, found: np.ndarray, gt_xyxy: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Visual-RFT's per-sample IoU (module docstring), vectorised; 0 where no box was found.

    ``pred_1000`` (n, 4) on the 0..1000 grid, ``gt_xyxy`` (n, 4) pixels, ``sizes`` (n, 2) (W, H).
    The operation order is the script's: corners ``/ 1000`` and ``/ W``, ``/ H``; intersection
    sides ``max(0, min - max)``; ``I / float(A + B - I + 1e-6)``.
    """
    # Python floats overflow to inf (and inf - inf to nan) silently, as in the script.
    with np.errstate(all="ignore"):
        a = pred_1000 / 1000
        w, h = sizes[:, 0], sizes[:, 1]
        b = np.column_stack([gt_xyxy[:, 0] / w, gt_xyxy[:, 1] / h, gt_xyxy[:, 2] / w, gt_xyxy[:, 3] / h])
        ix = np.maximum(0, np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]))
        iy = np.maximum(0, np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]))
        inter = ix * iy
        area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
        area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        iou = inter / (area_a + area_b - inter + 1e-6)
    return np.where(found, iou, 0.0)


def grounding_reasons(found: np.ndarray, pred_1000: np.ndarray, native_first: np.ndarray, has_native: np.ndarray):
    """The :data:`GROUNDING_REASONS` code of each record (vectorised)."""
    same = found & has_native & np.all(pred_1000 == native_first, axis=1)
    return np.where(~found, 1, np.where(same, 0, 2))
