"""Calibration of the stated confidence: the ECE against a slow obvious reference, against
torchmetrics' BinaryCalibrationError and netcal's ECE away from the bin edges where their
conventions differ, and the samples (pycocotools' matching read from the engine state) against
pycocotools' own evalImgs."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from _pipeline_data import make_gt, make_prompt_records
from vrft_rewards.cocoeval.ground_truth import as_ground_truth
from vrft_rewards.eval import detections_from_records, evaluate_detection
from vrft_rewards.eval.calibration import calibration, expected_calibration_error
from vrft_rewards.eval.engine_state import engine_state


def slow_ece(conf, label, n_bins=10):
    """The definition, one sample at a time: bin b = number of edges k / n (as floats) <= conf."""
    bins = [[] for _ in range(n_bins)]
    for c, y in zip(conf.tolist(), label.tolist()):
        b = sum(1 for k in range(1, n_bins) if c >= k / n_bins)
        bins[b].append((c, y))
    total = len(conf)
    ece = 0.0
    for items in bins:
        if items:
            acc = sum(y for _, y in items) / len(items)
            mc = sum(c for c, _ in items) / len(items)
            ece += len(items) / total * abs(acc - mc)
    return ece


def _random(rng, n, decimals=None):
    conf = rng.uniform(0, 1, n)
    if decimals is not None:
        conf = np.round(conf, decimals)
    label = (rng.uniform(0, 1, n) < conf ** rng.uniform(0.5, 2)).astype(np.float64)
    return conf, label


@pytest.mark.parametrize("seed", range(20))
def test_ece_equals_the_slow_definition_edges_included(seed):
    rng = np.random.default_rng(seed)
    conf, label = _random(rng, int(rng.integers(1, 400)), decimals=[None, 1, 2][seed % 3])
    conf[: len(conf) // 10] = rng.choice(np.arange(11) / 10, len(conf) // 10)  # exactly on the edges
    ece, bins = expected_calibration_error(conf, label)
    assert ece == pytest.approx(slow_ece(conf, label), abs=1e-15)
    assert sum(bins["count"]) == len(conf)


def test_edge_convention_on_hand_cases():
    # 0.3 (two decimals) is in [0.3, 0.4), 1.0 in the last bin; gaps of opposite signs make it visible.
    conf = np.array([0.3, 0.3, 0.29, 1.0, 0.95])
    label = np.array([1.0, 1.0, 0.0, 0.0, 1.0])
    ece, bins = expected_calibration_error(conf, label)
    assert bins["count"][2] == 1 and bins["count"][3] == 2 and bins["count"][9] == 2
    assert ece == pytest.approx((1 * 0.29 + 2 * 0.7 + 2 * abs(0.5 - 0.975)) / 5, abs=1e-15)


@pytest.mark.parametrize("seed", range(10))
def test_ece_equals_torchmetrics_off_its_bin_edges(seed):
    torch = pytest.importorskip("torch")
    tm = pytest.importorskip("torchmetrics.classification", reason="torchmetrics (PyPI) is the reference")
    rng = np.random.default_rng(100 + seed)
    conf, label = _random(rng, 500, decimals=2 if seed % 2 else None)
    conf = conf[(np.abs(conf * 10 - np.round(conf * 10)) > 1e-9)]  # off every k / 10 (torchmetrics' linspace edges)
    label = label[: len(conf)]
    ours, _ = expected_calibration_error(conf, label)
    ref = float(
        tm.BinaryCalibrationError(n_bins=10, norm="l1")(torch.tensor(conf), torch.tensor(label.astype(np.int64)))
    )
    assert ours == pytest.approx(ref, abs=1e-12)


@pytest.mark.parametrize("seed", range(10))
def test_ece_equals_netcal_off_its_bin_edges(seed):
    netcal = pytest.importorskip("netcal.metrics", reason="netcal (PyPI) is the reference")
    rng = np.random.default_rng(200 + seed)
    conf, label = _random(rng, 500)
    keep = np.abs(conf * 10 - np.round(conf * 10)) > 1e-9
    conf, label = conf[keep], label[keep]
    ours, _ = expected_calibration_error(conf, label)
    ref = float(netcal.ECE(bins=10).measure(conf, label.astype(np.int64)))
    assert ours == pytest.approx(ref, abs=1e-12)


def _pycocotools_samples(gt_d, dets, t_index):
    """(confidence, label) of every detection pycocotools evaluates at area all, maxDets 100."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt_d
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(dets), "bbox")
        ev.evaluate()
    conf, lab, cat = [], [], []
    for e in ev.evalImgs:
        if e is None or e["aRng"] != ev.params.areaRng[0] or e["maxDet"] != ev.params.maxDets[-1]:
            continue
        keep = ~e["dtIgnore"][t_index].astype(bool)
        conf.extend(np.asarray(e["dtScores"])[keep])
        lab.extend((e["dtMatches"][t_index] > 0)[keep])
        cat.extend([e["category_id"]] * int(keep.sum()))
    return np.array(conf), np.array(lab, dtype=np.float64), np.array(cat)


@pytest.mark.parametrize("seed", range(4))
def test_samples_are_pycocotools_matches(seed):
    pytest.importorskip("pycocotools")
    rng = np.random.default_rng(seed)
    gt_d = make_gt(rng, n_images=25, crowd=0.1)
    records, _ = make_prompt_records(rng, gt_d, p_missing_conf=0.2)
    batch = detections_from_records(records, gt_d)
    gt = as_ground_truth(gt_d)
    cats = [c["id"] for c in gt_d["categories"]]
    es = engine_state("coco", gt, batch.dets, cats, None, {})
    cal = calibration(es, batch.stated, [c["name"] for c in gt_d["categories"]])
    stated = batch.dets[batch.stated]
    for t in (0, 5):
        conf, lab, cat = _pycocotools_samples(gt_d, stated, t)
        want = slow_ece(conf, lab)
        if t == 0:
            assert cal["ece"] == pytest.approx(want, abs=1e-12) and cal["n"] == len(conf)
            for row in cal["per_category"]:
                sel = cat == row["category_id"]
                assert row["ece"] == pytest.approx(slow_ece(conf[sel], lab[sel]), abs=1e-12)
    per_t = [slow_ece(*_pycocotools_samples(gt_d, stated, t)[:2]) for t in range(10)]
    assert cal["ece_50_95"] == pytest.approx(np.mean(per_t), abs=1e-12)
    assert cal["excluded"]["no_confidence"] == int((~batch.stated).sum()) > 0


def test_calibration_in_the_report_and_the_reliability_diagram(tmp_path):
    pytest.importorskip("matplotlib")
    from vrft_rewards.eval import write_report

    rng = np.random.default_rng(9)
    gt_d = make_gt(rng, n_images=20)
    records, _ = make_prompt_records(rng, gt_d)
    report = evaluate_detection(gt_d, records)
    cal = report.metrics["calibration"]
    assert 0 <= cal["ece"] <= 1 and cal["n"] > 0 and len(cal["bins"]["count"]) == 10
    written = write_report(report, tmp_path)
    names = {p.split("/")[-1] for p in written["plots"]}
    assert {"reliability_diagram.png", "tide_errors.png", "ap_tie_range.png"} <= names
    assert "reliability_diagram.png" in (tmp_path / "report.md").read_text()
