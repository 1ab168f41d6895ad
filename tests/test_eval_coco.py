"""COCO evaluation: every number bit-identical to pycocotools 2.0.11 (bbox).

Parity is exact (np.array_equal on stats and on every cell of precision / recall / scores) over
hundreds of seeded random datasets (see _eval_synth.py for what they contain) and hand-built
cases sitting exactly on each rule's boundary.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json

import numpy as np
import pytest

pycocotools = pytest.importorskip("pycocotools")
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval as RefCOCOeval  # noqa: E402

import vrft_rewards  # noqa: E402
from _eval_synth import make_dataset  # noqa: E402
from vrft_rewards.eval import COCOeval, GroundTruth, evaluate_coco  # noqa: E402

# ---- helpers -------------------------------------------------------------------------------------


def coco_from_dict(gt: dict) -> COCO:
    with contextlib.redirect_stdout(io.StringIO()):
        c = COCO()
        c.dataset = copy.deepcopy(gt)
        c.createIndex()
    return c


def reference(gt: dict, results, evaluator=RefCOCOeval, **params):
    """pycocotools' COCO objects on deep copies (loadRes and _prepare mutate their inputs), run
    through ``evaluator`` (pycocotools' COCOeval, or our drop-in): (evaluator, printed text)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        c = coco_from_dict(gt)
        d = c.loadRes(copy.deepcopy(results) if isinstance(results, list) else results)
        E = evaluator(c, d, "bbox")
        for k, v in params.items():
            setattr(E.params, k, v)
        E.evaluate()
        E.accumulate()
        E.summarize()
    return E, out.getvalue()


_OURS_KW = {
    "imgIds": "img_ids",
    "catIds": "cat_ids",
    "maxDets": "max_dets",
    "areaRng": "area_ranges",
    "useCats": "use_cats",
    "iouThrs": "iou_thrs",
    "recThrs": "rec_thrs",
}


def ours(gt, results, **params):
    return evaluate_coco(gt, results, **{_OURS_KW[k]: v for k, v in params.items()})


def assert_identical(ref: RefCOCOeval, res) -> None:
    assert np.array_equal(np.asarray(ref.stats), res.stats), (ref.stats, res.stats)
    for key, mine in (("precision", res.precision), ("recall", res.recall), ("scores", res.scores)):
        theirs = ref.eval[key]
        assert theirs.shape == mine.shape, (key, theirs.shape, mine.shape)
        diff = np.flatnonzero(theirs.ravel() != mine.ravel())
        assert diff.size == 0, f"{key}: {diff.size} cells differ, first {diff[:5]}"


def variant_params(seed: int, gt: dict) -> dict:
    """A parameter variant per seed: defaults, custom maxDets / thresholds / area ranges,
    useCats=0, category and image subsets."""
    rng = np.random.default_rng(10_000 + seed)
    v = seed % 8
    if v == 1:
        return {"maxDets": [1, 5, 10]}
    if v == 2:
        return {"useCats": 0}
    if v == 3:
        cats = [c["id"] for c in gt["categories"]]
        imgs = [im["id"] for im in gt["images"]]
        return {
            "catIds": sorted(rng.choice(cats, size=max(1, len(cats) // 2), replace=False).tolist()),
            "imgIds": sorted(rng.choice(imgs, size=max(1, len(imgs) // 2), replace=False).tolist()),
        }
    if v == 4:
        return {"iouThrs": np.array([0.3, 0.5, 0.75, 0.9, 1.0]), "recThrs": np.linspace(0, 1, 21)}
    if v == 5:
        return {"areaRng": [[0, 1e10], [0, 400.0], [400.0, 4000.0], [4000.0, 1e10]], "maxDets": [2, 20, 100]}
    if v == 6:
        return {"maxDets": [1, 10, 300]}  # no 100: stats[0] is -1, as in pycocotools
    if v == 7:
        return {"useCats": 0, "maxDets": [1, 3, 100]}
    return {}


# ---- parity sweeps -------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(400))
def test_random_datasets_match_pycocotools_exactly(seed):
    # Every stat and every precision / recall / scores cell, for a random dataset and a
    # parameter variant chosen by the seed; every 5th dataset has a GT with id 0.
    gt, results = make_dataset(seed, id_zero=(seed % 5 == 0))
    if not results:  # pycocotools' loadRes cannot take an empty list
        results = [{"image_id": gt["images"][0]["id"], "category_id": 999, "bbox": [0, 0, 1, 1], "score": 0.5}]
    params = variant_params(seed, gt)
    ref, _ = reference(gt, results, **params)
    assert_identical(ref, ours(gt, results, **params))


@pytest.mark.parametrize("seed", range(0, 240, 6))
def test_drop_in_cocoeval_on_pycocotools_objects_matches(seed):
    # The drop-in class, fed pycocotools COCO objects (GT and loadRes results), gives the same
    # stats and eval arrays, and prints the same summary lines.
    gt, results = make_dataset(seed, id_zero=(seed % 5 == 0))
    if not results:
        return
    params = variant_params(seed, gt)
    ref, ref_out = reference(gt, results, **params)
    E, out = reference(gt, results, evaluator=COCOeval, **params)
    assert np.array_equal(np.asarray(ref.stats), E.stats)
    for key in ("precision", "recall", "scores"):
        assert np.array_equal(ref.eval[key], E.eval[key])
    assert ref.eval["counts"] == E.eval["counts"]
    summary = lambda text: [ln for ln in text.splitlines() if ln.startswith(" Average")]  # noqa: E731
    assert summary(ref_out) == summary(out)
    assert E.params.imgIds == ref.params.imgIds and E.params.catIds == ref.params.catIds


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_larger_random_datasets_match_pycocotools_exactly(seed):
    # Larger sets: 400 images, 30 categories; default and useCats=0 parameters.
    gt, results = make_dataset(50_000 + seed, n_images=400, n_cats=30, id_zero=seed == 1)
    params = {} if seed % 2 == 0 else {"useCats": 0}
    ref, _ = reference(gt, results, **params)
    assert_identical(ref, ours(gt, results, **params))


# ---- rules on their boundaries ---------------------------------------------------------------------


def _gt(anns, n_images=1, cats=(1,)):
    images = [{"id": i + 1, "width": 640, "height": 480} for i in range(n_images)]
    full = []
    for i, a in enumerate(anns):
        b = dict(a)
        b.setdefault("id", i + 1)
        b.setdefault("image_id", 1)
        b.setdefault("category_id", 1)
        b.setdefault("iscrowd", 0)
        b.setdefault("area", b["bbox"][2] * b["bbox"][3])
        full.append(b)
    return {"images": images, "annotations": full, "categories": [{"id": c, "name": f"c{c}"} for c in cats]}


def _det(bbox, score, image_id=1, category_id=1):
    return {"image_id": image_id, "category_id": category_id, "bbox": bbox, "score": score}


EDGE_CASES = {
    # IoU exactly 0.5 (i = 100, u = 200) matches at t = 0.5 (>=), not at 0.55.
    "iou_exactly_on_threshold": (_gt([{"bbox": [0, 0, 10, 10]}]), [_det([0, 0, 10, 20], 0.9)]),
    # A perfect box still matches at IoU threshold 1.0 (bar capped at 1 - 1e-10).
    "perfect_match_at_threshold_one": (_gt([{"bbox": [3, 4, 20, 30]}]), [_det([3, 4, 20, 30], 0.4)]),
    # GT areas exactly 32**2 and 96**2 belong to both neighbouring ranges (inclusive bounds).
    "area_on_range_bounds": (
        _gt([{"bbox": [0, 0, 32, 32], "area": 1024.0}, {"bbox": [100, 100, 96, 96], "area": 9216.0}]),
        [_det([0, 0, 32, 32], 0.9), _det([100, 100, 96, 96], 0.8)],
    ),
    # GT area field differs from the box area: the field decides the range.
    "area_field_not_box_area": (_gt([{"bbox": [0, 0, 100, 100], "area": 500.0}]), [_det([0, 0, 100, 100], 0.9)]),
    # A crowd region absorbs several detections (IoU over the detection area), all ignored.
    "crowd_absorbs_many": (
        _gt([{"bbox": [0, 0, 200, 200], "iscrowd": 1}, {"bbox": [10, 10, 50, 50]}]),
        [
            _det([10, 10, 50, 50], 0.9),
            _det([20, 20, 30, 30], 0.8),
            _det([100, 100, 40, 40], 0.7),
            _det([0, 0, 150, 150], 0.6),
        ],
    ),
    # User `ignore` is overwritten by iscrowd (cocoapi #123): this GT counts.
    "user_ignore_overwritten": (_gt([{"bbox": [0, 0, 50, 50], "ignore": 1}]), [_det([0, 0, 50, 50], 0.9)]),
    # id-0 quirk: a match with GT id 0 reads as unmatched (false positive).
    "gt_id_zero": (
        _gt([{"bbox": [0, 0, 50, 50], "id": 0}, {"bbox": [100, 0, 50, 50], "id": 7}]),
        [_det([0, 0, 50, 50], 0.9), _det([100, 0, 50, 50], 0.8)],
    ),
    # Tied scores across images: the stable sort keeps image order, then result order.
    "tied_scores_across_images": (
        _gt([{"bbox": [0, 0, 50, 50], "image_id": 1}, {"bbox": [0, 0, 50, 50], "image_id": 2}], n_images=2),
        [
            _det([60, 60, 50, 50], 0.5, image_id=2),
            _det([0, 0, 50, 50], 0.5, image_id=1),
            _det([0, 0, 50, 50], 0.5, image_id=2),
            _det([200, 0, 50, 50], 0.5, image_id=1),
        ],
    ),
    # 150 detections in one (image, category): the per-(image, category) cap at maxDets[-1].
    "more_detections_than_max_dets": (
        _gt([{"bbox": [float(i * 4), 0.0, 30.0, 30.0]} for i in range(40)]),
        [_det([float(i * 2), 1.0, 30.0, 30.0], round(1 - i / 300, 3)) for i in range(150)],
    ),
    # Equal IoU with two GTs: the later GT wins (`iou < best: continue`, so >= replaces).
    "equal_iou_later_gt_wins": (
        _gt([{"bbox": [0, 0, 10, 10], "id": 5}, {"bbox": [10, 0, 10, 10], "id": 0}]),
        [_det([5, 0, 10, 10], 0.9)],
    ),
    # Negative width / height go through bbIou's formula unchanged.
    "negative_width_detection": (
        _gt([{"bbox": [0, 0, 50, 50]}]),
        [_det([60, 0, -20, 50], 0.9), _det([0, 0, 50, 50], 0.5)],
    ),
    # Images without detections, categories without GT, a detection of an unknown category.
    "empty_image_and_unknown_category": (
        _gt([{"bbox": [0, 0, 50, 50]}], n_images=3, cats=(1, 2)),
        [_det([0, 0, 50, 50], 0.9), _det([0, 0, 50, 50], 0.9, category_id=77)],
    ),
    # Only crowd GT: no positives anywhere (-1 everywhere).
    "only_crowd": (_gt([{"bbox": [0, 0, 50, 50], "iscrowd": 1}]), [_det([0, 0, 50, 50], 0.9)]),
}


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
@pytest.mark.parametrize(
    "variant", [{}, {"useCats": 0}, {"maxDets": [1, 2, 100]}, {"iouThrs": np.array([0.5, 0.55, 1.0])}]
)
def test_boundary_cases_match_pycocotools(name, variant):
    gt, results = EDGE_CASES[name]
    ref, _ = reference(gt, results, **variant)
    assert_identical(ref, ours(gt, results, **variant))


def test_gt_id_zero_reproduces_the_pycocotools_value():
    # The quirk's documented value (research/evaluators.md §6: "GT id 0, 2 perfect dets -> AP
    # 0.2525", measured with pycocotools): the match with GT id 0 counts as a false positive.
    gt = _gt([{"bbox": [0, 0, 50, 50], "id": 0}, {"bbox": [100, 0, 50, 50], "id": 1}])
    results = [_det([0, 0, 50, 50], 0.9), _det([100, 0, 50, 50], 0.8)]
    res = evaluate_coco(gt, results)
    assert abs(res.stats[0] - 0.2525) < 5e-5
    ref, _ = reference(gt, results)
    assert res.stats[0] == ref.stats[0]


# ---- inputs -------------------------------------------------------------------------------------------


def test_paths_dicts_coco_objects_and_arrays_give_identical_results(tmp_path):
    gt, results = make_dataset(7)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "res.json").write_text(json.dumps(results))
    arr = np.array([[r["image_id"], *r["bbox"], r["score"], r["category_id"]] for r in results])
    ref, _ = reference(gt, arr)  # pycocotools' loadNumpyAnnotations path
    base = evaluate_coco(gt, results)
    assert_identical(ref, base)
    for g, r in [
        (str(tmp_path / "gt.json"), str(tmp_path / "res.json")),
        (coco_from_dict(gt), results),
        (GroundTruth(gt), arr),
        (gt, arr),
    ]:
        assert_identical(ref, evaluate_coco(g, r))


def test_ground_truth_index_is_reusable_and_inputs_are_not_mutated():
    gt, results = make_dataset(11)
    gt_copy, res_copy = copy.deepcopy(gt), copy.deepcopy(results)
    index = GroundTruth(gt)
    a = evaluate_coco(index, results)
    b = evaluate_coco(index, results, max_dets=(1, 5, 100))
    c = evaluate_coco(index, results)
    assert np.array_equal(a.precision, c.precision) and np.array_equal(a.stats, c.stats)
    assert b.precision.shape == a.precision.shape
    assert gt == gt_copy and results == res_copy  # pycocotools' loadRes would add keys


def test_empty_results_mean_no_detections():
    # pycocotools' loadRes raises IndexError on []; we evaluate "no detections": recall 0,
    # precision 0 where GT exists, -1 elsewhere.  Same as pycocotools with an ignored detection.
    gt, _ = make_dataset(3)
    dummy = [_det([0, 0, 1, 1], 0.5, image_id=gt["images"][0]["id"], category_id=999)]
    ref, _ = reference(gt, dummy)
    assert_identical(ref, evaluate_coco(gt, []))
    assert_identical(ref, evaluate_coco(gt, np.zeros((0, 7))))


def test_results_do_not_depend_on_thread_count():
    gt, results = make_dataset(21, n_images=40, n_cats=6)
    old = vrft_rewards.get_num_threads()
    try:
        vrft_rewards.set_num_threads(1)
        one = evaluate_coco(gt, results)
        vrft_rewards.set_num_threads(3)
        three = evaluate_coco(gt, results)
    finally:
        vrft_rewards.set_num_threads(old)
    assert np.array_equal(one.precision, three.precision)
    assert np.array_equal(one.scores, three.scores) and np.array_equal(one.stats, three.stats)


# ---- result object -------------------------------------------------------------------------------------


def test_summary_text_is_pycocotools_printed_layout():
    gt, results = make_dataset(5)
    _, printed = reference(gt, results)
    ref_lines = [ln for ln in printed.splitlines() if ln.startswith(" Average")]
    assert evaluate_coco(gt, results).summary().splitlines() == ref_lines


def test_per_category_matches_a_slow_reference_over_pycocotools_arrays():
    gt, results = make_dataset(9, n_cats=5)
    ref, _ = reference(gt, results)
    res = evaluate_coco(gt, results)
    p, r = ref.eval["precision"], ref.eval["recall"]
    names = {c["id"]: c["name"] for c in gt["categories"]}

    def mean_valid(x):
        x = np.asarray(x, dtype=float).ravel()
        v = [e for e in x if e > -1]
        return -1.0 if not v else float(np.mean(v))

    assert [row["category_id"] for row in res.per_category] == sorted(names)
    for k, row in enumerate(res.per_category):
        assert row["name"] == names[row["category_id"]]
        assert row["AP"] == mean_valid(p[:, :, k, 0, -1])
        assert row["AP50"] == mean_valid(p[0, :, k, 0, -1])
        assert row["AP75"] == mean_valid(p[5, :, k, 0, -1])
        assert row["AR"] == mean_valid(r[:, k, 0, -1])


def test_to_dict_is_json_serialisable_and_names_the_stats():
    gt, results = make_dataset(13)
    res = evaluate_coco(gt, results)
    d = json.loads(json.dumps(res.to_dict()))
    assert list(d["stats"]) == ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]
    assert d["stats"]["AP"] == float(res.stats[0])
    assert len(d["per_category"]) == len(gt["categories"])


def test_drop_in_exposes_pycocotools_names():
    gt, results = make_dataset(2)
    with contextlib.redirect_stdout(io.StringIO()):
        E = COCOeval(coco_from_dict(gt), results, "bbox")
        for name in (
            "imgIds",
            "catIds",
            "iouThrs",
            "recThrs",
            "maxDets",
            "areaRng",
            "areaRngLbl",
            "useCats",
            "iouType",
        ):
            assert hasattr(E.params, name)
        E.evaluate()
        E.accumulate()
        E.summarize()
    assert set(E.eval) == {"params", "counts", "date", "precision", "recall", "scores"}
    assert len(E.stats) == 12


# ---- bad input -------------------------------------------------------------------------------------------

GOOD_GT = _gt([{"bbox": [0, 0, 50, 50]}])


@pytest.mark.parametrize("field", ["image_id", "category_id", "bbox", "score"])
def test_result_without_a_field_is_named(field):
    results = [_det([0, 0, 50, 50], 0.9), _det([0, 0, 50, 50], 0.8)]
    del results[1][field]
    with pytest.raises(ValueError, match=rf"results\[1\] has no '{field}'"):
        evaluate_coco(GOOD_GT, results)


@pytest.mark.parametrize("field", ["bbox", "area", "id", "image_id", "category_id"])
def test_gt_annotation_without_a_field_is_named(field):
    gt = copy.deepcopy(GOOD_GT)
    del gt["annotations"][0][field]
    with pytest.raises(ValueError, match=rf"gt\['annotations'\]\[0\] has no '{field}'"):
        evaluate_coco(gt, [_det([0, 0, 50, 50], 0.9)])


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_score_or_box_is_named(bad):
    with pytest.raises(ValueError, match=r"results\[1\]\['score'\] must be finite"):
        evaluate_coco(GOOD_GT, [_det([0, 0, 5, 5], 0.9), _det([0, 0, 5, 5], bad)])
    with pytest.raises(ValueError, match=r"results\[0\]\['bbox'\] must be finite"):
        evaluate_coco(GOOD_GT, [_det([0, bad, 5, 5], 0.9)])


def test_malformed_bbox_is_named():
    with pytest.raises(ValueError, match=r"results\[1\]\['bbox'\] must be 4 numbers"):
        evaluate_coco(GOOD_GT, [_det([0, 0, 5, 5], 0.9), _det([0, 0, 5], 0.9)])


def test_result_on_unknown_image_is_an_error_like_pycocotools_assert():
    results = [_det([0, 0, 5, 5], 0.9), _det([0, 0, 5, 5], 0.9, image_id=42)]
    with pytest.raises(AssertionError):
        reference(GOOD_GT, results)
    with pytest.raises(ValueError, match=r"results\[1\]\['image_id'\] = 42 is not an image"):
        evaluate_coco(GOOD_GT, results)


def test_bad_array_shape_and_types_are_rejected():
    with pytest.raises(ValueError, match=r"shape \(N, 7\)"):
        evaluate_coco(GOOD_GT, np.zeros((3, 6)))
    with pytest.raises(TypeError, match="results must be"):
        evaluate_coco(GOOD_GT, 42)
    with pytest.raises(TypeError, match="gt must be"):
        evaluate_coco(42, [])
    with pytest.raises(ValueError, match="max_dets"):
        evaluate_coco(GOOD_GT, [], max_dets=())
    with pytest.raises(ValueError, match="area_ranges"):
        evaluate_coco(GOOD_GT, [], area_ranges=[1, 2, 3])


def test_unknown_iou_type_says_what_is_supported():
    gt, results = make_dataset(1)
    with pytest.raises(ValueError, match="iou_type must be one of 'bbox', 'segm', 'keypoints'"):
        evaluate_coco(gt, results, iou_type="mask")


def test_fewer_than_three_max_dets_fails_like_pycocotools():
    # pycocotools' summarize indexes maxDets[2]: IndexError in both.
    results = [_det([0, 0, 50, 50], 0.9)]
    with pytest.raises(IndexError):
        reference(GOOD_GT, results, maxDets=[1, 10])
    with pytest.raises(IndexError):
        evaluate_coco(GOOD_GT, results, max_dets=[1, 10])


# ---- results files: native fast path vs the general JSON loader --------------------------------------


def test_results_file_fast_path_reads_the_same_numbers_as_json(tmp_path):
    # Random doubles printed with repr (17 significant digits), integers, exponents, extra keys
    # with nested values: the native parser must give exactly Python's float(token).
    from vrft_rewards._ext import _C
    from vrft_rewards.cocoeval.detections import Detections, load_results_file

    rng = np.random.default_rng(5)
    recs = []
    for _ in range(500):
        b = [float(v) for v in rng.uniform(-10, 1000, 4) * 10.0 ** rng.integers(-6, 6, 4)]
        recs.append(
            {
                "image_id": int(rng.integers(0, 2**40)),
                "category_id": int(rng.integers(1, 90)),
                "bbox": b,
                "score": float(rng.random()),
                "segmentation": {"size": [3, 4], "counts": 'ab\\"c'},
                "extra": [[1, 2], None, True],
            }
        )
    odd = (
        '{"score": 1e-3, "bbox": [2E+2, -0, 12345678901234567890.5, 0.1], "category_id": 3,'
        ' "image_id": 7, "score": 1e-300}'
    )  # repeated key: the last value wins, as in json
    text = json.dumps(recs)[:-1] + ", " + odd + "]"
    path = tmp_path / "res.json"
    path.write_text(text)
    cols = _C.eval_parse_results(path.read_bytes())
    assert cols is not None
    ref = Detections.from_records(json.loads(text))
    assert np.array_equal(cols["bbox"], ref.box) and np.array_equal(cols["score"], ref.score)
    assert np.array_equal(cols["image_id"], ref.image_id)
    assert np.array_equal(cols["category_id"], ref.category_id)
    d = load_results_file(path)
    assert np.array_equal(d.box, ref.box) and np.array_equal(d.area, ref.area)


@pytest.mark.parametrize(
    "text, match",
    [
        (
            '[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5], "score": NaN}]',
            r"results\[0\]\['score'\] must be finite",
        ),
        (
            '[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.5}, '
            '{"image_id": 1, "bbox": [0, 0, 5, 5], "score": 0.5}]',
            r"results\[1\] has no 'category_id'",
        ),
        (
            '[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 5], "score": 0.5}]',
            r"results\[0\]\['bbox'\] must be 4 numbers",
        ),
        (
            '[{"image_id": 1.5, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.5}]',
            r"results\[0\]\['image_id'\] must be an integer id",
        ),
    ],
)
def test_malformed_results_files_fall_back_and_name_the_record(tmp_path, text, match):
    path = tmp_path / "res.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        evaluate_coco(GOOD_GT, str(path))


def test_results_file_with_float_ids_and_unicode_keys_matches_dicts(tmp_path):
    # `3.0` ids are accepted (as int(3.0)); an escaped key is left to the general loader.
    recs = [{"image_id": 1.0, "category_id": 1, "bbox": [0, 0, 50, 50], "score": 0.9}]
    path = tmp_path / "res.json"
    path.write_text(json.dumps(recs))
    assert np.array_equal(
        evaluate_coco(GOOD_GT, str(path)).stats, evaluate_coco(GOOD_GT, [dict(recs[0], image_id=1)]).stats
    )
    path.write_text('[{"image_\\u0069d": 1, "category_id": 1, "bbox": [0, 0, 50, 50], "score": 0.9}]')
    assert np.array_equal(
        evaluate_coco(GOOD_GT, str(path)).stats, evaluate_coco(GOOD_GT, [dict(recs[0], image_id=1)]).stats
    )


def test_large_results_file_parses_the_same_in_parallel_and_serially(tmp_path):
    # > 8 MB: cut at record boundaries and parsed by 2 threads.  A string holding "}, {" near the
    # cut can fool the cut finder; the chunk parses then fail and the serial parser takes over.
    # Same numbers every way.
    from vrft_rewards._ext import _C

    rng = np.random.default_rng(3)
    n = 120_000
    recs = [
        {"image_id": int(i % 97), "category_id": int(i % 7), "score": float(s), "bbox": [float(v) for v in b]}
        for i, s, b in zip(range(n), rng.random(n), rng.random((n, 4)) * 100)
    ]
    text = json.dumps(recs)
    mid = text.index("}, {", len(text) // 2)
    tricky = (
        text[: mid + 1]
        + ', {"image_id": 1, "category_id": 1, "score": 0.5, "bbox": [0, 0, 1, 1], "note": "}, {\\"x\\": 1}, {"}'
        + text[mid + 1 :]
    )
    old = vrft_rewards.get_num_threads()
    try:
        for body in (text, tricky):
            vrft_rewards.set_num_threads(2)
            par = _C.eval_parse_results(body.encode())
            vrft_rewards.set_num_threads(1)
            ser = _C.eval_parse_results(body.encode())
            ref = json.loads(body)
            assert len(par["score"]) == len(ref)
            for key in ("image_id", "category_id", "bbox", "score"):
                assert np.array_equal(par[key], ser[key])
            assert np.array_equal(par["bbox"], np.array([r["bbox"] for r in ref]))
    finally:
        vrft_rewards.set_num_threads(old)


def test_concurrent_evaluations_from_python_threads_agree():
    # The GIL is released during the native calls; several Python threads evaluating at once
    # (sharing the thread pool and one GroundTruth) get the single-threaded answer.
    from concurrent.futures import ThreadPoolExecutor

    gt, results = make_dataset(31, n_images=30, n_cats=5)
    index = GroundTruth(gt)
    expected = evaluate_coco(index, results)
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda _: evaluate_coco(index, results), range(8)))
    for out in outs:
        assert np.array_equal(out.precision, expected.precision)
        assert np.array_equal(out.scores, expected.scores)
        assert np.array_equal(out.stats, expected.stats)
