"""AP over the orders of tied scores (``_C.eval_tie_range``) against brute force: every order a
permutation of the records can produce, each evaluated (by our engine, which is bit-identical to
pycocotools; and, marked slow, by pycocotools itself); the Monte Carlo mean against the exact mean
over all orders; order-free counts against scipy's assignment."""

from __future__ import annotations

import contextlib
import io
import itertools
import math
import random

import numpy as np
import pytest

from _pipeline_data import lvis_api_compat
from vrft_rewards.cocoeval.ground_truth import as_ground_truth
from vrft_rewards.eval import evaluate_coco, evaluate_detection, evaluate_lvis
from vrft_rewards.eval.engine_state import engine_state
from vrft_rewards.eval.ties import ap_tie_range, order_free_counts


def random_case(rng: random.Random, n_cats: int = 1, levels=(1.0,), n_img=(1, 3), n_gt=(1, 3), n_det=(1, 4)):
    """Small cases with near-duplicate detections competing for one GT, crowds, tied scores."""
    images, anns, dets = [], [], []
    for i in range(1, rng.randint(*n_img) + 1):
        images.append({"id": i, "width": 100, "height": 100})
        for c in range(1, n_cats + 1):
            boxes = []
            for _ in range(rng.randint(*n_gt)):
                x, y, w, h = rng.uniform(0, 60), rng.uniform(0, 60), rng.uniform(8, 40), rng.uniform(8, 40)
                anns.append({"id": len(anns) + 1, "image_id": i, "category_id": c, "bbox": [x, y, w, h],
                             "area": w * h, "iscrowd": int(rng.random() < 0.1)})  # fmt: skip
                boxes.append((x, y, w, h))
            for _ in range(rng.randint(*n_det)):
                if boxes and rng.random() < 0.8:
                    x, y, w, h = rng.choice(boxes)
                    s = rng.choice([0.03, 0.08, 0.15, 0.3])
                    box = [x + rng.gauss(0, s) * w, y + rng.gauss(0, s) * h, max(1.0, w * (1 + rng.gauss(0, s))),
                           max(1.0, h * (1 + rng.gauss(0, s)))]  # fmt: skip
                else:
                    box = [rng.uniform(0, 80), rng.uniform(0, 80), rng.uniform(5, 30), rng.uniform(5, 30)]
                dets.append([i, *box, rng.choice(levels), c])
                if rng.random() < 0.3:  # a near-duplicate competing for the same GT
                    dets.append([i, box[0] + rng.uniform(-2, 2), box[1] + rng.uniform(-2, 2), box[2], box[3],
                                 rng.choice(levels), c])  # fmt: skip
    cats = [{"id": c, "name": f"c{c}", "frequency": "f"} for c in range(1, n_cats + 1)]
    return {"images": images, "annotations": anns, "categories": cats}, np.array(dets, dtype=np.float64).reshape(-1, 7)


def record_orders(dets: np.ndarray):
    """Every order of the rows that a permutation of the records can produce (ties keep file order
    within an (image, category, score) group; other groups' relative order does not matter)."""
    groups: dict = {}
    for i, row in enumerate(dets):
        groups.setdefault((row[6], row[5], row[0]), []).append(i)
    keys = list(groups)
    n = math.prod(math.factorial(len(groups[k])) for k in keys)
    orders = (
        sum((list(p) for p in combo), [])
        for combo in itertools.product(*[itertools.permutations(groups[k]) for k in keys])
    )
    return orders, n


def _ap_pair(rows: list, pooled: bool = False, precision=None, k: int = 0) -> tuple:
    if not pooled:
        return rows[k]["AP"], rows[k]["AP50"]
    p = precision[:, :, k, :]
    p50 = precision[0, :, k, :]
    return (
        float(np.mean(p[p > -1])) if (p > -1).any() else -1.0,
        float(np.mean(p50[p50 > -1])) if (p50 > -1).any() else -1.0,
    )


def _brute(gt, dets, max_dets=(1, 10, 100)):
    orders, _ = record_orders(dets)
    vals = []
    for order in orders:
        res = evaluate_coco(gt, dets[order], max_dets=max_dets)
        vals.append([_ap_pair(res.per_category, k=k) for k in range(len(res.per_category))])
    return np.array(vals)  # (orders, K, 2)


@pytest.mark.parametrize("seed", range(4))
def test_coco_range_equals_brute_force_over_record_orders(seed):
    rng = random.Random(seed)
    checked = dependent = 0
    while checked < 12:
        levels = rng.choice([(1.0,), (0.9, 0.8), (0.9, 0.85, 0.8)])
        gt_d, dets = random_case(rng, n_cats=rng.choice([1, 2]), levels=levels)
        if record_orders(dets)[1] > 720:
            continue
        checked += 1
        gt = as_ground_truth(gt_d)
        vals = _brute(gt, dets)
        es = engine_state("coco", gt, dets, [c["id"] for c in gt_d["categories"]], None, {})
        tr = ap_tie_range(es, n_draws=0)
        res = evaluate_coco(gt, dets)
        base = np.array([_ap_pair(res.per_category, k=k) for k in range(len(gt_d["categories"]))])
        assert tr["reported"].tolist() == base.tolist()  # the records' own order: the engine's AP
        assert tr["exact"].all()
        assert np.array_equal(tr["min"], vals.min(axis=0)) and np.array_equal(tr["max"], vals.max(axis=0))
        dependent += (vals[:, :, 0].max(0) > vals[:, :, 0].min(0)).any()
    assert dependent > 0


@pytest.mark.parametrize("seed", range(3))
def test_ties_cut_by_the_max_dets_cap(seed):
    """A tie straddling maxDets: which detections survive depends on the order."""
    rng = random.Random(100 + seed)
    checked = 0
    while checked < 8:
        gt_d, dets = random_case(rng, levels=rng.choice([(1.0,), (0.9, 0.8)]), n_det=(2, 4))
        if record_orders(dets)[1] > 720:
            continue
        checked += 1
        gt = as_ground_truth(gt_d)
        vals = _brute(gt, dets, max_dets=(1, 2, 3))
        tr = ap_tie_range(engine_state("coco", gt, dets, [1], None, {"max_dets": (1, 2, 3)}), n_draws=0)
        assert tr["exact"].all()
        assert np.array_equal(tr["min"], vals.min(axis=0)) and np.array_equal(tr["max"], vals.max(axis=0))


@pytest.mark.parametrize("pooled", [False, True])
def test_lvis_range_with_federated_filter_and_area_pooling(pooled):
    rng = random.Random(7 + pooled)
    checked = 0
    while checked < 8:
        gt_d, dets = random_case(rng, n_cats=2, levels=(1.0,), n_gt=(0, 2))
        for a in gt_d["annotations"]:
            a["iscrowd"] = 0
        for im in gt_d["images"]:
            present = {a["category_id"] for a in gt_d["annotations"] if a["image_id"] == im["id"]}
            im["neg_category_ids"] = [c for c in (1, 2) if c not in present][:1]
            im["not_exhaustive_category_ids"] = [2] if rng.random() < 0.3 else []
        if record_orders(dets)[1] > 720 or not gt_d["annotations"]:
            continue
        checked += 1
        gt = as_ground_truth(gt_d)
        vals = []
        with lvis_api_compat():
            for order in record_orders(dets)[0]:
                res = evaluate_lvis(gt, dets[order])
                vals.append([_ap_pair(res.per_category, pooled, res.precision, k) for k in range(2)])
        vals = np.array(vals)
        tr = ap_tie_range(engine_state("lvis", gt, dets, [1, 2], None, {}), pooled=pooled, n_draws=0)
        assert tr["exact"].all()
        assert np.array_equal(tr["min"], vals.min(axis=0)) and np.array_equal(tr["max"], vals.max(axis=0))


def test_monte_carlo_mean_against_the_exact_mean_over_all_orders():
    rng = random.Random(3)
    zs = []
    while len(zs) < 10:
        gt_d, dets = random_case(rng, levels=(1.0,), n_det=(2, 4))
        if record_orders(dets)[1] > 720:
            continue
        gt = as_ground_truth(gt_d)
        vals = _brute(gt, dets)[:, 0, 0]
        if vals.std() < 1e-9:
            continue
        tr = ap_tie_range(engine_state("coco", gt, dets, [1], None, {}), n_draws=400, seed=len(zs))
        zs.append(abs(tr["mean"][0, 0] - vals.mean()) / (vals.std() / math.sqrt(400)))
        assert tr["min"][0, 0] <= tr["mean"][0, 0] <= tr["max"][0, 0]
        assert tr["sd"][0, 0] == pytest.approx(vals.std(), rel=0.35)
    assert max(zs) < 4.5  # ten draws of |z|: P(max > 4.5) < 1e-4 for a correct sampler


def test_draws_do_not_depend_on_the_thread_count():
    from vrft_rewards import _C

    rng = random.Random(11)
    gt_d, dets = random_case(rng, n_cats=3, levels=(1.0,), n_img=(4, 6), n_det=(2, 5))
    gt = as_ground_truth(gt_d)
    es = engine_state("coco", gt, dets, [1, 2, 3], None, {})
    old = _C.get_num_threads()
    try:
        _C.set_num_threads(1)
        one = ap_tie_range(es, n_draws=50, seed=5)
        _C.set_num_threads(3)
        three = ap_tie_range(es, n_draws=50, seed=5)
    finally:
        _C.set_num_threads(old)
    assert np.array_equal(one["mean"], three["mean"]) and np.array_equal(one["sd"], three["sd"])


@pytest.mark.slow
def test_range_equals_brute_force_with_pycocotools_itself():
    pytest.importorskip("pycocotools")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    rng = random.Random(2024)
    checked = 0
    while checked < 25:
        gt_d, dets = random_case(rng, levels=rng.choice([(1.0,), (0.9, 0.8)]))
        if record_orders(dets)[1] > 120:
            continue
        checked += 1
        with contextlib.redirect_stdout(io.StringIO()):
            coco = COCO()
            coco.dataset = gt_d
            coco.createIndex()
            vals = []
            for order in record_orders(dets)[0]:
                ev = COCOeval(coco, coco.loadRes(dets[order]), "bbox")
                ev.evaluate()
                ev.accumulate()
                p = ev.eval["precision"]
                a, a50 = p[:, :, 0, 0, -1], p[0, :, 0, 0, -1]
                vals.append((np.mean(a[a > -1]) if (a > -1).any() else -1.0,
                             np.mean(a50[a50 > -1]) if (a50 > -1).any() else -1.0))  # fmt: skip
        vals = np.array(vals)
        tr = ap_tie_range(engine_state("coco", as_ground_truth(gt_d), dets, [1], None, {}), n_draws=0)
        assert np.array_equal(tr["min"][0], vals.min(0)) and np.array_equal(tr["max"][0], vals.max(0))


# -- order-free counts -----------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(3))
def test_order_free_counts_are_a_maximum_matching_and_ignore_order(seed):
    from scipy.optimize import linear_sum_assignment

    rng = random.Random(seed)
    for _ in range(30):
        gt_d, dets = random_case(rng, n_cats=2, levels=(1.0,), n_gt=(1, 4), n_det=(1, 5))
        gt = as_ground_truth(gt_d)
        es = engine_state("coco", gt, dets, [1, 2], None, {})
        cnt = order_free_counts(es, 0.5)
        shuffled = dets[rng.sample(range(len(dets)), len(dets))]
        cnt2 = order_free_counts(engine_state("coco", gt, shuffled, [1, 2], None, {}), 0.5)
        for key in ("tp", "fp", "fn", "ignored"):
            assert np.array_equal(cnt[key], cnt2[key])
        # Reference: per (image, category), scipy's assignment with weight M+1 for a detection
        # that no crowd excuses and M for one that a crowd would: max matches, then fewest FPs.
        tp = np.zeros(2, int)
        fp = np.zeros(2, int)
        for img, cat in {(int(d[0]), int(d[6])) for d in dets} | {
            (a["image_id"], a["category_id"]) for a in gt_d["annotations"]
        }:
            ds = dets[(dets[:, 0] == img) & (dets[:, 6] == cat)]
            gs = [a for a in gt_d["annotations"] if a["image_id"] == img and a["category_id"] == cat]
            reg = [a["bbox"] for a in gs if not a["iscrowd"]]
            crowd = [a["bbox"] for a in gs if a["iscrowd"]]
            iou = _iou(ds[:, 1:5], reg, False)
            ciou = _iou(ds[:, 1:5], crowd, True)
            ignorable = (ciou >= 0.5).any(axis=1) if len(crowd) else np.zeros(len(ds), bool)
            m = len(ds) + 1
            w = np.where(iou >= 0.5, np.where(ignorable, m, m + 1)[:, None], 0)
            matched = np.zeros(len(ds), bool)
            if w.size:
                r, c = linear_sum_assignment(-w)
                ok = w[r, c] > 0
                matched[r[ok]] = True
            tp[cat - 1] += matched.sum()
            fp[cat - 1] += (~matched & ~ignorable).sum()
        assert cnt["tp"].tolist() == tp.tolist() and cnt["fp"].tolist() == fp.tolist()


def _iou(d: np.ndarray, g: list, crowd: bool) -> np.ndarray:
    """pycocotools' bbIou on xywh (the slow obvious form)."""
    out = np.zeros((len(d), len(g)))
    for i, a in enumerate(d):
        for j, b in enumerate(g):
            w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
            h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
            if w <= 0 or h <= 0:
                continue
            inter = w * h
            out[i, j] = inter / (a[2] * a[3] if crowd else a[2] * a[3] + b[2] * b[3] - inter)
    return out


# -- in the report ------------------------------------------------------------------------------------
def test_report_warns_when_ties_decide_ap_and_gives_f1():
    rng = random.Random(5)
    gt_d, dets = random_case(rng, n_cats=2, levels=(1.0,), n_img=(6, 6), n_gt=(2, 3), n_det=(3, 4))
    recs = []
    for img in sorted({int(d[0]) for d in dets}):
        for cat in (1, 2):
            rows = dets[(dets[:, 0] == img) & (dets[:, 6] == cat)]
            items = ", ".join("{'Position': [%d, %d, %d, %d]}" % (x * 10, y * 10, (x + w) * 10, (y + h) * 10)
                              for _, x, y, w, h, _, _ in rows)  # fmt: skip
            recs.append({"image_id": img, "category_id": cat, "completion": f"<answer>[{items}]</answer>"})
    report = evaluate_detection(gt_d, recs, n_draws=100)
    tr = report.metrics["ap_tie_range"]
    assert tr["mean_AP"]["min"] <= tr["mean_AP"]["reported"] <= tr["mean_AP"]["max"]
    assert tr["mean_AP"]["reported"] == pytest.approx(report.metrics["category_set"]["mean_AP"], abs=1e-15)
    assert tr["scores"]["tied"] > 0 and tr["n_draws"] == 100
    assert tr["warning"] and tr["mean_AP"]["exact"] and tr["mean_AP"]["max"] - tr["mean_AP"]["min"] > 0.01
    assert any("the order of tied scores decides AP" in n for n in report.notes)
    assert tr["mean_AP"]["se_bound"] == (tr["mean_AP"]["max"] - tr["mean_AP"]["min"]) / 20
    f1 = report.metrics["f1_at_50"]
    assert {r["name"] for r in f1["per_category"]} == {"c1", "c2"}
    assert report.metrics["calibration"]["excluded"]["no_confidence"] == len(report.arrays["scores"])
