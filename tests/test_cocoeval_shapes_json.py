"""Mask and keypoint results read from a JSON file: the native reader (``_C.eval_read_shape_results``,
csrc/eval/shape_results_json.h) against the general reader (``load_json`` + the record loader) and
pycocotools 2.0.11 / lvis-api 0.5.3.

Every file is evaluated three ways: ours from the path (the native reader where the file is on its
path), ours from the path with the native reader switched off, and the reference's loadRes of the
same file; stats, precision, recall and scores must be ``np.array_equal``.  Each case also states
whether the native reader takes the file, so a reader that silently gave up everything would fail.
Files off its path (NaN tokens, escaped keys, wrong types, deep nesting) must give the general
reader's result or its error, naming the record, unchanged.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import pathlib

import numpy as np
import pytest

pytest.importorskip("pycocotools")
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval as RefCOCOeval  # noqa: E402

from _segm_synth import SIGMAS17, _counts, _decode, _irregular, make_keypoint_dataset, make_segm_dataset  # noqa: E402
from vrft_rewards import _C  # noqa: E402
from vrft_rewards.cocoeval import loadres  # noqa: E402
from vrft_rewards.eval import evaluate_coco, evaluate_lvis  # noqa: E402

REAL = pathlib.Path("/work/shared/data/real-coco")


def quiet(f, *a, **k):
    with contextlib.redirect_stdout(io.StringIO()):
        return f(*a, **k)


@pytest.fixture
def spy(monkeypatch):
    """Records whether the native reader took each file; ``spy.off()`` switches it off."""
    real = loadres._from_file

    class Spy:
        taken: list = []

        def off(self):
            monkeypatch.setattr(loadres, "_from_file", lambda *a, **k: None)

        def on(self):
            monkeypatch.setattr(loadres, "_from_file", wrapped)

    s = Spy()
    s.taken = []

    def wrapped(*a, **k):
        out = real(*a, **k)
        s.taken.append(out is not None)
        return out

    s.on()
    return s


def reference(gt: dict, path: str, iou_type: str, sigmas=None) -> RefCOCOeval:
    g = COCO()
    g.dataset = copy.deepcopy(gt)
    quiet(g.createIndex)
    E = RefCOCOeval(g, quiet(g.loadRes, path), iou_type)
    if sigmas is not None:
        E.params.kpt_oks_sigmas = np.asarray(sigmas)
    quiet(E.evaluate)
    quiet(E.accumulate)
    quiet(E.summarize)
    return E


def same(a, b) -> None:
    assert np.array_equal(a.stats, b.stats), (a.stats, b.stats)
    for key in ("precision", "recall", "scores"):
        assert np.array_equal(getattr(a, key), getattr(b, key)), key


def same_as_reference(ref: RefCOCOeval, res) -> None:
    assert np.array_equal(np.asarray(ref.stats), res.stats), (ref.stats, res.stats)
    for key in ("precision", "recall", "scores"):
        assert np.array_equal(ref.eval[key], getattr(res, key)), key


def three_ways(spy, tmp_path, gt, text: str, iou_type: str, *, taken: bool, sigmas=None, reference_too=True):
    """Ours with the native reader, ours without it, pycocotools: all equal; ``taken``: whether the
    native reader must take the file."""
    path = tmp_path / "res.json"
    path.write_text(text, encoding="utf-8")
    kw = {"iou_type": iou_type, "kpt_oks_sigmas": sigmas}
    spy.taken.clear()
    fast = evaluate_coco(gt, str(path), **kw)
    assert spy.taken == [taken]
    spy.off()
    slow = evaluate_coco(gt, str(path), **kw)
    spy.on()
    same(fast, slow)
    if reference_too:
        same_as_reference(reference(gt, str(path), iou_type, sigmas), fast)
    return fast


def same_error(spy, tmp_path, gt, text: str, iou_type: str, *, taken: bool = False, sigmas=None):
    """The file fails the same way with and without the native reader (which must not take it)."""
    path = tmp_path / "res.json"
    path.write_bytes(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    kw = {"iou_type": iou_type, "kpt_oks_sigmas": sigmas}
    spy.taken.clear()
    with pytest.raises(Exception) as fast:
        evaluate_coco(gt, str(path), **kw)
    assert spy.taken in ([taken], [])
    spy.off()
    with pytest.raises(Exception) as slow:
        evaluate_coco(gt, str(path), **kw)
    spy.on()
    assert type(fast.value) is type(slow.value)
    assert str(fast.value) == str(slow.value)
    return fast.value


def jsonable(obj):
    """``obj`` with bytes (pycocotools' compressed counts) as str, as a results file holds them."""
    if isinstance(obj, bytes):
        return obj.decode("ascii")
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    return obj


def _dumps(records, seed: int) -> str:
    """The records as JSON in one of several writers' layouts (compact, indented, keys shuffled,
    non-ASCII kept, slashes escaped)."""
    rng = np.random.default_rng(seed)
    style = seed % 5
    if style == 2:  # keys in another order (the shape before image_id)
        records = [dict(sorted(r.items(), key=lambda kv: rng.random())) for r in records]
    if style == 3:
        extra = {"nested": [[1, 2], {"a": None}], "t": True}
        records = [dict(r, note="caf\u00e9 \u2603", extra=extra) for r in records]
    if style == 1:
        return json.dumps(records, indent=2)
    if style == 3:
        return json.dumps(records, ensure_ascii=bool(seed % 2))
    text = json.dumps(records, separators=(",", ":"))
    if style == 4:  # a writer that escapes '/' (PHP, some Java): legal JSON, same strings
        text = text.replace("/", "\\/")
    return text


# ---- random sets: native == general == pycocotools -------------------------------------------------


@pytest.mark.parametrize("seed", range(24))
def test_random_mask_files(spy, tmp_path, seed):
    form = ["rle", "bbox", "mixed"][seed % 3]
    gt, results = make_segm_dataset(seed, results_form=form)
    if not results:
        return
    results = jsonable(results)
    three_ways(spy, tmp_path, gt, _dumps(results, seed), "segm", taken=True)


@pytest.mark.parametrize("seed", range(24))
def test_random_keypoint_files(spy, tmp_path, seed):
    K = 17 if seed % 3 else int(np.random.default_rng(seed).integers(1, 30))
    gt, results = make_keypoint_dataset(seed, num_keypoints=K)
    if not results:
        return
    sigmas = None if K == 17 else np.random.default_rng(seed).uniform(0.02, 0.2, K)
    three_ways(spy, tmp_path, gt, _dumps(results, seed), "keypoints", taken=True, sigmas=sigmas)


@pytest.mark.parametrize("seed", range(8))
def test_random_lvis_mask_files(spy, tmp_path, seed):
    gt, results = make_segm_dataset(seed, lvis=True, results_form=["rle", "bbox"][seed % 2])
    if not results:
        return
    results = jsonable(results)
    max_dets = [300, 3, -1, 1][seed % 4]
    path = tmp_path / "res.json"
    path.write_text(_dumps(results, seed))
    spy.taken.clear()
    fast = evaluate_lvis(gt, str(path), iou_type="segm", max_dets=max_dets)
    assert spy.taken == [True]
    spy.off()
    slow = evaluate_lvis(gt, str(path), iou_type="segm", max_dets=max_dets)
    for k in slow.results:
        assert np.array_equal(fast.results[k], slow.results[k]), k
    assert np.array_equal(fast.precision, slow.precision) and np.array_equal(fast.recall, slow.recall)
    lvis = pytest.importorskip("lvis")
    from _pipeline_data import lvis_api_compat

    with lvis_api_compat():
        g = lvis.LVIS.__new__(lvis.LVIS)
        g.logger, g.dataset = logging.getLogger("lvis"), copy.deepcopy(gt)
        g._create_index()
        E = lvis.LVISEval(g, lvis.LVISResults(g, str(path), max_dets=max_dets), "segm")
        E.run()
    for k in E.results:
        assert np.array_equal(E.results[k], fast.results[k]), k
    assert np.array_equal(E.eval["precision"], fast.precision)


def test_lvis_branch_after_the_cap_from_a_file(spy, tmp_path):
    # The first record has no bbox and is capped away: the next (with a bbox) decides the branch.
    from pycocotools import mask as mask_utils

    gt, results = make_segm_dataset(5, lvis=True, results_form="rle", n_images=3)
    results = jsonable(results)
    for r in results[1:]:
        r["bbox"] = [float(v) * 1.7 for v in mask_utils.toBbox(r["segmentation"])]
    results[0]["score"] = -1.0
    cap = sum(r["image_id"] == results[0]["image_id"] for r in results) - 1
    path = tmp_path / "res.json"
    path.write_text(json.dumps(results))
    fast = evaluate_lvis(gt, str(path), iou_type="segm", max_dets=cap)
    assert spy.taken == [True]
    spy.off()
    slow = evaluate_lvis(gt, str(path), iou_type="segm", max_dets=cap)
    assert all(np.array_equal(fast.results[k], slow.results[k]) for k in slow.results)
    assert np.array_equal(fast.precision, slow.precision)


# ---- adversarial files ------------------------------------------------------------------------------


def _segm_case():
    gt, results = make_segm_dataset(3, results_form="rle")
    assert results
    return gt, jsonable(results)


def _kp_case():
    gt, results = make_keypoint_dataset(4, with_bbox=False)
    assert results
    return gt, results


def _poly(x, y, s):
    return [x, y, x + s, y, x + s, y + s, x, y + s]


def test_polygon_files_degenerate_huge_outside(spy, tmp_path):
    gt, results = _segm_case()
    img = gt["images"][0]
    W, H = img["width"], img["height"]
    cat = gt["categories"][0]["id"]
    extra = [
        [[5.0, 5.0, 5.0, 5.0, 5.0, 5.0]],  # one point, three times
        [[0, 0, 10, 10, 20, 20]],  # collinear
        [_poly(-50, -50, 20)],  # wholly outside
        [_poly(-1e6, -1e6, 3e6)],  # huge, covering the image
        [_poly(W - 5, H - 5, 50), [1, 2, 3]],  # partly outside; a later polygon of one point + 1
        [_poly(10, 10, 30), _poly(20, 20, 5), []],  # overlapping parts; an empty later polygon
        [[1.5, 2.25, 30.125, 2.5, 15, 40.75, 7]],  # odd count: the last coordinate is dropped
        [[-0, 0, 10, -0.0, 10, 10]],  # -0 tokens
    ]
    recs = [dict(r) for r in results]
    for i, seg in enumerate(extra):
        recs.append({"image_id": img["id"], "category_id": cat, "segmentation": seg, "score": 0.1 + i / 20})
    # loadRes' segm branch takes compressed RLE only (pycocotools fails on polygons there).
    three_ways(spy, tmp_path, gt, json.dumps(recs), "segm", taken=True, reference_too=False)
    boxed = [dict(r, bbox=[1.0, 2.0, 30.0, 40.0]) for r in recs]
    three_ways(spy, tmp_path, gt, json.dumps(boxed), "segm", taken=True)


def test_rle_counts_as_lists_and_strings(spy, tmp_path):
    gt, results = _segm_case()
    recs = []
    for i, r in enumerate(results):
        seg = r["segmentation"]
        if i % 2:  # uncompressed counts of the same mask (some with zero-length runs)
            counts = _counts(_decode(seg, *seg["size"]))
            seg = {"size": seg["size"], "counts": _irregular(counts, np.random.default_rng(i)) if i % 3 else counts}
        recs.append(dict(r, segmentation=seg, bbox=[1, 2, 3, 4]))
    three_ways(spy, tmp_path, gt, json.dumps(recs), "segm", taken=True)


def test_rle_strings_with_backslashes_and_slash_escapes(spy, tmp_path):
    gt, results = _segm_case()
    has_backslash = [r for r in results if "\\" in r["segmentation"]["counts"]]
    text = json.dumps(results).replace("/", "\\/")
    three_ways(spy, tmp_path, gt, text, "segm", taken=True)
    assert has_backslash or "\\\\" not in text  # the case is only meaningful with one; usually there is


def test_unicode_escape_in_an_rle_string_falls_back(spy, tmp_path):
    gt, results = _segm_case()
    counts = results[0]["segmentation"]["counts"]
    c = counts[0]
    text = json.dumps(results).replace(json.dumps(counts), json.dumps(counts).replace(c, "\\u%04x" % ord(c), 1), 1)
    assert "\\u00" in text
    three_ways(spy, tmp_path, gt, text, "segm", taken=False)


def test_escaped_keys_fall_back(spy, tmp_path):
    # "image\u005fid" is image_id to Python; the duplicate decides (the last wins).
    gt, results = _segm_case()
    other = gt["images"][-1]["id"]
    recs = json.dumps(results[0])[1:-1]
    text = json.dumps(results)[:-1] + ", {" + recs + ', "image\\u005fid": ' + str(other) + "}]"
    three_ways(spy, tmp_path, gt, text, "segm", taken=False)


def test_duplicate_keys_last_wins(spy, tmp_path):
    gt, results = _segm_case()
    first = results[0]
    dup = '{"image_id": 999999, "score": 7, ' + json.dumps(first)[1:]
    text = "[" + dup + ", " + json.dumps(results[1:])[1:]
    three_ways(spy, tmp_path, gt, text, "segm", taken=True)


def test_keypoint_files_of_other_sizes_and_values(spy, tmp_path):
    gt, results = make_keypoint_dataset(6, num_keypoints=5, with_bbox=False)
    sig = np.linspace(0.03, 0.1, 5)
    recs = [dict(r) for r in results]
    recs[0]["keypoints"] = [float(v) for v in recs[0]["keypoints"]]
    recs[1]["keypoints"] = [int(round(v)) for v in recs[1]["keypoints"]]
    recs[2]["keypoints"] = [2**53] + recs[2]["keypoints"][1:]  # the largest exact integer
    recs[3]["keypoints"] = [1e-300, -0.0] + recs[3]["keypoints"][2:]
    text = json.dumps(recs).replace('"keypoints": [0,', '"keypoints": [-0,')
    three_ways(spy, tmp_path, gt, text, "keypoints", taken=True, sigmas=sig)
    with_box = [dict(r, bbox=[0.5, 1, 20, 30.25]) for r in recs]
    three_ways(spy, tmp_path, gt, json.dumps(with_box), "keypoints", taken=True, sigmas=sig)


def test_keypoint_file_whose_first_record_has_a_segmentation(spy, tmp_path):
    # loadRes' segm branch: area and box of the mask; the native reader leaves it to the records.
    from pycocotools import mask as mask_utils

    gt, results = _kp_case()
    sizes = {im["id"]: (im["height"], im["width"]) for im in gt["images"]}
    recs = []
    for i, r in enumerate(results):
        h, w = sizes[r["image_id"]]
        rle = mask_utils.frPyObjects([[1, 1, 40 + i, 1, 40 + i, 40, 1, 40]], h, w)[0]
        recs.append(dict(r, segmentation={"size": rle["size"], "counts": rle["counts"].decode()}))
    three_ways(spy, tmp_path, gt, json.dumps(recs), "keypoints", taken=False)


def test_empty_list(spy, tmp_path):
    gt, _ = _segm_case()
    # pycocotools' loadRes fails on an empty list (anns[0]); ours: nothing detected.
    fast = three_ways(spy, tmp_path, gt, " [ ] \n", "segm", taken=True, reference_too=False)
    assert fast.stats[0] == 0 and fast.stats[8] == 0
    gk, _ = _kp_case()
    three_ways(spy, tmp_path, gk, "[]", "keypoints", taken=True, reference_too=False)


def test_deep_nesting_in_an_extra_field(spy, tmp_path):
    gt, results = _segm_case()
    deep = "[" * 200 + "]" * 200
    text = json.dumps(results)[:-1] + ', {"extra": ' + deep + ", " + json.dumps(results[0])[1:] + "]"
    three_ways(spy, tmp_path, gt, text, "segm", taken=False)
    shallow = "[" * 20 + "1" + "]" * 20
    text = json.dumps(results)[:-1] + ', {"extra": ' + shallow + ", " + json.dumps(results[0])[1:] + "]"
    three_ways(spy, tmp_path, gt, text, "segm", taken=True)


def test_nan_and_infinity_tokens_give_the_general_error(spy, tmp_path):
    gt, results = _segm_case()
    text = json.dumps(results)
    err = same_error(spy, tmp_path, gt, text.replace('"score": ', '"score": NaN, "s0": ', 1), "segm")
    assert "[0]['score'] must be finite" in str(err)
    boxed = json.dumps([dict(r, bbox=[1, 2, 3, 4]) for r in results]).replace("[1, 2, 3, 4]", "[1, 2, Infinity, 4]", 1)
    err = same_error(spy, tmp_path, gt, boxed, "segm")
    assert "must be finite" in str(err)
    gk, rk = _kp_case()
    kp = json.dumps(rk).replace('"keypoints": [', '"keypoints": [-Infinity, ', 1).replace(", ", ", ", 1)
    same_error(spy, tmp_path, gk, kp, "keypoints")


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda r: r.pop("score"), "score"),
        (lambda r: r.pop("image_id"), "image_id"),
        (lambda r: r.pop("segmentation"), "segmentation"),
        (lambda r: r.update(image_id="1"), "image_id"),
        (lambda r: r.update(category_id=1.5), "category_id"),
        (lambda r: r.update(score="high"), "score"),
        (lambda r: r.update(segmentation=[]), "segmentation"),
        (lambda r: r.update(segmentation=[[1, 2, 3, 4]]), "segmentation"),
        (lambda r: r.update(segmentation={"size": [10, 10]}), "segmentation"),
        (lambda r: r.update(segmentation={"size": [10, 10], "counts": [50, 51]}), "segmentation"),
        (lambda r: r.update(segmentation={"size": [10, 10], "counts": "!!"}), "segmentation"),
        (lambda r: r.update(segmentation=[[1e9, 0, 5, 5, 0, 5]]), "segmentation"),
        (lambda r: r.update(segmentation="polygon"), "segmentation"),
    ],
)
def test_bad_mask_records_are_named_by_the_general_reader(spy, tmp_path, edit, match):
    gt, results = _segm_case()
    recs = [dict(r) for r in results]
    edit(recs[min(2, len(recs) - 1)])
    err = same_error(spy, tmp_path, gt, json.dumps(recs), "segm")
    assert match in str(err) or isinstance(err, KeyError)


def test_polygon_on_an_image_without_size_is_named(spy, tmp_path):
    gt, results = _segm_case()
    gt = copy.deepcopy(gt)
    del gt["images"][0]["height"]
    recs = [dict(r) for r in results]
    recs[0] = dict(recs[0], image_id=gt["images"][0]["id"], segmentation=[_poly(1, 1, 5)])
    err = same_error(spy, tmp_path, gt, json.dumps(recs), "segm")
    assert "height" in str(err)


@pytest.mark.parametrize(
    "edit",
    [
        lambda r: r.pop("keypoints"),
        lambda r: r.update(keypoints=r["keypoints"][:-1]),
        lambda r: r.update(keypoints=r["keypoints"] + [1, 2, 3]),
        lambda r: r.update(keypoints=[2**53 + 1] + r["keypoints"][1:]),
        lambda r: r.update(keypoints=["1"] + r["keypoints"][1:]),
        lambda r: r.update(keypoints=None),
        lambda r: r.update(bbox=[1, 2, 3]),
    ],
)
def test_bad_keypoint_records_are_named_by_the_general_reader(spy, tmp_path, edit):
    gt, results = _kp_case()
    recs = [dict(r) for r in results]
    edit(recs[min(1, len(recs) - 1)])
    if "bbox" in recs[min(1, len(recs) - 1)]:
        recs[0]["bbox"] = [1, 2, 3, 4]
    err = same_error(spy, tmp_path, gt, json.dumps(recs), "keypoints", sigmas=SIGMAS17 / 10.0)
    assert "results[" in str(err) or "keypoints" in str(err)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{}",
        '{"annotations": []}',
        "[1, 2]",
        '[{"image_id": 1}',
        '[{"image_id": 1, "category_id": 1, "score": 0.5, "segmentation": {"size": [2, 2], "counts": "04"}}] x',
        b'[{"image_id": 1, "category_id": 1, "score": 0.5, "n": "\xff", "segmentation": []}]',
        "[" * 100_000,
    ],
)
def test_malformed_files_give_the_general_error(spy, tmp_path, text):
    gt, _ = _segm_case()
    same_error(spy, tmp_path, gt, text, "segm")


# ---- the native reader's own contract ----------------------------------------------------------------


def test_reader_returns_none_off_its_path_and_for_missing_files(tmp_path):
    z = np.zeros(0, np.int64)
    assert _C.eval_read_shape_results(str(tmp_path / "absent.json").encode(), z, z, z, True, 0) is None
    p = tmp_path / "r.json"
    p.write_text('[{"image_id": 1, "category_id": 2, "score": 0.5, "keypoints": [1, 2, 2]}]')
    out = _C.eval_read_shape_results(str(p).encode(), z, z, z, False, 1)
    assert out["keypoints"].tolist() == [[1.0, 2.0, 2.0]] and out["kp_integral"].tolist() == [1]
    assert _C.eval_read_shape_results(str(p).encode(), z, z, z, False, 2) is None  # 3 values, not 6
    assert _C.eval_read_shape_results(str(p).encode(), z, z, z, True, 0) is None  # no segmentation
    with pytest.raises(ValueError, match="num_keypoints"):
        _C.eval_read_shape_results(str(p).encode(), z, z, z, False, -1)
    with pytest.raises(ValueError, match="heights"):
        _C.eval_read_shape_results(str(p).encode(), np.zeros(2, np.int64), z, z, True, 0)


def test_repeated_gt_image_id_takes_its_first_size(tmp_path):
    ids, h, w = np.array([7, 3, 7], np.int64), np.array([10, 20, 30], np.int64), np.array([11, 21, 31], np.int64)
    p = tmp_path / "r.json"
    p.write_text('[{"image_id": 7, "category_id": 1, "score": 1, "segmentation": [[1, 1, 5, 1, 5, 5]]}]')
    out = _C.eval_read_shape_results(str(p).encode(), ids, h, w, True, 0)
    area, box = _C.segm_area_box(out["masks"])
    ref = _C.segm_area_box(_C.segm_arena([[[1, 1, 5, 1, 5, 5]]], np.array([10]), np.array([11]), None, "r"))
    assert np.array_equal(area, ref[0]) and np.array_equal(box, ref[1])


# ---- real files -----------------------------------------------------------------------------------


def _real(name):
    path = REAL / name
    if not path.exists():
        pytest.skip(f"real fixture {path} absent")
    return path


def test_real_val2014_segm_results_file(spy, tmp_path):
    gt = json.loads(_real("faster_coco_eval/dataset__cocoapi__instances_val2014_100.json").read_text())
    text = _real("cocoapi/instances_val2014_fakesegm100_results.json").read_text()
    mine = three_ways(spy, tmp_path, gt, text, "segm", taken=True)
    assert round(float(mine.stats[0]), 3) == 0.320  # cocoapi's published printout


def test_real_box_results_file_evaluated_as_masks(spy, tmp_path):
    gt = json.loads(_real("faster_coco_eval/dataset__cocoapi__instances_val2014_100.json").read_text())
    text = _real("cocoapi/instances_val2014_fakebbox100_results.json").read_text()
    # No segmentation: loadRes' bbox branch gives each its box polygon.
    three_ways(spy, tmp_path, gt, text, "segm", taken=True)


def test_real_polygon_results_file(spy, tmp_path):
    gt = json.loads(_real("faster_coco_eval/dataset__gt_dataset.json").read_text())
    text = _real("faster_coco_eval/dataset__dt_dataset.json").read_text()
    three_ways(spy, tmp_path, gt, text, "segm", taken=True)


def test_real_keypoint_results_file(spy, tmp_path):
    gt = json.loads(_real("faster_coco_eval/keypoints_dataset__gt_dataset.json").read_text())
    text = _real("faster_coco_eval/keypoints_dataset__dt_dataset.json").read_text()
    three_ways(spy, tmp_path, gt, text, "keypoints", taken=True)


def test_dropin_views_of_a_results_file_show_its_records(spy, tmp_path):
    # COCOeval(gt, path): the native reader keeps no dicts; _dts reads them from the file.
    from vrft_rewards.eval import COCOeval

    gt, results = _segm_case()
    path = tmp_path / "res.json"
    path.write_text(json.dumps(results))

    def views():
        D = COCOeval(copy.deepcopy(gt), str(path), "segm")
        quiet(D.evaluate)
        return {k: v for k, v in D._dts.items() if v}

    fast = views()
    assert True in spy.taken
    spy.off()
    slow = views()
    assert fast == slow and sum(len(v) for v in fast.values()) == len(results)
    assert all("segmentation" in d for v in fast.values() for d in v)


def test_repeated_keypoints_key_last_wins(spy, tmp_path):
    gt, results = _kp_case()
    first = json.dumps(results[0])
    twice = '{"keypoints": ' + json.dumps([9.5] * len(results[0]["keypoints"])) + ", " + first[1:]
    text = "[" + twice + ", " + json.dumps(results[1:])[1:]
    three_ways(spy, tmp_path, gt, text, "keypoints", taken=True)
    shorter = '{"keypoints": [1, 2], ' + first[1:]  # a first value of the wrong length: the last wins
    text = "[" + shorter + ", " + json.dumps(results[1:])[1:]
    three_ways(spy, tmp_path, gt, text, "keypoints", taken=False)


def _outcome(gt, path, iou_type):
    try:
        r = evaluate_coco(gt, path, iou_type=iou_type)
        return ("ok", r.stats.tobytes(), r.precision.tobytes(), r.recall.tobytes())
    except Exception as e:  # noqa: BLE001 - the general reader's error, whatever it is
        return ("error", type(e).__name__, str(e))


@pytest.mark.parametrize("seed", range(4))
def test_mutated_files_give_the_general_readers_outcome(spy, tmp_path, seed):
    # Seeded byte-level mutations (deleted, inserted, duplicated characters and tokens) of small
    # valid files: with or without the native reader, the same numbers or the same error.
    rng = np.random.default_rng(seed)
    g1, r1 = make_segm_dataset(3, results_form="mixed", n_images=3)
    g2, r2 = make_keypoint_dataset(4, n_images=3)
    cases = [(g1, json.dumps(jsonable(r1[:6])), "segm"), (g2, json.dumps(r2[:6]), "keypoints")]
    tokens = list('[]{},:"\\-.0123456789eE tnfu') + ['"segmentation"', '"keypoints"', '"bbox"', '"counts"', "NaN"]
    path = tmp_path / "res.json"
    for k in range(30):
        gt, text, iou_type = cases[k % 2]
        chars = list(text)
        for _ in range(int(rng.integers(1, 4))):
            op, p = rng.integers(0, 3), int(rng.integers(0, len(chars)))
            if op == 0:
                del chars[p]
            elif op == 1:
                chars.insert(p, tokens[rng.integers(0, len(tokens))])
            else:
                chars[p:p] = chars[p : p + int(rng.integers(1, 30))]
        path.write_text("".join(chars))
        fast = _outcome(gt, str(path), iou_type)
        spy.off()
        slow = _outcome(gt, str(path), iou_type)
        spy.on()
        assert fast == slow, "".join(chars)[:400]
