"""Pairwise IoU / GIoU, float32: ours vs the torchvision formula in torch vs numpy vs a fill floor.

Workloads of issue 2: 2000 x 2000 and 10000 x 1000 float32 xyxy boxes (full size, with
``--benchmark-only``); 200 x 200 and 1000 x 100 when the suite runs as tests.  Every competitor
of a workload sits in one benchmark group, uses the same seeded boxes and asserts its result:

* ``ours``: ``vr.box_iou(a, b, kind=..., out=buf)`` with 2 native threads;
* ``torch``: torchvision's formula written in torch (torchvision does not import here),
  ``torch.set_num_threads(2)``;
* ``numpy``: the same formula as numpy broadcasting;
* ``fill``: ``buf.fill(0.5)`` into an output buffer of the same size, the write floor.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import vrft_rewards as vr

THREADS = 2
SHAPES_FULL = [(2000, 2000), (10000, 1000)]
SHAPES_SMALL = [(200, 200), (1000, 100)]


def _boxes(rng: np.random.Generator, n: int) -> np.ndarray:
    xy = rng.uniform(0, 1000, (n, 2))
    wh = rng.uniform(1, 200, (n, 2))
    return np.concatenate([xy, xy + wh], axis=1).astype(np.float32)


# ---- anchors: torchvision's box_iou / generalized_box_iou, operation for operation ------------


def torch_iou(b1: torch.Tensor, b2: torch.Tensor, kind: str) -> torch.Tensor:
    area1 = (b1[:, 2] - b1[:, 0]) * (b1[:, 3] - b1[:, 1])
    area2 = (b2[:, 2] - b2[:, 0]) * (b2[:, 3] - b2[:, 1])
    lt = torch.max(b1[:, None, :2], b2[:, :2])
    rb = torch.min(b1[:, None, 2:], b2[:, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[:, :, 0] * wh[:, :, 1]
    union = area1[:, None] + area2 - inter
    iou = inter / union
    if kind == "iou":
        return iou
    lti = torch.min(b1[:, None, :2], b2[:, :2])
    rbi = torch.max(b1[:, None, 2:], b2[:, 2:])
    whi = (rbi - lti).clamp(min=0)
    areai = whi[:, :, 0] * whi[:, :, 1]
    return iou - (areai - union) / areai


def numpy_iou(b1: np.ndarray, b2: np.ndarray, kind: str) -> np.ndarray:
    area1 = (b1[:, 2] - b1[:, 0]) * (b1[:, 3] - b1[:, 1])
    area2 = (b2[:, 2] - b2[:, 0]) * (b2[:, 3] - b2[:, 1])
    lt = np.maximum(b1[:, None, :2], b2[:, :2])
    rb = np.minimum(b1[:, None, 2:], b2[:, 2:])
    wh = np.maximum(rb - lt, 0)
    inter = wh[:, :, 0] * wh[:, :, 1]
    union = area1[:, None] + area2 - inter
    iou = inter / union
    if kind == "iou":
        return iou
    lti = np.minimum(b1[:, None, :2], b2[:, :2])
    rbi = np.maximum(b1[:, None, 2:], b2[:, 2:])
    whi = np.maximum(rbi - lti, 0)
    areai = whi[:, :, 0] * whi[:, :, 1]
    return iou - (areai - union) / areai


# ---- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=[0, 1], ids=["square", "tall"])
def workload(request, full_size):
    n, m = (SHAPES_FULL if full_size else SHAPES_SMALL)[request.param]
    rng = np.random.default_rng(2024 + request.param)
    return _boxes(rng, n), _boxes(rng, m)


@pytest.fixture(scope="module")
def expected(workload):
    # Computed once per workload, single-threaded torch: what every competitor must reproduce.
    a, b = workload
    return {kind: torch_iou(torch.from_numpy(a), torch.from_numpy(b), kind).numpy() for kind in ("iou", "giou")}


@pytest.fixture
def two_threads():
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    vr.set_num_threads(THREADS)
    yield
    torch.set_num_threads(torch_threads)
    vr.set_num_threads(0)


def _group(kind: str, a: np.ndarray, b: np.ndarray) -> str:
    return f"pairwise {kind} {a.shape[0]}x{b.shape[0]} float32"


# ---- benchmarks -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["iou", "giou"])
def test_ours(benchmark, workload, expected, kind, two_threads):
    a, b = workload
    benchmark.group = _group(kind, a, b)
    buf = np.empty((a.shape[0], b.shape[0]), dtype=np.float32)
    result = benchmark(vr.box_iou, a, b, kind=kind, out=buf)
    assert result is buf
    assert np.array_equal(buf, expected[kind])  # bit for bit


@pytest.mark.parametrize("kind", ["iou", "giou"])
def test_torch_formula(benchmark, workload, expected, kind, two_threads):
    a, b = workload
    benchmark.group = _group(kind, a, b)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    result = benchmark(torch_iou, ta, tb, kind)
    assert np.array_equal(result.numpy(), expected[kind])


@pytest.mark.parametrize("kind", ["iou", "giou"])
def test_numpy_broadcast(benchmark, workload, expected, kind):
    a, b = workload
    benchmark.group = _group(kind, a, b)
    result = benchmark(numpy_iou, a, b, kind)
    assert np.array_equal(result, expected[kind])


@pytest.mark.parametrize("kind", ["iou", "giou"])
def test_fill_floor(benchmark, workload, kind):
    a, b = workload
    benchmark.group = _group(kind, a, b)
    buf = np.empty((a.shape[0], b.shape[0]), dtype=np.float32)
    benchmark(buf.fill, 0.5)
    assert (buf == 0.5).all()
