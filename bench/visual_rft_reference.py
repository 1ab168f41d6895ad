"""Visual-RFT's reward functions, re-implemented as plain Python for parity tests and benchmarks.

This is the anchor of issue 4's benchmark and of the preset parity tests: it reproduces the
behaviour of Visual-RFT (Liuziyu77/Visual-RFT, ``src/virft/src/open_r1/grpo.py``,
``grpo_classification.py``, ``grpo_lisa.py``; rules summarised in shared/research/visual_rft.md)
rule for rule, including its quirks, written in our own words.  The ``math_verify`` pre-check of
every accuracy reward is left out (it never fires on box answers and costs ~1 ms per completion).

Every function takes TRL-style ``completions`` (``[{"role": "assistant", "content": str}]`` or
plain ``str``) and the ``solution`` column, and returns ``list[float]``.
"""

from __future__ import annotations

import json
import re

_ANSWER_FIRST = re.compile(r"<answer>(.*?)</answer>")  # no DOTALL, as upstream
_ANSWER_FIRST_DOTALL = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_FORMAT = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.DOTALL)
_LISA_BOX = re.compile(r"\(\s*(\d+)\s*,\s*(\d+)\s*\)\s*,\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)")


def _text(completion) -> str:
    return completion if isinstance(completion, str) else completion[0]["content"]


def _answer_or_text(pattern: re.Pattern, text: str) -> str:
    """The first answer block found by ``pattern``, else the whole text; stripped either way."""
    m = pattern.search(text)
    return m.group(1).strip() if m else text.strip()


# ---- format ---------------------------------------------------------------------------------------


def format_reward(completions, **kwargs):
    """1.0 when the whole completion is ``<think>…</think> <answer>…</answer>`` (DOTALL), else 0."""
    return [1.0 if _FORMAT.fullmatch(_text(c)) else 0.0 for c in completions]


# ---- detection ------------------------------------------------------------------------------------


def extract_bbox(response: str):
    """Upstream ``extract_bbox``: the text between the first ``<answer>`` and the first
    ``</answer>`` (or the end), truncation repair at the last ``},``, ``'`` -> ``"``, json."""
    if "<answer>" not in response:
        return None
    start = response.find("<answer>") + len("<answer>")
    end = response.find("</answer>")
    if end == -1:
        end = len(response)
    body = response[start:end]
    if not body.endswith("]"):
        body = body.rsplit("},", 1)[0] + "}]"
    try:
        return json.loads(body.replace("'", '"'))
    except json.JSONDecodeError:
        return None


def box_iou(a, b) -> float:
    """Upstream ``calculate_iou``: 0 unless the intersection has positive width and height."""
    ix1, iy1 = max(a[0], b[0]), max(a[1], b[1])
    ix2, iy2 = min(a[2], b[2]), min(a[3], b[3])
    if ix2 <= ix1 or iy2 <= iy1:
        return 0.0
    inter = (ix2 - ix1) * (iy2 - iy1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def greedy_match(gt, pred, threshold=0.5):
    """Upstream ``sort_and_calculate_iou``: predictions by confidence, descending (stable); each
    takes the unmatched GT of highest IoU (first on ties, IoU must be > 0), kept if IoU > threshold.
    Returns ``[(iou or 0, confidence), ...]`` in that order."""
    taken = set()
    results = []
    for p in sorted(pred, key=lambda d: d["Confidence"], reverse=True):
        best, best_i = 0, -1
        for i, g in enumerate(gt):
            if i in taken:
                continue
            iou = box_iou(g["Position"], p["Position"])
            if iou > best:
                best, best_i = iou, i
        if best > threshold:
            results.append((best, p["Confidence"]))
            taken.add(best_i)
        else:
            results.append((0, p["Confidence"]))
    return results


def remove_duplicates(pred):
    """Upstream ``remove_duplicates``: drop items whose ``Position`` repeats an earlier one."""
    seen, out = set(), []
    for p in pred:
        key = tuple(p["Position"])
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def read_answer_items(content: str):
    """The predicted items as both upstream detection rewards read a completion: the first
    non-DOTALL answer block (else the whole text), rewrapped, ``[[``/``]]``/newline replacements,
    then :func:`extract_bbox`; ``None`` where the rewards give 0 (an empty list raises IndexError
    upstream, which is caught)."""
    answer = "<answer>" + _answer_or_text(_ANSWER_FIRST, content) + "</answer>"
    answer = answer.replace("[[", "[").replace("]]", "]").replace("\n", "")
    pred = extract_bbox(answer)
    if pred is None or not pred or type(pred[0]) is not dict:
        return None
    return pred


def _detection_rewards(completions, solution, score):
    """Both detection rewards: ``score(match results, number of GT)`` per row, 0 on any failure
    (upstream swallows every error into a 0 reward)."""
    rewards = []
    for c, sol in zip(completions, solution):
        reward = 0.0
        try:
            pred = read_answer_items(_text(c))
            if pred is not None:
                gt = extract_bbox(sol.strip())
                reward = score(greedy_match(gt, remove_duplicates(pred)), len(gt))
        except Exception:  # noqa: BLE001
            reward = 0.0
        rewards.append(reward)
    return rewards


def _iou_score(results, n_gt):
    total = 0.0
    for iou, _ in results:
        total += iou
    return min(1.0, total / (n_gt if n_gt >= len(results) else len(results)))


def _confidence_score(results, n_gt):
    total = 0.0
    for iou, conf in results:
        total += (1 - iou) * (1 - conf) if iou == 0 else conf
    return min(1.0, max(0.0, total / len(results)))


def iou_reward(completions, solution, **kwargs):
    """Upstream ``accuracy_reward_iou`` (V2 normaliser): sum of matched IoU / max(N_gt, N_pred),
    capped at 1; any failure scores 0."""
    return _detection_rewards(completions, solution, _iou_score)


def confidence_reward(completions, solution, **kwargs):
    """Upstream ``accuracy_reward_confidence``: mean over predictions of c if matched else 1 - c,
    clipped to [0, 1]; any failure scores 0."""
    return _detection_rewards(completions, solution, _confidence_score)


# ---- classification -------------------------------------------------------------------------------


def classification_reward(completions, solution, **kwargs):
    """Upstream classification ``accuracy_reward``: first non-DOTALL answer block (or the whole
    text), spaces and underscores removed, lower-cased; 1 if either string contains the other."""
    rewards = []
    for c, sol in zip(completions, solution):
        content = _text(c)
        gt = _answer_or_text(_ANSWER_FIRST, sol)
        ans = _answer_or_text(_ANSWER_FIRST, content)
        gt = gt.replace(" ", "").replace("_", "").lower()
        ans = ans.replace(" ", "").replace("_", "").lower()
        rewards.append(1.0 if (gt in ans or ans in gt) else 0.0)
    return rewards


# ---- LISA grounding -------------------------------------------------------------------------------


def _giou_plus_one(gt, st) -> float:
    (gx1, gy1), (gx2, gy2) = gt[0], gt[1]
    (sx1, sy1), (sx2, sy2) = st[0], st[1]
    iw = max(0, min(gx2, sx2) - max(gx1, sx1))
    ih = max(0, min(gy2, sy2) - max(gy1, sy1))
    inter = iw * ih
    union = (gx2 - gx1) * (gy2 - gy1) + (sx2 - sx1) * (sy2 - sy1) - inter
    iou = inter / union if union > 0 else 0
    c_area = (max(gx2, sx2) - min(gx1, sx1)) * (max(gy2, sy2) - min(gy1, sy1))
    giou = iou - (c_area - union) / c_area if c_area > 0 else iou
    return giou + 1


def _corners(text: str):
    # Upstream collects every top-left corner, then every bottom-right corner; with several boxes
    # the "box" it scores is made of the first two top-left corners (visual_rft.md §4).
    found = _LISA_BOX.findall(text)
    return [(int(a) / 1000, int(b) / 1000) for a, b, _, _ in found] + [
        (int(c) / 1000, int(d) / 1000) for _, _, c, d in found
    ]


def lisa_grounding_reward(completions, solution, **kwargs):
    """Upstream LISA ``accuracy_reward``: GIoU + 1 in [0, 2] on 0..1000 corner tuples; exact
    string equality of the answers scores 2; parse failure scores 0."""
    rewards = []
    for c, sol in zip(completions, solution):
        content = _text(c)
        gt = _answer_or_text(_ANSWER_FIRST, sol)
        ans = _answer_or_text(_ANSWER_FIRST_DOTALL, content)
        try:
            reward = _giou_plus_one(_corners(gt), _corners(ans))
        except Exception:  # noqa: BLE001
            reward = 0.0
        if ans == gt:
            reward = 2.0
        rewards.append(reward)
    return rewards
