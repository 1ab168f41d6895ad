"""Seeded synthetic COCO-like and LVIS-like workloads for bench_eval.py (vectorised numpy).

COCO-like: ~7.3 GT per image (log-uniform box areas, GT ``area`` 0.5-0.95 of the box, 1 % crowd),
exactly ``dets_per_image`` detections per image: jittered copies of GTs (15 % with a wrong class)
first, then random boxes.  LVIS-like adds ``frequency`` per category, 3-11 negative categories and
not-exhaustive flags (p = 0.2) per image, and draws detection classes from the image's present,
negative and random categories.
"""

from __future__ import annotations

import numpy as np


def _boxes(rng, W, H, n_min_area=16.0):
    n = len(W)
    area = np.exp(rng.uniform(np.log(n_min_area), np.log(0.5 * W * H)))
    aspect = np.exp(rng.uniform(np.log(0.33), np.log(3.0), n))
    w = np.minimum(np.sqrt(area * aspect), W - 1)
    h = np.minimum(area / w, H - 1)
    x = rng.uniform(0, 1, n) * (W - w)
    y = rng.uniform(0, 1, n) * (H - h)
    return np.round(np.stack([x, y, w, h], 1), 2)


def make_workload(n_images, n_cats, dets_per_image, seed=0, *, lvis=False, gt_per_image=7.3):
    """Return (gt dict, results list of dicts, results (N, 7) array)."""
    rng = np.random.default_rng(seed)
    W = rng.integers(320, 641, n_images).astype(float)
    H = rng.integers(240, 481, n_images).astype(float)
    img_ids = np.arange(1, n_images + 1) * 3  # non-contiguous ids
    cat_ids = np.arange(1, n_cats + 1) + (np.arange(n_cats) // 10)
    n_gt = rng.poisson(gt_per_image, n_images)
    gimg = np.repeat(np.arange(n_images), n_gt)
    G = len(gimg)
    if lvis:  # few categories per image, as in LVIS
        per_img = rng.integers(0, n_cats, (n_images, 4))
        gcat = per_img[gimg, rng.integers(0, 4, G)]
    else:
        p = 1.0 / np.arange(1, n_cats + 1) ** 0.8
        gcat = rng.choice(n_cats, size=G, p=p / p.sum())
    gbox = _boxes(rng, W[gimg], H[gimg])
    garea = np.round(gbox[:, 2] * gbox[:, 3] * rng.uniform(0.5, 0.95, G), 2)
    crowd = (rng.random(G) < 0.01) & (not lvis)

    D = dets_per_image
    dimg = np.repeat(np.arange(n_images), D)
    slot = np.tile(np.arange(D), n_images)
    start = np.concatenate([[0], np.cumsum(n_gt)[:-1]])
    from_gt = (slot < np.minimum(D, 2 * n_gt[dimg])) & (n_gt[dimg] > 0)
    src = start[dimg] + (rng.random(len(dimg)) * np.maximum(n_gt[dimg], 1)).astype(int)
    src = np.where(from_gt, np.minimum(src, max(G - 1, 0)), 0)
    dbox = _boxes(rng, W[dimg], H[dimg])
    if G:
        jit = gbox[src] * np.exp(rng.normal(0, 0.1, (len(dimg), 4)) * [0, 0, 1, 1])
        jit[:, :2] = gbox[src, :2] + rng.normal(0, 0.08, (len(dimg), 2)) * gbox[src, 2:]
        dbox = np.where(from_gt[:, None], np.round(jit, 2), dbox)
    if lvis:
        rand_cat = per_img[dimg, rng.integers(0, 4, len(dimg))]
        rand_cat = np.where(rng.random(len(dimg)) < 0.5, rand_cat, rng.integers(0, n_cats, len(dimg)))
    else:
        rand_cat = rng.integers(0, n_cats, len(dimg))
    dcat = np.where(from_gt & (rng.random(len(dimg)) > 0.15), gcat[src] if G else 0, rand_cat)
    score = np.where(from_gt, rng.beta(4, 2, len(dimg)), rng.beta(1.5, 4, len(dimg)))
    score = np.round(score, 4)

    images = [{"id": int(i), "width": int(w), "height": int(h)} for i, w, h in zip(img_ids, W, H)]
    gt_ids = rng.permutation(G) + 1
    annotations = [
        {
            "id": int(gid),
            "image_id": int(img_ids[i]),
            "category_id": int(cat_ids[c]),
            "bbox": b.tolist(),
            "area": float(a),
            "iscrowd": int(cr),
        }
        for gid, i, c, b, a, cr in zip(gt_ids, gimg, gcat, gbox, garea, crowd)
    ]
    categories = [{"id": int(c), "name": f"class_{c}"} for c in cat_ids]
    if lvis:
        freq = rng.choice(["r", "c", "f"], size=n_cats, p=[0.3, 0.4, 0.3])
        for c, f in zip(categories, freq):
            c["frequency"] = str(f)
        present = [set() for _ in range(n_images)]
        for i, c in zip(gimg, gcat):
            present[i].add(int(cat_ids[c]))
        for i, im in enumerate(images):
            k = int(rng.integers(3, 12))
            cand = rng.choice(cat_ids, size=min(n_cats, k + len(present[i])), replace=False).tolist()
            im["neg_category_ids"] = [int(c) for c in cand if c not in present[i]][:k]
            im["not_exhaustive_category_ids"] = [c for c in sorted(present[i]) if rng.random() < 0.2]
    gt = {"images": images, "annotations": annotations, "categories": categories}
    arr = np.column_stack([img_ids[dimg], dbox, score, cat_ids[dcat]]).astype(np.float64)
    results = [
        {"image_id": int(r[0]), "category_id": int(r[6]), "bbox": r[1:5].tolist(), "score": float(r[5])} for r in arr
    ]
    return gt, results, arr
