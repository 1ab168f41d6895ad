"""vr.box_iou / vr.paired_box_iou / vr.convert_boxes against torchvision's formulas.

torchvision does not import beside the CPU torch wheel here, so its formulas are written out below
in torch, line for line as in torchvision/ops/boxes.py and _box_convert.py (torchvision 0.2x).
Where torchvision returns NaN (zero union, zero-area enclosing box, point boxes in CIoU), the
documented rules of docs/geometry.md replace it; `_with_rules` applies them and the tests check
that it changes nothing else.
"""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import vrft_rewards as vr
import vrft_rewards.boxes as boxes_module

KINDS = ("iou", "giou", "diou", "ciou")
FORMATS = ("xyxy", "xywh", "cxcywh")
DTYPES = (np.float32, np.float64)
# Allowed distance to the torchvision formula: the bound.  In fact every kind comes out
# bit-exact (same IEEE operations in the same order) once both sides use the same atan.
MAX_ULP = {np.float32: 4, np.float64: 1}
# CIoU against torch's own atan (SLEEF on vectorised chunks, differing from the correctly
# rounded atan by an ulp on ~6% of inputs): the aspect term moves by a few eps in absolute
# terms, which is unbounded in ulps where CIoU cancels to near 0 (docs/geometry.md).
CIOU_TORCH_ATAN_ATOL = {np.float32: 32 * 2.0**-23, np.float64: 16 * 2.0**-52}


# ---- torchvision's formulas, written out ------------------------------------------------------


def tv_box_convert(boxes: torch.Tensor, in_fmt: str, out_fmt: str) -> torch.Tensor:
    def xywh_to_xyxy(b):
        x, y, w, h = b.unbind(-1)
        return torch.stack([x, y, x + w, y + h], dim=-1)

    def cxcywh_to_xyxy(b):
        cx, cy, w, h = b.unbind(-1)
        return torch.stack((cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h), dim=-1)

    def xyxy_to_xywh(b):
        x1, y1, x2, y2 = b.unbind(-1)
        return torch.stack((x1, y1, x2 - x1, y2 - y1), dim=-1)

    def xyxy_to_cxcywh(b):
        x1, y1, x2, y2 = b.unbind(-1)
        return torch.stack(((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1), dim=-1)

    if in_fmt == out_fmt:
        return boxes.clone()
    if in_fmt == "xywh":
        boxes = xywh_to_xyxy(boxes)
    elif in_fmt == "cxcywh":
        boxes = cxcywh_to_xyxy(boxes)
    if out_fmt == "xywh":
        boxes = xyxy_to_xywh(boxes)
    elif out_fmt == "cxcywh":
        boxes = xyxy_to_cxcywh(boxes)
    return boxes


def tv_box_area(boxes):
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def tv_box_inter_union(boxes1, boxes2):
    area1 = tv_box_area(boxes1)
    area2 = tv_box_area(boxes2)
    lt = torch.max(boxes1[:, None, :2], boxes2[:, :2])
    rb = torch.min(boxes1[:, None, 2:], boxes2[:, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[:, :, 0] * wh[:, :, 1]
    union = area1[:, None] + area2 - inter
    return inter, union


def tv_enclosing_wh(boxes1, boxes2):
    lti = torch.min(boxes1[:, None, :2], boxes2[:, :2])
    rbi = torch.max(boxes1[:, None, 2:], boxes2[:, 2:])
    return (rbi - lti).clamp(min=0)


def correctly_rounded_atan(t: torch.Tensor) -> torch.Tensor:
    """atan element by element through Python's math.atan (the C library's correctly rounded
    double atan), rounded once to the tensor's dtype."""
    values = [math.atan(v) for v in t.double().flatten().tolist()]
    return torch.tensor(values, dtype=torch.float64).reshape(t.shape).to(t.dtype)


def torchvision_formula(b1, b2, kind, eps=1e-7, rules=False, atan=torch.atan):
    """torchvision's box_iou / generalized / distance / complete_box_iou on xyxy tensors.

    With ``rules=True`` the three NaN cases take our documented values (torch.where on exactly
    those entries); everything else is the unmodified formula.  ``atan`` is the arctangent the
    CIoU aspect term uses.
    """
    inter, union = tv_box_inter_union(b1, b2)
    iou = inter / union
    if rules:
        iou = torch.where(union == 0, torch.zeros_like(iou), iou)  # rule 1: zero union -> 0
    if kind == "iou":
        return iou
    whi = tv_enclosing_wh(b1, b2)
    if kind == "giou":
        areai = whi[:, :, 0] * whi[:, :, 1]
        penalty = (areai - union) / areai
        if rules:
            penalty = torch.where(areai == 0, torch.zeros_like(penalty), penalty)  # rule 2
        return iou - penalty
    diagonal_distance_squared = (whi[:, :, 0] ** 2) + (whi[:, :, 1] ** 2) + eps
    x_p = (b1[:, 0] + b1[:, 2]) / 2
    y_p = (b1[:, 1] + b1[:, 3]) / 2
    x_g = (b2[:, 0] + b2[:, 2]) / 2
    y_g = (b2[:, 1] + b2[:, 3]) / 2
    centers_distance_squared = ((x_p[:, None] - x_g[None, :]) ** 2) + ((y_p[:, None] - y_g[None, :]) ** 2)
    diou = iou - (centers_distance_squared / diagonal_distance_squared)
    if kind == "diou":
        return diou
    w_pred = b1[:, None, 2] - b1[:, None, 0]
    h_pred = b1[:, None, 3] - b1[:, None, 1]
    w_gt = b2[:, 2] - b2[:, 0]
    h_gt = b2[:, 3] - b2[:, 1]
    v = (4 / (torch.pi**2)) * torch.pow(atan(w_pred / h_pred) - atan(w_gt / h_gt), 2)
    if rules:  # rule 3: a point box (w == h == 0) has no aspect term
        point = ((w_pred == 0) & (h_pred == 0)) | ((w_gt == 0) & (h_gt == 0))[None, :]
        v = torch.where(point, torch.zeros_like(v), v)
    alpha = v / (1 - iou + v + eps)
    return diou - alpha * v


def reference(a: np.ndarray, b: np.ndarray, fmt: str, kind: str, atan=correctly_rounded_atan) -> np.ndarray:
    """Our documented value: torchvision's formula after box_convert, with the NaN rules."""
    ta = tv_box_convert(torch.from_numpy(a), fmt, "xyxy")
    tb = tv_box_convert(torch.from_numpy(b), fmt, "xyxy")
    plain = torchvision_formula(ta, tb, kind, atan=atan).numpy()
    ruled = torchvision_formula(ta, tb, kind, rules=True, atan=atan).numpy()
    defined = ~np.isnan(plain)
    # The rules only replace torchvision's NaNs; every defined value is kept bit for bit.
    assert np.array_equal(plain[defined], ruled[defined])
    assert not np.isnan(ruled).any()
    return ruled


def ulp_distance(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Number of representable floats between x and y (+0 and -0 are the same point)."""
    assert x.dtype == y.dtype and x.shape == y.shape
    int_type = np.int32 if x.dtype == np.float32 else np.int64
    sign = np.array(np.iinfo(int_type).min, dtype=int_type)

    def ordered(v):
        i = v.view(int_type).astype(np.int64)
        return np.where(i < 0, -(i ^ np.int64(sign)), i)

    return np.abs(ordered(x) - ordered(y))


def assert_close_ulp(ours, expected, dtype):
    assert ours.dtype == expected.dtype == dtype
    assert not np.isnan(ours).any(), "NaN escaped"
    dist = ulp_distance(ours, expected)
    worst = int(dist.max()) if dist.size else 0
    assert worst <= MAX_ULP[dtype], (worst, ours.ravel()[dist.argmax()], expected.ravel()[dist.argmax()])


def test_ulp_distance_counts_representable_steps():
    # The helper itself: neighbours are 1 apart, +0/-0 are 0 apart, -tiny/+tiny are 2 apart.
    one = np.array([1.0])
    assert ulp_distance(one, np.nextafter(one, 2)).tolist() == [1]
    assert ulp_distance(np.array([0.0]), np.array([-0.0])).tolist() == [0]
    tiny = np.nextafter(0.0, 1.0)
    assert ulp_distance(np.array([-tiny]), np.array([tiny])).tolist() == [2]
    f = np.array([1.5], dtype=np.float32)
    assert ulp_distance(f, np.nextafter(np.nextafter(f, 2), 2)).tolist() == [2]


# ---- box generators ---------------------------------------------------------------------------

# Scales keep every coordinate (also x + w) below the overflow guard (2**62 for float32, 2**510
# for float64) while reaching huge and subnormal-product magnitudes.
SCALES = {
    np.float32: [1e-30, 1e-20, 1e-3, 1.0, 1e3, 1e15, 2e17],
    np.float64: [1e-300, 1e-160, 1e-5, 1.0, 1e3, 1e30, 1e150],
}


@st.composite
def box_sets(draw, dtype, max_boxes=8):
    """Two sets of valid boxes in the chosen format, mixing grid boxes (identical, touching,
    nested, degenerate, point boxes) with continuous random ones at one scale."""
    scale = draw(st.sampled_from(SCALES[dtype]))
    grid = st.integers(0, 8)
    unit = st.floats(0, 8, allow_nan=False, allow_infinity=False, width=32 if dtype == np.float32 else 64)

    def one_box():
        # x, y, w, h >= 0 in "units"; on the grid a quarter of widths/heights are 0
        coord = st.one_of(grid.map(float), unit)
        size = st.one_of(st.just(0.0), grid.map(float), unit)
        return st.tuples(coord, coord, size, size)

    def boxes():
        return st.lists(one_box(), min_size=0, max_size=max_boxes)

    a = draw(boxes())
    # half of the time reuse some boxes of the first set so identical pairs are common
    b = draw(boxes())
    if a and draw(st.booleans()):
        b = b + a[: draw(st.integers(1, len(a)))]
    shift = draw(st.sampled_from([0.0, -4.0]))  # negative coordinates too

    def to_xywh(lst):
        arr = np.array(lst, dtype=np.float64).reshape(-1, 4)
        arr[:, :2] += shift
        return (arr * scale).astype(dtype)

    return to_xywh(a), to_xywh(b)


def xywh_to(arr: np.ndarray, fmt: str) -> np.ndarray:
    """Express xywh boxes in `fmt` (via torch's box_convert, so no new rounding of ours)."""
    return tv_box_convert(torch.from_numpy(arr), "xywh", fmt).numpy()


# ---- agreement with torchvision --------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=80)
@given(data=st.data())
def test_pairwise_matches_torchvision_formula_on_random_and_degenerate_boxes(kind, fmt, dtype, data):
    # 80 examples x 24 combinations (~1,900 cases, ~100,000 pairs); each example holds up to
    # 8 x 16 pairs, many of them identical, touching, nested or degenerate.
    a, b = data.draw(box_sets(dtype))
    a, b = xywh_to(a, fmt), xywh_to(b, fmt)
    ours = vr.box_iou(a, b, fmt=fmt, kind=kind)
    assert ours.shape == (a.shape[0], b.shape[0])
    assert_close_ulp(ours, reference(a, b, fmt, kind), dtype)
    if kind == "ciou":
        with_torch_atan = reference(a, b, fmt, kind, atan=torch.atan)
        np.testing.assert_allclose(ours, with_torch_atan, rtol=0, atol=CIOU_TORCH_ATAN_ATOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=40)
@given(data=st.data())
def test_paired_equals_diagonal_of_pairwise_bit_for_bit(kind, dtype, data):
    a, b = data.draw(box_sets(dtype))
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    for fmt in FORMATS:
        fa, fb = xywh_to(a, fmt), xywh_to(b, fmt)
        paired = vr.paired_box_iou(fa, fb, fmt=fmt, kind=kind)
        full = vr.box_iou(fa, fb, fmt=fmt, kind=kind)
        assert paired.shape == (n,)
        assert np.array_equal(paired, np.diagonal(full))


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_large_seeded_matrices_match_torchvision_formula(fmt, dtype):
    # 300 x 250 random boxes (75,000 pairs): goes through the threaded, vectorised path.
    rng = np.random.default_rng(1234)
    xy = rng.uniform(-50, 500, (550, 2))
    wh = rng.uniform(0, 120, (550, 2))
    wh[rng.random((550, 2)) < 0.05] = 0  # some degenerate boxes
    xywh = np.concatenate([xy, wh], axis=1).astype(dtype)
    boxes = xywh_to(xywh, fmt)
    a, b = boxes[:300], boxes[300:]
    for kind in KINDS:
        ours = vr.box_iou(a, b, fmt=fmt, kind=kind)
        assert_close_ulp(ours, reference(a, b, fmt, kind), dtype)
        assert_close_ulp(
            vr.paired_box_iou(a[:250], b, fmt=fmt, kind=kind),
            np.diagonal(reference(a[:250], b, fmt, kind)).copy(),
            dtype,
        )
    with_torch_atan = reference(a, b, fmt, "ciou", atan=torch.atan)
    np.testing.assert_allclose(ours, with_torch_atan, rtol=0, atol=CIOU_TORCH_ATAN_ATOL[dtype])


def test_all_kinds_are_bit_exact_against_the_torch_formula():
    # Stronger than the ulp bound: identical operations give identical bits (for CIoU
    # given the same atan).  Also the regression test for FMA contraction (-ffp-contract=off):
    # fused a * b + c broke DIoU of 1e150-sized boxes by 2 ulp.
    rng = np.random.default_rng(7)
    for dtype in DTYPES:
        xy = rng.uniform(0, 100, (400, 2))
        xyxy = np.concatenate([xy, xy + rng.uniform(0, 40, (400, 2))], axis=1).astype(dtype)
        a, b = xyxy[:200], xyxy[200:]
        for kind in KINDS:
            assert np.array_equal(vr.box_iou(a, b, kind=kind), reference(a, b, "xyxy", kind))
    a = np.array([[-4e150, -4e150, 0.0, 0.0]])
    b = np.array([[-2e150, -4e150, 7e150, 4e150]])
    assert np.array_equal(vr.box_iou(a, b, kind="diou"), reference(a, b, "xyxy", "diou"))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@settings(max_examples=60)
@given(data=st.data())
def test_convert_boxes_matches_torchvision_box_convert_exactly(dtype, data):
    a, _ = data.draw(box_sets(dtype))
    for src in FORMATS:
        boxes = xywh_to(a, src)
        for dst in FORMATS:
            ours = vr.convert_boxes(boxes, src, dst)
            expected = tv_box_convert(torch.from_numpy(boxes), src, dst).numpy()
            assert ours.dtype == dtype and ours.shape == boxes.shape
            assert np.array_equal(ours, expected)


def test_convert_boxes_returns_a_copy_for_the_same_format_and_keeps_inverted_boxes():
    boxes = np.array([[5.0, 5.0, 1.0, 1.0]])  # inverted: converted as it is
    out = vr.convert_boxes(boxes, "xyxy", "xyxy")
    assert out is not boxes and np.array_equal(out, boxes)
    assert vr.convert_boxes(boxes, "xyxy", "xywh").tolist() == [[5.0, 5.0, -4.0, -4.0]]


# ---- edge-case rules --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_identical_boxes_give_exactly_one(kind):
    boxes = np.array([[0.0, 0.0, 3.0, 2.0], [1e-3, 5.0, 7.5, 5.25], [-10.0, -10.0, 1e6, 3.0]])
    assert np.array_equal(vr.paired_box_iou(boxes, boxes, kind=kind), np.ones(3))


@pytest.mark.parametrize("kind", KINDS)
def test_touching_boxes_have_zero_iou(kind):
    a = np.array([[0.0, 0.0, 1.0, 1.0]])
    b = np.array([[1.0, 0.0, 2.0, 1.0], [0.0, 1.0, 1.0, 2.0], [1.0, 1.0, 2.0, 2.0]])
    iou = vr.box_iou(a, b)
    assert np.array_equal(iou, np.zeros((1, 3)))
    assert_close_ulp(vr.box_iou(a, b, kind=kind), reference(a, b, "xyxy", kind), np.float64)


def test_zero_union_gives_iou_zero_not_nan():
    # Two point boxes at the same place, two at different places, and two collinear segments.
    a = np.array([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 4.0, 0.0]])
    b = np.array([[1.0, 1.0, 1.0, 1.0], [3.0, 4.0, 3.0, 4.0], [2.0, 0.0, 6.0, 0.0]])
    assert np.array_equal(vr.paired_box_iou(a, b), [0.0, 0.0, 0.0])


def test_giou_with_zero_area_enclosing_box_is_zero_and_with_zero_union_is_minus_one():
    a = np.array([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 4.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    b = np.array([[1.0, 1.0, 1.0, 1.0], [2.0, 0.0, 6.0, 0.0], [3.0, 4.0, 3.0, 4.0]])
    # same point: enclosing area 0 -> 0; collinear segments: enclosing area 0 -> 0;
    # points apart: union 0 but enclosing area 12 -> 0 - (12 - 0) / 12 = -1
    assert np.array_equal(vr.paired_box_iou(a, b, kind="giou"), [0.0, 0.0, -1.0])


def test_ciou_point_box_has_no_aspect_term_and_zero_height_uses_half_pi():
    point = np.array([[2.0, 2.0, 2.0, 2.0]])
    box = np.array([[0.0, 0.0, 4.0, 1.0]])
    flat = np.array([[0.0, 0.0, 4.0, 0.0]])  # h = 0: atan(4 / 0) = atan(inf) = pi / 2
    assert np.array_equal(vr.box_iou(point, box, kind="ciou"), vr.box_iou(point, box, kind="diou"))
    ours = vr.box_iou(flat, box, kind="ciou")
    expected = torchvision_formula(torch.from_numpy(flat), torch.from_numpy(box), "ciou").numpy()
    assert not np.isnan(expected).any()  # torchvision defines this case itself
    assert_close_ulp(ours, expected, np.float64)


def test_huge_float64_and_tiny_coordinates_match_reference():
    # 1e30 boxes are fine in float64 (areas 1e60); 1e-200 boxes have areas that underflow to 0,
    # so their union is 0 and the rule gives 0.
    huge = np.array([[0.0, 0.0, 3e30, 2e30], [1e30, 1e30, 5e30, 5e30]])
    tiny = np.array([[0.0, 0.0, 3e-200, 2e-200], [1e-200, 1e-200, 5e-200, 5e-200]])
    for boxes in (huge, tiny):
        for kind in KINDS:
            assert_close_ulp(vr.box_iou(boxes, boxes, kind=kind), reference(boxes, boxes, "xyxy", kind), np.float64)
    assert np.array_equal(vr.box_iou(tiny, tiny), np.zeros((2, 2)))


@pytest.mark.parametrize("fn", [vr.box_iou, vr.paired_box_iou])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_coordinates_that_could_overflow_raise(fn, dtype):
    limit = 2.0**62 if dtype == np.float32 else 2.0**510
    ok = np.array([[0.0, 0.0, limit, limit]], dtype=dtype)
    assert np.isfinite(fn(ok, ok, kind="ciou")).all()
    big = np.array([[0.0, 0.0, limit * 2, 1.0]], dtype=dtype)
    with pytest.raises(ValueError, match=r"boxes2\[0\] is invalid: coordinate magnitude exceeds"):
        fn(ok, big)
    # x + w beyond the limit in xywh is caught after conversion
    xywh = np.array([[limit, 0.0, limit, 1.0]], dtype=dtype)
    with pytest.raises(ValueError, match=r"boxes1\[0\] is invalid: coordinate magnitude"):
        fn(xywh, xywh, fmt="xywh")


# ---- empty inputs -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_empty_inputs_give_correctly_shaped_empty_results(kind, dtype):
    empty = np.zeros((0, 4), dtype=dtype)
    three = np.array([[0, 0, 1, 1]] * 3, dtype=dtype)
    assert vr.box_iou(empty, three, kind=kind).shape == (0, 3)
    assert vr.box_iou(three, empty, kind=kind).shape == (3, 0)
    assert vr.box_iou(empty, empty, kind=kind).dtype == dtype
    assert vr.paired_box_iou(empty, empty, kind=kind).shape == (0,)
    assert vr.convert_boxes(empty, "xyxy", "cxcywh").shape == (0, 4)
    assert vr.box_iou([], three).shape == (0, 3)
    assert vr.box_iou(np.zeros(0), three).shape == (0, 3)


# ---- threads ----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(700, 300), (3, 20000), (40, 9000)])
def test_results_do_not_depend_on_thread_count(shape):
    # (3, 20000) and (40, 9000) are cut into column blocks as well as rows.
    rng = np.random.default_rng(5)
    n, m = shape
    xy = rng.uniform(0, 100, (n + m, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(0, 30, (n + m, 2))], axis=1).astype(np.float32)
    a, b = boxes[:n], boxes[n:]
    try:
        results = {}
        for threads in (1, 2, 3, 4):
            vr.set_num_threads(threads)
            results[threads] = [vr.box_iou(a, b, kind=k) for k in KINDS]
            k = min(n, m)
            results[threads].append(vr.paired_box_iou(a[:k], b[:k], kind="ciou"))
    finally:
        vr.set_num_threads(0)
    for threads in (2, 3, 4):
        for x, y in zip(results[1], results[threads]):
            assert np.array_equal(x, y)


# ---- array types and dtypes ------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_tensors_in_give_torch_tensors_out_with_same_dtype(dtype):
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 4.0, 3.0]], dtype=dtype)
    b = torch.tensor([[1.0, 1.0, 3.0, 3.0]], dtype=dtype)
    out = vr.box_iou(a, b, kind="giou")
    assert isinstance(out, torch.Tensor) and out.dtype == dtype and out.shape == (2, 1)
    expected = reference(a.numpy(), b.numpy(), "xyxy", "giou")
    assert np.array_equal(out.numpy(), expected)
    paired = vr.paired_box_iou(a[:1], b)
    assert isinstance(paired, torch.Tensor) and paired.dtype == dtype
    conv = vr.convert_boxes(a, "xyxy", "xywh")
    assert isinstance(conv, torch.Tensor) and conv.dtype == dtype


def test_torch_tensor_with_grad_and_non_contiguous_views_are_accepted():
    base = torch.tensor([[0.0, 0.0, 2.0, 2.0, 9.0], [1.0, 1.0, 4.0, 3.0, 9.0]], requires_grad=True)
    view = base[:, :4]  # non-contiguous
    out = vr.box_iou(view, view)
    assert out.dtype == torch.float32 and not out.requires_grad
    assert torch.equal(out.diagonal(), torch.ones(2))


def test_dtype_rules():
    f32 = np.array([[0, 0, 1, 1]], dtype=np.float32)
    f64 = f32.astype(np.float64)
    ints = np.array([[0, 0, 2, 2]], dtype=np.int64)
    assert vr.box_iou(f32, f32).dtype == np.float32
    assert vr.box_iou(f32, f64).dtype == np.float64  # mixed -> float64
    assert vr.box_iou(f32, [[0, 0, 1, 1]]).dtype == np.float64  # lists -> float64
    assert vr.box_iou(ints, ints).dtype == np.float64  # integers -> float64
    assert vr.box_iou(f32.astype(np.float16), f32).dtype == np.float32  # half -> float32
    half = torch.tensor([[0, 0, 1, 1]], dtype=torch.bfloat16)
    assert vr.box_iou(half, half).dtype == torch.float32
    assert vr.box_iou(torch.tensor([[0, 0, 2, 2]]), ints).dtype == torch.float64
    assert vr.convert_boxes(ints, "xywh", "xyxy").dtype == np.float64
    assert vr.box_iou(ints, ints).tolist() == [[1.0]]


# ---- out= -------------------------------------------------------------------------------------


def test_out_buffer_is_filled_and_returned():
    a = np.array([[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 3.0]])
    buf = np.full((2, 2), np.nan)
    assert vr.box_iou(a, a, out=buf) is buf
    assert np.array_equal(buf, vr.box_iou(a, a))
    pbuf = np.full(2, np.nan)
    assert vr.paired_box_iou(a, a, kind="diou", out=pbuf) is pbuf
    assert np.array_equal(pbuf, [1.0, 1.0])
    tbuf = torch.empty((2, 2), dtype=torch.float32)
    res = vr.box_iou(torch.from_numpy(a).float(), a.astype(np.float32), kind="ciou", out=tbuf)
    assert res is tbuf
    assert np.array_equal(tbuf.numpy(), vr.box_iou(a.astype(np.float32), a.astype(np.float32), kind="ciou"))


def test_out_buffer_errors():
    a = np.array([[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 3.0]])
    with pytest.raises(ValueError, match=r"out must have shape \(2, 2\), got \(2, 3\)"):
        vr.box_iou(a, a, out=np.empty((2, 3)))
    with pytest.raises(ValueError, match=r"out must have shape \(2,\), got \(2, 1\)"):
        vr.paired_box_iou(a, a, out=np.empty((2, 1)))
    with pytest.raises(TypeError, match="out must have dtype float64 .* got float32"):
        vr.box_iou(a, a, out=np.empty((2, 2), dtype=np.float32))
    with pytest.raises(TypeError, match="out must have dtype float32 .* got torch.float64"):
        vr.box_iou(a.astype(np.float32), a.astype(np.float32), out=torch.empty((2, 2), dtype=torch.float64))
    with pytest.raises(ValueError, match="out must be C-contiguous"):
        vr.box_iou(a, a, out=np.empty((2, 2)).T)
    with pytest.raises(ValueError, match="out must be C-contiguous"):
        vr.box_iou(a, a, out=torch.empty((2, 2), dtype=torch.float64).T)
    readonly = np.empty((2, 2))
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="out must be writeable"):
        vr.box_iou(a, a, out=readonly)
    with pytest.raises(TypeError, match="out must be a numpy array or a torch CPU tensor, got list"):
        vr.box_iou(a, a, out=[[0.0, 0.0], [0.0, 0.0]])
    shared = np.zeros((4, 4))
    with pytest.raises(ValueError, match="out must not share memory with boxes1 or boxes2"):
        vr.box_iou(shared, shared, out=shared)


# ---- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [vr.box_iou, vr.paired_box_iou])
def test_wrong_shapes_raise_value_error_naming_the_argument(fn):
    good = np.zeros((2, 4))
    with pytest.raises(ValueError, match=r"boxes1 must have shape \(N, 4\), got \(2, 3\)"):
        fn(np.zeros((2, 3)), good)
    with pytest.raises(ValueError, match=r"boxes2 must have shape \(N, 4\), got \(4,\)"):
        fn(good, np.zeros(4))
    with pytest.raises(ValueError, match=r"boxes2 must have shape \(N, 4\), got \(1, 2, 4\)"):
        fn(good, np.zeros((1, 2, 4)))


def test_paired_length_mismatch_raises():
    with pytest.raises(ValueError, match="boxes1 and boxes2 must have the same length, got 2 and 3"):
        vr.paired_box_iou(np.zeros((2, 4)), np.zeros((3, 4)))


@pytest.mark.parametrize(
    "bad",
    [
        "0 0 1 1",
        [["a", "b", "c", "d"]],
        np.array([[True, False, True, True]]),
        np.array([[1 + 1j, 0, 1, 1]]),
        torch.tensor([[True, False, True, True]]),
        [[0, 0, 1, 1], [0, 0, 1]],  # ragged
        {"x": 1},
    ],
)
def test_non_numeric_input_raises_type_error(bad):
    with pytest.raises(TypeError, match="boxes1 must"):
        vr.box_iou(bad, np.zeros((1, 4)))


def test_unknown_format_or_kind_raises():
    a = np.zeros((1, 4))
    with pytest.raises(ValueError, match="fmt must be one of 'xyxy', 'xywh', 'cxcywh', got 'yxyx'"):
        vr.box_iou(a, a, fmt="yxyx")
    with pytest.raises(ValueError, match="kind must be one of 'iou', 'giou', 'diou', 'ciou', got 'eiou'"):
        vr.paired_box_iou(a, a, kind="eiou")
    # One contract for every option (vrft_rewards/_options.py): a non-string is a ValueError too.
    with pytest.raises(ValueError, match="kind must be one of 'iou', 'giou', 'diou', 'ciou', got None"):
        vr.box_iou(a, a, kind=None)
    with pytest.raises(ValueError, match="src must be one of"):
        vr.convert_boxes(a, "XYXY", "xyxy")
    with pytest.raises(ValueError, match="dst must be one of"):
        vr.convert_boxes(a, "xyxy", "xyxyxyxy")
    with pytest.raises(TypeError, match="clamp must be a bool, got int"):
        vr.box_iou(a, a, clamp=1)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_non_finite_coordinates_raise_with_argument_and_index(value, dtype):
    good = np.array([[0, 0, 1, 1]] * 3, dtype=dtype)
    bad = good.copy()
    bad[2, 1] = value
    with pytest.raises(ValueError, match=r"boxes2\[2\] is invalid: non-finite coordinate"):
        vr.box_iou(good, bad)
    with pytest.raises(ValueError, match=r"boxes1\[2\] is invalid: non-finite coordinate"):
        vr.paired_box_iou(bad, good, clamp=True)  # clamp does not excuse NaN/inf
    with pytest.raises(ValueError, match=r"boxes\[2\] is invalid: non-finite coordinate"):
        vr.convert_boxes(bad, "xyxy", "xywh")


def test_inverted_boxes_raise_unless_clamped():
    boxes = np.array([[0.0, 0.0, 1.0, 1.0]] * 4 + [[2.0, 0.0, 1.0, 3.0]])
    with pytest.raises(ValueError, match=r"boxes1\[4\] is invalid: inverted box \(x2 < x1 or y2 < y1\)"):
        vr.box_iou(boxes, boxes)
    xywh = np.array([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, -0.5]])
    with pytest.raises(ValueError, match=r"boxes2\[1\] is invalid: negative width or height"):
        vr.paired_box_iou(np.ones((2, 4)), xywh, fmt="xywh")
    with pytest.raises(ValueError, match=r"boxes1\[1\] is invalid: negative width or height"):
        vr.box_iou(xywh, xywh, fmt="cxcywh")


@pytest.mark.parametrize("kind", KINDS)
def test_clamp_equals_explicitly_clamped_boxes(kind):
    rng = np.random.default_rng(3)
    raw = rng.uniform(0, 10, (50, 4))  # about half inverted in x or y
    clamped = raw.copy()
    clamped[:, 2] = np.maximum(raw[:, 2], raw[:, 0])
    clamped[:, 3] = np.maximum(raw[:, 3], raw[:, 1])
    assert np.array_equal(
        vr.box_iou(raw, raw[::-1], kind=kind, clamp=True), vr.box_iou(clamped, clamped[::-1], kind=kind)
    )
    xywh = rng.uniform(-5, 5, (50, 4))
    xywh_clamped = np.concatenate([xywh[:, :2], np.maximum(xywh[:, 2:], 0)], axis=1)
    for fmt in ("xywh", "cxcywh"):
        assert np.array_equal(
            vr.paired_box_iou(xywh, xywh[::-1], fmt=fmt, kind=kind, clamp=True),
            vr.paired_box_iou(xywh_clamped, xywh_clamped[::-1], fmt=fmt, kind=kind),
        )


# ---- CUDA routing -----------------------------------------------------------------------------


def test_cuda_tensors_are_routed_to_the_single_cuda_hook(monkeypatch):
    # No GPU here: pretend every tensor is on CUDA and check that all three functions reach the
    # one helper that runs the CUDA path (tests/test_cuda.py covers what it does).
    calls = []
    monkeypatch.setattr(boxes_module, "_is_cuda", lambda x: isinstance(x, torch.Tensor))
    monkeypatch.setattr(boxes_module, "_cuda_path", lambda op, *a, **k: calls.append(op) or op)
    t = torch.zeros((1, 4))
    assert vr.box_iou(t, t) == "box_iou"
    assert vr.paired_box_iou(t, t) == "paired_box_iou"
    assert vr.convert_boxes(t, "xyxy", "xywh") == "convert_boxes"
    assert calls == ["box_iou", "paired_box_iou", "convert_boxes"]


def test_non_cpu_non_cuda_tensors_raise_type_error():
    t = torch.zeros((1, 4), device="meta")
    with pytest.raises(TypeError, match="boxes1 is a meta tensor"):
        vr.box_iou(t, np.zeros((1, 4)))


# ---- docs -------------------------------------------------------------------------------------


def test_docstring_examples_run():
    failures, tried = doctest.testmod(boxes_module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert tried >= 5 and failures == 0


def test_public_names_are_exported():
    for name in ("box_iou", "paired_box_iou", "convert_boxes"):
        assert name in vr.__all__ and callable(getattr(vr, name))
