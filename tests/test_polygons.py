"""vr.polygon_iou against an obvious convex-clipping reference, box IoU, and its contract."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

import vrft_rewards as vr
from vrft_rewards.polygons import rotated_box_corners

pytest.importorskip("shapely")


# -- slow, obvious reference: Sutherland-Hodgman clipping of convex polygons + shoelace area --------
def _area(poly):
    s = 0.0
    for i in range(len(poly)):
        x1, y1 = poly[i]
        x2, y2 = poly[(i + 1) % len(poly)]
        s += x1 * y2 - x2 * y1
    return abs(s) / 2


def _ccw(poly):
    s = sum(
        poly[i][0] * poly[(i + 1) % len(poly)][1] - poly[(i + 1) % len(poly)][0] * poly[i][1] for i in range(len(poly))
    )
    return poly if s > 0 else poly[::-1]


def _clip(subject, clipper):
    out = list(subject)
    clipper = _ccw(clipper)
    for i in range(len(clipper)):
        a, b = clipper[i], clipper[(i + 1) % len(clipper)]
        inside = lambda p, a=a, b=b: (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]) >= 0  # noqa: E731

        def cross(p, q, a=a, b=b):
            dx, dy = q[0] - p[0], q[1] - p[1]
            ex, ey = b[0] - a[0], b[1] - a[1]
            t = (ex * (p[1] - a[1]) - ey * (p[0] - a[0])) / (ey * dx - ex * dy)
            return (p[0] + t * dx, p[1] + t * dy)

        inp, out = out, []
        for j in range(len(inp)):
            cur, prev = inp[j], inp[j - 1]
            if inside(cur):
                if not inside(prev):
                    out.append(cross(prev, cur))
                out.append(cur)
            elif inside(prev):
                out.append(cross(prev, cur))
        if not out:
            return []
    return out


def _ref_iou(a, b):
    inter = _clip(a, b)
    i = _area(inter) if len(inter) >= 3 else 0.0
    u = _area(a) + _area(b) - i
    return i / u if u > 0 else 0.0


def _convex(rng, k):
    angles = np.sort(rng.uniform(0, 2 * math.pi, k))
    r = rng.uniform(1, 5)
    c = rng.uniform(-3, 3, 2)
    return [(float(c[0] + r * math.cos(t)), float(c[1] + r * math.sin(t))) for t in angles]


@pytest.mark.parametrize("seed", range(5))
def test_random_convex_polygons_match_the_clipping_reference(seed):
    rng = np.random.default_rng(seed)
    a = [_convex(rng, int(rng.integers(3, 9))) for _ in range(6)]
    b = [_convex(rng, int(rng.integers(3, 9))) for _ in range(5)]
    got = vr.polygon_iou([np.array(p) for p in a], [np.ravel(p).tolist() for p in b])
    want = np.array([[_ref_iou(p, q) for q in b] for p in a])
    assert got.shape == (6, 5)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("seed", range(3))
def test_rotated_boxes_match_the_reference_on_their_corners(seed):
    rng = np.random.default_rng(100 + seed)
    ra = np.column_stack([rng.uniform(0, 10, (8, 2)), rng.uniform(1, 6, (8, 2)), rng.uniform(-180, 180, 8)])
    rb = np.column_stack([rng.uniform(0, 10, (7, 2)), rng.uniform(1, 6, (7, 2)), rng.uniform(-180, 180, 7)])
    got = vr.polygon_iou(ra, rb)
    ca, cb = rotated_box_corners(ra), rotated_box_corners(rb)
    want = np.array([[_ref_iou([tuple(p) for p in x], [tuple(q) for q in y]) for y in cb] for x in ca])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)


def test_radians_and_degrees_agree():
    r = np.array([[1.0, 2.0, 3.0, 1.0, 30.0], [0.0, 0.0, 2.0, 2.0, 45.0]])
    rad = r.copy()
    rad[:, 4] = np.deg2rad(r[:, 4])
    np.testing.assert_allclose(vr.polygon_iou(r, r), vr.polygon_iou(rad, rad, degrees=False), atol=1e-12)


def test_axis_aligned_rotated_boxes_equal_box_iou():
    rng = np.random.default_rng(7)
    xyxy_a = np.sort(rng.uniform(0, 50, (9, 2, 2)), axis=1).transpose(0, 2, 1).reshape(9, 4)[:, [0, 2, 1, 3]]
    xyxy_b = np.sort(rng.uniform(0, 50, (6, 2, 2)), axis=1).transpose(0, 2, 1).reshape(6, 4)[:, [0, 2, 1, 3]]

    def rot(b, angle):
        return np.column_stack(
            [
                (b[:, 0] + b[:, 2]) / 2,
                (b[:, 1] + b[:, 3]) / 2,
                b[:, 2] - b[:, 0],
                b[:, 3] - b[:, 1],
                np.full(len(b), angle),
            ]
        )

    want = vr.box_iou(xyxy_a, xyxy_b)
    np.testing.assert_allclose(vr.polygon_iou(rot(xyxy_a, 0.0), rot(xyxy_b, 0.0)), want, atol=1e-12)
    # 180 degrees turns a box onto itself.
    np.testing.assert_allclose(vr.polygon_iou(rot(xyxy_a, 180.0), rot(xyxy_b, 0.0)), want, atol=1e-12)


def test_edge_cases():
    sq = [[0, 0], [2, 0], [2, 2], [0, 2]]
    # identical, disjoint, contained, touching at an edge
    assert vr.polygon_iou([sq], [sq]).tolist() == [[1.0]]
    assert vr.polygon_iou([sq], [[[5, 5], [6, 5], [6, 6]]]).tolist() == [[0.0]]
    assert vr.polygon_iou([sq], [[[0, 0], [1, 0], [1, 1], [0, 1]]]).tolist() == [[0.25]]
    assert vr.polygon_iou([sq], [[[2, 0], [3, 0], [3, 2], [2, 2]]]).tolist() == [[0.0]]
    # clockwise order is the same polygon
    assert vr.polygon_iou([sq[::-1]], [sq]).tolist() == [[1.0]]
    # degenerate (zero area) -> 0, not NaN
    assert vr.polygon_iou([[[0, 0], [1, 1], [2, 2]]], [[[0, 0], [1, 1], [2, 2]]]).tolist() == [[0.0]]
    assert vr.polygon_iou([[0, 0, 0, 0, 30]], [[0, 0, 0, 0, 30]]).tolist() == [[0.0]]
    # bow-tie: repaired into two unit triangles (area 2) -> IoU with the square 2 / 4
    assert vr.polygon_iou([[0, 0, 2, 2, 2, 0, 0, 2]], [sq]).tolist() == [[0.5]]
    # empty sides
    assert vr.polygon_iou([], [sq]).shape == (0, 1)
    assert vr.polygon_iou(np.zeros((0, 5)), np.zeros((3, 5)) + [0, 0, 1, 1, 0]).shape == (0, 3)


def test_shapely_geometries_are_accepted():
    import shapely

    a = [shapely.box(0, 0, 2, 2)]
    assert vr.polygon_iou(a, [[[1, 0], [3, 0], [3, 2], [1, 2]]]).round(12).tolist() == [[round(1 / 3, 12)]]


@pytest.mark.parametrize(
    ("polys", "match"),
    [
        (np.zeros((2, 3)), "must be rotated boxes"),
        ([[0, 0, 1, 1, float("nan")]], "finite"),
        ([[0, 0, -1, 1, 0]], "width and height >= 0"),
        ([[0, 0, 1, 0, 1], [0, 0, 1, 0, 1, 1, 0]], "even number of coordinates"),  # ragged
        ([[0, 0, 1, 1], [0, 0, 1, 0, 1, 1]], "at least 3 vertices"),
        (np.zeros((1, 4)), "must be rotated boxes"),  # (N, 4): axis-aligned boxes belong to box_iou
        ([[[0, 0], [1, 0], [float("inf"), 1]]], "finite"),
    ],
)
def test_bad_input_raises_value_error(polys, match):
    with pytest.raises(ValueError, match=match):
        vr.polygon_iou(polys, [[0, 0, 1, 1, 0]])


def test_missing_shapely_gives_an_actionable_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "shapely", None)
    with pytest.raises(ImportError, match=r"vrft-rewards\[polygons\]"):
        vr.polygon_iou([[0, 0, 1, 1, 0]], [[0, 0, 1, 1, 0]])


# -- paired IoU and the polygon ground truth of grounding_reward ------------------------------------------
def test_paired_polygon_iou_is_the_diagonal_of_the_pairwise():
    rng = np.random.default_rng(3)
    a = [np.array(_convex(rng, 5)) for _ in range(7)]
    b = [np.array(_convex(rng, 6)) for _ in range(7)]
    from vrft_rewards.polygons import paired_polygon_iou

    np.testing.assert_array_equal(paired_polygon_iou(a, b), np.diag(vr.polygon_iou(a, b)))
    with pytest.raises(ValueError, match="same length"):
        paired_polygon_iou(a, b[:3])


def test_grounding_reward_with_polygon_ground_truth():
    from vrft_rewards.rewards import get_grounding_reward

    rng = np.random.default_rng(4)
    comps, polys, want = [], [], []
    for _ in range(12):
        x1, y1 = rng.integers(0, 40, 2)
        x2, y2 = x1 + rng.integers(5, 50), y1 + rng.integers(5, 50)
        tri = _convex(rng, 3)
        tri = [(10 * x + 50, 10 * y + 50) for x, y in tri]
        comps.append(f"<answer>({x1 * 10},{y1 * 10}),({x2 * 10},{y2 * 10})</answer>")  # norm1000, image 100x100
        polys.append([float(v) for p in tri for v in p])
        box = [(x1, y1), (x2, y1), (x2, y2), (x1, y2)]
        want.append(_ref_iou([(float(x), float(y)) for x, y in box], tri))
    comps.append("<answer>no box here</answer>")
    polys.append([0, 0, 10, 0, 10, 10])
    want.append(0.0)
    comps.append("<answer>(0,0),(10,10)</answer>")
    polys.append(None)  # missing ground truth -> skipped
    reward = get_grounding_reward(gt_polygons="gt_polygons", coord_frame="norm1000")
    got = reward(comps, gt_polygons=polys, width=[100] * len(comps), height=[100] * len(comps))
    assert got[-1] is None
    np.testing.assert_allclose(got[:-1], want, rtol=1e-12, atol=1e-13)
    sq = get_grounding_reward(gt_polygons="gt_polygons", coord_frame="norm1000", variant="iou_squared")
    np.testing.assert_allclose(
        sq(comps[:-1], gt_polygons=polys[:-1], width=[100] * (len(comps) - 1), height=[100] * (len(comps) - 1)),
        np.square(want),
        rtol=1e-12,
        atol=1e-13,
    )
    with pytest.raises(ValueError, match="gt_polygons supports variant"):
        get_grounding_reward(gt_polygons="p", variant="giou")


def test_polygon_ground_truth_equal_to_the_box_gives_the_box_reward():
    from vrft_rewards.rewards import get_grounding_reward, grounding_reward

    comps = ["<answer>(10,20),(60,70)</answer>", "<answer>(0,0),(30,30)</answer>"]
    gt_boxes = [[12, 18, 55, 75], [40, 40, 50, 50]]
    polys = [[[x1, y1, x2, y1, x2, y2, x1, y2]] for x1, y1, x2, y2 in gt_boxes]
    want = grounding_reward(comps, gt_boxes=[[b] for b in gt_boxes])
    got = get_grounding_reward(gt_polygons="segmentation")(comps, segmentation=polys)
    np.testing.assert_allclose(got, want, rtol=1e-13)
