"""Seeded synthetic data for the evaluation-pipeline tests, with the expected detections built by
an obvious per-box Python loop (the slow reference of the vectorised conversion), and the helpers
that run the reference evaluators (pycocotools, lvis-api) on them."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings

import numpy as np

NAMES = ["dog", "cat", "fire hydrant", "kitchen_table", "stop sign", "hot dog"]


def make_gt(rng, n_images=10, n_cats=6, crowd=0.05):
    images, anns = [], []
    for i in range(1, n_images + 1):
        w, h = int(rng.integers(200, 1200)), int(rng.integers(200, 900))
        images.append({"id": i, "width": w, "height": h, "file_name": f"{i}.jpg"})
        for _ in range(int(rng.integers(0, 6))):
            bw, bh = float(rng.uniform(5, w / 2)), float(rng.uniform(5, h / 2))
            x, y = float(rng.uniform(0, w - bw)), float(rng.uniform(0, h - bh))
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i,
                    "category_id": int(rng.integers(1, n_cats + 1)),
                    "bbox": [x, y, bw, bh],
                    "area": bw * bh * float(rng.uniform(0.5, 1.0)),
                    "iscrowd": int(rng.random() < crowd),
                }
            )
    cats = [{"id": k + 1, "name": NAMES[k]} for k in range(n_cats)]
    return {"images": images, "annotations": anns, "categories": cats}


def _to_frame(v, size, frame):
    if frame == "norm1000":
        return int(round(v / size * 1000))
    if frame == "norm1":
        return round(float(v) / size, 4)
    return round(float(v), 1)


def _from_frame(v, size, frame):
    # The reference conversion, in Visual-RFT's operation order (x /= 1000.0; x = x * W).
    if frame == "norm1000":
        return v / 1000.0 * size
    if frame == "norm1":
        return v * size
    return float(v)


def make_prompt_records(
    rng, gt, frame="norm1000", cats=None, default_score=1.0, p_missing_conf=0.1, p_dup=0.1, p_bad=0.05
):
    """Visual-RFT records (image x category prompts) and the expected (N, 7) detections."""
    size = {im["id"]: (im["width"], im["height"]) for im in gt["images"]}
    by_key = {}
    for a in gt["annotations"]:
        by_key.setdefault((a["image_id"], a["category_id"]), []).append(a["bbox"])
    cats = [c["id"] for c in gt["categories"]] if cats is None else cats
    name_of = {c["id"]: c["name"] for c in gt["categories"]}
    records, expected = [], []
    for im in gt["images"]:
        iid = im["id"]
        w, h = size[iid]
        for c in cats:
            boxes = []
            for x, y, bw, bh in by_key.get((iid, c), []):
                if rng.random() < 0.8:
                    j = rng.uniform(-0.1, 0.1, 4) * [bw, bh, bw, bh]
                    boxes.append([x + j[0], y + j[1], x + bw + j[2], y + bh + j[3]])
            for _ in range(int(rng.integers(0, 3))):
                x, y = rng.uniform(0, w * 0.8), rng.uniform(0, h * 0.8)
                boxes.append([x, y, x + rng.uniform(5, w * 0.2), y + rng.uniform(5, h * 0.2)])
            items, seen = [], set()
            for b in boxes:
                fb = [
                    _to_frame(b[0], w, frame),
                    _to_frame(b[1], h, frame),
                    _to_frame(b[2], w, frame),
                    _to_frame(b[3], h, frame),
                ]
                conf = None if rng.random() < p_missing_conf else round(float(rng.uniform(0.05, 1.0)), 2)
                copies = 2 if rng.random() < p_dup else 1
                for _ in range(copies):
                    items.append((fb, conf))
            text_items = []
            for fb, conf in items:
                pos = "[" + ", ".join(repr(v) for v in fb) + "]"
                text_items.append("{'Position': %s%s}" % (pos, "" if conf is None else f", 'Confidence': {conf}"))
                key = tuple(float(v) for v in fb)
                if key in seen:
                    continue
                seen.add(key)
                if conf is None and default_score is None:
                    continue
                x1, y1 = _from_frame(fb[0], w, frame), _from_frame(fb[1], h, frame)
                x2, y2 = _from_frame(fb[2], w, frame), _from_frame(fb[3], h, frame)
                expected.append([iid, x1, y1, x2 - x1, y2 - y1, default_score if conf is None else conf, c])
            if rng.random() < p_bad:
                # Malformed: no complete box -> no detections (the expected list gets nothing).
                answer = "[{'Position': [1, 2"
                expected = [e for e in expected if not (e[0] == iid and e[6] == c)]
            else:
                answer = "[" + ", ".join(text_items) + "]" if text_items else "No Objects"
            records.append(
                {
                    "image_id": iid,
                    "category": name_of[c],
                    "completion": f"<think>looking for {name_of[c]}</think><answer>{answer}</answer>",
                }
            )
    return records, np.array(expected, dtype=np.float64).reshape(-1, 7)


def pycocotools_eval(gt, dets, cat_ids=None, img_ids=None):
    """pycocotools on the same (N, 7) detections: (stats, precision, per-category AP / AP50 by id)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = json.loads(json.dumps(gt))
        coco.createIndex()
        res = coco.loadRes(dets) if len(dets) else COCO()
        if not len(dets):
            res.dataset = {"images": gt["images"], "categories": gt["categories"], "annotations": []}
            res.createIndex()
        ev = COCOeval(coco, res, "bbox")
        if cat_ids is not None:
            ev.params.catIds = list(cat_ids)
        if img_ids is not None:
            ev.params.imgIds = list(img_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    p = ev.eval["precision"]
    per = {}
    for k, cid in enumerate(ev.params.catIds):
        s = p[:, :, k, 0, -1]
        s50 = p[0, :, k, 0, -1]
        per[cid] = (
            float(np.mean(s[s > -1])) if (s > -1).any() else -1.0,
            float(np.mean(s50[s50 > -1])) if (s50 > -1).any() else -1.0,
        )
    return ev.stats, p, per


@contextlib.contextmanager
def lvis_api_compat():
    """lvis-api 0.5.3 usable on current numpy, quietly: ``np.float`` (removed in numpy 1.24, still
    called by ``LVISEval.accumulate``) aliased to ``float``, its logger and the DeprecationWarning
    of its ``logger.warn`` (in LVISResults) silenced; numpy and the logger are restored after."""
    had, old = hasattr(np, "float"), getattr(np, "float", None)
    np.float = float
    logging.getLogger("lvis").setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        logging.getLogger("lvis").setLevel(logging.NOTSET)
        if had:
            np.float = old
        else:
            del np.float
