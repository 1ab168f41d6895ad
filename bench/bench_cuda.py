"""GPU benchmarks (issue 7's table); run by ``bench/gpu_check.sh`` on a machine with a GPU.

(a) pairwise IoU, 20000 x 20000 float32 on the GPU: ours (CUDA kernel, preallocated ``out``)
    vs torchvision's ``box_iou`` formula written in torch on the same GPU; next to them, in the
    same group, the card's device-to-device copy (``out2.copy_(out)``) and ``fill_`` of the same
    bytes, the bandwidth references (``bench/gpu_summary.py`` turns them into ratios).
(b) 65536 ragged problems (1-20 predictions x 1-10 GTs), IoU + Hungarian: ours on the GPU
    (CUDA tensors in, offsets as CUDA tensors) vs ours on the CPU (all cores) vs a per-problem
    loop of torch IoU on the GPU + ``.cpu()`` + scipy ``linear_sum_assignment``.

Every timed call ends with ``torch.cuda.synchronize()`` so that the time covers the GPU work.
Each benchmark asserts its result against the others.  Without ``--benchmark-enable`` (CI) the
workloads are small; the whole file skips without a GPU.
"""

from __future__ import annotations

import numpy as np
import pytest

import vrft_rewards as vr

torch = pytest.importorskip("torch")
from bench_iou import torch_iou  # noqa: E402

pytestmark = [
    pytest.mark.needs_cuda,
    pytest.mark.skipif(not vr.has_cuda(), reason="needs a CUDA GPU and the _C_cuda module"),
]

THRESHOLD = 0.5


# ---- (a) pairwise IoU ---------------------------------------------------------------------------


def _boxes(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 1000, (n, 2))
    wh = rng.uniform(1, 200, (n, 2))
    return np.concatenate([xy, xy + wh], axis=1).astype(np.float32)


def torch_box_iou(a, b):
    """torchvision.ops.box_iou (0.28) written in torch: bench_iou's anchor, on the GPU here."""
    return torch_iou(a, b, "iou")


@pytest.fixture(scope="module")
def pairwise(full_size):
    n = 20000 if full_size else 700
    a = torch.from_numpy(_boxes(n, 1)).cuda()
    b = torch.from_numpy(_boxes(n, 2)).cuda()
    out = torch.empty((n, n), device="cuda")
    vr.box_iou(a, b, out=out)
    # A spot check against the CPU path (full matrices would take minutes on the CPU).
    rows = slice(0, 64)
    np.testing.assert_array_equal(out[rows].cpu().numpy(), vr.box_iou(a[rows].cpu().numpy(), b.cpu().numpy()))
    torch.cuda.synchronize()
    return a, b, out


def _timed(fn):
    def run():
        result = fn()
        torch.cuda.synchronize()
        return result

    return run


@pytest.mark.benchmark(group="cuda pairwise IoU 20000x20000 f32")
def test_pairwise_ours(benchmark, pairwise):
    a, b, out = pairwise
    expect = out.clone()
    benchmark.extra_info["bytes_written"] = out.numel() * out.element_size()
    res = benchmark(_timed(lambda: vr.box_iou(a, b, out=out)))
    assert torch.equal(res, expect)


@pytest.mark.benchmark(group="cuda pairwise IoU 20000x20000 f32")
def test_pairwise_torch_formula(benchmark, pairwise):
    a, b, out = pairwise
    res = benchmark(_timed(lambda: torch_box_iou(a, b)))
    # No NaN here (all boxes have area >= 1), so the formula agrees with ours bit for bit
    # wherever torch evaluates the same operations (it does: elementwise, no contraction).
    assert torch.equal(res, out)
    del res


@pytest.mark.benchmark(group="cuda pairwise IoU 20000x20000 f32")
def test_pairwise_reference_d2d_copy(benchmark, pairwise):
    _, _, out = pairwise
    dst = torch.empty_like(out)
    benchmark.extra_info["bytes_written"] = out.numel() * out.element_size()
    benchmark(_timed(lambda: dst.copy_(out)))
    assert torch.equal(dst, out)


@pytest.mark.benchmark(group="cuda pairwise IoU 20000x20000 f32")
def test_pairwise_reference_fill(benchmark, pairwise):
    _, _, out = pairwise
    dst = torch.empty_like(out)
    benchmark.extra_info["bytes_written"] = out.numel() * out.element_size()
    benchmark(_timed(lambda: dst.fill_(0.5)))
    assert bool((dst[-1] == 0.5).all())


# ---- (b) ragged IoU + Hungarian -----------------------------------------------------------------


@pytest.fixture(scope="module")
def ragged(full_size):
    problems = 65536 if full_size else 512
    rng = np.random.default_rng(0)
    n_pred = rng.integers(1, 21, problems)
    n_gt = rng.integers(1, 11, problems)
    po = np.concatenate([[0], np.cumsum(n_pred)]).astype(np.int64)
    go = np.concatenate([[0], np.cumsum(n_gt)]).astype(np.int64)
    xy = rng.uniform(0, 900, (go[-1], 2))
    wh = rng.uniform(10, 100, (go[-1], 2))
    gt = np.concatenate([xy, xy + wh], axis=1)
    # predictions: jittered copies of a GT of their own problem (vectorised construction)
    problem_of_pred = np.repeat(np.arange(problems), n_pred)
    pick = go[problem_of_pred] + (rng.random(po[-1]) * n_gt[problem_of_pred]).astype(np.int64)
    pred = gt[pick] + rng.normal(0, 8, (po[-1], 4))
    pred[:, 2:] = np.maximum(pred[:, 2:], pred[:, :2] + 1)
    pred = pred.astype(np.float32)
    gt = gt.astype(np.float32)
    cpu = vr.match_boxes(pred, gt, pred_offsets=po, gt_offsets=go, iou_threshold=THRESHOLD)
    return pred, po, gt, go, cpu.sum_matched_iou


@pytest.mark.benchmark(group="cuda ragged IoU + Hungarian 65536")
def test_ragged_ours_gpu(benchmark, ragged):
    pred, po, gt, go, expect = ragged
    tp, tg = torch.from_numpy(pred).cuda(), torch.from_numpy(gt).cuda()
    tpo, tgo = torch.from_numpy(po).cuda(), torch.from_numpy(go).cuda()
    res = benchmark(_timed(lambda: vr.match_boxes(tp, tg, pred_offsets=tpo, gt_offsets=tgo, iou_threshold=THRESHOLD)))
    np.testing.assert_allclose(res.sum_matched_iou.cpu().numpy(), expect, rtol=1e-12, atol=1e-12)


@pytest.mark.benchmark(group="cuda ragged IoU + Hungarian 65536")
def test_ragged_ours_cpu(benchmark, ragged):
    pred, po, gt, go, expect = ragged
    benchmark.extra_info["threads"] = vr.get_num_threads()
    res = benchmark(lambda: vr.match_boxes(pred, gt, pred_offsets=po, gt_offsets=go, iou_threshold=THRESHOLD))
    np.testing.assert_array_equal(res.sum_matched_iou, expect)


@pytest.mark.benchmark(group="cuda ragged IoU + Hungarian 65536")
def test_ragged_torch_scipy_loop(benchmark, ragged):
    from scipy.optimize import linear_sum_assignment

    pred, po, gt, go, expect = ragged
    tp, tg = torch.from_numpy(pred).cuda(), torch.from_numpy(gt).cuda()

    def loop():
        totals = np.zeros(len(po) - 1)
        for b in range(len(po) - 1):
            iou = torch_box_iou(tp[po[b] : po[b + 1]], tg[go[b] : go[b + 1]]).cpu().numpy()
            w = np.where(iou >= THRESHOLD, iou, 0.0)
            r, c = linear_sum_assignment(w, maximize=True)
            totals[b] = w[r, c].sum()
        return totals

    # One round: the loop takes seconds at full size.
    totals = benchmark.pedantic(loop, rounds=1, iterations=1, warmup_rounds=0)
    np.testing.assert_allclose(totals, expect, rtol=1e-6, atol=1e-6)
