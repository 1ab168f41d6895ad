"""Seeded synthetic segmentation and keypoint datasets for the engine's parity tests.

Segmentation sets reach the rules that decide mask IoU and loadRes: polygon GT (star shapes, some
self-intersecting, tiny, huge, partly or wholly outside the image, several parts, odd coordinate
counts in later parts), crowd GT as uncompressed RLE, compressed-RLE GT, a GT ``area`` field that
is not the pixel count, RLEs whose size differs from the image; detections derived from the GT
(jittered polygons, shifted / dilated masks, exact copies), false positives, empty masks,
masks with zero-length runs, tied scores.  ``results_form`` picks loadRes' branch:
"rle" (compressed RLE, no bbox: area = mask pixels), "bbox" (a bbox on every record: area = box
area; polygons and uncompressed RLE allowed), or "mixed".

Keypoint sets: 17 (or a random number of) keypoints per person, visibility 0 / 1 / 2 with
invisible ones at (0, 0) or not, integer or float coordinates, GT without visible keypoints,
``num_keypoints == 0``, crowd persons, detections jittered from the GT with and without a bbox.
"""

from __future__ import annotations

import warnings

import numpy as np
from pycocotools import mask as mask_utils


def _star(rng, cx, cy, r, n):
    ang = np.sort(rng.uniform(0, 2 * np.pi, n))
    rad = r * rng.uniform(0.4, 1.0, n)
    return np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], 1)


def _polygon(rng, W, H):
    kind = rng.integers(0, 10)
    n = int(rng.integers(3, 14))
    if kind == 0:  # tiny
        pts = _star(rng, rng.uniform(0, W), rng.uniform(0, H), rng.uniform(0.2, 2.0), n)
    elif kind == 1:  # huge, beyond the image
        pts = _star(rng, rng.uniform(-W, 2 * W), rng.uniform(-H, 2 * H), rng.uniform(W, 3 * W), n)
    elif kind == 2:  # self-intersecting
        pts = np.stack([rng.uniform(0, W, n), rng.uniform(0, H, n)], 1)
    elif kind == 3:  # wholly outside
        pts = _star(rng, -rng.uniform(20, 60), rng.uniform(0, H), 10, n)
    else:
        r = float(np.exp(rng.uniform(np.log(3), np.log(max(4, min(W, H) / 2)))))
        pts = _star(rng, rng.uniform(0, W), rng.uniform(0, H), r, n)
    if rng.random() < 0.3:
        pts = np.round(pts)
    elif rng.random() < 0.2:
        pts = np.round(pts * 2) / 2
    else:
        pts = np.round(pts, 2)
    return [float(v) for v in pts.ravel()]


def _segmentation(rng, W, H):
    parts = [_polygon(rng, W, H)]
    if rng.random() < 0.25:
        p = _polygon(rng, W, H)
        if rng.random() < 0.3:
            p = p[:-1]  # odd count in a later part: pycocotools drops the last number
        if rng.random() < 0.15:
            p = p[: int(rng.integers(0, 5))]  # a degenerate later part (0-2 points)
        parts.append(p)
    return parts


def _decode(seg, H, W):
    if isinstance(seg, list):
        rle = mask_utils.merge(mask_utils.frPyObjects(seg, H, W))
    elif isinstance(seg["counts"], list):
        rle = mask_utils.frPyObjects(seg, *seg["size"])
    else:
        rle = seg
    with warnings.catch_warnings():  # pycocotools' decode warns on numpy 2 (its __array__)
        warnings.simplefilter("ignore", DeprecationWarning)
        return mask_utils.decode(rle)


def _counts(m):
    flat = np.asarray(m, np.uint8).ravel(order="F")
    change = np.flatnonzero(np.diff(flat)) + 1
    edges = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(edges).tolist()
    if flat.size and flat[0] == 1:
        runs = [0] + runs
    return [int(c) for c in runs] or [0]


def _irregular(counts, rng):
    """The same mask with zero-length runs inserted (pycocotools' IoU walk stops early on them)."""
    out = [counts[0]]
    for c in counts[1:]:
        if rng.random() < 0.3:
            out += [0, 0]
        out.append(c)
    if rng.random() < 0.5:
        out = out[:1] + [0, 0] + out[1:]
    return out


def _as_rle(rng, m, *, compressed, irregular=False):
    H, W = m.shape
    counts = _counts(m)
    if irregular:
        counts = _irregular(counts, rng)
    rle = {"size": [H, W], "counts": counts}
    if compressed:
        rle = mask_utils.frPyObjects(rle, H, W)
        if rng.random() < 0.5:
            rle["counts"] = rle["counts"].decode()
    return rle


def _jitter_mask(rng, m):
    dx, dy = int(rng.integers(-3, 4)), int(rng.integers(-3, 4))
    out = np.roll(np.roll(m, dy, 0), dx, 1)
    if rng.random() < 0.3:
        out = out | np.roll(out, 1, 0)
    if rng.random() < 0.2:
        out = out & (rng.random(out.shape) < 0.9)
    return out.astype(np.uint8)


def make_segm_dataset(seed, *, n_images=None, n_cats=None, lvis=False, results_form=None, crowd_p=0.12):
    """(gt dict, list of result dicts) of masks; see the module docstring."""
    rng = np.random.default_rng(seed)
    n_images = int(rng.integers(2, 9)) if n_images is None else n_images
    n_cats = int(rng.integers(1, 5)) if n_cats is None else n_cats
    form = results_form or ["rle", "bbox", "mixed"][seed % 3]
    cat_ids = sorted(rng.choice(np.arange(1, 40), size=n_cats, replace=False).tolist())
    categories = [{"id": int(c), "name": f"c{c}"} for c in cat_ids]
    if lvis:
        for c in categories:
            c["frequency"] = "rcf"[int(rng.integers(0, 3))]
    images, anns, results = [], [], []
    ann_id = 1
    for img in range(1, n_images + 1):
        W, H = int(rng.integers(8, 90)), int(rng.integers(8, 90))
        entry = {"id": img, "width": W, "height": H}
        present = set()
        for _ in range(int(rng.integers(0, 7))):
            c = int(rng.choice(cat_ids))
            crowd = int(rng.random() < crowd_p)
            seg = _segmentation(rng, W, H)
            m = _decode(seg, H, W)
            if crowd or rng.random() < 0.15:
                seg = _as_rle(rng, m, compressed=not crowd and rng.random() < 0.5)
            pix = int(m.sum())
            area = float(pix) if rng.random() < 0.6 else float(round(rng.uniform(0, 2.5 * pix + 10), 2))
            bb = [float(v) for v in mask_utils.toBbox(mask_utils.encode(np.asfortranarray(m)))]
            anns.append(
                {
                    "id": ann_id,
                    "image_id": img,
                    "category_id": c,
                    "segmentation": seg,
                    "area": area,
                    "bbox": bb,
                    "iscrowd": crowd,
                }
            )
            present.add(c)
            ann_id += 1
            for _ in range(int(rng.integers(0, 4))):
                dm = _jitter_mask(rng, m) if rng.random() < 0.8 else m
                dc = c if rng.random() > 0.1 else int(rng.choice(cat_ids))
                results.append(_result(rng, img, dc, dm, seg, form, H, W))
        for _ in range(int(rng.integers(0, 4))):  # false positives, some empty
            fm = _decode(_segmentation(rng, W, H), H, W) if rng.random() < 0.8 else np.zeros((H, W), np.uint8)
            results.append(_result(rng, img, int(rng.choice(cat_ids)), fm, None, form, H, W))
        if lvis:
            others = [c for c in cat_ids if c not in present]
            entry["neg_category_ids"] = [c for c in others if rng.random() < 0.6]
            entry["not_exhaustive_category_ids"] = [c for c in present if rng.random() < 0.3]
        images.append(entry)
    if form == "mixed" and results and "bbox" in results[0]:  # loadRes then needs one everywhere
        for r in results:
            r.setdefault("bbox", [float(v) for v in mask_utils.toBbox(r["segmentation"])])
    ties = rng.random() < 0.5
    for r in results:
        r["score"] = float(np.round(rng.random(), 1 if ties else 6))
    gt = {"images": images, "annotations": anns, "categories": categories}
    return gt, results


def _result(rng, img, cat, m, gt_seg, form, H, W):
    rec = {"image_id": img, "category_id": cat}
    if form in ("rle", "mixed"):
        rec["segmentation"] = _as_rle(rng, m, compressed=True)
        if form == "mixed" and rng.random() < 0.4:  # the first record decides loadRes' branch
            box = mask_utils.toBbox(rec["segmentation"]).tolist()
            rec["bbox"] = [round(float(v) + float(rng.normal(0, 1.0)), 2) for v in box]
        return rec
    # bbox branch: any segmentation form; the area is the box's.
    choice = rng.random()
    if gt_seg is not None and isinstance(gt_seg, list) and choice < 0.3:
        rec["segmentation"] = [[float(v) + float(rng.normal(0, 1.5)) for v in p] for p in gt_seg]
    elif choice < 0.55:
        rec["segmentation"] = _as_rle(rng, m, compressed=False, irregular=rng.random() < 0.3)
    elif choice < 0.9:
        rec["segmentation"] = _as_rle(rng, m, compressed=True)
    # else: no segmentation -> loadRes' box polygon
    box = mask_utils.toBbox(mask_utils.encode(np.asfortranarray(m))).tolist()
    rec["bbox"] = [round(float(v) + float(rng.normal(0, 1.0)), 2) for v in box]
    return rec


SIGMAS17 = np.array(
    [0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89]
)


def make_keypoint_dataset(seed, *, n_images=None, num_keypoints=17, with_bbox=None):
    """(gt dict, list of result dicts) of person keypoints; see the module docstring."""
    rng = np.random.default_rng(seed)
    n_images = int(rng.integers(2, 12)) if n_images is None else n_images
    K = num_keypoints
    with_bbox = bool(rng.integers(0, 2)) if with_bbox is None else with_bbox
    images, anns, results = [], [], []
    ann_id = 1
    for img in range(1, n_images + 1):
        W, H = int(rng.integers(100, 700)), int(rng.integers(100, 700))
        images.append({"id": img, "width": W, "height": H})
        for _ in range(int(rng.integers(0, 6))):
            w, h = rng.uniform(5, W / 2), rng.uniform(5, H / 2)
            x, y = rng.uniform(0, W - w), rng.uniform(0, H - h)
            as_int = rng.random() < 0.5
            vis = (rng.random(K) < rng.uniform(0, 1)).astype(int) * rng.integers(1, 3, K)
            xy = np.stack([rng.uniform(x, x + w, K), rng.uniform(y, y + h, K)], 1)
            xy = np.round(xy) if as_int else np.round(xy, 2)
            if rng.random() < 0.7:
                xy[vis == 0] = 0
            kp = np.column_stack([xy, vis]).ravel()
            kp = [int(v) for v in kp] if as_int else [float(v) for v in kp]
            nk = int((vis > 0).sum()) if rng.random() < 0.9 else int(rng.integers(0, K + 1))
            area = float(round(w * h * rng.uniform(0.3, 1.0), 2)) if rng.random() > 0.03 else 0.0
            bb = [round(float(v), 2) for v in (x, y, w, h)]
            if as_int:
                bb = [int(round(v)) for v in bb]
            anns.append(
                {
                    "id": ann_id,
                    "image_id": img,
                    "category_id": 1,
                    "keypoints": kp,
                    "num_keypoints": nk,
                    "area": area,
                    "bbox": bb,
                    "iscrowd": int(rng.random() < 0.08),
                }
            )
            ann_id += 1
            for _ in range(int(rng.integers(0, 4))):
                jit = rng.uniform(0.5, 25)
                dxy = np.column_stack([xy[:, 0] + rng.normal(0, jit, K), xy[:, 1] + rng.normal(0, jit, K)])
                dk = _det_keypoints(rng, dxy, K)
                results.append(_kp_result(rng, img, dk, with_bbox, x, y, w, h))
        for _ in range(int(rng.integers(0, 4))):
            dxy = np.stack([rng.uniform(0, W, K), rng.uniform(0, H, K)], 1)
            results.append(_kp_result(rng, img, _det_keypoints(rng, dxy, K), with_bbox, 0, 0, W / 3, H / 3))
    ties = rng.random() < 0.4
    for r in results:
        r["score"] = float(np.round(rng.random(), 1 if ties else 6))
    cats = [{"id": 1, "name": "person", "keypoints": [f"k{i}" for i in range(K)]}]
    return {"images": images, "annotations": anns, "categories": cats}, results


def _det_keypoints(rng, dxy, K):
    as_int = rng.random() < 0.3
    dxy = np.round(dxy) if as_int else np.round(dxy, 3)
    if rng.random() < 0.2:
        dxy[rng.random(K) < 0.3] = 0  # undetected keypoints at the origin
    kp = np.column_stack([dxy, np.round(rng.random(K), 3)]).ravel()
    return [int(v) for v in kp] if as_int else [float(v) for v in kp]


def _kp_result(rng, img, kp, with_bbox, x, y, w, h):
    rec = {"image_id": img, "category_id": 1, "keypoints": kp}
    if with_bbox:
        rec["bbox"] = [round(float(v) + float(rng.normal(0, 2)), 2) for v in (x, y, w, h)]
    return rec
