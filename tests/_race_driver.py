"""Race driver for tests/test_reliability_native.py (run as a subprocess).

``python _race_driver.py NAME SECONDS`` calls the GIL-releasing native call NAME in a loop for
SECONDS while another Python thread keeps rewriting the caller's inputs between a valid and a
hostile state (offsets far out of range, NaN scores, NaN / inverted / huge boxes, list items
replaced so that the object being read is freed).  ``--all SECONDS`` runs every case in turn in
this one process, printing ``start NAME`` before each (a crash names its case).  A call may raise
ValueError / TypeError / IndexError (it saw the hostile state while validating); it must never
crash, hang or read or write outside its buffers.  Exit status 0 and ``ok NAME calls=...
errors=...`` per case on stdout when it survived.

The contract under test (issue 14): every binding that releases the GIL works on data it
validated and owns, or only on values whose changes cannot move a read out of bounds
(csrc/bindings/args.h, "Caller memory and the GIL").
"""

from __future__ import annotations

import os
import sys
import threading
import time

import numpy as np

from vrft_rewards import _C

# An offset / index far outside every buffer: a plain build segfaults.  Under AddressSanitizer a
# value just past the end (VRFT_RACE_BAD_OFFSET=16001 for match_boxes) gives heap-buffer-overflow.
HUGE = int(os.environ.get("VRFT_RACE_BAD_OFFSET", str(1 << 40)))
RNG = np.random.default_rng(0)


def boxes(n, rng=RNG):
    xy = rng.uniform(0, 100, (n, 2))
    wh = rng.uniform(1, 50, (n, 2))
    return np.ascontiguousarray(np.hstack([xy, xy + wh]))


def ragged(n_problems, per):
    off = np.zeros(n_problems + 1, dtype=np.int64)
    off[1:] = np.cumsum(np.full(n_problems, per))
    return off


def toggler(arr, index, good, bad):
    """A mutator step: flips arr[index] between the valid and the hostile value."""

    def step(k):
        arr[index] = bad if k % 2 else good

    return step


# Each case: () -> (call, [mutator steps]); call() runs the native function once on the shared
# inputs; the mutators rewrite those inputs from another thread.
def case_match_boxes():
    n, per = 2000, 8
    pred, gt = boxes(n * per), boxes(n * per)
    po, go = ragged(n, per), ragged(n, per)
    scores = RNG.uniform(0, 1, n * per)
    mid = n // 2

    def call():
        return _C.match_boxes_f64(pred, po, gt, go, scores, "greedy", "iou", "xyxy", 0.5, False)

    return call, [toggler(po, mid, po[mid], HUGE), toggler(go, mid, go[mid], -HUGE), toggler(scores, 5, 0.5, np.nan)]


def case_match_boxes_hungarian():
    n, per = 2000, 8
    pred, gt = boxes(n * per), boxes(n * per)
    po, go = ragged(n, per), ragged(n, per)
    mid = n // 2

    def call():
        return _C.match_boxes_f64(pred, po, gt, go, None, "hungarian", "iou", "xyxy", 0.5, False)

    return call, [toggler(po, mid, po[mid], HUGE), toggler(pred, (7, 2), pred[7, 2], np.nan)]


def case_pairwise_iou():
    a, b = boxes(400), boxes(400)
    out = np.empty((400, 400))

    def call():
        return _C.pairwise_iou_f64(a, b, "xyxy", "iou", out, False)

    return call, [toggler(a, (3, 2), a[3, 2], -1e300), toggler(b, (9, 0), b[9, 0], np.nan)]


def case_paired_iou():
    a, b = boxes(200_000), boxes(200_000)
    out = np.empty(200_000)

    def call():
        return _C.paired_iou_f64(a, b, "xyxy", "ciou", out, False)

    return call, [toggler(a, (100_000, 2), a[100_000, 2], -1e300), toggler(b, (5, 0), b[5, 0], np.inf)]


def case_convert_boxes():
    a = boxes(300_000)
    out = np.empty_like(a)

    def call():
        return _C.convert_boxes_f64(a, "xyxy", "cxcywh", out)

    return call, [toggler(a, (150_000, 1), a[150_000, 1], np.nan)]


def case_lsap():
    cost = RNG.uniform(0, 1, (300, 300))

    def call():
        return _C.lsap(cost, False)

    return call, [
        toggler(cost, (7, 11), cost[7, 11], np.nan),
        toggler(cost, (100, 3), cost[100, 3], -np.inf),
        toggler(cost, (200, 200), cost[200, 200], 1e308),
    ]


def case_lsap_batch_list():
    costs = [RNG.uniform(0, 1, (40, 50)) for _ in range(300)]

    def call():
        return _C.lsap_batch_list(costs, False)

    def replace_matrix(k):  # the caller's list lets go of a matrix being solved
        costs[152] = RNG.uniform(0, 1, (40, 50)) if k % 2 else RNG.uniform(0, 1, (50, 40))

    return call, [
        toggler(costs[150], (3, 4), costs[150][3, 4], np.nan),
        toggler(costs[151], (5, 5), costs[151][5, 5], np.inf),
        replace_matrix,
    ]


def case_lsap_batch_padded():
    costs = RNG.uniform(0, 1, (300, 40, 50))
    shapes = np.tile(np.array([[40, 50]], dtype=np.int64), (300, 1))

    def call():
        return _C.lsap_batch_padded(costs, shapes, False)

    return call, [toggler(costs, (150, 3, 4), costs[150, 3, 4], np.nan), toggler(shapes, (20, 0), 40, HUGE)]


def case_parse_completions():
    good = "<think>x</think><answer>[{'Position': [1, 2, 30, 40], 'Confidence': 0.5}]</answer>"
    comps = [good] * 20_000
    chat = [{"role": "assistant", "content": good}]
    comps[10] = chat

    def mutate_list(k):
        if k % 2:
            comps.append(good)
        elif len(comps) > 10:
            comps.pop()

    def mutate_chat(k):
        chat[0]["content"] = good if k % 2 else good * 3

    def call():

        return _C.parse_completions(comps, "auto", "last", True, "empty")

    return call, [mutate_list, mutate_chat]


def case_normalize_texts():
    src = [f"  Some Class_Name, here {i}!  " * 20 for i in range(20_000)]  # one str object each
    start = np.zeros(len(src), dtype=np.int64)
    end = np.array([len(s) for s in src], dtype=np.int64)

    def call():
        return _C.normalize_texts(src, start, end, True, True, 1, True, False)

    def replace_text(k):  # the caller's list lets go of the str being read
        src[10_002] = ("  Other text!  " * 20) if k % 2 else ("  Some Class_Name, here!  " * 20)

    return call, [toggler(end, 10_000, end[10_000], HUGE), toggler(start, 10_001, 0, -HUGE), replace_text]


def _eval_columns(n_images=200, per=20):
    ng = n_images * per
    img = np.repeat(np.arange(n_images, dtype=np.int64), per)
    gt = {
        "image": img.copy(),
        "category": np.zeros(ng, dtype=np.int64),
        "box": boxes(ng)[:, :4],
        "area": np.full(ng, 100.0),
        "ignore": np.zeros(ng, np.uint8),
        "crowd": np.zeros(ng, np.uint8),
        "id_nonzero": np.ones(ng, np.uint8),
    }
    gt["box"] = np.ascontiguousarray(np.hstack([gt["box"][:, :2], gt["box"][:, 2:] - gt["box"][:, :2]]))
    dbox = gt["box"] + RNG.uniform(-2, 2, gt["box"].shape)
    dt = {
        "image": img.copy(),
        "category": np.zeros(ng, dtype=np.int64),
        "box": np.ascontiguousarray(dbox),
        "area": np.full(ng, 100.0),
        "score": RNG.uniform(0, 1, ng),
        "id_positive": np.ones(ng, np.uint8),
    }
    return gt, dt, n_images


def case_eval_evaluate():
    gt, dt, n_img = _eval_columns()
    thr = np.linspace(0.5, 0.95, 10)
    area = np.array([[0, 1e10], [0, 1024], [1024, 9216], [9216, 1e10]], dtype=np.float64)

    def call():
        return _C.eval_evaluate(gt, dt, n_img, 1, thr, area, 100)

    k = len(dt["image"]) // 2
    return call, [
        toggler(dt["image"], k, dt["image"][k], HUGE),
        toggler(gt["category"], k, 0, -HUGE),
        toggler(dt["score"], 3, 0.5, np.nan),
    ]


def case_eval_accumulate():
    gt, dt, n_img = _eval_columns(400, 20)
    thr = np.linspace(0.5, 0.95, 10)
    area = np.array([[0, 1e10], [0, 1024], [1024, 9216], [9216, 1e10]], dtype=np.float64)
    state = _C.eval_evaluate(gt, dt, n_img, 1, thr, area, 100)
    rec = np.linspace(0, 1, 101)
    max_dets = np.array([1, 10, 100], dtype=np.int64)

    def call():
        return _C.eval_accumulate(state, rec, max_dets)

    return call, [toggler(max_dets, 2, 100, HUGE), toggler(max_dets, 1, 10, -HUGE), toggler(rec, 50, 0.5, np.nan)]


def case_eval_merge():
    gt, dt, n_img = _eval_columns(400, 20)
    thr = np.linspace(0.5, 0.95, 10)
    area = np.array([[0, 1e10]], dtype=np.float64)
    half = len(gt["image"]) // 2  # shard 0: images 0..199, shard 1: images 200..399
    rows = [np.arange(half, dtype=np.int64), np.arange(half, 2 * half, dtype=np.int64)]
    states = [
        _C.eval_evaluate(
            {k: np.ascontiguousarray(v[r]) for k, v in gt.items()},
            {k: np.ascontiguousarray(v[r]) for k, v in dt.items()},
            n_img,
            1,
            thr,
            area,
            100,
        )
        for r in rows
    ]
    g_rows = [r.copy() for r in rows]
    d_rows = [r.copy() for r in rows]

    def call():
        return _C.eval_merge(states, g_rows, d_rows)

    return call, [toggler(g_rows[1], 100, g_rows[1][100], HUGE), toggler(d_rows[0], 10, 10, -HUGE)]


def _mask_inputs(n=2000):
    heights = np.full(n, 200, dtype=np.int64)
    widths = np.full(n, 300, dtype=np.int64)
    coords = np.tile(np.array([10.0, 10.0, 150.0, 20.0, 140.0, 180.0, 15.0, 160.0]), n)
    coord_offsets = np.arange(0, 8 * n + 1, 8, dtype=np.int64)
    polygon_offsets = np.arange(0, n + 1, dtype=np.int64)
    rle_offsets = np.zeros(n + 1, dtype=np.int64)
    return heights, widths, [], rle_offsets, coords, coord_offsets, polygon_offsets


def case_mask_set_rle():
    n = 500
    heights = np.full(n, 40, dtype=np.int64)
    widths = np.full(n, 30, dtype=np.int64)
    rle = [bytes(bytearray(b"`U1" if i % 2 else b"0`U1")) for i in range(n)]  # 1200 zeros / ones
    rle_offsets = np.arange(n + 1, dtype=np.int64)
    empty = np.zeros(0, dtype=np.float64)
    zeros = np.zeros(1, dtype=np.int64)
    polygon_offsets = np.zeros(n + 1, dtype=np.int64)

    def call():
        return _C.MaskSet(heights, widths, rle, rle_offsets, empty, zeros, polygon_offsets)

    def replace_piece(k):  # the caller's list lets go of the bytes being decoded
        rle[250] = bytes(bytearray(b"`U1" if k % 2 else b"0`U1"))  # a fresh object each time

    return call, [replace_piece, toggler(rle_offsets, 100, 100, HUGE), toggler(heights, 3, 40, 1 << 40)]


def case_mask_set():
    h, w, rle, ro, coords, co, po = _mask_inputs()

    def call():
        return _C.MaskSet(h, w, rle, ro, coords, co, po)

    return call, [
        toggler(co, 1000, co[1000], HUGE),
        toggler(po, 1000, po[1000], HUGE),
        toggler(h, 7, 200, 1 << 40),
        toggler(coords, 17, 10.0, 1e300),
    ]


def case_mask_box_overlap():
    h, w, rle, ro, coords, co, po = _mask_inputs()
    ms = _C.MaskSet(h, w, rle, ro, coords, co, po)
    b = boxes(len(h))
    valid = np.ones(len(h), dtype=np.uint8)

    def call():
        return ms.box_overlap(b, valid)

    return call, [
        toggler(b, (1000, 2), b[1000, 2], 1e300),
        toggler(b, (999, 0), b[999, 0], np.nan),
        toggler(b, (998, 1), b[998, 1], -1e300),
    ]


def case_segment_sum():
    vals = RNG.uniform(0, 1, 1_000_000)
    off = ragged(100_000, 10)

    def call():
        return _C.segment_sum_sequential(vals, off)

    return call, [toggler(off, 50_000, off[50_000], HUGE)]


def case_argsort_desc():
    s = RNG.uniform(0, 1, 1_000_000)
    off = ragged(100_000, 10)

    def call():
        return _C.segment_stable_argsort_desc(s, off)

    return call, [toggler(off, 50_000, off[50_000], HUGE), toggler(s, 123, 0.5, np.nan)]


def case_select_boxes():
    b = boxes(400_000)
    off = ragged(100_000, 4)
    keep = np.ones(100_000, dtype=np.uint8)

    def call():
        return _C.select_segment_boxes(b, off, keep, True, True)

    return call, [toggler(off, 50_000, off[50_000], HUGE), toggler(off, 50_001, off[50_001], -HUGE)]


def case_completion_ap():
    n, per = 20_000, 5
    pred, gt = boxes(n * per), boxes(n * per)
    sc = RNG.uniform(0, 1, n * per)
    po, go = ragged(n, per), ragged(n, per)
    pc = np.zeros(n * per, dtype=np.int64)
    gc = np.zeros(n * per, dtype=np.int64)
    thr = np.linspace(0.5, 0.95, 10)
    rec = np.linspace(0, 1, 101)

    def call():
        return _C.completion_ap(pred, sc, pc, po, gt, gc, go, thr, rec, 100)

    return call, [
        toggler(po, n // 2, po[n // 2], HUGE),
        toggler(go, n // 2, go[n // 2], -HUGE),
        toggler(sc, 11, 0.5, np.nan),
        toggler(pc, 77, 0, HUGE),
    ]


def case_eval_positions():
    table = np.arange(5_000, dtype=np.int64) * 3  # dense: the lookup table path
    ids = RNG.integers(0, 15_000, 200_000).astype(np.int64)

    def call():
        return _C.eval_positions(ids, table)

    return call, [toggler(table, 2_500, table[2_500], HUGE), toggler(ids, 7, 3, -HUGE)]


def case_read_shape_results():
    # The images' ids and sizes decide where polygons rasterise: they are copied before the file is
    # read without the GIL, so heights / widths / ids turning hostile mid-call change nothing read.
    import json
    import tempfile

    n_img = 400
    ids = np.arange(n_img, dtype=np.int64) + 1
    heights, widths = np.full(n_img, 480, np.int64), np.full(n_img, 640, np.int64)
    recs = [
        {"image_id": int(i % n_img) + 1, "category_id": 1, "score": 0.5, "segmentation": [[1, 1, 90, 5, 60, 70, 3, 40]]}
        for i in range(20_000)
    ]
    fd, path = tempfile.mkstemp(suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(recs, f)
    mid = n_img // 2

    def call():
        return _C.eval_read_shape_results(os.fsencode(path), ids, heights, widths, True, 0)

    return call, [
        toggler(heights, mid, 480, HUGE),
        toggler(widths, 3, 640, -HUGE),
        toggler(ids, mid, ids[mid], -HUGE),
    ]


def case_eval_select_lvis():
    n_img, n_cat, n = 500, 300, 100_000
    img_ids = np.arange(n_img, dtype=np.int64) + 1
    cat_ids = np.arange(n_cat, dtype=np.int64) + 1
    image_id = RNG.integers(1, n_img + 1, n).astype(np.int64)
    category_id = RNG.integers(1, n_cat + 1, n).astype(np.int64)
    det_boxes = boxes(n)
    area = RNG.uniform(1, 100, n)
    pi = RNG.integers(0, n_img, 2_000).astype(np.int64)
    pc = RNG.integers(0, n_cat, 2_000).astype(np.int64)
    ai = RNG.integers(1, n_img + 1, 500).astype(np.int64)
    ac = RNG.integers(1, n_cat + 1, 500).astype(np.int64)
    ni, nc = ai[:100].copy(), ac[:100].copy()

    def call():
        return _C.eval_select_lvis(image_id, category_id, det_boxes, area, img_ids, cat_ids, pi, pc, ai, ac, ni, nc)

    return call, [
        toggler(img_ids, 250, 251, HUGE),
        toggler(cat_ids, 150, 151, -HUGE),
        toggler(pi, 1_000, pi[1_000], HUGE),
        toggler(pc, 1_000, pc[1_000], -HUGE),
        toggler(image_id, 9, image_id[9], HUGE),
    ]


def case_score_detection_rows():
    good = "<think>x</think><answer>[{'Position': [1, 2, 30, 40], 'Confidence': 0.5}]</answer>"
    texts = [good] * 32
    n_gt = 3
    gt_boxes = boxes(32 * n_gt)
    gt_off = ragged(32, n_gt)
    usable = np.ones(32, dtype=np.uint8)
    frames = np.tile(np.array([0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0]), (32, 1))
    options = (False, 0, 0, 0.5, True, False)

    def mutate_list(k):
        texts[5] = good if k % 2 else good * 3  # the str at this position freed and replaced

    def call():
        return _C.score_detection_rows(texts, None, *options, frames, (gt_boxes, gt_off, usable))

    return call, [mutate_list, toggler(gt_off, 16, gt_off[16], HUGE), toggler(frames, (3, 2), 1.0, np.nan)]


def case_eval_evaluate_segm():
    gt, dt, n_img = _eval_columns(n_images=100, per=10)
    ng = len(gt["image"])
    size = np.full(ng, 200, dtype=np.int64)
    gt["shape"] = np.arange(ng, dtype=np.int64)
    dt["shape"] = np.arange(ng, dtype=np.int64)
    gm = _C.segm_arena([None] * ng, size, size, gt["box"], "gt")
    dm = _C.segm_arena([None] * ng, size, size, dt["box"], "dt")
    thr = np.linspace(0.5, 0.95, 10)
    area = np.array([[0, 1e10]], dtype=np.float64)

    def call():
        return _C.eval_evaluate(gt, dt, n_img, 1, thr, area, 100, gt_masks=gm, dt_masks=dm)

    k = ng // 2
    return call, [toggler(gt["shape"], k, k, HUGE), toggler(dt["shape"], 7, 7, -HUGE)]


def _keypoint_inputs(n_images=100, per=10, k=17):
    gt, dt, n_img = _eval_columns(n_images, per)
    ng = len(gt["image"])
    kps = RNG.uniform(0, 100, (ng, 3 * k))
    kps[:, 2::3] = 2.0
    vars_ = np.full(k, (0.05 * 2) ** 2)
    plan = _C.eval_evaluate(gt, dt, n_img, 1, np.linspace(0.5, 0.95, 10), np.array([[0, 1e10]]), 20, plan_only=True)
    ints = np.ones(ng, np.uint8)
    return plan, vars_, kps, ints, gt["box"], gt["area"], kps + RNG.uniform(-1, 1, kps.shape)


def case_oks_exponents():
    plan, vars_, gk, gi, gb, ga, dk = _keypoint_inputs()

    def call():
        return _C.oks_exponents(plan, vars_, gk, gi, gb, ga, dk, gi)

    return call, [toggler(gk, (5, 2), 2.0, np.nan), toggler(vars_, 3, vars_[3], -1.0)]


def case_oks_reduce():
    plan, vars_, gk, gi, gb, ga, dk = _keypoint_inputs()
    neg_e, counts = _C.oks_exponents(plan, vars_, gk, gi, gb, ga, dk, gi)
    values = np.exp(neg_e)
    mid = len(counts) // 2

    def call():
        return _C.oks_reduce(values, counts)

    return call, [toggler(counts, mid, counts[mid], 2**31 - 1), toggler(counts, 0, counts[0], -(2**31))]


def case_max_matching_counts():
    gt, dt, n_img = _eval_columns()
    k = len(dt["image"]) // 2

    def call():
        return _C.eval_max_matching_counts(gt, dt, n_img, 1, 0.5, 0.0, 1e10)

    return call, [toggler(dt["image"], k, dt["image"][k], HUGE), toggler(gt["category"], k, 0, -HUGE)]


def case_tie_range():
    gt, dt, n_img = _eval_columns(n_images=50, per=10)
    dt["score"][:] = 1.0  # every score tied
    thr = np.linspace(0.5, 0.95, 10)
    area = np.array([[0, 1e10]], dtype=np.float64)
    cells = np.ones((1, 1, 10), dtype=np.uint8)
    rec = np.linspace(0, 1, 101)
    k = len(dt["image"]) // 2

    def call():
        return _C.eval_tie_range(gt, dt, n_img, 1, thr, area, 100, rec, cells, 1000, 1000, 4, 0)

    return call, [toggler(dt["image"], k, dt["image"][k], HUGE), toggler(thr, 3, thr[3], np.nan)]


def case_tide():
    n_img, per = 500, 8
    gt_off, dt_off = ragged(n_img, per), ragged(n_img, per)
    gt_box = boxes(n_img * per)
    gt_cls = RNG.integers(0, 5, n_img * per).astype(np.int64)
    dt_box = np.ascontiguousarray(gt_box + RNG.uniform(-3, 3, gt_box.shape))
    dt_cls = gt_cls.copy()
    dt_score = RNG.uniform(0, 1, n_img * per)
    none_off = np.zeros(n_img + 1, dtype=np.int64)
    no_box, no_cls = np.zeros((0, 4)), np.zeros(0, dtype=np.int64)
    thr = np.array([0.5])
    mid = n_img // 2

    def call():
        return _C.eval_tide(
            gt_off, gt_box, gt_cls, none_off, no_box, no_cls, none_off, no_cls,
            dt_off, dt_box, dt_cls, dt_score, 100, 0.5, 0.1, thr,
        )  # fmt: skip

    return call, [
        toggler(gt_off, mid, gt_off[mid], HUGE),
        toggler(dt_off, mid, dt_off[mid], -HUGE),
        toggler(dt_score, 9, 0.5, np.nan),
    ]


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}


def run(name: str, seconds: float) -> None:
    call, steps = CASES[name]()
    stop = threading.Event()

    def mutate():
        k = 0
        while not stop.is_set():
            for step in steps:
                step(k)
            k += 1

    t = threading.Thread(target=mutate, daemon=True)
    t.start()
    calls = errors = 0
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline or calls == 0:
            try:
                call()
            except (ValueError, TypeError, IndexError, OverflowError, MemoryError):
                errors += 1  # the call saw the hostile state while validating: fine
            calls += 1
    finally:
        stop.set()
        t.join()
    print(f"ok {name} calls={calls} errors={errors}", flush=True)


if __name__ == "__main__":
    sys.setswitchinterval(1e-5)  # hand the GIL over as often as possible
    if sys.argv[1] == "--list":
        print("\n".join(CASES))
    else:  # NAME SECONDS, or --all SECONDS (each case in turn, in this one process)
        names = list(CASES) if sys.argv[1] == "--all" else [sys.argv[1]]
        for case in names:
            print(f"start {case}", flush=True)
            run(case, float(sys.argv[2]))
