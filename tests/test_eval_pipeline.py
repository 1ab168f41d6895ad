"""Detection evaluation from completions: conversion against a per-box reference, metrics against
pycocotools (and lvis-api) on the same detections, category sets, label mapping, Ray sharding."""

from __future__ import annotations

import json

import numpy as np
import pytest

from _pipeline_data import lvis_api_compat, make_gt, make_prompt_records, pycocotools_eval
from vrft_rewards.eval import (
    CATEGORY_SETS,
    CategoryMapper,
    RecordError,
    detections_from_records,
    evaluate_detection,
    normalize_category_name,
)

pytest.importorskip("pycocotools")


# -- conversion ------------------------------------------------------------------------------------
@pytest.mark.parametrize("frame", ["norm1000", "norm1", "abs"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_detections_equal_the_per_box_reference(frame, seed):
    rng = np.random.default_rng(seed)
    gt = make_gt(rng)
    records, expected = make_prompt_records(rng, gt, frame=frame)
    batch = detections_from_records(records, gt, frame=frame)
    # Same rows, same order, same bits: parse + frame conversion + dedupe + score fallback.
    assert batch.dets.shape == expected.shape
    assert np.array_equal(batch.dets, expected)


def test_missing_confidence_can_be_dropped_or_given_a_score():
    rng = np.random.default_rng(5)
    gt = make_gt(rng)
    records, expected = make_prompt_records(np.random.default_rng(9), gt, default_score=None, p_missing_conf=0.4)
    batch = detections_from_records(records, gt, default_score=None)
    assert np.array_equal(batch.dets, expected)
    assert batch.counts["no_confidence"] > 0
    _, expected_05 = make_prompt_records(np.random.default_rng(9), gt, default_score=0.5, p_missing_conf=0.4)
    assert np.array_equal(detections_from_records(records, gt, default_score=0.5).dets, expected_05)


def test_dedupe_removes_only_exact_duplicates_within_an_answer():
    gt = {
        "images": [{"id": 1, "width": 1000, "height": 1000}],
        "annotations": [],
        "categories": [{"id": 1, "name": "dog"}],
    }
    box = "{'Position': [10, 10, 50, 50], 'Confidence': %s}"
    recs = [
        {
            "image_id": 1,
            "category_id": 1,
            "completion": "<answer>["
            + ", ".join([box % 0.9, box % 0.5, box.replace("50]", "51]") % 0.4])
            + "]</answer>",
        },
        {"image_id": 1, "category_id": 1, "completion": "<answer>[" + box % 0.3 + "]</answer>"},
    ]
    kept = detections_from_records(recs, gt)
    # The first copy in the first answer survives (Visual-RFT's remove_duplicates); other answers keep theirs.
    assert kept.dets[:, 5].tolist() == [0.9, 0.4, 0.3]
    assert kept.counts["duplicates_removed"] == 1
    assert detections_from_records(recs, gt, dedupe=False).dets[:, 5].tolist() == [0.9, 0.5, 0.4, 0.3]


# -- metrics against pycocotools --------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_coco_metrics_equal_pycocotools_on_the_same_detections(seed):
    rng = np.random.default_rng(seed)
    gt = make_gt(rng, n_images=12)
    records, expected = make_prompt_records(rng, gt)
    report = evaluate_detection(gt, records)
    stats, precision, per = pycocotools_eval(gt, expected, cat_ids=sorted({c["id"] for c in gt["categories"]}))
    assert report.result.stats.tolist() == stats.tolist()
    assert np.array_equal(report.result.precision, precision)
    for row in report.metrics["per_category"]:
        assert (row["AP"], row["AP50"]) == per[row["category_id"]]
    with_gt = [per[c][0] for c in per if per[c][0] > -1]
    assert report.metrics["category_set"]["mean_AP"] == float(np.mean(with_gt))


@pytest.mark.parametrize("seed", [4, 5])
def test_category_set_mean_is_over_the_set_only(seed):
    rng = np.random.default_rng(seed)
    gt = make_gt(rng, n_images=14)
    records, expected = make_prompt_records(rng, gt)
    subset = ["dog", "fire hydrant", "kitchen table"]  # names normalised: kitchen_table
    report = evaluate_detection(gt, records, categories=",".join(subset))
    ids = [1, 3, 4]
    assert report.metrics["category_set"]["ids"] == ids
    stats, _, per = pycocotools_eval(gt, expected, cat_ids=ids)
    # The engine's stats are over the evaluated categories only, as pycocotools with catIds=ids.
    assert report.result.stats.tolist() == stats.tolist()
    with_gt = [per[c][0] for c in ids if per[c][0] > -1]
    assert report.metrics["category_set"]["mean_AP"] == float(np.mean(with_gt))
    assert report.metrics["category_set"]["n"] == len(with_gt)


def test_categories_never_queried_are_excluded_and_reported():
    rng = np.random.default_rng(11)
    gt = make_gt(rng, n_images=10)
    records, _ = make_prompt_records(rng, gt, cats=[1, 2])
    report = evaluate_detection(gt, records, categories=["dog", "cat", "stop sign"])
    cs = report.metrics["category_set"]
    assert cs["not_queried"] == ["stop sign"] and cs["ids"] == [1, 2]
    assert any("never queried" in n and "stop sign" in n for n in report.notes)
    with pytest.raises(RecordError, match="never queried: stop sign"):
        evaluate_detection(gt, records, categories=["dog", "cat", "stop sign"], strict=True)
    # Without --categories the queried set is evaluated, not all GT categories.
    assert evaluate_detection(gt, records).metrics["category_set"]["ids"] == [1, 2]


def test_unknown_category_in_the_set_is_reported_or_strict_error():
    rng = np.random.default_rng(12)
    gt = make_gt(rng)
    records, _ = make_prompt_records(rng, gt)
    report = evaluate_detection(gt, records, categories="dog,unicorn")
    assert report.metrics["category_set"]["unknown"] == ["unicorn"]
    with pytest.raises(RecordError, match="unicorn"):
        evaluate_detection(gt, records, categories="dog,unicorn", strict=True)


def test_images_queried_restricts_the_evaluation_to_the_records_images():
    rng = np.random.default_rng(13)
    gt = make_gt(rng, n_images=10)
    records, expected = make_prompt_records(rng, gt)
    records = [r for r in records if r["image_id"] <= 5]
    expected = expected[expected[:, 0] <= 5]
    report = evaluate_detection(gt, records, images="queried")
    stats, _, _ = pycocotools_eval(gt, expected, cat_ids=list(range(1, 7)), img_ids=[1, 2, 3, 4, 5])
    assert report.result.stats.tolist() == stats.tolist()


def test_lvis_metrics_equal_lvis_api():
    lvis = pytest.importorskip("lvis")
    rng = np.random.default_rng(21)
    gt = make_gt(rng, n_images=10, crowd=0.0)
    for im in gt["images"]:
        im["neg_category_ids"] = [5]
        im["not_exhaustive_category_ids"] = []
    for c in gt["categories"]:
        c["frequency"] = "r"
    records, expected = make_prompt_records(rng, gt)
    report = evaluate_detection(gt, records, kind="lvis")
    import contextlib
    import io
    import logging

    with lvis_api_compat(), contextlib.redirect_stdout(io.StringIO()):
        lgt = lvis.LVIS.__new__(lvis.LVIS)
        lgt.logger = logging.getLogger("lvis")
        lgt.dataset = json.loads(json.dumps(gt))
        lgt._create_index()
        res = [
            {"image_id": int(d[0]), "bbox": d[1:5].tolist(), "score": float(d[5]), "category_id": int(d[6])}
            for d in expected
        ]
        ev = lvis.LVISEval(lgt, lvis.LVISResults(lgt, res), "bbox")
        ev.run()
    assert report.result.stats.tolist() == [ev.results[k] for k in ev.results]


# -- labelled boxes (Qwen JSON) ----------------------------------------------------------------------
def test_labelled_boxes_map_exact_normalised_and_synonyms_and_count_unmatched():
    gt = {
        "images": [{"id": 1, "width": 100, "height": 100}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 4, "bbox": [10, 10, 20, 20], "area": 400, "iscrowd": 0}
        ],
        "categories": [{"id": k + 1, "name": n} for k, n in enumerate(["dog", "cat", "fire hydrant", "kitchen_table"])],
    }
    items = [("dog", 0), ("Kitchen Table", 1), ("puppy", 2), ("lamp", 3), ("lamp", 4), (None, 5), ("FIRE-HYDRANT", 6)]
    body = json.dumps(
        [dict({"bbox_2d": [i, i, i + 10, i + 10]}, **({} if lab is None else {"label": lab})) for lab, i in items]
    )
    recs = [{"image_id": 1, "completion": f"```json\n{body}\n```"}]
    b = detections_from_records(recs, gt, frame="abs", require_tags=False, synonyms={"puppy": "dog"})
    assert b.dets[:, 6].astype(int).tolist() == [1, 4, 1, 3]
    assert b.dets[:, 1].tolist() == [0, 1, 2, 6]
    ls = b.label_stats
    assert (ls["exact"], ls["normalized"], ls["synonym"], ls["unmatched"], ls["missing"]) == (1, 2, 1, 2, 1)
    assert ls["unmatched_names"] == {"lamp": 2}
    rep = evaluate_detection(gt, recs, frame="abs", require_tags=False, synonyms={"puppy": "dog"})
    assert any("'lamp' x2" in n for n in rep.notes)
    assert "all 4 ground-truth categories" in rep.notes[0]


def test_category_mapper_rules_and_errors():
    m = CategoryMapper([1, 2], ["hot dog", "kitchen_table"], synonyms={"sausage": "hot dog", "table": 2})
    assert m.lookup("hot dog") == (1, "exact")
    assert m.lookup("Hot-Dog") == (1, "normalized")
    assert m.lookup("kitchen table") == (2, "normalized")
    assert m.lookup("Sausage") == (1, "synonym")
    assert m.lookup("table") == (2, "synonym")
    assert m.lookup("cat") == (-1, "unmatched")
    with pytest.raises(ValueError, match="not a category"):
        CategoryMapper([1], ["dog"], synonyms={"puppy": "wolf"})
    with pytest.raises(ValueError, match="not a category id"):
        CategoryMapper([1], ["dog"], synonyms={"puppy": 7})
    with pytest.raises(ValueError, match="same normalised name"):
        CategoryMapper([1, 2], ["hot_dog", "hot dog"])
    assert normalize_category_name(" Stop__Sign! ") == "stop sign"


def test_named_category_sets_are_the_papers():
    assert len(CATEGORY_SETS["coco_fewshot_8"]) == 8
    assert len(CATEGORY_SETS["ov_coco_novel_15"]) == 15
    assert len(CATEGORY_SETS["lvis_fewshot_6"]) == 6
    assert len(CATEGORY_SETS["lvis_ov_rare_13"]) == 13
    assert "hair drier" in CATEGORY_SETS["ov_coco_novel_15"]
    assert "kitchen_table" in CATEGORY_SETS["lvis_ov_rare_13"]
    gt = make_gt(np.random.default_rng(0))
    rep = evaluate_detection(gt, make_prompt_records(np.random.default_rng(1), gt)[0], categories="coco_fewshot_8")
    # Of the 8 few-shot classes, the synthetic GT has 'dog', 'cat', 'fire hydrant' and 'stop sign'.
    assert rep.metrics["category_set"]["name"] == "coco_fewshot_8"
    assert sorted(rep.metrics["category_set"]["names"]) == ["cat", "dog", "fire hydrant", "stop sign"]
    assert sorted(rep.metrics["category_set"]["unknown"]) == ["bed", "bus", "toilet", "train"]


# -- bad records --------------------------------------------------------------------------------------
def test_bad_records_are_skipped_and_counted_or_raise_when_strict():
    gt = make_gt(np.random.default_rng(0))
    good = {"image_id": 1, "category": "dog", "completion": "<answer>No Objects</answer>"}
    bad = [
        {"category": "dog", "completion": "x"},
        {"image_id": 1, "category": "dog"},
        {"image_id": 999, "category": "dog", "completion": "x"},
        {"image_id": 1, "category": "unicorn", "completion": "x"},
        {"image_id": 1, "category_id": 99, "completion": "x"},
        {"image_id": "abc", "category": "dog", "completion": "x"},
        {"image_id": 1, "category": "dog", "completion": 5},
        [1, 2],
    ]
    rep = evaluate_detection(gt, [good] + bad, source="out.jsonl", lines=list(range(1, 10)))
    assert rep.skipped.total == len(bad)
    assert set(rep.skipped.counts) == {
        "record has no 'image_id'",
        "record has no 'completion'",
        "image_id not in the ground truth",
        "category not in the ground truth",
        "category_id not in the ground truth",
        "'image_id' must be an integer",
        "'completion' must be a string or a list of chat messages",
        "record is not a JSON object",
    }
    assert rep.skipped.examples[0] == "out.jsonl:2: record has no 'image_id'"
    for rec in bad:
        with pytest.raises(RecordError) as e:
            evaluate_detection(gt, [good, rec], source="out.jsonl", lines=[1, 7], strict=True)
        assert str(e.value).startswith("out.jsonl:7: ")


def test_jsonl_lines_that_are_not_json_are_located(tmp_path):
    gt = make_gt(np.random.default_rng(0))
    p = tmp_path / "out.jsonl"
    p.write_text(
        json.dumps({"image_id": 1, "category": "dog", "completion": "<answer>[]</answer>"})
        + "\n\n"
        + "{not json\n"
        + "[1, 2]\n"
    )
    rep = evaluate_detection(gt, str(p))
    assert rep.skipped.counts == {"line is not valid JSON": 1, "line is not a JSON object": 1}
    assert rep.skipped.examples[0].startswith(f"{p}:3: line is not valid JSON")
    with pytest.raises(RecordError, match=r"out\.jsonl:3: line is not valid JSON"):
        evaluate_detection(gt, str(p), strict=True)
    with pytest.raises(RecordError, match="no such file"):
        evaluate_detection(gt, str(tmp_path / "missing.jsonl"))


def test_options_are_checked():
    gt = make_gt(np.random.default_rng(0))
    with pytest.raises(ValueError, match="frame must be one of"):
        evaluate_detection(gt, [], frame="pixels")
    with pytest.raises(ValueError, match="kind must be"):
        evaluate_detection(gt, [], kind="voc")
    with pytest.raises(ValueError, match="images must be"):
        evaluate_detection(gt, [], images="some")
    with pytest.raises(TypeError, match="records must be"):
        evaluate_detection(gt, 5)
    with pytest.raises(ValueError, match=r"out\.jsonl: no valid detection record to evaluate \(1 skipped\)"):
        evaluate_detection(gt, [{"image_id": 1}], source="out.jsonl")


def test_parse_statistics_count_and_show_examples():
    gt = make_gt(np.random.default_rng(0))
    recs = [
        {"image_id": 1, "category": "dog", "completion": c}
        for c in [
            "<answer>[{'Position': [1, 2, 3, 4], 'Confidence': 0.5}]</answer>",
            "<answer>[{'Position': [1, 2</answer>",
            "<answer>[{'Position': [1, 2, 3, 4]}, {'Position': [5, 6",
            "<answer></answer>",
            "no tags",
            "<answer>[{'Position': [1, 2, 3]}, {'Position': [1, 2, 3, 4]}]</answer>",
        ]
    ]
    p = evaluate_detection(gt, recs, source="o.jsonl", lines=[10, 11, 12, 13, 14, 15]).parse
    assert (p["total"], p["malformed"], p["repaired"], p["empty"], p["no_answer"]) == (6, 1, 1, 1, 1)
    assert p["dropped_boxes"] == 1 and p["boxes"] == 3
    assert p["examples"]["malformed"][0]["where"] == "o.jsonl:11"
    assert p["examples"]["no_answer"][0]["text"] == "no tags"


# -- Ray ------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_ray_sharded_evaluation_is_bit_identical(ray_session):
    from vrft_rewards.eval import evaluate_detection_ray

    rng = np.random.default_rng(31)
    gt = make_gt(rng, n_images=15)
    records, _ = make_prompt_records(rng, gt)
    one = evaluate_detection(gt, records)
    for shards in (2, 5):
        many = evaluate_detection_ray(gt, records, num_shards=shards)
        assert np.array_equal(many.result.precision, one.result.precision)
        assert np.array_equal(many.result.recall, one.result.recall)
        assert many.result.stats.tolist() == one.result.stats.tolist()
        assert many.to_dict() == one.to_dict()
    a = detections_from_records(records, gt)
    b = detections_from_records(records, gt, ray=True, num_shards=3)
    assert np.array_equal(a.dets, b.dets) and np.array_equal(a.det_record, b.det_record)
    assert np.array_equal(a.status, b.status)


# -- the records' IoU reward ------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_record_iou_equals_visual_rft_reference(seed):
    """metrics["iou_reward"] holds Visual-RFT's IoU reward of each per-prompt record: its parser,
    remove_duplicates, sort_and_calculate_iou and the V2 normaliser (bench/visual_rft_reference.py),
    on the boxes converted to pixels as its evaluation script converts them (``v / 1000 * size``)."""
    import pathlib
    import sys

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "bench"))
    ref = pytest.importorskip("visual_rft_reference")
    rng = np.random.default_rng(100 + seed)
    gt = make_gt(rng)
    records, _ = make_prompt_records(rng, gt, p_missing_conf=0.0)
    report = evaluate_detection(gt, records)
    got = report.arrays["record_iou"]
    assert len(got) == len(records) == report.metrics["iou_reward"]["n"]
    size = {im["id"]: (im["width"], im["height"]) for im in gt["images"]}
    cat_of = {c["name"]: c["id"] for c in gt["categories"]}
    compared = 0
    for rec, value in zip(records, got):
        w, h = size[rec["image_id"]]
        truth = [
            {"Position": [x, y, x + bw, y + bh]}
            for a in gt["annotations"]
            if a["image_id"] == rec["image_id"] and a["category_id"] == cat_of[rec["category"]] and not a["iscrowd"]
            for x, y, bw, bh in [a["bbox"]]
        ]
        pred = ref.read_answer_items(rec["completion"])
        if pred is None:  # no box answer: the record scores 1 without GT (nothing missed), else 0
            assert value == (0.0 if truth else 1.0)
            continue
        pixels = [
            {
                "Position": [
                    p["Position"][0] / 1000 * w,
                    p["Position"][1] / 1000 * h,
                    p["Position"][2] / 1000 * w,
                    p["Position"][3] / 1000 * h,
                ],
                "Confidence": p["Confidence"],
            }
            for p in ref.remove_duplicates(pred)
        ]
        assert value == ref._iou_score(ref.greedy_match(truth, pixels), len(truth)), rec
        compared += 1
    assert compared > len(records) // 2
    assert report.metrics["iou_reward"]["mean"] == float(np.mean(got))


# -- docstring examples run ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "module",
    [
        "vrft_rewards.polygons",
        "vrft_rewards.eval.categories",
        "vrft_rewards.eval.parse_stats",
        "vrft_rewards.eval.detection",
        "vrft_rewards.eval.detection_batch",
        "vrft_rewards.eval.classification",
        "vrft_rewards.eval.report",
    ],
)
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


@pytest.mark.slow
def test_ray_scoring_of_a_rollout_file_equals_in_process(ray_session):
    from vrft_rewards.demo import demo_data_path
    from vrft_rewards.eval.records import SkipLog, read_jsonl
    from vrft_rewards.score import score_records

    records, lines = read_jsonl(demo_data_path("demo_rollouts.jsonl"))
    one, _ = score_records(records, lines, "r.jsonl", "visual_rft/detection", {}, SkipLog())
    many, _ = score_records(records, lines, "r.jsonl", "visual_rft/detection", {}, SkipLog(), ray=True, num_shards=3)
    assert np.array_equal(one.matrix, many.matrix, equal_nan=True)


@pytest.mark.slow
def test_cli_ray_flag_gives_the_same_metrics(ray_session, tmp_path, capsys):
    from vrft_rewards.cli import main

    rng = np.random.default_rng(41)
    gt = make_gt(rng, n_images=8)
    records, _ = make_prompt_records(rng, gt)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "o.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    base = ["eval", "coco", "--gt", str(tmp_path / "gt.json"), "--pred", str(tmp_path / "o.jsonl"), "--no-plots"]
    assert main(base + ["--out", str(tmp_path / "one")]) == 0
    assert main(base + ["--out", str(tmp_path / "ray"), "--ray", "--num-shards", "2"]) == 0
    capsys.readouterr()
    one = json.loads((tmp_path / "one" / "metrics.json").read_text())
    many = json.loads((tmp_path / "ray" / "metrics.json").read_text())
    assert one == many
