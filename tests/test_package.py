"""Package-level contracts: public names, version, thread pool, optional CUDA module."""

from __future__ import annotations

import re

import numpy as np
import pytest

import vrft_rewards as vr


def test_version_is_pep440():
    assert re.fullmatch(r"\d+\.\d+\.\d+([ab]|rc)?\d*", vr.__version__)


def test_all_lists_only_existing_names():
    for name in vr.__all__:
        assert hasattr(vr, name), name


def test_set_num_threads_round_trips_and_zero_restores_default():
    default = vr.get_num_threads()
    try:
        vr.set_num_threads(1)
        assert vr.get_num_threads() == 1
        vr.set_num_threads(3)
        assert vr.get_num_threads() == 3
        vr.set_num_threads(0)
        assert vr.get_num_threads() == default
    finally:
        vr.set_num_threads(0)


def test_set_num_threads_rejects_negative_and_non_integer():
    with pytest.raises(ValueError, match="num_threads must be >= 0"):
        vr.set_num_threads(-1)
    with pytest.raises(TypeError, match="n must be an integer"):
        vr.set_num_threads(1.5)


def test_results_do_not_depend_on_thread_count():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 100, (700, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(0, 50, (700, 2))], axis=1)
    try:
        vr.set_num_threads(1)
        one = vr.box_iou(boxes, boxes)
        vr.set_num_threads(4)
        four = vr.box_iou(boxes, boxes)
    finally:
        vr.set_num_threads(0)
    np.testing.assert_array_equal(one, four)


def test_cuda_module_is_optional_for_import():
    # has_cuda() answers without raising whether or not _C_cuda was built or a GPU is present.
    assert vr.has_cuda() in (True, False)


@pytest.mark.needs_cuda
def test_cuda_module_takes_raw_device_pointers_and_a_stream():
    # The _C_cuda contract: device pointers as integers and the caller's stream handle.
    torch = pytest.importorskip("torch")
    from vrft_rewards._ext import cuda_module

    mod = cuda_module()
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 1.0, 1.0]], device="cuda")
    b = torch.tensor([[1.0, 1.0, 3.0, 3.0], [0.0, 0.0, 1.0, 1.0]], device="cuda")
    out = torch.empty(2, device="cuda")
    mod.paired_iou_f32(
        a.data_ptr(), b.data_ptr(), 2, "xyxy", "iou", out.data_ptr(), torch.cuda.current_stream().cuda_stream
    )
    torch.cuda.synchronize()
    assert out.tolist() == [float(np.float32(1) / np.float32(7)), 1.0]  # inter 1, union 7
