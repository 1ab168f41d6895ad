"""Assignment and box matching benchmarks (issue 2's table).

(a) ragged IoU + Hungarian matching of 4096 problems (1-20 predictions x 1-10 GT):
    ours (one native call over flat boxes + offsets) vs a Python loop of numpy IoU + scipy
    linear_sum_assignment, vs lapx ``lapjvh_batch`` on padded input (padding and batched numpy
    IoU included, the whole pipeline from the same flat arrays).
(b) 4096 square 100 x 100 uniform float64 cost matrices:
    ours batched vs a scipy loop vs lapx ``lapjvr_batch`` with 2 threads.

Every benchmark asserts its result against the others (total matched IoU / total cost).
Run timed with ``pytest bench/bench_matching.py --benchmark-only`` (full sizes).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment as scipy_lsa

import vrft_rewards as vr

lap = pytest.importorskip("lap")  # lapx

THRESHOLD = 0.5


# ---- workloads ----------------------------------------------------------------------------------


def _ragged_workload(n_problems: int, seed: int = 0):
    """Flat boxes + offsets: GT boxes in a 1000 x 1000 image, predictions jittered from GT or random."""
    rng = np.random.default_rng(seed)
    n_pred = rng.integers(1, 21, n_problems)
    n_gt = rng.integers(1, 11, n_problems)
    po = np.concatenate([[0], np.cumsum(n_pred)]).astype(np.int64)
    go = np.concatenate([[0], np.cumsum(n_gt)]).astype(np.int64)
    xy = rng.uniform(0, 900, (go[-1], 2))
    wh = rng.uniform(10, 100, (go[-1], 2))
    gt = np.concatenate([xy, xy + wh], axis=1)
    pred = np.empty((po[-1], 4))
    for b in range(n_problems):  # workload construction, not timed
        g = gt[go[b] : go[b + 1]]
        k = po[b + 1] - po[b]
        src = g[rng.integers(0, len(g), k)]
        jitter = rng.normal(0, 8, (k, 4))
        boxes = src + jitter
        rand = rng.random(k) < 0.3
        rxy = rng.uniform(0, 900, (k, 2))
        boxes[rand] = np.concatenate([rxy, rxy + rng.uniform(10, 100, (k, 2))], axis=1)[rand]
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
        pred[po[b] : po[b + 1]] = boxes
    return pred, po, gt, go


def _numpy_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """torchvision.ops.box_iou's formula in numpy broadcasting (works on batched (..., N, 4))."""
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    lt = np.maximum(a[..., :, None, :2], b[..., None, :, :2])
    rb = np.minimum(a[..., :, None, 2:], b[..., None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[..., :, None] + area_b[..., None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


@pytest.fixture(scope="module")
def ragged(full_size):
    return _ragged_workload(4096 if full_size else 128)


@pytest.fixture(scope="module")
def ragged_reference(ragged):
    """Per-problem matched IoU sums of the scipy loop (the reference every pipeline must hit)."""
    return _scipy_loop(*_split(ragged))


def _split(workload):
    pred, po, gt, go = workload
    preds = [pred[po[b] : po[b + 1]] for b in range(len(po) - 1)]
    gts = [gt[go[b] : go[b + 1]] for b in range(len(go) - 1)]
    return preds, gts


def _scipy_loop(preds, gts):
    sums = np.empty(len(preds))
    for b, (p, g) in enumerate(zip(preds, gts)):
        iou = _numpy_iou(p, g)
        weight = np.where(iou >= THRESHOLD, iou, 0.0)
        r, c = scipy_lsa(weight, maximize=True)
        w = weight[r, c]
        sums[b] = w[w > 0].sum()
    return sums


def _lapx_pipeline(pred, po, gt, go):
    """Pad to (B, 20, 10), batched numpy IoU, mask, lapjvh_batch with 2 threads, matched sums."""
    b = len(po) - 1
    n_pred = np.diff(po)
    n_gt = np.diff(go)
    pmax, gmax = int(n_pred.max()), int(n_gt.max())
    # Padding by scatter (vectorised): row index within the problem for every flat box.
    pp = np.zeros((b, pmax, 4))
    gp = np.zeros((b, gmax, 4))
    pp[np.repeat(np.arange(b), n_pred), np.arange(po[-1]) - np.repeat(po[:-1], n_pred)] = pred
    gp[np.repeat(np.arange(b), n_gt), np.arange(go[-1]) - np.repeat(go[:-1], n_gt)] = gt
    iou = _numpy_iou(pp, gp)  # padded boxes are all-zero: IoU 0, never qualifying
    cost = np.where(iou >= THRESHOLD, -iou, 0.0)
    totals, rows, cols = lap.lapjvh_batch(cost, extend_cost=True, n_threads=2)
    return -totals  # non-qualifying fillers cost 0, so the total is minus the matched IoU sum


# ---- (a) ragged IoU + Hungarian ---------------------------------------------------------------------


@pytest.mark.benchmark(group="match-ragged-4096")
def test_match_ragged_ours(benchmark, ragged, ragged_reference):
    pred, po, gt, go = ragged
    res = benchmark(
        vr.match_boxes, pred, gt, pred_offsets=po, gt_offsets=go, method="hungarian", iou_threshold=THRESHOLD
    )
    np.testing.assert_allclose(res.sum_matched_iou, ragged_reference, rtol=1e-12, atol=0)


@pytest.mark.benchmark(group="match-ragged-4096")
def test_match_ragged_scipy_loop(benchmark, ragged, ragged_reference):
    preds, gts = _split(ragged)
    sums = benchmark(_scipy_loop, preds, gts)
    np.testing.assert_array_equal(sums, ragged_reference)


@pytest.mark.benchmark(group="match-ragged-4096")
def test_match_ragged_lapx_lapjvh_batch(benchmark, ragged, ragged_reference):
    sums = benchmark(_lapx_pipeline, *ragged)
    np.testing.assert_allclose(sums, ragged_reference, rtol=1e-12, atol=0)


# ---- (b) square 100 x 100 ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def square(full_size):
    rng = np.random.default_rng(1)
    return rng.random((4096 if full_size else 32, 100, 100))


@pytest.fixture(scope="module")
def square_reference(square):
    return _scipy_square_loop(square)


def _scipy_square_loop(costs):
    totals = np.empty(len(costs))
    for b, c in enumerate(costs):
        r, k = scipy_lsa(c)
        totals[b] = c[r, k].sum()
    return totals


@pytest.mark.benchmark(group="lsap-square-100")
def test_square_ours(benchmark, square, square_reference):
    res = benchmark(vr.batched_linear_sum_assignment, square)
    np.testing.assert_allclose(res.total_cost, square_reference, rtol=1e-12, atol=0)


@pytest.mark.benchmark(group="lsap-square-100")
def test_square_scipy_loop(benchmark, square, square_reference):
    totals = benchmark(_scipy_square_loop, square)
    np.testing.assert_array_equal(totals, square_reference)


@pytest.mark.benchmark(group="lsap-square-100")
def test_square_lapx_lapjvr_batch_2threads(benchmark, square, square_reference):
    totals, rows, cols = benchmark(lap.lapjvr_batch, square, n_threads=2)
    np.testing.assert_allclose(totals, square_reference, rtol=1e-12, atol=0)
