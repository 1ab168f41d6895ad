"""Coordinate frames by model family (vrft_rewards/model_frames.py) against their references.

* ``vr.smart_resize`` against qwen-vl-utils' own ``smart_resize`` (installed from PyPI: the
  ``test`` extra) on 10^5 random sizes per setting, ValueErrors and 0-size results included.
  qwen_vl_utils imports torchvision at module level; the PyPI torchvision wheel pinned to
  torch 2.13 fails to load on the CPU torch ("operator torchvision::nms does not exist"), so a
  stand-in module is put in sys.modules when the real one cannot be imported (smart_resize itself
  uses only ``math``).  transformers is imported first: it probes torchvision with ``find_spec``.
* ``vr.model_frame`` / ``model_sizes`` against transformers' own Qwen2-VL processor rule
  (``image_processing_pil_qwen2_vl.smart_resize``) with the checkpoints' limits.
* The box rewards with ``coord_frame="qwen2.5-vl"`` against the conversion written out by hand.
"""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest

import vrft_rewards as vr
from vrft_rewards.model_frames import family, model_sizes
from vrft_rewards.rewards import get_iou_reward


def _qwen_vl_utils():
    pytest.importorskip("transformers")
    import transformers.image_utils  # noqa: F401 - before any stand-in (it probes torchvision)

    try:
        import torchvision  # noqa: F401
    except Exception:  # noqa: BLE001 - missing, or the wheel's operator-registration error
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
        tv = types.ModuleType("torchvision")
        tv.io = types.ModuleType("torchvision.io")
        tv.transforms = types.ModuleType("torchvision.transforms")
        tv.transforms.InterpolationMode = types.SimpleNamespace(BICUBIC="bicubic", BILINEAR="bilinear")
        stand_in = {"torchvision": tv, "torchvision.io": tv.io, "torchvision.transforms": tv.transforms}
        saved = {k: sys.modules.get(k) for k in stand_in}
        sys.modules.update(stand_in)
        try:
            from qwen_vl_utils import vision_process
        finally:
            for k, v in saved.items():
                if v is None:
                    sys.modules.pop(k, None)
                else:
                    sys.modules[k] = v
        return vision_process
    from qwen_vl_utils import vision_process

    return vision_process


@pytest.fixture(scope="module")
def qvu():
    return _qwen_vl_utils()


def _sizes(seed, n=100_000):
    """Log-uniform sides 1..20000, a tenth with aspect ratios around the 200 limit."""
    rng = np.random.default_rng(seed)
    h = np.exp(rng.uniform(0, np.log(20000), n)).astype(np.int64).clip(1)
    w = np.exp(rng.uniform(0, np.log(20000), n)).astype(np.int64).clip(1)
    w[: n // 10] = (h[: n // 10] * rng.uniform(150, 250, n // 10)).astype(np.int64).clip(1)
    flip = rng.random(n) < 0.5
    h[flip], w[flip] = w[flip], h[flip].copy()
    return h, w


def _reference(fn, h, w, **kw):
    out = np.zeros((len(h), 2), dtype=np.int64)
    err = np.zeros(len(h), dtype=bool)
    for i, (a, b) in enumerate(zip(h.tolist(), w.tolist())):
        try:
            out[i] = fn(a, b, **kw)
        except ValueError as e:
            assert "absolute aspect ratio must be smaller than 200" in str(e)
            err[i] = True
    return out, err


_SETTINGS = [
    dict(factor=28),
    dict(factor=28, min_pixels=56 * 56, max_pixels=28 * 28 * 1280),
    dict(factor=28, min_pixels=28 * 28 * 4, max_pixels=28 * 28 * 16),  # tiny limits: 0-size sides
    dict(factor=32),
    dict(factor=32, min_pixels=65536, max_pixels=16777216),
    dict(factor=14, min_pixels=401408 // 4, max_pixels=401408),
]


@pytest.mark.parametrize("i, kw", list(enumerate(_SETTINGS)))
def test_smart_resize_equals_qwen_vl_utils_on_random_sizes(qvu, i, kw):
    h, w = _sizes(i)
    want, err = _reference(qvu.smart_resize, h, w, **kw)
    assert 0 < err.sum() < len(h)
    got_h, got_w = vr.smart_resize(h[~err], w[~err], **kw)
    assert np.array_equal(got_h, want[~err, 0]) and np.array_equal(got_w, want[~err, 1])
    if i == 2:
        assert ((want[~err] == 0).any(axis=1)).sum() > 1000  # the 0-size results are reproduced too
    # Scalars give Python ints, and every ratio above 200 raises, alone or inside an array.
    for k in np.flatnonzero(err)[:200].tolist() + np.flatnonzero(~err)[:200].tolist():
        if err[k]:
            with pytest.raises(ValueError, match="absolute aspect ratio must be smaller than 200"):
                vr.smart_resize(int(h[k]), int(w[k]), **kw)
        else:
            assert vr.smart_resize(int(h[k]), int(w[k]), **kw) == tuple(want[k])
    with pytest.raises(ValueError, match=r"aspect ratio.*\(index \d+\)"):
        vr.smart_resize(h, w, **kw)


def test_smart_resize_defaults_and_examples(qvu):
    assert vr.smart_resize(480, 640) == qvu.smart_resize(480, 640, 28) == (476, 644)
    assert vr.smart_resize(1080, 1920) == qvu.smart_resize(1080, 1920, 28) == (1092, 1932)
    assert vr.smart_resize(1, 200) == (28, 196)
    with pytest.raises(ValueError, match="aspect ratio"):
        vr.smart_resize(1, 201)
    for bad in (dict(height=0, width=5), dict(height=-3, width=5), dict(height=2.5, width=5)):
        with pytest.raises(ValueError, match="height"):
            vr.smart_resize(**bad)
    with pytest.raises(ValueError, match="max_pixels"):
        vr.smart_resize(10, 10, min_pixels=100, max_pixels=10)
    with pytest.raises(ValueError, match="factor"):
        vr.smart_resize(10, 10, factor=0)


@pytest.mark.parametrize(
    "name, factor, lo, hi",
    [("qwen2-vl", 28, 3136, 12845056), ("qwen2.5-vl", 28, 3136, 12845056), ("qwen3-vl", 32, 65536, 16777216)],
)
def test_model_sizes_equal_the_hf_processor_rule(name, factor, lo, hi):
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize as hf_smart_resize

    h, w = _sizes(7, n=20_000)
    want, err = _reference(hf_smart_resize, h, w, factor=factor, min_pixels=lo, max_pixels=hi)
    got_w, got_h = model_sizes(name, w[~err], h[~err])
    assert np.array_equal(got_h, want[~err, 0]) and np.array_equal(got_w, want[~err, 1])
    # A trainer's own max_pixels (Visual-RFT's scripts: 401408).
    want, err = _reference(hf_smart_resize, h, w, factor=factor, min_pixels=lo, max_pixels=401408)
    got_w, got_h = model_sizes(name, w[~err], h[~err], max_pixels=401408)
    assert np.array_equal(got_h, want[~err, 0]) and np.array_equal(got_w, want[~err, 1])


def test_model_frame_by_family_and_checkpoint_id():
    assert vr.model_frame("qwen2-vl", 640, 480) == ("norm1000", 644, 476)
    assert vr.model_frame("Qwen/Qwen2.5-VL-7B-Instruct", 1920, 1080) == ("abs", 1932, 1092)
    assert vr.model_frame("Qwen/Qwen3-VL-8B-Instruct", 1920, 1080).frame == "norm1000"
    assert family("qwen2_5_vl") == "qwen2.5-vl" and family("Qwen2-VL-2B-Instruct") == "qwen2-vl"
    frame = vr.model_frame("qwen2.5-vl", np.array([640, 1920]), np.array([480, 1080]))
    assert frame.frame == "abs" and frame.width.tolist() == [644, 1932] and frame.height.tolist() == [476, 1092]
    with pytest.raises(ValueError, match="model_name must be one of 'qwen2-vl', 'qwen2.5-vl', 'qwen3-vl'"):
        vr.model_frame("llava-1.5", 640, 480)


def test_boxes_to_pixels_in_a_family_frame():
    boxes = np.array([[100.0, 200.0, 500.0, 1000.0], [0.0, 0.0, 644.0, 476.0]])
    px = vr.boxes_to_pixels(boxes, [0, 1, 2], [[1920, 1080], [640, 480]], "qwen2.5-vl")
    # Qwen2.5-VL saw 1932 x 1092 and 644 x 476: x / w_model * W.
    assert px.tolist() == [
        [100.0 / 1932 * 1920, 200.0 / 1092 * 1080, 500.0 / 1932 * 1920, 1000.0 / 1092 * 1080],
        [0.0, 0.0, 640.0, 480.0],
    ]
    same = vr.boxes_to_pixels(boxes, [0, 1, 2], [[1920, 1080], [640, 480]], "norm1000")
    assert vr.boxes_to_pixels(boxes, [0, 1, 2], [[1920, 1080], [640, 480]], "qwen2-vl").tolist() == same.tolist()
    assert vr.boxes_to_pixels(boxes, [0, 1, 2], [[1920, 1080], [640, 480]], "qwen3-vl").tolist() == same.tolist()


class _Image:
    """What a reward needs of a PIL image: its size (a real PIL image works the same way)."""

    def __init__(self, width, height):
        self.width, self.height = width, height


def test_box_rewards_convert_qwen25_boxes_with_sizes_from_the_image_column():
    from PIL import Image

    gt = [[96.0, 120.0, 480.0, 360.0]]  # pixels of a 640 x 480 original
    # The model saw 644 x 476 and wrote pixels of that image.
    model_box = [96.0 / 640 * 644, 120.0 / 480 * 476, 480.0 / 640 * 644, 360.0 / 480 * 476]
    text = '<answer>[{"bbox_2d": [%r, %r, %r, %r]}]</answer>' % tuple(model_box)
    reward = get_iou_reward(coord_frame="qwen2.5-vl")
    image = Image.new("RGB", (640, 480))
    for columns in (
        dict(image=[image]),
        dict(images=[[image]]),
        dict(image=[_Image(640, 480)]),
        dict(image_size=[(640, 480)]),
        dict(width=[640], height=[480]),
    ):
        got = reward([text] * 40, gt_boxes=[gt] * 40, **{k: v * 40 for k, v in columns.items()})
        assert got == pytest.approx([1.0] * 40, abs=1e-12), columns
        assert reward([text], gt_boxes=[gt], **columns) == got[:1]  # the tiny path agrees
    # The frame named by the model's solution-like ground truth: no conversion, no size needed.
    assert get_iou_reward(coord_frame="qwen2.5-vl")([text], solution=[text]) == [1.0]
    with pytest.raises(ValueError, match=r"images\[0\] holds 2 images"):
        reward([text], gt_boxes=[gt], images=[[image, image]])
    with pytest.raises(TypeError, match=r"image\[0\] must be an image"):
        reward([text], gt_boxes=[gt], image=["a path"])
    with pytest.raises(ValueError, match="image size"):
        reward([text], gt_boxes=[gt])


def test_box_rewards_take_the_trainers_pixel_limits():
    gt = [[0.0, 0.0, 1920.0, 1080.0]]
    w, h = vr.model_frame("qwen2.5-vl", 1920, 1080, max_pixels=401408)[1:]
    text = f"<answer>[[0, 0, {w}, {h}]]</answer>"
    assert get_iou_reward(coord_frame="qwen2.5-vl", max_pixels=401408)(
        [text], gt_boxes=[gt], width=[1920], height=[1080]
    ) == [1.0]
    assert get_iou_reward(coord_frame="qwen2.5-vl")([text], gt_boxes=[gt], width=[1920], height=[1080]) != [1.0]
    with pytest.raises(ValueError, match="max_pixels must be a positive number"):
        get_iou_reward(max_pixels=0)


def test_the_score_command_takes_a_model_frame_and_pixel_limits(tmp_path, capsys):
    from vrft_rewards.cli import main

    w, h = vr.model_frame("qwen2.5-vl", 1920, 1080, max_pixels=401408)[1:]
    record = {
        "completion": f"<answer>[[0, 0, {w}, {h}]]</answer>",
        "gt_boxes": [[0, 0, 1920, 1080]],
        "width": 1920,
        "height": 1080,
    }
    path = tmp_path / "rollouts.jsonl"
    path.write_text(json.dumps(record) + "\n")
    args = ["score", "--task", "detection", "--input", str(path), "--out", str(tmp_path / "out"), "--no-plots"]
    frame = ["--option", "coord_frame=qwen2.5-vl", "--option", "gt_frame=abs", "--option", "max_pixels=401408"]
    assert main(args + frame) == 0
    assert _iou_mean(tmp_path) == 1.0
    assert main(args + frame[:4]) == 0  # the checkpoint's limits: another size, another IoU
    assert _iou_mean(tmp_path) < 1.0


def _iou_mean(tmp_path):
    return json.loads((tmp_path / "out" / "metrics.json").read_text())["metrics"]["rewards"]["iou_reward"]["mean"]
