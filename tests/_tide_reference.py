"""tidecv (1.0.1, PyPI) run the way its COCO / LVIS loaders build their data, on synthetic ground
truth and VLM-like detections; the reference of tests/test_eval_errors.py.

``python tests/_tide_reference.py`` (with tidecv installed) rewrites tests/data/tide_reference.json,
the stored numbers the tests check where tidecv is not installed.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import tempfile
from pathlib import Path

import numpy as np

TYPES = {"cls": "Cls", "loc": "Loc", "both": "Both", "dupe": "Dupe", "bkg": "Bkg", "missed": "Miss"}
STORED = Path(__file__).resolve().parent / "data" / "tide_reference.json"


def make_case(seed: int, *, n_images: int = 25, n_cats: int = 5, ties: bool = False, lvis: bool = False):
    """GT (COCO dict; LVIS fields when ``lvis``) and detections (N, 7) with every error kind:
    good and badly localised boxes, class confusion, near-duplicates, background, misses."""
    rng = random.Random(seed)
    images, anns, dets = [], [], []
    for i in range(1, n_images + 1):
        w, h = rng.randint(200, 800), rng.randint(200, 600)
        images.append({"id": i * 3 + 1, "width": w, "height": h, "file_name": f"{i}.jpg"})
        for _ in range(rng.randint(0, 5)):
            bw, bh = rng.uniform(8, w / 2), rng.uniform(8, h / 2)
            x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
            crowd = int(not lvis and rng.random() < 0.08)
            anns.append({"id": len(anns) + 1, "image_id": i * 3 + 1, "category_id": rng.randint(1, n_cats),
                         "bbox": [x, y, bw, bh], "area": bw * bh, "iscrowd": crowd})  # fmt: skip
    by_img: dict = {}
    for a in anns:
        by_img.setdefault(a["image_id"], []).append(a)
    for im in images:
        iid, w, h = im["id"], im["width"], im["height"]
        for a in by_img.get(iid, []):
            if a["iscrowd"] or rng.random() < 0.15:
                continue  # missed
            x, y, bw, bh = a["bbox"]
            s = 0.05 if rng.random() < 0.6 else 0.35
            box = [x + rng.gauss(0, s) * bw, y + rng.gauss(0, s) * bh, max(1.0, bw * (1 + rng.gauss(0, s))),
                   max(1.0, bh * (1 + rng.gauss(0, s)))]  # fmt: skip
            cat = a["category_id"] if rng.random() > 0.15 else rng.randint(1, n_cats)
            dets.append([iid, *box, 1.0 if ties else round(rng.uniform(0.3, 0.99), 2), cat])
            if rng.random() < 0.15:
                dets.append([iid, box[0] + rng.uniform(-3, 3), box[1] + rng.uniform(-3, 3), box[2], box[3],
                             1.0 if ties else round(rng.uniform(0.05, 0.9), 2), cat])  # fmt: skip
        for _ in range(rng.randint(0, 2)):
            bw, bh = rng.uniform(10, w / 3), rng.uniform(10, h / 3)
            dets.append([iid, rng.uniform(0, w - bw), rng.uniform(0, h - bh), bw, bh,
                         1.0 if ties else round(rng.uniform(0.05, 0.7), 2), rng.randint(1, n_cats)])  # fmt: skip
    rng.shuffle(dets)
    cats = [{"id": c, "name": f"c{c}", "synset": f"c{c}.n.01", "frequency": "f"} for c in range(1, n_cats + 1)]
    gt = {"images": images, "annotations": anns, "categories": cats}
    if lvis:
        for im in gt["images"]:
            present = {a["category_id"] for a in by_img.get(im["id"], [])}
            absent = [c for c in range(1, n_cats + 1) if c not in present]
            im["neg_category_ids"] = rng.sample(absent, min(len(absent), rng.randint(0, 2)))
            im["not_exhaustive_category_ids"] = [c for c in present if rng.random() < 0.2]
            im["coco_url"] = f"http://x/{im['id']}.jpg"
    return gt, np.array(dets, dtype=np.float64).reshape(-1, 7)


def run_tidecv(gt: dict, dets: np.ndarray, lvis: bool = False) -> dict:
    """tidecv's numbers on the data its ``datasets.COCO`` / ``datasets.LVIS`` and ``COCOResult``
    loaders would build (boxes only), with its global side effects contained."""
    import matplotlib as mpl

    with tempfile.TemporaryDirectory() as tmp, mpl.rc_context():
        old = os.environ.get("TIDE_PATH")
        os.environ["TIDE_PATH"] = tmp
        try:
            from tidecv import TIDE
            from tidecv.data import Data

            g = Data("gt", max_dets=300 if lvis else 100)
            for im in gt["images"]:
                g.add_image(im["id"], im.get("file_name") or im.get("coco_url"))
            for c in gt["categories"]:
                g.add_class(c["id"], c["name"])
            classes_in_img: dict = {im["id"]: set(im.get("neg_category_ids", [])) for im in gt["images"]}
            for a in gt["annotations"]:
                if a.get("iscrowd") and not lvis:
                    g.add_ignore_region(a["image_id"], a["category_id"], a["bbox"], None)
                else:
                    g.add_ground_truth(a["image_id"], a["category_id"], a["bbox"], None)
                classes_in_img[a["image_id"]].add(a["category_id"])
            if lvis:
                all_classes = set(g.classes.keys())
                for im in gt["images"]:
                    ignored = all_classes.difference(classes_in_img[im["id"]])
                    ignored.update(set(im["not_exhaustive_category_ids"]))
                    for cls in ignored:
                        g.add_ignore_region(im["id"], cls)
            p = Data("run")
            for d in dets:
                p.add_detection(int(d[0]), int(d[6]), float(d[5]), [float(v) for v in d[1:5]], None)
            tide = TIDE()
            tide.evaluate_range(g, p, mode=TIDE.BOX)
            with contextlib.redirect_stdout(io.StringIO()):
                main = tide.get_main_errors()["run"]
                special = tide.get_special_errors()["run"]
            run = tide.runs["run"]
            counts = {e.short_name: n for e, n in run.count_errors().items()}
            return {
                "ap": run.ap,
                "ap_per_threshold": [r.ap for r in tide.run_thresholds["run"]],
                "main_dap": [float(main[TYPES[k]]) for k in TYPES],
                "counts": [int(counts[TYPES[k]]) for k in TYPES],
                "false_pos": float(special["FalsePos"]),
                "false_neg": float(special["FalseNeg"]),
            }
        finally:
            if old is None:
                os.environ.pop("TIDE_PATH", None)
            else:
                os.environ["TIDE_PATH"] = old


CASES = [dict(seed=s, ties=t, lvis=lv) for s, t, lv in ((1, False, False), (2, True, False), (3, False, True))]

if __name__ == "__main__":
    import tidecv  # noqa: F401

    out = []
    for case in CASES:
        gt, dets = make_case(case["seed"], ties=case["ties"], lvis=case["lvis"])
        out.append({"case": case, "tidecv": run_tidecv(gt, dets, lvis=case["lvis"])})
    STORED.write_text(json.dumps({"tidecv": "1.0.1", "results": out}, indent=1) + "\n")
    print(f"wrote {STORED}")
