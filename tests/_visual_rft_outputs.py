"""Generate Visual-RFT-style model outputs (one completion per image x category prompt) over a real
COCO / LVIS ground truth, with every glitch kind seen in (or plausible for) Qwen2-VL outputs.

Each record: {"image_id", "category_id", "category", "completion", "glitch"}.
Boxes are jittered GT boxes (IoU spread from ~0.3 to ~1), plus false positives, in the 0..1000
integer frame; confidences have two decimals and correlate with box quality.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict

CLEAN = "clean"
# Glitches that Visual-RFT and our pipeline may treat differently.  Each takes the list of items
# (dicts Position/Confidence) and returns the completion text.
GLITCHES = [
    "missing_conf_mid",
    "missing_conf_first",
    "truncated_think",
    "truncated_answer_only",
    "truncated_notags",
    "double_brackets",
    "newline_in_answer",
    "ellipsis_item",
    "duplicates",
    "no_objects_text",
    "empty_list",
    "nondict_item_last",
    "nondict_item_first",
    "coords_over_1000",
    "answer_in_think",
    "trailing_text",
    "wrong_len_position",
    "missing_position",
    "no_tags_complete",
    "two_answer_blocks",
    "float_coords",
    "quote_in_label",
]
# Glitches that crash Visual-RFT's evaluation as a whole (kept out of the AP runs, unit-tested).
CRASHING = ["conf_string", "conf_null"]


def _fmt_item(it: dict) -> str:
    parts = []
    for k, v in it.items():
        if k == "Position":
            parts.append("'Position': [" + ", ".join(str(x) for x in v) + "]")
        elif isinstance(v, str):
            parts.append(f"'{k}': '{v}'")
        elif v is None:
            parts.append(f"'{k}': null")
        else:
            parts.append(f"'{k}': {v}")
    return "{" + ", ".join(parts) + "}"


def _fmt_list(items: list) -> str:
    return "[" + ", ".join(_fmt_item(it) for it in items) + "]"


def _wrap(think: str, answer: str) -> str:
    return f"<think> {think} </think> <answer>{answer}</answer>"


def _iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    i = ix * iy
    u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i
    return i / u if u > 0 else 0.0


def _items_for(rng: random.Random, gts: list, w: float, h: float, p_hit: float, n_fp_max: int, ties: bool) -> list:
    items = []
    for x, y, bw, bh in gts:
        if rng.random() > p_hit:
            continue
        s = rng.choice([0.02, 0.05, 0.1, 0.2, 0.35])
        jx, jy = rng.gauss(0, s) * bw, rng.gauss(0, s) * bh
        jw, jh = bw * (1 + rng.gauss(0, s)), bh * (1 + rng.gauss(0, s))
        box = [x + jx, y + jy, x + jx + max(1.0, jw), y + jy + max(1.0, jh)]
        q = _iou(box, [x, y, x + bw, y + bh])
        pos = [round(box[0] / w * 1000), round(box[1] / h * 1000), round(box[2] / w * 1000), round(box[3] / h * 1000)]
        pos = [min(max(v, 0), 1000) for v in pos]
        conf = 0.85 if ties else round(min(0.99, max(0.01, 0.3 + 0.6 * q + rng.gauss(0, 0.15))), 2)
        items.append({"Position": pos, "Confidence": conf})
    for _ in range(rng.randint(0, n_fp_max)):
        x1, y1 = rng.randint(0, 900), rng.randint(0, 900)
        pos = [x1, y1, min(1000, x1 + rng.randint(20, 400)), min(1000, y1 + rng.randint(20, 400))]
        conf = 0.85 if ties else round(rng.uniform(0.05, 0.8), 2)
        items.append({"Position": pos, "Confidence": conf})
    rng.shuffle(items)
    return items


def _apply(rng: random.Random, kind: str, items: list) -> str:
    think = "The image shows the objects; I locate each one."
    if kind == CLEAN:
        return _wrap(think, _fmt_list(items) if items else "No Objects")
    if not items and kind not in ("no_objects_text", "empty_list", "answer_in_think"):
        items = [{"Position": [100, 100, 300, 300], "Confidence": 0.5}]
    if (
        kind
        in (
            "missing_conf_mid",
            "missing_conf_first",
            "wrong_len_position",
            "missing_position",
            "nondict_item_last",
            "duplicates",
            "trailing_text",
            "truncated_think",
            "truncated_answer_only",
            "truncated_notags",
            "newline_in_answer",
        )
        and len(items) < 3
    ):
        items = (
            items
            + [
                {"Position": [600, 600, 800, 900], "Confidence": 0.3},
                {"Position": [50, 500, 250, 700], "Confidence": 0.2},
            ][: 3 - len(items)]
        )
    if kind == "missing_conf_mid":
        k = len(items) // 2
        items = [dict(it) for it in items]
        del items[k]["Confidence"]
        return _wrap(think, _fmt_list(items))
    if kind == "missing_conf_first":
        items = [dict(it) for it in items]
        del items[0]["Confidence"]
        return _wrap(think, _fmt_list(items))
    if kind in ("truncated_think", "truncated_answer_only", "truncated_notags"):
        full = _fmt_list(items)
        cut = full.rfind("{'Position'") + rng.randint(3, 20)  # inside the last item
        body = full[:cut]
        if kind == "truncated_think":
            return f"<think> {think} </think> <answer>{body}"
        if kind == "truncated_answer_only":
            return f"<answer>{body}"
        return body
    if kind == "double_brackets":
        return _wrap(think, "[" + _fmt_list(items) + "]")
    if kind == "newline_in_answer":
        return _wrap(think, "[" + ",\n ".join(_fmt_item(it) for it in items) + "]")
    if kind == "ellipsis_item":
        return _wrap(think, "[" + ", ".join(_fmt_item(it) for it in items) + ", ...]")
    if kind == "duplicates":
        k = rng.randrange(len(items))
        dup = dict(items[k], Confidence=round(rng.uniform(0.05, 0.95), 2))
        items = items[: k + 1] + [dup] + items[k + 1 :]
        return _wrap(think, _fmt_list(items))
    if kind == "no_objects_text":
        return _wrap(think, "No Objects")
    if kind == "empty_list":
        return _wrap(think, "[]")
    if kind == "nondict_item_last":
        return _wrap(think, _fmt_list(items)[:-1] + ", 'none']")
    if kind == "nondict_item_first":
        return _wrap(think, "['objects', " + _fmt_list(items)[1:])
    if kind == "coords_over_1000":
        items = [dict(it) for it in items]
        p = list(items[0]["Position"])
        p[2], p[3] = p[2] + 400, p[3] + 250
        items[0]["Position"] = p
        return _wrap(think, _fmt_list(items))
    if kind == "answer_in_think":
        example = "<answer>[{'Position': [10, 10, 990, 990], 'Confidence': 0.5}]</answer>"
        return (
            f"<think> The format is {example}; now I look. </think> "
            f"<answer>{_fmt_list(items) if items else 'No Objects'}</answer>"
        )
    if kind == "trailing_text":
        return _wrap(think, _fmt_list(items) + " These are all the objects.")
    if kind == "wrong_len_position":
        items = [dict(it) for it in items]
        k = len(items) // 2
        items[k]["Position"] = list(items[k]["Position"])[:3]
        return _wrap(think, _fmt_list(items))
    if kind == "missing_position":
        items = [dict(it) for it in items]
        k = len(items) - 1
        del items[k]["Position"]
        return _wrap(think, _fmt_list(items))
    if kind == "no_tags_complete":
        return _fmt_list(items)
    if kind == "two_answer_blocks":
        first = _fmt_list(items[:1])
        return f"<think> {think} </think> <answer>{first}</answer> <answer>{_fmt_list(items)}</answer>"
    if kind == "float_coords":
        items = [dict(it, Position=[v + 0.5 for v in it["Position"]]) for it in items]
        return _wrap(think, _fmt_list(items))
    if kind == "quote_in_label":
        items = [dict(it) for it in items]
        items[0]["label"] = "dog's toy"
        return _wrap(think, _fmt_list(items))
    if kind == "conf_string":
        items = [dict(it) for it in items]
        items[-1]["Confidence"] = "high"
        return _wrap(think, _fmt_list(items))
    if kind == "conf_null":
        items = [dict(it) for it in items]
        items[-1]["Confidence"] = None
        return _wrap(think, _fmt_list(items))
    raise ValueError(kind)


def generate(
    gt: dict,
    *,
    seed: int = 0,
    p_glitch: float = 0.06,
    kinds=None,
    n_neg: int = 2,
    neg_from_lvis: bool = False,
    ties: bool = False,
    p_hit: float = 0.8,
    n_fp_max: int = 2,
    categories=None,
) -> list:
    """Records over every image of ``gt``: its GT categories (optionally only ``categories``) plus
    ``n_neg`` negative categories (LVIS: drawn from the image's ``neg_category_ids`` so that false
    positives count).  A fraction ``p_glitch`` of records gets a glitch drawn from ``kinds``."""
    rng = random.Random(seed)
    kinds = list(GLITCHES if kinds is None else kinds)
    name = {c["id"]: c["name"] for c in gt["categories"]}
    allowed = None if categories is None else {c for c in name if name[c] in set(categories)}
    by = defaultdict(list)
    for a in gt["annotations"]:
        if not a.get("iscrowd", 0):
            by[(a["image_id"], a["category_id"])].append(a["bbox"])
    cats_of = defaultdict(list)
    for img, cat in by:
        cats_of[img].append(cat)
    all_cats = sorted(name) if allowed is None else sorted(allowed)
    recs = []
    for im in gt["images"]:
        w, h = im["width"], im["height"]
        cats = sorted(c for c in cats_of[im["id"]] if allowed is None or c in allowed)
        if neg_from_lvis:
            pool = [c for c in im.get("neg_category_ids", []) if allowed is None or c in allowed]
        else:
            pool = [c for c in all_cats if c not in cats]
        negs = rng.sample(pool, min(n_neg, len(pool))) if pool else []
        for cat in cats + negs:
            items = _items_for(rng, by.get((im["id"], cat), []), w, h, p_hit, n_fp_max if cat in negs else 1, ties)
            kind = rng.choice(kinds) if rng.random() < p_glitch else CLEAN
            recs.append(
                {
                    "image_id": im["id"],
                    "category_id": cat,
                    "category": name[cat],
                    "completion": _apply(rng, kind, items),
                    "glitch": kind,
                }
            )
    return recs


if __name__ == "__main__":
    import sys

    gt = json.load(open(sys.argv[1]))
    for r in generate(gt)[:5]:
        print(json.dumps(r))
