"""Seeded synthetic COCO / LVIS datasets for the evaluator parity tests.

Built to reach every rule that decides a number: random image sizes, log-uniform box sizes (all
area ranges populated, some GT areas exactly on 32**2 / 96**2), GT ``area`` different from the
box area, crowd GT, categories without GT, images without detections, tied scores (rounded to one
decimal), more detections than maxDets in one (image, category), detections of categories outside
the GT, and optionally a GT with id 0.
"""

from __future__ import annotations

import numpy as np


def _box(rng, W, H, lo_area=4.0):
    area = float(np.exp(rng.uniform(np.log(lo_area), np.log(max(lo_area * 2, 0.6 * W * H)))))
    aspect = float(np.exp(rng.uniform(np.log(0.3), np.log(3.0))))
    w = min(W, np.sqrt(area * aspect))
    h = min(H, area / max(w, 1e-6))
    x = rng.uniform(0, max(W - w, 0))
    y = rng.uniform(0, max(H - h, 0))
    return [round(x, 2), round(y, 2), round(w, 2), round(h, 2)]


def _jitter(rng, b, W, H, scale):
    x, y, w, h = b
    x = x + rng.normal(0, scale) * w
    y = y + rng.normal(0, scale) * h
    w = max(0.5, w * np.exp(rng.normal(0, scale)))
    h = max(0.5, h * np.exp(rng.normal(0, scale)))
    return [round(float(x), 2), round(float(y), 2), round(float(w), 2), round(float(h), 2)]


def make_dataset(
    seed, *, n_images=None, n_cats=None, lvis=False, id_zero=False, ties=None, crowd_p=0.08, many_dets=True
):
    """Return (gt dict, list of result dicts)."""
    rng = np.random.default_rng(seed)
    n_images = int(rng.integers(3, 25)) if n_images is None else n_images
    n_cats = int(rng.integers(1, 8)) if n_cats is None else n_cats
    ties = bool(rng.integers(0, 2)) if ties is None else ties
    cat_ids = sorted(rng.choice(np.arange(1, 60), size=n_cats, replace=False).tolist())
    freqs = ["r", "c", "f"]
    categories = [{"id": int(c), "name": f"cat{c}"} for c in cat_ids]
    if lvis:
        for c in categories:
            c["frequency"] = freqs[int(rng.integers(0, 3))]
    # some categories never get GT
    gt_cats = [c for c in cat_ids if rng.random() < 0.8] or cat_ids[:1]
    img_ids = sorted(rng.choice(np.arange(1, 10 * n_images + 10), size=n_images, replace=False).tolist())
    images, annotations, results = [], [], []
    ann_id = 1
    for img in img_ids:
        W, H = int(rng.integers(64, 900)), int(rng.integers(64, 900))
        entry = {"id": int(img), "width": W, "height": H}
        n_gt = int(rng.integers(0, 9))
        present = set()
        for _ in range(n_gt):
            c = int(rng.choice(gt_cats))
            b = _box(rng, W, H)
            u = rng.random()
            if u < 0.05:
                area = 32.0**2
            elif u < 0.10:
                area = 96.0**2
            elif u < 0.3:
                area = b[2] * b[3]
            else:
                area = round(b[2] * b[3] * rng.uniform(0.4, 1.0), 2)
            ann = {
                "id": ann_id,
                "image_id": int(img),
                "category_id": c,
                "bbox": b,
                "area": area,
                "iscrowd": int(rng.random() < crowd_p) if not lvis else 0,
            }
            if lvis and rng.random() < 0.05:
                ann["ignore"] = 1
            annotations.append(ann)
            present.add(c)
            ann_id += 1
            # detections of this GT
            for _ in range(int(rng.integers(0, 4))):
                cc = c if rng.random() > 0.15 else int(rng.choice(cat_ids))
                results.append(
                    {
                        "image_id": int(img),
                        "category_id": cc,
                        "bbox": _jitter(rng, b, W, H, rng.uniform(0.02, 0.3)),
                        "score": float(rng.random()),
                    }
                )
        if rng.random() < 0.15:
            continue_no_dets = True
        else:
            continue_no_dets = False
        if not continue_no_dets:
            for _ in range(int(rng.integers(0, 6))):
                cc = int(rng.choice(cat_ids)) if rng.random() > 0.1 else int(rng.integers(100, 103))
                results.append(
                    {"image_id": int(img), "category_id": cc, "bbox": _box(rng, W, H), "score": float(rng.random())}
                )
            if many_dets and rng.random() < 0.2:
                cc = int(rng.choice(cat_ids))
                base = _box(rng, W, H, lo_area=400)
                for _ in range(int(rng.integers(10, 40))):
                    results.append(
                        {
                            "image_id": int(img),
                            "category_id": cc,
                            "bbox": _jitter(rng, base, W, H, 0.15),
                            "score": float(rng.random()),
                        }
                    )
        else:
            results = [r for r in results if r["image_id"] != img]
        if lvis:
            absent = [c for c in cat_ids if c not in present]
            rng.shuffle(absent)
            k = int(rng.integers(0, len(absent) + 1))
            entry["neg_category_ids"] = [int(c) for c in absent[:k]]
            nel = [c for c in cat_ids if rng.random() < 0.2]
            entry["not_exhaustive_category_ids"] = [int(c) for c in nel]
        images.append(entry)
    if ties:
        for r in results:
            r["score"] = round(r["score"], 1)
    # shuffle result order (ties are then broken by this order)
    order = rng.permutation(len(results))
    results = [results[i] for i in order]
    # shuffle annotation order and ids
    order = rng.permutation(len(annotations))
    annotations = [annotations[i] for i in order]
    ids = rng.permutation(np.arange(1, len(annotations) + 1) * 3).tolist()
    for a, i in zip(annotations, ids):
        a["id"] = int(i)
    if id_zero and annotations:
        annotations[int(rng.integers(0, len(annotations)))]["id"] = 0
    gt = {"images": images, "annotations": annotations, "categories": categories}
    return gt, results
