"""CUDA path: kernels against the CPU path, bit for bit, and the dispatch rules.

Tests marked ``needs_cuda`` run only where a GPU and the ``_C_cuda`` module are present
(conftest turns the mark into a skip elsewhere; ``bench/gpu_check.sh`` runs them on a GPU).  The
others check, on any machine, what the dispatch does without a usable GPU and that the CUDA
path's error texts are the CPU path's.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import vrft_rewards as vr
from vrft_rewards import _cuda, _ext

KINDS = ("iou", "giou", "diou", "ciou")
FORMATS = ("xyxy", "xywh", "cxcywh")
DTYPES = (np.float32, np.float64)


# ---- data ---------------------------------------------------------------------------------------


def random_boxes(rng: np.random.Generator, n: int, fmt: str, dtype, scale: float = 100.0) -> np.ndarray:
    """Valid boxes in ``fmt``, with adversarial rows mixed in (duplicates, points, lines, touching)."""
    xy = rng.uniform(-scale, scale, size=(n, 2))
    wh = rng.uniform(0, scale / 2, size=(n, 2))
    if n >= 8:
        wh[rng.integers(0, n, size=n // 8)] = 0.0  # point boxes
        wh[rng.integers(0, n, size=n // 8), 1] = 0.0  # zero height
        xy[rng.integers(0, n, size=n // 8)] = np.round(xy[0])  # shared corners
    if fmt == "xyxy":
        out = np.concatenate([xy, xy + wh], axis=1)
    elif fmt == "xywh":
        out = np.concatenate([xy, wh], axis=1)
    else:
        out = np.concatenate([xy + wh / 2, wh], axis=1)
    out = out.astype(dtype)
    if n >= 4:
        out[n // 2] = out[0]  # an exact duplicate
    return out


def assert_same_values(gpu: np.ndarray, cpu: np.ndarray, kind: str) -> None:
    assert gpu.dtype == cpu.dtype and gpu.shape == cpu.shape
    if kind == "ciou":
        # The aspect term's atan is CUDA's (<= 2 ulp in double) instead of glibc's correctly
        # rounded one (docs/cuda.md); every other operation is the same.  One float32 ulp of an
        # angle (<= 1.2e-7) moves v and alpha * v by < 1e-6; 64 eps bounds it with margin.
        np.testing.assert_allclose(gpu, cpu, rtol=0, atol=64 * np.finfo(cpu.dtype).eps)
    else:
        np.testing.assert_array_equal(gpu.view(np.uint8), cpu.view(np.uint8))


# ---- without a GPU: dispatch and messages -------------------------------------------------------


class FakeCudaTensor(torch.Tensor):
    """A CPU tensor that reports a CUDA device: reaches the CUDA path on machines without a GPU."""

    @property
    def device(self):  # noqa: D401 - property
        return torch.device("cuda", 0)


def fake_cuda(x) -> torch.Tensor:
    return torch.as_tensor(x).as_subclass(FakeCudaTensor)


def test_missing_cuda_module_gives_an_actionable_error(monkeypatch):
    # A build without nvcc has no _C_cuda: the error says how to get it or what to do instead.
    monkeypatch.setattr(_ext, "cuda_module", lambda: None)
    t = fake_cuda(np.zeros((1, 4), np.float32))
    for call in (
        lambda: vr.box_iou(t, t),
        lambda: vr.paired_box_iou(t, t),
        lambda: vr.match_boxes(t, t),
        lambda: vr.convert_boxes(t, "xyxy", "xywh"),
    ):
        with pytest.raises(RuntimeError, match="built without its CUDA module.*nvcc"):
            call()


@pytest.mark.skipif(_ext.cuda_module() is None, reason="vrft_rewards built without _C_cuda")
def test_cuda_module_without_device_says_so():
    # The module loads without a GPU (device_count() == 0); a CUDA input then raises clearly.
    if _ext.cuda_module().device_count() > 0:
        pytest.skip("a GPU is present")
    t = fake_cuda(np.zeros((2, 4), np.float32))
    with pytest.raises(RuntimeError, match="sees no CUDA device"):
        vr.box_iou(t, t)
    with pytest.raises(RuntimeError, match="sees no CUDA device"):
        vr.paired_box_iou(t, t, kind="ciou")
    with pytest.raises(RuntimeError, match="sees no CUDA device"):
        vr.match_boxes(t, t, method="greedy")


@pytest.mark.skipif(_ext.cuda_module() is None, reason="vrft_rewards built without _C_cuda")
class TestInputRulesBeforeAnyLaunch:
    # Argument errors come before the device is touched, so they are checked here with fakes.

    def test_numpy_mixed_with_cuda_is_a_type_error(self):
        t = fake_cuda(np.zeros((1, 4), np.float32))
        with pytest.raises(TypeError, match="boxes2 must be a torch tensor on cuda:0 like boxes1"):
            vr.box_iou(t, np.zeros((1, 4), np.float32))

    def test_cpu_tensor_mixed_with_cuda_is_a_value_error(self):
        t = fake_cuda(np.zeros((1, 4), np.float32))
        with pytest.raises(ValueError, match="boxes1 is on cpu but boxes2 is on cuda:0"):
            vr.box_iou(torch.zeros((1, 4)), t)

    def test_integer_cuda_boxes_are_a_type_error(self):
        t = fake_cuda(np.zeros((1, 4), np.int64))
        with pytest.raises(TypeError, match="boxes1 must be a float32 or float64 CUDA tensor, got torch.int64"):
            vr.box_iou(t, t)

    def test_mixed_float_dtypes_are_a_type_error(self):
        a = fake_cuda(np.zeros((1, 4), np.float32))
        b = fake_cuda(np.zeros((1, 4), np.float64))
        with pytest.raises(TypeError, match="must share one dtype, got boxes1 torch.float32 and boxes2 torch.float64"):
            vr.paired_box_iou(a, b)

    def test_bad_shape_and_length(self):
        a = fake_cuda(np.zeros((2, 3), np.float32))
        with pytest.raises(ValueError, match=r"boxes1 must have shape \(N, 4\), got \(2, 3\)"):
            vr.box_iou(a, a)
        b = fake_cuda(np.zeros((2, 4), np.float32))
        c = fake_cuda(np.zeros((3, 4), np.float32))
        with pytest.raises(ValueError, match="boxes1 and boxes2 must have the same length, got 2 and 3"):
            vr.paired_box_iou(b, c)

    def test_out_must_be_on_the_device(self):
        t = fake_cuda(np.zeros((1, 4), np.float32))
        with pytest.raises(ValueError, match="out is on cpu but boxes1 is on cuda:0"):
            vr.box_iou(t, t, out=torch.zeros((1, 1)))

    @pytest.mark.parametrize(
        "bad, message",
        [
            ([1, 2], r"pred_offsets\[0\] must be 0, got 1"),
            ([0, 2, 1, 3], r"pred_offsets must be non-decreasing, but pred_offsets\[2\] = 1 < pred_offsets\[1\] = 2"),
            ([0, 2], r"pred_offsets\[-1\] must equal len\(pred\) = 3, got 2"),
        ],
    )
    def test_match_offsets_errors_are_the_cpu_messages(self, bad, message):
        pred = np.zeros((3, 4), np.float32)
        gt = np.zeros((3, 4), np.float32)
        gt_off = [0] * (len(bad) - 1) + [3]
        with pytest.raises(ValueError, match=message):  # the CPU path
            vr.match_boxes(pred, gt, pred_offsets=bad, gt_offsets=gt_off)
        with pytest.raises(ValueError, match=message):  # the CUDA path
            vr.match_boxes(fake_cuda(pred), fake_cuda(gt), pred_offsets=bad, gt_offsets=gt_off)

    def test_match_scores_on_another_device(self):
        t = fake_cuda(np.zeros((2, 4), np.float32))
        with pytest.raises(ValueError, match="scores is on cpu but pred is on cuda:0"):
            vr.match_boxes(t, t, scores=torch.zeros(2), method="greedy")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "fmt, box, code",
    [
        ("xyxy", [np.nan, 0, 1, 1], 1),
        ("xyxy", [0, 0, np.inf, 1], 1),
        ("xyxy", [2, 0, 1, 1], 2),
        ("xywh", [0, 0, -1, 1], 3),
        ("cxcywh", [0, 0, 1, -1], 3),
        ("xyxy", [0, 0, 1, 1e300], 4),
    ],
)
def test_device_reason_codes_give_the_cpu_messages(dtype, fmt, box, code):
    # The device check reports (index, reason code); the text must be the CPU path's.
    if dtype == np.float32 and code == 4:
        box = [0, 0, 1, 1e19]
    arr = np.array([[0, 0, 1, 1], [0, 0, 1, 1], box], dtype=dtype)
    with pytest.raises(ValueError) as cpu:
        vr.box_iou(np.zeros((1, 4), dtype), arr, fmt=fmt)
    name = "float32" if dtype == np.float32 else "float64"
    with pytest.raises(ValueError) as gpu:
        _cuda._raise_invalid([-1, 2 * 8 + code], ["boxes1", "boxes2"], name)
    assert str(gpu.value) == str(cpu.value)


# ---- on a GPU: IoU family -----------------------------------------------------------------------

SIZES = [(0, 0), (0, 5), (5, 0), (1, 1), (3, 7), (31, 255), (33, 257), (64, 1000), (517, 300)]


@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_pairwise_equals_cpu_bit_for_bit(dtype, kind, fmt):
    rng = np.random.default_rng(7)
    for n, m in SIZES:
        a = random_boxes(rng, n, fmt, dtype)
        b = random_boxes(rng, m, fmt, dtype)
        cpu = vr.box_iou(a, b, fmt=fmt, kind=kind)
        gpu = vr.box_iou(torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda(), fmt=fmt, kind=kind)
        assert gpu.is_cuda and gpu.shape == (n, m)
        assert_same_values(gpu.cpu().numpy(), cpu, kind)


@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
def test_paired_equals_cpu_bit_for_bit(dtype, kind):
    rng = np.random.default_rng(8)
    for fmt in FORMATS:
        for n in (0, 1, 255, 257, 10_001):
            a = random_boxes(rng, n, fmt, dtype)
            b = random_boxes(rng, n, fmt, dtype)
            cpu = vr.paired_box_iou(a, b, fmt=fmt, kind=kind)
            gpu = vr.paired_box_iou(torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda(), fmt=fmt, kind=kind)
            assert_same_values(gpu.cpu().numpy(), cpu, kind)


@pytest.mark.needs_cuda
def test_edge_cases_follow_the_cpu_rules():
    # zero union -> 0, zero-area enclosing box -> GIoU 0, point boxes -> no CIoU aspect term
    boxes = np.array([[1, 1, 1, 1], [1, 1, 1, 1], [0, 0, 0, 5], [0, 0, 4, 0], [0, 0, 2, 2]], dtype=np.float64)
    for kind in KINDS:
        cpu = vr.box_iou(boxes, boxes, kind=kind)
        gpu = vr.box_iou(torch.from_numpy(boxes).cuda(), torch.from_numpy(boxes).cuda(), kind=kind)
        assert np.isfinite(cpu).all()
        assert_same_values(gpu.cpu().numpy(), cpu, kind)


@pytest.mark.needs_cuda
def test_clamp_and_invalid_boxes_match_the_cpu():
    inverted = np.array([[0, 0, 1, 1], [3, 3, 1, 1]], np.float32)
    t = torch.from_numpy(inverted).cuda()
    with pytest.raises(ValueError, match=r"boxes1\[1\] is invalid: inverted box"):
        vr.box_iou(t, t)
    np.testing.assert_array_equal(
        vr.box_iou(t, t, clamp=True).cpu().numpy(), vr.box_iou(inverted, inverted, clamp=True)
    )
    nan = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 1], [0, float("nan"), 1, 1]], device="cuda")
    ok = torch.tensor([[0, 0, 1, 1.0]], device="cuda").repeat(3, 1)
    with pytest.raises(ValueError, match=r"boxes2\[2\] is invalid: non-finite"):
        vr.paired_box_iou(ok, nan)


@pytest.mark.needs_cuda
def test_non_contiguous_and_grad_inputs_are_accepted():
    rng = np.random.default_rng(3)
    a = random_boxes(rng, 50, "xyxy", np.float32)
    wide = torch.zeros((50, 8), device="cuda")
    wide[:, ::2] = torch.from_numpy(a).cuda()
    view = wide[:, ::2]  # non-contiguous: copied with .contiguous()
    assert not view.is_contiguous()
    np.testing.assert_array_equal(vr.box_iou(view, view).cpu().numpy(), vr.box_iou(a, a))
    g = torch.from_numpy(a).cuda().requires_grad_(True)
    assert not vr.box_iou(g, g).requires_grad


@pytest.mark.needs_cuda
def test_out_buffer_is_filled_and_returned():
    rng = np.random.default_rng(4)
    a = random_boxes(rng, 20, "xyxy", np.float64)
    b = random_boxes(rng, 30, "xyxy", np.float64)
    out = torch.full((20, 30), 7.0, dtype=torch.float64, device="cuda")
    res = vr.box_iou(torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda(), kind="giou", out=out)
    assert res is out
    np.testing.assert_array_equal(out.cpu().numpy(), vr.box_iou(a, b, kind="giou"))
    with pytest.raises(TypeError, match="out must have dtype float64"):
        vr.box_iou(torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda(), out=out.float())
    with pytest.raises(ValueError, match=r"out must have shape \(20, 30\)"):
        vr.box_iou(torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda(), out=out[:10])


@pytest.mark.needs_cuda
def test_kernels_run_on_the_callers_current_stream(monkeypatch):
    # The handle passed to every launch is the current stream's, and work queued before the
    # call on that stream is seen by the kernels (the inputs are written on the side stream).
    mod = _ext.cuda_module()
    seen = []
    original = mod.pairwise_iou_f32

    def spy(*args):
        seen.append(args[-1])
        return original(*args)

    monkeypatch.setattr(mod, "pairwise_iou_f32", spy)
    rng = np.random.default_rng(5)
    a = random_boxes(rng, 300, "xyxy", np.float32)
    side = torch.cuda.Stream()
    dev = torch.zeros((300, 4), device="cuda")
    torch.cuda.synchronize()
    with torch.cuda.stream(side):
        torch.cuda._sleep(10_000_000)  # keep the side stream busy
        dev.copy_(torch.from_numpy(a).cuda(non_blocking=False))
        result = vr.box_iou(dev, dev)
        assert seen == [side.cuda_stream]
    side.synchronize()
    np.testing.assert_array_equal(result.cpu().numpy(), vr.box_iou(a, a))


@pytest.mark.needs_cuda
@pytest.mark.parametrize("src", FORMATS)
@pytest.mark.parametrize("dst", FORMATS)
def test_convert_boxes_equals_cpu(src, dst):
    rng = np.random.default_rng(9)
    for dtype in DTYPES:
        a = random_boxes(rng, 1001, src, dtype)
        gpu = vr.convert_boxes(torch.from_numpy(a).cuda(), src, dst)
        np.testing.assert_array_equal(gpu.cpu().numpy(), vr.convert_boxes(a, src, dst))


@pytest.mark.needs_cuda
@pytest.mark.slow
def test_pairwise_beyond_int32_indices():
    # 46341^2 > 2^31 outputs: the last row must be written where int64 indexing puts it.
    n = 46341
    free, _ = torch.cuda.mem_get_info()
    if free < 10 * 2**30:
        pytest.skip("needs ~9 GiB of free GPU memory")
    rng = np.random.default_rng(10)
    a = random_boxes(rng, n, "xyxy", np.float32)
    ta = torch.from_numpy(a).cuda()
    out = vr.box_iou(ta, ta)
    tail = out[-3:].cpu().numpy()
    del out
    torch.cuda.empty_cache()
    np.testing.assert_array_equal(tail, vr.box_iou(a[-3:], a))


# ---- on a GPU: matching -------------------------------------------------------------------------


def ragged_batch(rng, problems: int, max_pred: int, max_gt: int, dtype, tied: bool = False):
    pc = rng.integers(0, max_pred + 1, size=problems)
    gc = rng.integers(0, max_gt + 1, size=problems)
    po = np.concatenate([[0], np.cumsum(pc)]).astype(np.int64)
    go = np.concatenate([[0], np.cumsum(gc)]).astype(np.int64)
    gt = random_boxes(rng, int(go[-1]), "xyxy", dtype, scale=50)
    if tied:  # integer grid boxes: many exactly equal IoUs
        gt = np.round(gt / 10) * 10
        gt[:, 2:] = np.maximum(gt[:, 2:], gt[:, :2])
        # and an exact duplicate GT in every problem with two or more: equal values for one
        # prediction across GTs (the lowest index must win in greedy)
        two = np.flatnonzero(gc >= 2)
        gt[go[two] + gc[two] - 1] = gt[go[two]]
    pred = np.empty((int(po[-1]), 4), dtype)
    for b in range(problems):  # predictions jittered around their problem's GTs
        n, g0, m = int(pc[b]), int(go[b]), int(gc[b])
        if n == 0:
            continue
        if m:
            src = gt[g0 + rng.integers(0, m, size=n)]
        else:
            src = random_boxes(rng, n, "xyxy", dtype, scale=50)
        jitter = rng.normal(0, 3, size=(n, 4)) if not tied else np.round(rng.normal(0, 1, size=(n, 4))) * 5
        box = src + jitter
        box[:, 2:] = np.maximum(box[:, 2:], box[:, :2])
        pred[po[b] : po[b + 1]] = box.astype(dtype)
    scores = rng.random(int(po[-1]))
    if tied:
        scores = np.round(scores * 4) / 4
    return pred, po, gt, go, scores


FIELDS = (
    "pred_index",
    "gt_index",
    "pred_global",
    "gt_global",
    "iou",
    "offsets",
    "matched_gt",
    "matched_pred",
    "n_matched",
    "n_unmatched_pred",
    "n_unmatched_gt",
    "sum_matched_iou",
)


def run_both(pred, po, gt, go, scores, **kw):
    cpu = vr.match_boxes(pred, gt, pred_offsets=po, gt_offsets=go, scores=scores, **kw)
    gpu = vr.match_boxes(
        torch.from_numpy(pred).cuda(),
        torch.from_numpy(gt).cuda(),
        pred_offsets=torch.from_numpy(po).cuda(),
        gt_offsets=go,
        scores=None if scores is None else torch.from_numpy(scores).cuda(),
        **kw,
    )
    return cpu, {f: getattr(gpu, f).cpu().numpy() for f in FIELDS}


@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("with_scores", [False, True])
@pytest.mark.parametrize("tied", [False, True])
def test_greedy_matches_cpu_exactly(dtype, kind, with_scores, tied):
    rng = np.random.default_rng(11)
    pred, po, gt, go, scores = ragged_batch(rng, 3000, 20, 10, dtype, tied=tied)
    for threshold, strict in ((0.5, False), (0.5, True), (0.0, False), (0.3, True)):
        cpu, gpu = run_both(
            pred,
            po,
            gt,
            go,
            scores if with_scores else None,
            method="greedy",
            kind=kind,
            iou_threshold=threshold,
            strict=strict,
        )
        if kind == "ciou" and tied:
            # CIoU may differ in the last bits (CUDA's atan), which can reorder exactly tied
            # grid values; the totals still agree to rounding.
            np.testing.assert_allclose(gpu["sum_matched_iou"], cpu.sum_matched_iou, rtol=1e-5, atol=1e-5)
            continue
        for f in FIELDS:
            np.testing.assert_array_equal(gpu[f], getattr(cpu, f), err_msg=f)


@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ("iou", "giou"))
@pytest.mark.parametrize("shape", [(20, 10), (10, 20), (64, 64), (100, 80), (300, 3)])
def test_hungarian_matches_cpu(dtype, kind, shape):
    # Continuous random boxes: no exactly tied optima, so the matching itself must agree.
    rng = np.random.default_rng(12)
    # (100, 80) and (300, 3) exercise the global scratch tile (tile bytes, longest side)
    problems = 2000 if shape[0] <= 20 else 60
    pred, po, gt, go, _ = ragged_batch(rng, problems, shape[0], shape[1], dtype)
    for threshold in (0.5, 0.0):
        cpu, gpu = run_both(pred, po, gt, go, None, method="hungarian", kind=kind, iou_threshold=threshold)
        for f in FIELDS:
            np.testing.assert_array_equal(gpu[f], getattr(cpu, f), err_msg=f)


@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype", DTYPES)
def test_hungarian_with_ties_has_the_cpu_total(dtype):
    # Grid boxes tie a lot: matchings may differ, the optimum (count-free total value) may not.
    rng = np.random.default_rng(13)
    pred, po, gt, go, _ = ragged_batch(rng, 3000, 20, 10, dtype, tied=True)
    cpu, gpu = run_both(pred, po, gt, go, None, method="hungarian", iou_threshold=0.3)
    np.testing.assert_allclose(gpu["sum_matched_iou"], cpu.sum_matched_iou, rtol=1e-12, atol=1e-12)
    # The GPU matching is a valid one: one-to-one, qualifying pairs, values as box_iou.
    mg = gpu["matched_gt"]
    for b in range(len(po) - 1):
        rows = mg[po[b] : po[b + 1]]
        got = rows[rows >= 0]
        assert len(set(got.tolist())) == len(got)
    pairs = gpu["iou"]
    assert (pairs >= 0.3).all() and (pairs > 0).all()
    direct = vr.paired_box_iou(pred[gpu["pred_global"]], gt[gpu["gt_global"]])
    np.testing.assert_array_equal(pairs, direct)


@pytest.mark.needs_cuda
def test_match_empty_problems_and_batches():
    for pc, gc in (([0], [0]), ([0, 3], [2, 0]), ([], [])):
        po = np.concatenate([[0], np.cumsum(pc)]).astype(np.int64)
        go = np.concatenate([[0], np.cumsum(gc)]).astype(np.int64)
        pred = np.tile(np.array([[0, 0, 1, 1]], np.float32), (int(po[-1]), 1))
        gt = np.tile(np.array([[0, 0, 1, 1]], np.float32), (int(go[-1]), 1))
        for method in ("hungarian", "greedy"):
            cpu, gpu = run_both(pred, po, gt, go, None, method=method)
            for f in FIELDS:
                np.testing.assert_array_equal(gpu[f], getattr(cpu, f), err_msg=f)


@pytest.mark.needs_cuda
def test_match_errors_on_cuda():
    t = torch.tensor([[0, 0, 1, 1], [0, 0, float("inf"), 1]], device="cuda")
    ok = torch.tensor([[0, 0, 1, 1.0]], device="cuda")
    with pytest.raises(ValueError, match=r"pred\[1\] is invalid: non-finite"):
        vr.match_boxes(t, ok)
    with pytest.raises(ValueError, match=r"scores\[1\] is NaN"):
        vr.match_boxes(ok.repeat(2, 1), ok, scores=torch.tensor([0.5, float("nan")], device="cuda"), method="greedy")
    # A problem too large for the device solver: the launcher's refusal arrives as RuntimeError.
    big = torch.tensor([[0, 0, 1, 1.0]], device="cuda").repeat(40_000, 1)
    with pytest.raises(RuntimeError, match="CUDA error: match_boxes: problems of up to 32768"):
        vr.match_boxes(big, ok)


# ---- without a GPU: the Python glue against a CPU stand-in of _C_cuda ---------------------------
# The CUDA path's Python side (argument plumbing, pointer arithmetic, one-buffer uploads, the flat
# pair list built with torch ops) runs here on CPU tensors: devices resolve to the CPU, and a
# stand-in module implements _C_cuda's functions on raw host pointers with the CPU core.

import ctypes  # noqa: E402

from vrft_rewards._ext import _C  # noqa: E402


def _host_array(ptr: int, n: int, dtype) -> np.ndarray:
    if n == 0:
        return np.empty(0, dtype)
    ctype = np.ctypeslib.as_ctypes_type(np.dtype(dtype))
    return np.ctypeslib.as_array(ctypes.cast(ptr, ctypes.POINTER(ctype)), shape=(n,))


class CpuStandIn:
    """_C_cuda's API over host pointers; records each call's stream."""

    SHARED_TILE_BYTES = 16384
    SHARED_TILE_MAX_SIDE = 256

    def __init__(self):
        self.calls = []

    def device_count(self):
        return 1

    def runtime_info(self):
        return {"runtime_version": 0, "driver_version": 0, "device_count": 1, "error": ""}

    def _invalid(self, dtype, ptr, n, fmt, allow_inverted, first_bad, stream):
        self.calls.append(("find_invalid", stream))
        boxes = _host_array(ptr, 4 * n, dtype).reshape(n, 4)
        keys = []
        for i, box in enumerate(boxes):  # the reasons in find_invalid_box's order (test double)
            try:
                vr.box_iou(box[None], np.zeros((0, 4), dtype), fmt=fmt, clamp=allow_inverted)
            except ValueError as exc:
                text = str(exc).split(": ", 1)[1]
                code = {v: k for k, v in _cuda._REASONS.items()}.get(text, 4)
                keys.append(i * 8 + code)
        out = _host_array(first_bad, 1, np.int64)
        if keys and (out[0] < 0 or min(keys) < out[0]):
            out[0] = min(keys)

    def find_invalid_boxes_f32(self, *args):
        self._invalid(np.float32, *args)

    def find_invalid_boxes_f64(self, *args):
        self._invalid(np.float64, *args)

    def _pairwise(self, dtype, a, n, b, m, fmt, kind, out, stream):
        self.calls.append(("pairwise", stream))
        fn = _C.pairwise_iou_f32 if dtype == np.float32 else _C.pairwise_iou_f64
        fn(
            _host_array(a, 4 * n, dtype).reshape(n, 4),
            _host_array(b, 4 * m, dtype).reshape(m, 4),
            fmt,
            kind,
            _host_array(out, n * m, dtype).reshape(n, m),
            True,
        )

    def pairwise_iou_f32(self, *args):
        self._pairwise(np.float32, *args)

    def pairwise_iou_f64(self, *args):
        self._pairwise(np.float64, *args)

    def _paired(self, dtype, a, b, n, fmt, kind, out, stream):
        self.calls.append(("paired", stream))
        fn = _C.paired_iou_f32 if dtype == np.float32 else _C.paired_iou_f64
        fn(
            _host_array(a, 4 * n, dtype).reshape(n, 4),
            _host_array(b, 4 * n, dtype).reshape(n, 4),
            fmt,
            kind,
            _host_array(out, n, dtype),
            True,
        )

    def paired_iou_f32(self, *args):
        self._paired(np.float32, *args)

    def paired_iou_f64(self, *args):
        self._paired(np.float64, *args)

    def _match(
        self,
        dtype,
        pred,
        po,
        gt,
        go,
        b,
        max_pred,
        max_gt,
        scores,
        method,
        kind,
        fmt,
        thr,
        strict,
        scratch,
        scratch_off,
        m_gt,
        m_value,
        m_pred,
        n_matched,
        sums,
        stream,
    ):
        self.calls.append(("match", stream))
        po_a = _host_array(po, b + 1, np.int64).copy()
        go_a = _host_array(go, b + 1, np.int64).copy()
        n_pred, n_gt = int(po_a[-1]), int(go_a[-1])
        counts = np.diff(po_a) * np.diff(go_a)
        assert max_pred == (np.diff(po_a).max() if b else 0)
        assert max_gt == (np.diff(go_a).max() if b else 0)
        if scratch:  # the scratch offsets the Python layer uploaded
            expect = np.concatenate([[0], np.cumsum(counts)[:-1]])
            np.testing.assert_array_equal(_host_array(scratch_off, b, np.int64), expect)
        fn = _C.match_boxes_f32 if dtype == np.float32 else _C.match_boxes_f64
        res = fn(
            _host_array(pred, 4 * n_pred, dtype).reshape(n_pred, 4),
            po_a,
            _host_array(gt, 4 * n_gt, dtype).reshape(n_gt, 4),
            go_a,
            _host_array(scores, n_pred, np.float64).copy() if scores else None,
            method,
            kind,
            fmt,
            thr,
            strict,
        )
        _host_array(m_gt, n_pred, np.int64)[:] = res["matched_gt"]
        values = np.zeros(n_pred, dtype)
        values[res["pred_global"]] = res["iou"]
        _host_array(m_value, n_pred, dtype)[:] = values
        _host_array(m_pred, n_gt, np.int64)[:] = res["matched_pred"]
        _host_array(n_matched, b, np.int64)[:] = res["n_matched"]
        _host_array(sums, b, np.float64)[:] = res["sum_matched_iou"]

    def match_boxes_f32(self, *args):
        self._match(np.float32, *args)

    def match_boxes_f64(self, *args):
        self._match(np.float64, *args)


@pytest.fixture
def glue(monkeypatch):
    """Route the CUDA path to the CPU: devices are the CPU, _C_cuda is the stand-in."""
    import contextlib
    import types

    stand_in = CpuStandIn()
    monkeypatch.setattr(_cuda, "require_cuda", lambda what: stand_in)
    monkeypatch.setattr(_cuda, "_common_device", lambda named: torch.device("cpu"))
    monkeypatch.setattr(torch.cuda, "device", lambda device: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: types.SimpleNamespace(cuda_stream=1234))
    return stand_in


def _route_all_tensors(monkeypatch):
    from vrft_rewards import boxes as boxes_module

    monkeypatch.setattr(boxes_module, "_is_cuda", lambda x: isinstance(x, torch.Tensor))


def test_glue_box_iou_and_paired_equal_cpu(glue, monkeypatch):
    _route_all_tensors(monkeypatch)
    rng = np.random.default_rng(41)
    for dtype in DTYPES:
        a = random_boxes(rng, 37, "xywh", dtype)
        b = random_boxes(rng, 19, "xywh", dtype)
        got = vr.box_iou(torch.from_numpy(a), torch.from_numpy(b), fmt="xywh", kind="diou")
        np.testing.assert_array_equal(got.numpy(), vr.box_iou(a, b, fmt="xywh", kind="diou"))
        got = vr.paired_box_iou(torch.from_numpy(a), torch.from_numpy(a[::-1].copy()), fmt="xywh")
        np.testing.assert_array_equal(got.numpy(), vr.paired_box_iou(a, a[::-1].copy(), fmt="xywh"))
    # every launch received the current stream's handle
    assert glue.calls and all(stream == 1234 for _, stream in glue.calls)


def test_glue_reports_the_first_invalid_box_of_each_input(glue, monkeypatch):
    _route_all_tensors(monkeypatch)
    good = torch.tensor([[0.0, 0.0, 1.0, 1.0]] * 4)
    bad = good.clone()
    bad[2, 0] = 5.0  # inverted
    bad[3, 1] = float("nan")
    with pytest.raises(ValueError, match=r"^boxes2\[2\] is invalid: inverted box"):
        vr.box_iou(good, bad)
    with pytest.raises(ValueError, match=r"^boxes1\[3\] is invalid: non-finite"):
        vr.box_iou(bad, good, clamp=True)  # clamp accepts the inverted one, not the NaN
    out = torch.empty((4, 4))
    assert vr.box_iou(good, good, out=out) is out


@pytest.mark.parametrize("device_offsets", [False, True])
@pytest.mark.parametrize("method, shape", [("greedy", (20, 10)), ("hungarian", (20, 10)), ("hungarian", (300, 3))])
def test_glue_match_boxes_equals_cpu(glue, device_offsets, method, shape):
    rng = np.random.default_rng(42)
    pred, po, gt, go, scores = ragged_batch(
        rng, 300 if shape[0] <= 20 else 20, shape[0], shape[1], np.float32, tied=True
    )
    cpu = vr.match_boxes(pred, gt, pred_offsets=po, gt_offsets=go, scores=scores, method=method, iou_threshold=0.3)
    # "device" offsets report a CUDA device: read back with the validity keys in one transfer
    off = (fake_cuda(po), fake_cuda(go)) if device_offsets else (po, go)
    got = _cuda.match_boxes_cuda(
        torch.from_numpy(pred),
        torch.from_numpy(gt),
        pred_offsets=off[0],
        gt_offsets=off[1],
        scores=torch.from_numpy(scores),
        method=method,
        iou_threshold=0.3,
        kind="iou",
        fmt="xyxy",
        strict=False,
    )
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(got, f).numpy(), getattr(cpu, f), err_msg=f)
    assert [c for c, _ in glue.calls] == ["find_invalid", "find_invalid", "match"]


def test_glue_match_errors_in_cpu_order(glue):
    pred = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, float("inf"), 1.0]])
    gt = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    kw = dict(method="greedy", iou_threshold=0.5, kind="iou", fmt="xyxy", strict=False)
    with pytest.raises(ValueError, match=r"pred\[1\] is invalid: non-finite"):
        _cuda.match_boxes_cuda(pred, gt, pred_offsets=None, gt_offsets=None, scores=None, **kw)
    with pytest.raises(ValueError, match=r"scores\[1\] is NaN"):  # scores before boxes
        _cuda.match_boxes_cuda(
            pred, gt, pred_offsets=None, gt_offsets=None, scores=torch.tensor([0.1, float("nan")]), **kw
        )
    with pytest.raises(ValueError, match=r"scores must have shape \(2,\) like pred, got \(3,\)"):
        _cuda.match_boxes_cuda(pred, gt, pred_offsets=None, gt_offsets=None, scores=torch.zeros(3), **kw)
    # device offsets are checked after the read-back, still before scores and boxes
    with pytest.raises(ValueError, match=r"gt_offsets\[-1\] must equal len\(gt\) = 1, got 2"):
        _cuda.match_boxes_cuda(
            pred,
            gt,
            pred_offsets=fake_cuda(np.array([0, 2])),
            gt_offsets=fake_cuda(np.array([0, 2])),
            scores=torch.zeros(3),
            **kw,
        )
    with pytest.raises(TypeError, match="pred_offsets must hold integers"):
        _cuda.match_boxes_cuda(
            pred,
            gt,
            pred_offsets=fake_cuda(np.array([0.0, 2.0])),
            gt_offsets=fake_cuda(np.array([0, 1])),
            scores=None,
            **kw,
        )
