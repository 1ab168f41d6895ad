"""GT masks and box-as-mask overlaps (csrc/masks, vrft_rewards.masks.mask_set).

Reference: pycocotools' mask API per sample: ``frPyObjects`` of the box ``[x, y, w, h]`` (its
polygon rasterisation), ``merge`` of a sample's polygons, ``area``, ``merge(intersect=True)``,
``toBbox`` and ``decode`` for pixels.  Every number here must equal it exactly (integers).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from vrft_rewards import _C
from vrft_rewards.eval import evaluate_grounding
from vrft_rewards.masks import mask_intersection_union, mask_set
from vrft_rewards.masks import mask_set_and_problems as _mask_set

mu = pytest.importorskip("pycocotools.mask")


def decode(rle) -> np.ndarray:
    with warnings.catch_warnings():  # pycocotools' decode warns about numpy 2's copy keyword
        warnings.simplefilter("ignore", DeprecationWarning)
        return mu.decode(rle)


def random_box(rng, h, w):
    """xywh boxes that reach every rounding rule: the 0.1 grid (5 * x + .5 on integers and
    halves), negative corners (C truncation toward zero), beyond the image, tiny and empty."""
    k = int(rng.integers(0, 5))
    if k == 0:
        return [rng.uniform(-10, w + 10), rng.uniform(-10, h + 10), rng.uniform(0, w + 5), rng.uniform(0, h + 5)]
    if k == 1:
        return [
            rng.integers(-50, 10 * w + 50) / 10,
            rng.integers(-50, 10 * h + 50) / 10,
            rng.integers(0, 10 * w) / 10,
            rng.integers(0, 10 * h) / 10,
        ]
    if k == 2:
        return [
            float(rng.integers(-3, w + 3)),
            float(rng.integers(-3, h + 3)),
            float(rng.integers(0, w + 3)),
            float(rng.integers(0, h + 3)),
        ]
    if k == 3:
        return [rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0, 0.5), rng.uniform(0, 0.5)]
    if k == 4:  # halves and fifths around small negatives
        return [
            rng.integers(-20, 20) / 20,
            rng.integers(-20, 20) / 20,
            rng.integers(0, 40) / 4,
            rng.integers(0, 40) / 4,
        ]


def test_box_raster_equals_pycocotools_pixels():
    rng = np.random.default_rng(0)
    for _ in range(4000):
        h, w = int(rng.integers(1, 48)), int(rng.integers(1, 48))
        box = np.array([random_box(rng, h, w)], dtype=np.float64)
        ref = decode(mu.frPyObjects(box, h, w)[0])
        c0, c1, r0, r1 = _C.rasterize_boxes(box, h, w)[0]
        ours = np.zeros((h, w), np.uint8)
        ours[r0:r1, c0:c1] = 1
        assert np.array_equal(ours, ref), (h, w, box.tolist())


def test_huge_coordinates_raster_as_the_clipped_box():
    # pycocotools walks every upsampled boundary point (it cannot take 1e9); the pixels of a box
    # only depend on it within a few pixels of the image, so the clipped box is the reference.
    rng = np.random.default_rng(3)
    for _ in range(300):
        h, w = int(rng.integers(1, 40)), int(rng.integers(1, 40))
        x1, x2 = np.sort(rng.choice([-1e12, -1e6, rng.uniform(-3, w + 3), 1e6, 1e12], 2))
        y1, y2 = np.sort(rng.choice([-1e12, -1e6, rng.uniform(-3, h + 3), 1e6, 1e12], 2))
        cx1, cx2 = np.clip([x1, x2], -3, w + 3)
        cy1, cy2 = np.clip([y1, y2], -3, h + 3)
        ref = decode(mu.frPyObjects(np.array([[cx1, cy1, cx2 - cx1, cy2 - cy1]]), h, w)[0])
        c0, c1, r0, r1 = _C.rasterize_boxes(np.array([[x1, y1, x2 - x1, y2 - y1]]), h, w)[0]
        ours = np.zeros((h, w), np.uint8)
        ours[r0:r1, c0:c1] = 1
        assert np.array_equal(ours, ref), (h, w, x1, y1, x2, y2)


def test_inverted_and_nan_boxes_are_empty():
    got = _C.rasterize_boxes(np.array([[5, 5, -1, 3], [5, 5, 3, -1], [np.nan, 0, 3, 3], [0, 0, 0, 9]], float), 20, 20)
    assert [(c1 - c0) * (r1 - r0) for c0, c1, r0, r1 in got.tolist()] == [0, 0, 0, 0]


def random_mask(rng, h, w) -> np.ndarray:
    m = np.zeros((h, w), np.uint8, order="F")
    for _ in range(int(rng.integers(0, 5))):
        y0, x0 = int(rng.integers(0, h)), int(rng.integers(0, w))
        m[y0 : y0 + int(rng.integers(1, h + 1)), x0 : x0 + int(rng.integers(1, w + 1))] = 1
    if rng.random() < 0.3:
        m ^= (rng.random((h, w)) < 0.2).astype(np.uint8)
    return np.asfortranarray(m)


def pixels_of_counts(counts, h, w) -> np.ndarray:
    flat = np.repeat(np.arange(len(counts)) % 2, counts).astype(np.uint8)
    return flat.reshape(w, h).T


def test_rle_decode_reproduces_pycocotools_masks():
    rng = np.random.default_rng(1)
    for _ in range(500):
        h, w = int(rng.integers(1, 70)), int(rng.integers(1, 70))
        m = random_mask(rng, h, w)
        counts = _C.rle_decode(mu.encode(m)["counts"])
        assert counts.sum() == h * w
        assert np.array_equal(pixels_of_counts(counts, h, w), m)


@pytest.mark.parametrize("text", [b"0" * 3 + b"\x7f", b"\x00", b"o", b"a" * 20, b"@", "é".encode()])
def test_malformed_rle_strings_raise(text):
    # 'o' = 63 and 'a' = 49 set "more" on the last character (unterminated count); '@' = 16 has
    # the sign bit: a negative count; bytes outside '0'..'o' are no RLE characters.
    with pytest.raises(ValueError, match="compressed RLE"):
        _C.rle_decode(text)


def test_random_bytes_never_crash_the_decoder():
    rng = np.random.default_rng(2)
    for _ in range(3000):
        text = bytes(rng.integers(0, 256, size=int(rng.integers(0, 30)), dtype=np.uint8))
        try:
            counts = _C.rle_decode(text)
        except ValueError:
            continue
        assert (counts >= 0).all()


def random_polygons(rng, h, w):
    polys = []
    for _ in range(int(rng.integers(1, 4))):
        k = int(rng.integers(3, 9))
        cx, cy = rng.uniform(-5, w + 5), rng.uniform(-5, h + 5)
        r = rng.uniform(1, max(h, w) / 2)
        ang = np.sort(rng.uniform(0, 2 * np.pi, k))
        pts = np.column_stack([cx + r * np.cos(ang), cy + r * np.sin(ang)])
        if rng.random() < 0.3:
            pts = np.round(pts * 2) / 2
        polys.append(pts.ravel().tolist())
    return polys


def adversarial_polygon(rng, h, w):
    """Vertices that reach every branch of the rasteriser: random (self-intersecting) orders,
    repeated vertices (zero-length edges), axis-parallel and 45-degree edges, points on the 0.1 /
    0.5 grid, negative coordinates (truncation toward zero) and points past the image."""
    k = int(rng.integers(3, 12))
    kind = int(rng.integers(0, 4))
    if kind == 0:
        pts = np.column_stack([rng.uniform(-4, w + 4, k), rng.uniform(-4, h + 4, k)])
    elif kind == 1:
        pts = np.column_stack([rng.integers(-20, 10 * w + 20, k) / 10, rng.integers(-20, 10 * h + 20, k) / 10])
    elif kind == 2:
        pts = np.column_stack([rng.integers(-2, w + 2, k), rng.integers(-2, h + 2, k)]).astype(float) / 2 * 2
    else:  # a walk of axis-parallel / diagonal steps with repeats
        steps = rng.choice([-1.0, 0.0, 1.0, 0.5, -0.5], size=(k, 2))
        pts = np.cumsum(steps, axis=0) + [rng.uniform(0, w), rng.uniform(0, h)]
    if rng.random() < 0.3:
        j = int(rng.integers(0, k))
        pts = np.insert(pts, j, pts[j], axis=0)
    return pts.ravel().tolist()


def test_polygon_raster_equals_pycocotools_pixels():
    rng = np.random.default_rng(7)
    for _ in range(3000):
        h, w = int(rng.integers(1, 40)), int(rng.integers(1, 40))
        polys = [adversarial_polygon(rng, h, w) for _ in range(int(rng.integers(1, 3)))]
        ref = decode(mu.merge(mu.frPyObjects(polys, h, w)))
        masks = mask_set([polys], np.array([[w, h]], float))
        assert np.array_equal(pixels_of_counts(masks.counts(0), h, w), ref), (h, w, polys)
        assert masks.area[0] == int(ref.sum())
        assert masks.bbox[0].tolist() == mu.toBbox(mu.merge(mu.frPyObjects(polys, h, w))).tolist()


def test_large_polygons_equal_pycocotools_pixels():
    # Hundreds of boundary toggles per polygon (the column-bucket sort), many vertices, steep and
    # shallow edges of every slope, several polygons per sample (the union).
    rng = np.random.default_rng(8)
    for _ in range(150):
        h, w = int(rng.integers(100, 500)), int(rng.integers(100, 500))
        polys = []
        for _ in range(int(rng.integers(1, 4))):
            k = int(rng.integers(3, 60))
            ang = np.sort(rng.uniform(0, 2 * np.pi, k)) if rng.random() < 0.7 else rng.uniform(0, 2 * np.pi, k)
            r = rng.uniform(5, max(h, w) * 0.7) * rng.uniform(0.5, 1.0, k)
            cx, cy = rng.uniform(-20, w + 20), rng.uniform(-20, h + 20)
            pts = np.column_stack([cx + r * np.cos(ang), cy + r * np.sin(ang)])
            polys.append((np.round(pts * 10) / 10 if rng.random() < 0.5 else pts).ravel().tolist())
        ref = decode(mu.merge(mu.frPyObjects(polys, h, w)))
        masks = mask_set([polys], np.array([[w, h]], float))
        assert np.array_equal(pixels_of_counts(masks.counts(0), h, w), ref), (h, w)


def random_segmentation(rng, h, w):
    """Polygons, compressed RLE (bytes or str) or uncompressed RLE, and its pycocotools RLE."""
    kind = int(rng.integers(0, 4))
    if kind == 0:
        seg = random_polygons(rng, h, w)
        return seg, mu.merge(mu.frPyObjects(seg, h, w))
    m = random_mask(rng, h, w)
    rle = mu.encode(m)
    if kind == 1:
        return rle, rle
    if kind == 2:
        return {"size": [h, w], "counts": rle["counts"].decode()}, rle
    counts, flat, prev, run = [], m.T.ravel(), 0, 0
    for v in flat:
        if v != prev:
            counts.append(run)
            run, prev = 0, v
        run += 1
    counts.append(run)
    return {"size": [h, w], "counts": counts}, rle


@pytest.mark.parametrize("seed", range(6))
def test_overlaps_areas_and_boxes_equal_pycocotools_per_sample(seed):
    rng = np.random.default_rng(100 + seed)
    n = 120
    segs, refs, sizes, boxes = [], [], [], []
    for _ in range(n):
        h, w = int(rng.integers(1, 60)), int(rng.integers(1, 60))
        seg, ref = random_segmentation(rng, h, w)
        segs.append(seg)
        refs.append(ref)
        sizes.append((w, h))
        x, y, bw, bh = random_box(rng, h, w)
        boxes.append([x, y, x + bw, y + bh])
    sizes_a, boxes_a = np.array(sizes, float), np.array(boxes, float)
    valid = rng.random(n) < 0.85
    inter, union = mask_intersection_union(boxes_a, segs, sizes_a, valid)
    masks = mask_set(segs, sizes_a)
    assert (masks.status == 0).all()
    for i in range(n):
        w, h = sizes[i]
        area_g = int(mu.area(refs[i]))
        assert masks.area[i] == area_g
        assert masks.bbox[i].tolist() == mu.toBbox(refs[i]).tolist()
        if not valid[i]:
            assert (inter[i], union[i]) == (0, area_g)
            continue
        x1, y1, x2, y2 = boxes_a[i]
        p = mu.frPyObjects(np.array([[x1, y1, x2 - x1, y2 - y1]]), h, w)[0]
        it = int(mu.area(mu.merge([p, refs[i]], intersect=True)))
        assert (inter[i], union[i]) == (it, int(mu.area(p)) + area_g - it), i


def test_degenerate_polygons_are_dropped_exactly():
    h, w = 30, 40
    seg = [[1, 1, 20, 20], [5, 5, 25, 5, 25, 20, 5, 20]]  # a 2-point "polygon" has no area
    masks = mask_set([seg], np.array([[w, h]], float))
    assert masks.area[0] == int(mu.area(mu.frPyObjects([seg[1]], h, w)[0]))


@pytest.mark.parametrize(
    "seg, message",
    [
        ([[1, 2, 3, 4, 5]], "flat list"),
        ([["a", 2, 3, 4, 5, 6]], "not a number"),
        ([[1, 2, np.inf, 4, 5, 6]], "finite"),
        ([[[1, 2], [3, 4], [5, 6], [7, 8]]], "flat list"),  # pairs instead of a flat list
        ([[1, 2, 3, 4, 5, 6], [1, 2, [3, 4], 5, 6, 7]], "not a number"),
        ({"size": [10, 12], "counts": ["a", 3]}, "unreadable RLE counts"),
        ({"size": [10, 11], "counts": "0"}, "differs"),
        ({"counts": "0"}, "size"),
        ("polygon", "segmentation must be"),
    ],
)
def test_unreadable_segmentations_name_the_sample(seg, message):
    with pytest.raises(ValueError, match=r"segs\[1\].*" + message):
        mask_set([[[0, 0, 5, 0, 5, 5]], seg], np.array([[12, 10], [12, 10]], float))


def test_rle_of_the_wrong_size_and_malformed_rle_are_named():
    good = mu.encode(np.asfortranarray(np.ones((10, 12), np.uint8)))
    short = {"size": [10, 12], "counts": mu.encode(np.asfortranarray(np.ones((10, 11), np.uint8)))["counts"]}
    masks, problems = _mask_set([good, short, {"size": [10, 12], "counts": "a" * 10}], np.array([[12, 10]] * 3, float))
    assert masks.status.tolist() == [0, 2, 1]
    assert problems == {1: "RLE counts do not add up to height x width", 2: "not a valid compressed RLE"}
    with pytest.raises(ValueError, match=r"segs\[1\]: RLE counts"):
        mask_intersection_union(
            np.zeros((3, 4)), [good, short, good], np.array([[12, 10]] * 3, float), np.ones(3, bool)
        )


def test_mask_set_argument_errors():
    empty_f, no_polys = np.zeros(0), np.zeros(1, np.int64)

    def make(
        rle=(b"4",), rle_offsets=(0, 1), h=(2,), w=(2,), coords=empty_f, coord_offsets=no_polys, polygon_offsets=(0, 0)
    ):
        return _C.MaskSet(
            np.array(h, np.int64),
            np.array(w, np.int64),
            list(rle),
            np.array(rle_offsets, np.int64),
            coords,
            np.array(coord_offsets, np.int64),
            np.array(polygon_offsets, np.int64),
        )

    assert make().area.tolist() == [0]  # "4": four zeros
    with pytest.raises(TypeError, match="bytes"):
        make(rle=["abc"])
    with pytest.raises(ValueError, match="positive"):
        make(h=(0,))
    with pytest.raises(ValueError, match="rle_offsets"):
        make(rle_offsets=(0, 2))
    with pytest.raises(ValueError, match="odd number"):
        make(coords=np.zeros(7), coord_offsets=(0, 7), polygon_offsets=(0, 1))
    with pytest.raises(ValueError, match="far outside"):
        make(coords=np.array([0, 0, 1e6, 0, 0, 1.0]), coord_offsets=(0, 6), polygon_offsets=(0, 1))
    with pytest.raises(ValueError, match="far outside"):
        make(coords=np.array([0, 0, np.nan, 0, 0, 1.0]), coord_offsets=(0, 6), polygon_offsets=(0, 1))
    with pytest.raises(ValueError, match="one row per mask"):
        make().box_overlap(np.zeros((2, 4)), np.ones(2, np.uint8))


def test_grounding_evaluation_skips_undecodable_rle_and_counts_it():
    good = {"size": [20, 20], "counts": mu.encode(np.asfortranarray(np.ones((20, 20), np.uint8)))["counts"].decode()}
    recs = [
        {"completion": "<answer>(0,0),(1000,1000)</answer>", "width": 20, "height": 20, "segmentation": good},
        {
            "completion": "<answer>(0,0),(1000,1000)</answer>",
            "width": 20,
            "height": 20,
            "segmentation": {"size": [20, 20], "counts": "a" * 9},
        },
        {"completion": "<answer>(0,0),(500,500)</answer>", "width": 20, "height": 20, "box": [0, 0, 10, 10]},
    ]
    rep = evaluate_grounding(recs)
    assert rep.metrics["n"] == 2 and rep.metrics["n_mask"] == 1
    assert rep.metrics["gIoU"] == 1.0 and rep.metrics["mIoU"] == 1.0
    assert sum(rep.skipped.counts.values()) == 1
    with pytest.raises(Exception, match="segmentation"):
        evaluate_grounding(recs, strict=True)
