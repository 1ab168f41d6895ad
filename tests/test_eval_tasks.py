"""Classification and grounding evaluators against slow references; reports and plots."""

from __future__ import annotations

import json
import struct
import warnings

import numpy as np
import pytest

from vrft_rewards.eval import (
    EvalReport,
    RecordError,
    SkipLog,
    evaluate_classification,
    evaluate_grounding,
    write_report,
)
from vrft_rewards.rewards import classification_reward, get_classification_reward

CLASSES = ["Boeing 737-200", "Airbus A320", "Cessna 172", "ATR-72"]


def _cls_records(rng, n=60):
    recs = []
    variants = {c: [c, c.lower(), c.upper().replace(" ", "_"), c + "."] for c in CLASSES}
    for _ in range(n):
        truth = CLASSES[int(rng.integers(0, 4))]
        r = rng.random()
        if r < 0.5:
            ans = variants[truth][int(rng.integers(0, 4))]
        elif r < 0.7:
            ans = CLASSES[int(rng.integers(0, 4))]
        elif r < 0.8:
            ans = ""
        elif r < 0.9:
            ans = "Boeing"  # truncated name
        else:
            ans = ", ".join(CLASSES)  # every class (reward hacking)
        recs.append({"completion": f"<think>hmm</think><answer>{ans}</answer>", "label": truth})
    return recs


@pytest.mark.parametrize("mode", ["exact", "substring"])
def test_classification_accuracy_equals_the_reward(mode):
    recs = _cls_records(np.random.default_rng(0))
    rep = evaluate_classification(recs, mode=mode, classes=CLASSES, require_tags=False)
    reward = get_classification_reward(mode=mode, classes=CLASSES, require_tags=False)
    want = reward([r["completion"] for r in recs], label=[r["label"] for r in recs])
    assert rep.metrics["correct"] == sum(v == 1.0 for v in want)
    assert rep.metrics["accuracy"] == float(np.mean([v == 1.0 for v in want]))
    # per class: a plain loop over the records
    for row in rep.metrics["per_class"]:
        idx = [i for i, r in enumerate(recs) if r["label"] == row["class"]]
        assert row["n"] == len(idx)
        assert row["correct"] == sum(want[i] == 1.0 for i in idx)
    # the confusion matrix rows sum to the class counts; the diagonal to the correct answers
    conf = np.array(rep.metrics["confusion"])
    assert conf.sum(axis=1).tolist() == [r["n"] for r in rep.metrics["per_class"]]
    assert int(np.trace(conf[:, :-1])) == rep.metrics["correct"]


def test_default_rule_rejects_the_hacks_the_substring_rule_accepts():
    recs = [
        {"completion": "<answer></answer>", "label": "cat"},
        {"completion": "<answer>Boeing</answer>", "label": "Boeing 737-200"},
        {"completion": "<answer>cat, dog, bird</answer>", "label": "cat"},
        {"completion": "<answer>Cat.</answer>", "label": "cat"},
    ]
    exact = evaluate_classification(recs)
    assert exact.arrays["correct"].tolist() == [False, False, False, True]
    assert exact.arrays["correct"].tolist() == [
        v == 1.0 for v in classification_reward([r["completion"] for r in recs], label=[r["label"] for r in recs])
    ]
    loose = evaluate_classification(recs, mode="substring", require_tags=False)
    assert loose.arrays["correct"].tolist() == [True, True, True, True]
    guarded = evaluate_classification(recs, mode="substring", require_tags=False, classes=["cat", "dog", "bird"])
    assert guarded.arrays["correct"].tolist()[2] is False


def test_confusion_matrix_places_predictions():
    recs = [
        {"completion": "<answer>dog</answer>", "label": "cat"},
        {"completion": "<answer>cat</answer>", "label": "cat"},
        {"completion": "<answer>wolf</answer>", "label": "dog"},
    ]
    rep = evaluate_classification(recs, classes=["cat", "dog"])
    assert rep.arrays["classes"] == ["cat", "dog", "(other)"]
    assert rep.arrays["confusion"].tolist() == [[1, 1, 0], [0, 0, 1]]


def test_classification_gt_by_id_and_bad_records(tmp_path):
    gt = tmp_path / "labels.json"
    gt.write_text(json.dumps([{"id": "a", "label": "cat"}, {"id": "b", "label": "dog"}]))
    pred = tmp_path / "pred.jsonl"
    pred.write_text(
        "\n".join(
            [
                json.dumps({"id": "a", "completion": "<answer>cat</answer>"}),
                json.dumps({"id": "zz", "completion": "<answer>cat</answer>"}),
                json.dumps({"completion": "<answer>cat</answer>"}),
                json.dumps({"id": "b"}),
                "{oops",
            ]
        )
        + "\n"
    )
    rep = evaluate_classification(str(pred), str(gt))
    assert rep.metrics["n"] == 1 and rep.metrics["accuracy"] == 1.0
    assert rep.skipped.total == 4
    assert f"{pred}:2: id not in the ground truth ('zz')" in rep.skipped.examples
    assert rep.skipped.counts == {
        "line is not valid JSON": 1,
        "id not in the ground truth": 1,
        "record has no 'label' and no 'id'": 1,
        "record has no 'completion' string": 1,
    }
    # strict: syntax errors are found while reading, before the records are checked
    with pytest.raises(RecordError, match=r"pred\.jsonl:5: line is not valid JSON"):
        evaluate_classification(str(pred), str(gt), strict=True)
    pred.write_text("\n".join(pred.read_text().splitlines()[:4]) + "\n")
    with pytest.raises(RecordError, match=r"pred\.jsonl:2: id not in the ground truth"):
        evaluate_classification(str(pred), str(gt), strict=True)


# -- grounding -----------------------------------------------------------------------------------------
def _ref_box_iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    i = iw * ih
    u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i
    return i / u if u > 0 else 0.0


def _grounding_records(rng, n=30):
    recs = []
    for k in range(n):
        w, h = int(rng.integers(50, 200)), int(rng.integers(50, 200))
        x1, y1 = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
        x2, y2 = int(rng.integers(x1 + 2, w)), int(rng.integers(y1 + 2, h))
        poly = [float(x1), float(y1), float(x2), float(y1), float(x2), float(y2), float(x1), float(y2)]
        px = [
            int(np.clip(v + rng.integers(-10, 11), 0, 1000))
            for v in (x1 / w * 1000, y1 / h * 1000, x2 / w * 1000, y2 / h * 1000)
        ]
        if px[2] <= px[0]:
            px[2] = px[0] + 5
        if px[3] <= px[1]:
            px[3] = px[1] + 5
        text = f"<answer>({px[0]},{px[1]}),({px[2]},{px[3]})</answer>" if k % 7 else "<answer>I cannot tell</answer>"
        recs.append(
            {
                "completion": text,
                "width": w,
                "height": h,
                "box": [x1, y1, x2, y2],
                "segmentation": [poly],
                "_pred": None
                if k % 7 == 0
                else [px[0] / 1000 * w, px[1] / 1000 * h, px[2] / 1000 * w, px[3] / 1000 * h],
            }
        )
    return recs


def test_grounding_box_metrics_equal_the_reference():
    recs = _grounding_records(np.random.default_rng(1))
    rep = evaluate_grounding(recs)
    ious = [0.0 if r["_pred"] is None else _ref_box_iou(r["_pred"], r["box"]) for r in recs]
    np.testing.assert_allclose(rep.arrays["iou"], ious, rtol=1e-15, atol=0)
    assert rep.metrics["mIoU"] == pytest.approx(np.mean(ious), abs=1e-15)
    assert rep.metrics["acc@0.5"] == np.mean(np.array(ious) >= 0.5)
    assert rep.metrics["n_failed"] == sum(r["_pred"] is None for r in recs)


def _decode_pair(mask_utils, r):
    h, w = r["height"], r["width"]
    g = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(r["segmentation"], h, w))).astype(bool)
    p = np.zeros((h, w), bool)
    if r["_pred"] is not None:
        x1, y1, x2, y2 = r["_pred"]
        p = mask_utils.decode(mask_utils.frPyObjects(np.array([[x1, y1, x2 - x1, y2 - y1]]), h, w))[..., 0] > 0
    return g, p


def test_grounding_mask_metrics_equal_decoded_masks():
    mask_utils = pytest.importorskip("pycocotools.mask")
    recs = _grounding_records(np.random.default_rng(2))
    rep = evaluate_grounding(recs)
    inter, union = [], []
    # The reference decodes the masks to pixels (pycocotools' decode warns about numpy 2's copy
    # keyword; the evaluator itself never decodes).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        decoded = [_decode_pair(mask_utils, r) for r in recs]
    for g, p in decoded:
        inter.append(int((g & p).sum()))
        union.append(int((g | p).sum()))
    inter, union = np.array(inter), np.array(union)
    assert rep.metrics["gIoU"] == float(np.mean(inter / union))
    assert rep.metrics["cIoU"] == float(inter.sum() / union.sum())


def test_integer_box_mask_is_its_pixels():
    # An integer-aligned box covers exactly (x2 - x1) * (y2 - y1) pixels; against the same box as
    # a polygon GT the mask IoU is 1.
    recs = [
        {
            "completion": "<answer>(100,200),(600,700)</answer>",
            "width": 100,
            "height": 50,
            "segmentation": [[10, 10, 60, 10, 60, 35, 10, 35]],
        }
    ]
    rep = evaluate_grounding(recs)
    assert rep.metrics["gIoU"] == 1.0 and rep.metrics["cIoU"] == 1.0 and rep.metrics["mIoU"] == 1.0


def test_grounding_rle_ground_truth_and_gt_file(tmp_path):
    mask_utils = pytest.importorskip("pycocotools.mask")
    m = np.zeros((40, 60), dtype=np.uint8, order="F")
    m[10:30, 20:50] = 1
    rle = mask_utils.encode(m)
    rle["counts"] = rle["counts"].decode("ascii")
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps({"q1": {"width": 60, "height": 40, "segmentation": rle}}))
    pred = tmp_path / "pred.jsonl"
    pred.write_text(
        json.dumps({"id": "q1", "completion": "<answer>(0,0),(1000,1000)</answer>"})
        + "\n"
        + json.dumps({"id": "q2", "completion": "x"})
        + "\n"
    )
    rep = evaluate_grounding(str(pred), str(gt))
    assert rep.metrics["gIoU"] == 600 / 2400
    # GT box from the mask when no box is given: [20, 10, 50, 30]
    assert rep.metrics["mIoU"] == 600 / 2400
    assert rep.skipped.counts == {"id not in the ground truth": 1}


# -- reports -------------------------------------------------------------------------------------------
def _png_size(path):
    with open(path, "rb") as f:
        data = f.read(24)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_reports_write_json_markdown_and_png_plots(tmp_path):
    pytest.importorskip("matplotlib")
    from vrft_rewards.eval.plots import DPI, FIG_SIZE

    recs = _cls_records(np.random.default_rng(3), n=20)
    rep = evaluate_classification(recs, classes=CLASSES)
    written = write_report(rep, tmp_path / "cls")
    assert [p.split("/")[-1] for p in written["plots"]] == ["confusion_matrix.png"]
    assert _png_size(written["plots"][0]) == (int(FIG_SIZE[0] * DPI), int(FIG_SIZE[0] * DPI))
    md = (tmp_path / "cls" / "report.md").read_text()
    assert "| class | n | correct | accuracy |" in md and "![confusion_matrix](confusion_matrix.png)" in md
    saved = json.loads((tmp_path / "cls" / "metrics.json").read_text())
    assert saved["metrics"]["accuracy"] == rep.metrics["accuracy"]

    g = evaluate_grounding(_grounding_records(np.random.default_rng(4)))
    written = write_report(g, tmp_path / "grd")
    assert sorted(p.split("/")[-1] for p in written["plots"]) == [
        "grounding_buckets.png",
        "iou_histogram.png",
        "mask_iou_histogram.png",
    ]
    for p in written["plots"]:
        assert _png_size(p) == (int(FIG_SIZE[0] * DPI), int(FIG_SIZE[1] * DPI))


def test_reports_without_matplotlib_still_write_json_and_markdown(tmp_path, monkeypatch):
    import vrft_rewards.eval.plots as plots

    monkeypatch.setattr(plots, "have_matplotlib", lambda: False)
    rep = EvalReport(
        task="grounding",
        metrics={"mIoU": float("nan")},
        tables=[("T", ["a"], [[1]])],
        parse={"total": 0},
        skipped=SkipLog(),
    )
    written = write_report(rep, tmp_path)
    assert written["plots"] == [] and "matplotlib" in written["plots_skipped"]
    assert "Plots not drawn" in (tmp_path / "report.md").read_text()
    assert json.loads((tmp_path / "metrics.json").read_text())["metrics"]["mIoU"] is None


def test_progress_wraps_with_tqdm_or_passes_through(monkeypatch, capsys):
    import sys

    from vrft_rewards.eval.records import progress

    assert list(progress(range(5), total=5, desc="x", enabled=True)) == [0, 1, 2, 3, 4]
    assert "x" in capsys.readouterr().err  # a tqdm bar was drawn on stderr
    items = [1, 2]
    assert progress(items, enabled=False) is items
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    assert progress(items, enabled=True) is items  # without tqdm: no bar, same items
