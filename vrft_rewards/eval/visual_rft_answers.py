"""Visual-RFT's rules for reading a detection answer, on top of the native parse.

Visual-RFT's inference scripts (``coco_evaluation/Qwen2_VL_coco_infere.py``, identical in
``lvis_evaluation/Qwen2_VL_lvis_infere.py``; repository and commits in
``docs/evaluation_pipeline.md``) read an answer so:

1. on the whole output: ``[[`` -> ``[``, ``]]`` -> ``]``, every newline removed, every ``", ..."``
   removed;
2. the **first** ``<answer>(.*?)</answer>`` anywhere (``<think>`` included), else the whole text,
   stripped and wrapped in ``<answer>`` tags again;
3. ``extract_bbox``: the text between the first ``<answer>`` and the first ``</answer>``; when it
   does not end in ``]``, cut after its last ``},`` and close with ``}]``; ``'`` -> ``"``;
   strict ``json.loads`` (failure: nothing);
4. nothing when the first item is a string; ``remove_duplicates`` over the whole list (a non-dict
   item, an item without ``Position`` or an unhashable position raises: nothing of the answer);
5. a loop over the items: ``trans_bbox`` then ``bbox['Confidence']``; the first exception (a
   missing ``Confidence``, a ``Position`` of the wrong length or a non-number) ends the loop and
   the boxes already read stay.

Reading every answer with ``json.loads`` and a Python loop over its items would be a Python loop
over boxes.  Instead, answers whose text is provably read the same way by both (the same block,
untouched by the repairs, in the canonical grammar ``[{'Position': [4 numbers], 'Confidence':
number}, ...]`` of strict-JSON numbers) take their boxes from the native parse; only the others
(the glitched few) are read by the rules above, one answer at a time.  The per-answer steps are
C-speed string operations (``str.replace``, ``re.search``, ``re.fullmatch``).

Policies where Visual-RFT's own code would not produce a number (counted, and stated in reports):

* a non-numeric ``Confidence`` (string, ``null``, list): Visual-RFT keeps the box and its
  ``COCOeval`` then raises ``TypeError`` (the whole evaluation crashes): the box is **dropped**;
* a ``NaN`` / ``Infinity`` ``Confidence``: kept by Visual-RFT and ranked by pycocotools' sort (NaN
  last, +inf first): given a finite score with the same rank (:func:`rank_non_finite_scores`);
* ``NaN`` / ``Infinity`` coordinates: kept by Visual-RFT, where pycocotools' IoU is NaN; the
  engine refuses non-finite boxes: the box is **dropped**.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..parsing import ParsedBatch

__all__ = ["RULES", "VisualRFTAnswers", "completion_texts", "rank_non_finite_scores", "read_visual_rft_answers"]

# Why a record's answer is read differently from the native parse (reported per rule; the
# D-numbers are those of docs/evaluation_pipeline.md, "Protocols").
RULES = (
    "same",  # read identically (fast path)
    "D1/D6 first <answer> block, even inside <think> or before a later block",
    "D2-D4 no complete <answer> block: the whole text is read",
    "D19 text repairs ([[, ]], newlines, ', ...') change the answer",
    "D5 answer not ending in ']': cut after its last '},'",
    "D7 not strict JSON after ' -> \"",
    "D8 first item is a string: nothing",
    "D15 empty list or not a list",
    "D9 non-dict item, item without Position or unhashable Position: whole answer lost",
    "D10 bad Position: it and the later items lost",
    "D11 missing Confidence: it and the later items lost",
    "D12 non-numeric Confidence (Visual-RFT's evaluation crashes): box dropped",
    "D13 NaN / Infinity Confidence: ranked as pycocotools sorts it",
    "D14 NaN / Infinity coordinates: box dropped",
    "read strictly, all items kept",
)
SAME, FIRST_BLOCK, WHOLE_TEXT, REPAIRS, CUT, NOT_JSON, FIRST_STR, EMPTY, LOST, BAD_POSITION, NO_CONFIDENCE = range(11)
CRASH_SCORE, NON_FINITE_SCORE, NON_FINITE_BOX, KEPT = range(11, 15)

_ANSWER = re.compile(r"<answer>(.*?)</answer>")  # no DOTALL: the newlines are gone by then
# The canonical answer: a list of {Position: 4 numbers, Confidence: number} items, numbers in
# strict JSON syntax with at most 15 integer digits (exact as floats) and 2 exponent digits
# (finite), whitespace that json.loads accepts (no newline: removed by the repairs).
_WS = r"[ \t\r]*"
_NUM = r"-?(?:0|[1-9][0-9]{0,14})(?:\.[0-9]+)?(?:[eE][+-]?[0-9]{1,2})?"
_Q = "['\"]"
_ITEM = (
    rf"\{{{_WS}{_Q}Position{_Q}{_WS}:{_WS}\[{_WS}{_NUM}{_WS},{_WS}{_NUM}{_WS},{_WS}{_NUM}{_WS},{_WS}{_NUM}{_WS}\]"
    rf"{_WS},{_WS}{_Q}Confidence{_Q}{_WS}:{_WS}{_NUM}{_WS}\}}"
)
_CANONICAL = re.compile(rf"\[{_WS}{_ITEM}(?:{_WS},{_WS}{_ITEM})*{_WS}\]")


@dataclass
class VisualRFTAnswers:
    """Boxes of a batch read by Visual-RFT's rules, as flat arrays in record then answer order.

    ``boxes`` (n, 4) are in the model's frame (``x1, y1, x2, y2`` as written, as floats);
    ``scores`` (n,) the ``Confidence`` values (NaN / inf kept, see :func:`rank_non_finite_scores`);
    ``owner`` (n,) the record of each box; ``deduped`` (n,) True where Visual-RFT's
    ``remove_duplicates`` already ran on the box's answer (answers read one at a time), False for
    answers taken from the native parse (the caller de-duplicates them, with the same equality);
    ``rule`` (R,) the :data:`RULES` code of each record; ``counts`` the policy counts
    (``non_numeric_confidence``, ``non_finite_confidence``, ``non_finite_box`` boxes,
    ``records_read_one_by_one``).
    """

    boxes: np.ndarray
    scores: np.ndarray
    owner: np.ndarray
    deduped: np.ndarray
    rule: np.ndarray
    counts: dict = field(default_factory=dict)


def completion_texts(completions: Sequence[Any]) -> list:
    """The text the parser reads of each completion: the str, or the content of the last assistant
    message of a chat list; ``""`` for anything else (``invalid="empty"``)."""
    out = []
    for c in completions:  # per record: picks one Python object, no per-box work
        if isinstance(c, str):
            out.append(c)
            continue
        text = ""
        if isinstance(c, (list, tuple)):
            for m in reversed(c):
                if isinstance(m, dict) and m.get("role") == "assistant":
                    text = m.get("content") if isinstance(m.get("content"), str) else ""
                    break
        out.append(text)
    return out


def _repair(text: str) -> str:
    return text.replace("[[", "[").replace("]]", "]").replace("\n", "").replace(", ...", "")


def _dedupe(items: list) -> list:
    """``remove_duplicates``: the first item of each ``tuple(item['Position'])`` (raises as it does)."""
    seen: set = set()
    out = []
    for item in items:
        key = tuple(item["Position"])
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _read_one(answer: str, block_rule: int) -> tuple:
    """One answer (the stripped block, or the whole text) by Visual-RFT's rules.

    Returns ``(positions, confidences, rule)``: the kept items' ``Position`` values as float
    4-tuples, their raw ``Confidence`` values, and the rule that decided (``block_rule`` when the
    block choice alone explains a difference).
    """
    wrapped = "<answer>" + answer + "</answer>"
    content = wrapped[len("<answer>") : wrapped.find("</answer>")]
    rule = block_rule
    if not content.endswith("]"):
        content = content.rsplit("},", 1)[0] + "}]"
        rule = rule if rule != SAME else CUT
    try:
        decoded = json.loads(content.replace("'", '"'))
    except Exception:  # JSONDecodeError; RecursionError / ValueError: the script's outer except
        return [], [], rule if rule != SAME else NOT_JSON
    try:
        first = decoded[0]
    except Exception:
        return [], [], rule if rule != SAME else EMPTY
    if type(first) is str:
        return [], [], rule if rule != SAME else FIRST_STR
    try:
        items = _dedupe(decoded)
    except Exception:
        return [], [], rule if rule != SAME else LOST
    positions, confidences = [], []
    for item in items:  # only answers that are not in the canonical grammar come here
        try:
            x1, y1, x2, y2 = item["Position"]
            x1 / 1000.0, y1 / 1000.0, x2 / 1000.0, y2 / 1000.0  # trans_bbox's first step raises here
        except Exception:
            return positions, confidences, rule if rule != SAME else BAD_POSITION
        if "Confidence" not in item:
            return positions, confidences, rule if rule != SAME else NO_CONFIDENCE
        positions.append((float(x1), float(y1), float(x2), float(y2)))
        confidences.append(item["Confidence"])
    return positions, confidences, rule if rule != SAME else KEPT


def _score(value: Any) -> "float | None":
    """A ``Confidence`` as pycocotools uses it (``True`` is 1); None for a value on which
    Visual-RFT's COCOeval raises (a string, ``null``, a list, an int beyond float range)."""
    if isinstance(value, (bool, int, float)):
        try:
            return float(value)
        except OverflowError:
            return None
    return None


def read_visual_rft_answers(completions: Sequence[Any], parsed: ParsedBatch) -> VisualRFTAnswers:
    """Every completion's boxes by Visual-RFT's rules (module docstring), from the native parse
    ``parsed`` of the same completions (``parse_completions(..., invalid="empty")``)."""
    texts = completion_texts(completions)
    n = len(texts)
    native = parsed.answer_text
    # Native reads that can be the same as Visual-RFT's: clean, Visual-RFT's keys, nothing dropped.
    eligible = (
        (parsed.status == ParsedBatch.OK) & (parsed.format_names == "visual_rft") & (parsed.n_dropped == 0)
    ).tolist()
    rule = np.zeros(n, dtype=np.int8)
    slow_rows, slow_pos, slow_conf = [], [], []
    fast = np.zeros(n, dtype=bool)
    for i, text in enumerate(texts):  # per record: a few C-speed string operations
        repaired = _repair(text)
        m = _ANSWER.search(repaired)
        answer = m.group(1).strip() if m else repaired.strip()
        mine = native[i]
        if eligible[i] and m is not None and answer == mine and _CANONICAL.fullmatch(answer):
            fast[i] = True
            continue
        block = _block_rule(m, answer, mine)
        pos, conf, r = _read_one(answer, block)
        rule[i] = r
        slow_rows.append(np.full(len(pos), i, dtype=np.int64))
        slow_pos.extend(pos)
        slow_conf.extend(conf)
    return _assemble(parsed, fast, rule, slow_rows, slow_pos, slow_conf)


def _block_rule(m: Any, answer: str, mine: Any) -> int:
    """Why a record left the fast path before its items are read: no complete block after the
    repairs (the whole text is read), a block the native parse does not choose, the same block
    changed by the repairs, or none of these (:data:`SAME`: the items decide)."""
    if m is None:
        return WHOLE_TEXT
    if mine is None:
        return FIRST_BLOCK
    if answer == mine:
        return SAME
    return REPAIRS if _repair(mine).strip() == answer else FIRST_BLOCK


def _assemble(parsed, fast, rule, slow_rows, slow_pos, slow_conf) -> VisualRFTAnswers:
    """Fast-path boxes from the native parse and the one-by-one answers, in record order."""
    n = len(fast)
    owner_native = parsed.box_owner
    take_native = fast[owner_native]
    rows = [owner_native[take_native]] + slow_rows
    owner = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    boxes = np.concatenate([parsed.boxes[take_native], np.asarray(slow_pos, dtype=np.float64).reshape(-1, 4)])
    raw_conf = [_score(v) for v in slow_conf]  # answers read one by one only
    conf_slow = np.array([np.nan if v is None else v for v in raw_conf], dtype=np.float64)
    numeric = np.array([v is not None for v in raw_conf], dtype=bool)
    scores = np.concatenate([parsed.confidences[take_native], conf_slow])
    deduped = np.concatenate([np.zeros(int(take_native.sum()), bool), np.ones(len(raw_conf), bool)])
    keep = np.concatenate([np.ones(int(take_native.sum()), bool), numeric])
    finite_box = np.isfinite(boxes).all(axis=1)
    counts = {
        "records_read_one_by_one": int(n - fast.sum()),
        "non_numeric_confidence": int((~keep).sum()),
        "non_finite_confidence": int((keep & ~np.isfinite(scores)).sum()),
        "non_finite_box": int((keep & ~finite_box).sum()),
    }
    # Rules of the policies override the record's rule (they are what the report must explain).
    bad_box_rec = np.unique(owner[keep & ~finite_box])
    bad_score_rec = np.unique(owner[keep & ~np.isfinite(scores)])
    crash_rec = np.unique(owner[~keep])
    rule[bad_box_rec] = NON_FINITE_BOX
    rule[bad_score_rec] = NON_FINITE_SCORE
    rule[crash_rec] = CRASH_SCORE
    keep &= finite_box
    order = np.argsort(owner[keep], kind="stable")
    return VisualRFTAnswers(
        boxes=boxes[keep][order],
        scores=scores[keep][order],
        owner=owner[keep][order],
        deduped=deduped[keep][order],
        rule=rule,
        counts=counts,
    )


def rank_non_finite_scores(scores: np.ndarray) -> np.ndarray:
    """Finite scores that sort as pycocotools sorts NaN / inf (``np.argsort(-s, kind="mergesort")``:
    +inf first, then the finite scores, -inf, NaN last; ties keep their order).

    +inf becomes ``max + 1``, -inf ``min - 1`` and NaN ``min - 2`` of the finite scores.
    """
    s = np.asarray(scores, dtype=np.float64).copy()
    bad = ~np.isfinite(s)
    if not bad.any():
        return s
    finite = s[~bad]
    hi = float(finite.max()) if finite.size else 0.0
    lo = float(finite.min()) if finite.size else 0.0
    s[np.isposinf(s)] = hi + 1.0
    s[np.isneginf(s)] = lo - 1.0
    s[np.isnan(s)] = lo - 2.0
    return s
