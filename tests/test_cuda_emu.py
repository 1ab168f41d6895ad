"""The CUDA kernels' logic, executed on the CPU through an emulation of the CUDA features used.

``csrc/cuda/match_kernels.cuh`` and ``csrc/cuda/iou_kernels.cuh`` are compiled by g++ against
``tools/cuda_emu/cuda_runtime.h`` (a warp = 32 threads, a block = blockDim.x threads; every
``__syncwarp``, ``__syncthreads`` and shuffle step is a real barrier) and run on ragged batches
and box sets; the results must be the CPU path's.  This checks the solvers, the warp reductions,
the lane ownership rules, the shared-memory layout, the tiling, masking and grid-stride loops on
machines without a GPU (removing a needed barrier makes these tests fail); it does not check the
GPU's timing, the launchers, or nvcc's code.  The arithmetic here is g++'s, so CIoU agrees
exactly (on a GPU it may differ in the last bits, docs/cuda.md).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import vrft_rewards as vr
from test_cuda import ragged_batch

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # 32 threads per emulated warp: a few seconds per batch


def build_emulator(tmp_path_factory, name: str, *flags: str) -> Path:
    """Compiles tools/cuda_emu/<name>.cpp with g++ (skips the test without g++)."""
    compiler = shutil.which("g++")
    if compiler is None:
        pytest.skip(f"needs g++ to build the {name} emulator")
    exe = tmp_path_factory.mktemp("emu") / name
    subprocess.run(
        [
            compiler,
            "-std=c++17",
            "-O1",
            "-pthread",
            *flags,
            "-I",
            str(ROOT / "tools/cuda_emu"),
            "-I",
            str(ROOT / "csrc"),
            str(ROOT / f"tools/cuda_emu/{name}.cpp"),
            "-o",
            str(exe),
        ],
        check=True,
    )
    return exe


@pytest.fixture(scope="module")
def emulator(tmp_path_factory) -> Path:
    return build_emulator(tmp_path_factory, "match_emu")


def run_emulated(
    exe: Path,
    tmp: Path,
    pred,
    po,
    gt,
    go,
    scores,
    *,
    method,
    kind="iou",
    fmt="xyxy",
    threshold=0.5,
    strict=False,
    scratch=False,
) -> dict:
    pred.tofile(tmp / "pred.bin")
    gt.tofile(tmp / "gt.bin")
    po.astype(np.int64).tofile(tmp / "po.bin")
    go.astype(np.int64).tofile(tmp / "go.bin")
    if scores is not None:
        scores.astype(np.float64).tofile(tmp / "scores.bin")
    elif (tmp / "scores.bin").exists():
        (tmp / "scores.bin").unlink()
    (tmp / "params.txt").write_text(
        f"{pred.dtype.name} {method} {kind} {fmt} {threshold!r} {int(strict)} {int(scratch)}\n"
    )
    subprocess.run([str(exe), str(tmp)], check=True, timeout=300)
    return {
        "matched_gt": np.fromfile(tmp / "matched_gt.bin", np.int64),
        "matched_value": np.fromfile(tmp / "matched_value.bin", pred.dtype),
        "matched_pred": np.fromfile(tmp / "matched_pred.bin", np.int64),
        "n_matched": np.fromfile(tmp / "n_matched.bin", np.int64),
        "sum_matched_iou": np.fromfile(tmp / "sum_matched.bin", np.float64),
    }


def cpu_match(pred, po, gt, go, scores, **kw):
    res = vr.match_boxes(pred, gt, pred_offsets=po, gt_offsets=go, scores=scores, **kw)
    return {
        "matched_gt": res.matched_gt,
        "matched_value": res.iou,
        "matched_pred": res.matched_pred,
        "n_matched": res.n_matched,
        "sum_matched_iou": res.sum_matched_iou,
    }


def assert_same(emu: dict, cpu: dict, fields=("matched_gt", "matched_pred", "n_matched", "sum_matched_iou")) -> None:
    for f in fields:
        np.testing.assert_array_equal(emu[f], cpu[f], err_msg=f)
    # matched values, aligned with the matched predictions
    values = emu["matched_value"][emu["matched_gt"] >= 0]
    np.testing.assert_array_equal(values, cpu["matched_value"])


@pytest.mark.parametrize(
    "dtype, tied, kind, strict, scratch",
    [
        (np.float32, True, "iou", False, False),  # grid boxes and grid scores: many exact ties
        (np.float64, False, "giou", True, True),  # strict threshold, tiles in "global" scratch
        (np.float32, False, "ciou", False, False),
    ],
)
def test_emulated_greedy_equals_cpu(emulator, tmp_path, dtype, tied, kind, strict, scratch):
    rng = np.random.default_rng(21)
    pred, po, gt, go, scores = ragged_batch(rng, 40, 20, 10, dtype, tied=tied)
    kw = dict(method="greedy", kind=kind, iou_threshold=0.3, strict=strict)
    emu = run_emulated(
        emulator,
        tmp_path,
        pred,
        po,
        gt,
        go,
        scores,
        threshold=0.3,
        scratch=scratch,
        **{k: v for k, v in kw.items() if k not in ("iou_threshold",)},
    )
    assert_same(emu, cpu_match(pred, po, gt, go, scores, **kw))


@pytest.mark.parametrize(
    "dtype, max_pred, max_gt, threshold, scratch",
    [
        (np.float64, 20, 10, 0.5, False),
        (np.float32, 40, 70, 0.0, False),  # more columns than lanes; rows are the predictions
        (np.float64, 70, 40, 0.3, True),  # transposed (rows are the GTs), scratch tiles
    ],
)
def test_emulated_hungarian_equals_cpu(emulator, tmp_path, dtype, max_pred, max_gt, threshold, scratch):
    # Continuous boxes: a unique optimum, so the matching itself must be the CPU's.
    rng = np.random.default_rng(22)
    pred, po, gt, go, _ = ragged_batch(rng, 30, max_pred, max_gt, dtype)
    emu = run_emulated(
        emulator, tmp_path, pred, po, gt, go, None, method="hungarian", threshold=threshold, scratch=scratch
    )
    assert_same(emu, cpu_match(pred, po, gt, go, None, method="hungarian", iou_threshold=threshold))


def test_emulated_hungarian_ties_keep_the_optimum(emulator, tmp_path):
    rng = np.random.default_rng(23)
    pred, po, gt, go, _ = ragged_batch(rng, 40, 20, 10, np.float64, tied=True)
    emu = run_emulated(emulator, tmp_path, pred, po, gt, go, None, method="hungarian", threshold=0.3)
    cpu = cpu_match(pred, po, gt, go, None, method="hungarian", iou_threshold=0.3)
    np.testing.assert_allclose(emu["sum_matched_iou"], cpu["sum_matched_iou"], rtol=1e-12, atol=1e-12)
    # The emulated matching is one-to-one and consistent between the two directions.
    mg, mp = emu["matched_gt"], emu["matched_pred"]
    for b in range(len(po) - 1):
        for p in range(po[b], po[b + 1]):
            g = mg[p]
            if g >= 0:
                assert mp[go[b] + g] == p - po[b]
    assert (emu["n_matched"] == [np.count_nonzero(mg[po[b] : po[b + 1]] >= 0) for b in range(len(po) - 1)]).all()


def test_emulated_empty_problems(emulator, tmp_path):
    pred = np.array([[0, 0, 1, 1]] * 3, np.float32)
    gt = np.array([[0, 0, 1, 1]] * 2, np.float32)
    po = np.array([0, 0, 3, 3, 3], np.int64)
    go = np.array([0, 2, 2, 2, 2], np.int64)
    for method in ("greedy", "hungarian"):
        emu = run_emulated(emulator, tmp_path, pred, po, gt, go, None, method=method)
        assert_same(emu, cpu_match(pred, po, gt, go, None, method=method))
    # Only empty problems (zero-sized slices).
    empty = np.zeros((0, 4), np.float32)
    zeros = np.zeros(3, np.int64)
    emu = run_emulated(emulator, tmp_path, empty, zeros, empty, zeros, None, method="hungarian")
    assert emu["n_matched"].tolist() == [0, 0]


# ---- IoU kernels --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def iou_emulator(tmp_path_factory) -> Path:
    return build_emulator(tmp_path_factory, "iou_emu", "-DCUDA_EMU_STATIC_SHARED")


def run_iou_emulated(exe: Path, tmp: Path, op: str, a, b, *, fmt="xyxy", kind="iou", grid=1, allow_inverted=False):
    a.tofile(tmp / "a.bin")
    b.tofile(tmp / "b.bin")
    (tmp / "params.txt").write_text(
        f"{a.dtype.name} {op} {fmt} {kind} {len(a)} {len(b)} {grid} {int(allow_inverted)}\n"
    )
    subprocess.run([str(exe), str(tmp)], check=True, timeout=300)
    if op == "invalid":
        return int(np.fromfile(tmp / "bad.bin", np.int64)[0])
    out = np.fromfile(tmp / "out.bin", a.dtype)
    return out.reshape(len(a), len(b)) if op == "pairwise" else out


@pytest.mark.parametrize(
    "n, m, grid",
    [
        (1, 1, 1),  # one partial tile
        (33, 257, 2),  # partial row and column tiles; 6 tiles over a grid of 2 (grid-stride)
        (64, 256, 3),  # exact tiles
        (5, 600, 1),  # wide: three column tiles
    ],
)
@pytest.mark.parametrize("kind", ["iou", "ciou"])
def test_emulated_pairwise_writes_every_output_once_as_cpu(iou_emulator, tmp_path, n, m, grid, kind):
    from test_cuda import random_boxes

    rng = np.random.default_rng(31)
    for dtype, fmt in ((np.float32, "xyxy"), (np.float64, "cxcywh")):
        a = random_boxes(rng, n, fmt, dtype)
        b = random_boxes(rng, m, fmt, dtype)
        out = run_iou_emulated(iou_emulator, tmp_path, "pairwise", a, b, fmt=fmt, kind=kind, grid=grid)
        # Every element written (the emulator fills with -7 first) with the CPU bits.
        np.testing.assert_array_equal(out, vr.box_iou(a, b, fmt=fmt, kind=kind))


def test_emulated_paired_and_validity(iou_emulator, tmp_path):
    from test_cuda import random_boxes

    rng = np.random.default_rng(32)
    a = random_boxes(rng, 300, "xywh", np.float64)
    b = random_boxes(rng, 300, "xywh", np.float64)
    for kind in ("giou", "diou"):
        out = run_iou_emulated(
            iou_emulator, tmp_path, "paired", a, b, fmt="xywh", kind=kind, grid=2
        )  # 128 threads for 300 pairs: grid-stride
        np.testing.assert_array_equal(out, vr.paired_box_iou(a, b, fmt="xywh", kind=kind))
    assert run_iou_emulated(iou_emulator, tmp_path, "invalid", a, a, fmt="xywh", grid=2) == -1
    bad = a.copy()
    bad[250, 2] = -1.0  # negative width (reason 3) at 250
    bad[201, 0] = np.nan  # non-finite (reason 1) at 201: the first invalid box wins
    assert run_iou_emulated(iou_emulator, tmp_path, "invalid", bad, a, fmt="xywh", grid=2) == 201 * 8 + 1
    assert run_iou_emulated(iou_emulator, tmp_path, "invalid", bad[202:], a, fmt="xywh") == 48 * 8 + 3
    assert run_iou_emulated(iou_emulator, tmp_path, "invalid", bad[202:], a, fmt="xywh", allow_inverted=True) == -1
