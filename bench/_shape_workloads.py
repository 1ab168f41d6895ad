"""Seeded mask and keypoint workloads for bench_eval_segm.py / eval_memory_shapes.py.

Built on bench/_eval_workloads.make_workload's boxes (same images, categories, GT and detection
layout): every GT becomes a star polygon inside its box (area = the polygon's shoelace area), 1 %
crowd GT an uncompressed RLE; every detection a star polygon inside its box, given as compressed
RLE (loadRes' segm branch: area = pixels) or as polygon + bbox (loadRes' bbox branch).  Keypoint
sets give each GT person 17 keypoints inside its box (30 % unlabelled at the origin, 10 % of the
persons with none), and each detection keypoints jittered from a GT of its image or scattered.
"""

from __future__ import annotations

import warnings

import numpy as np

from _eval_workloads import make_workload


def _star(rng, x, y, w, h, k):
    ang = np.sort(rng.uniform(0, 2 * np.pi, k))
    rad = rng.uniform(0.55, 1.0, k)
    px = x + w / 2 + np.cos(ang) * rad * w / 2
    py = y + h / 2 + np.sin(ang) * rad * h / 2
    return np.round(np.stack([px, py], 1).ravel(), 2)


def _shoelace(p):
    x, y = p[0::2], p[1::2]
    return 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def _counts(mask_utils, poly, H, W):
    rle = mask_utils.merge(mask_utils.frPyObjects([poly], H, W))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        full = mask_utils.decode(rle).ravel(order="F")
    edges = np.concatenate([[0], np.flatnonzero(np.diff(full)) + 1, [full.size]])
    runs = np.diff(edges).tolist()
    return [0] + runs if full[0] else runs


def make_segm_workload(n_images, n_cats, dets_per_image, seed=0, *, lvis=False, polygons=False, gt_per_image=7.3):
    """(gt dict, results list): compressed-RLE results, or polygons with a bbox (``polygons``)."""
    from pycocotools import mask as mask_utils

    rng = np.random.default_rng(seed + 101)
    gt, res, _ = make_workload(n_images, n_cats, dets_per_image, seed=seed, lvis=lvis, gt_per_image=gt_per_image)
    hw = {im["id"]: (int(im["height"]), int(im["width"])) for im in gt["images"]}
    for im in gt["images"]:
        im["height"], im["width"] = hw[im["id"]]
    for a in gt["annotations"]:
        x, y, w, h = a["bbox"]
        p = _star(rng, x, y, w, h, int(rng.integers(6, 20))).tolist()
        if a.get("iscrowd"):
            H, W = hw[a["image_id"]]
            a["segmentation"] = {"size": [H, W], "counts": [int(c) for c in _counts(mask_utils, p, H, W)]}
        else:
            a["segmentation"] = [p]
        a["area"] = float(round(_shoelace(np.asarray(p)), 2))
    out = []
    for r in res:
        x, y, w, h = r["bbox"]
        H, W = hw[r["image_id"]]
        p = _star(rng, x, y, max(w, 1), max(h, 1), int(rng.integers(6, 20))).tolist()
        rec = {"image_id": r["image_id"], "category_id": r["category_id"], "score": r["score"]}
        if polygons:
            rec["bbox"] = r["bbox"]
            rec["segmentation"] = [p]
        else:
            rle = mask_utils.merge(mask_utils.frPyObjects([p], H, W))
            rec["segmentation"] = {"size": rle["size"], "counts": rle["counts"].decode()}
        out.append(rec)
    return gt, out


def make_keypoint_workload(n_images, dets_per_image, seed=0):
    """(gt dict, results list) of 17-keypoint persons, results without bbox."""
    rng = np.random.default_rng(seed + 211)
    gt, res, _ = make_workload(n_images, 1, dets_per_image, seed=seed, gt_per_image=3.0)
    gt["categories"] = [{"id": gt["categories"][0]["id"], "name": "person", "keypoints": [f"k{i}" for i in range(17)]}]
    by_img: dict = {}
    for a in gt["annotations"]:
        x, y, w, h = a["bbox"]
        vis = rng.choice([0, 1, 2], 17, p=[0.3, 0.2, 0.5]) if rng.random() > 0.1 else np.zeros(17, int)
        xy = np.stack([x + rng.uniform(0, 1, 17) * w, y + rng.uniform(0, 1, 17) * h], 1).round()
        xy[vis == 0] = 0
        a["keypoints"] = np.column_stack([xy, vis]).astype(int).ravel().tolist()
        a["num_keypoints"] = int((vis > 0).sum())
        a["area"] = float(round(w * h * rng.uniform(0.4, 0.9), 2))
        by_img.setdefault(a["image_id"], []).append((xy, (x, y, w, h)))
    out = []
    for r in res:
        anns = by_img.get(r["image_id"])
        if anns and rng.random() < 0.7:
            xy, (x, y, w, h) = anns[int(rng.integers(0, len(anns)))]
            base = np.where(xy == 0, [x + w / 2, y + h / 2], xy)
            p = base + rng.normal(0, rng.uniform(1, 1 + 0.15 * max(w, h)), (17, 2))
        else:
            x, y, w, h = r["bbox"]
            p = np.stack([x + rng.uniform(0, 1, 17) * w, y + rng.uniform(0, 1, 17) * h], 1)
        kp = np.column_stack([p.round(2), rng.random(17).round(3)]).ravel().tolist()
        out.append({"image_id": r["image_id"], "category_id": r["category_id"], "score": r["score"], "keypoints": kp})
    return gt, out
