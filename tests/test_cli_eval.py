"""`vrft-rewards eval ...`, `score` and `demo --out` end to end: numbers against pycocotools,
files written, and every user mistake as one line with exit status 2."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import vrft_rewards
from _pipeline_data import make_gt, make_prompt_records, pycocotools_eval
from vrft_rewards.cli import main
from vrft_rewards.demo import demo_data_path

ROOT = Path(vrft_rewards.__file__).resolve().parent.parent
GT = str(demo_data_path("demo_coco_gt.json"))
OUT = str(demo_data_path("demo_outputs.jsonl"))


def _png_size(path):
    with open(path, "rb") as f:
        data = f.read(24)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_eval_coco_on_bundled_data_equals_pycocotools_and_writes_the_report(tmp_path, capsys):
    pytest.importorskip("pycocotools")
    out = tmp_path / "report"
    assert main(["eval", "coco", "--gt", GT, "--pred", OUT, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "mean AP over the set" in text and "== Per category ==" in text and "== Parsing ==" in text
    metrics = json.loads((out / "metrics.json").read_text())
    from vrft_rewards.demo import detections_from_outputs

    gt = json.loads(Path(GT).read_text())
    records = [json.loads(line) for line in Path(OUT).read_text().splitlines()]
    dets, _ = detections_from_outputs(records, gt)
    stats, _, per = pycocotools_eval(gt, dets)
    # The bundled answers have no duplicates, so Visual-RFT's dedupe changes nothing here.
    assert list(metrics["metrics"]["stats"].values()) == stats.tolist()
    assert {r["category_id"]: (r["AP"], r["AP50"]) for r in metrics["metrics"]["per_category"]} == per
    md = (out / "report.md").read_text()
    assert "| category | id | AP | AP50 | AP75 | AR | GT | dets |" in md
    assert "| dog | 1 |" in md and "## Parsing" in md
    if pytest.importorskip("matplotlib"):
        pngs = sorted(p.name for p in out.glob("*.png"))
        assert pngs == [
            "ap_per_category.png",
            "ap_tie_range.png",
            "iou_reward_histogram.png",
            "pr_curves.png",
            "reliability_diagram.png",
            "score_histogram.png",
            "tide_errors.png",
        ]
        assert all(_png_size(out / p) == ((1000, 600) if p.startswith("reliab") else (800, 500)) for p in pngs)
        assert "![pr_curves](pr_curves.png)" in md


def test_eval_protocol_and_model_metrics_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "vr"
    argv = ["eval", "coco", "--gt", GT, "--pred", OUT, "--out", str(out), "--no-plots"]
    assert main(argv + ["--protocol", "visual-rft", "--draws", "50", "--seed", "3"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("protocol: visual_rft") and "== Protocol comparison: visual_rft vs default" in text
    doc = json.loads((out / "metrics.json").read_text())
    m = doc["metrics"]
    assert doc["protocol"] == m["protocol"] == "visual_rft"
    assert m["protocol_comparison"]["other"] == "default"
    assert m["ap_tie_range"]["n_draws"] == 50 and m["ap_tie_range"]["seed"] == 3
    assert set(m["ap_tie_range"]["mean_AP"]) >= {"min", "max", "mean", "se", "se_bound", "exact", "reported"}
    assert "ece" in m["calibration"] and "ece_50_95" in m["calibration"]
    assert {"cls", "loc", "both", "dupe", "bkg", "missed"} <= set(m["errors"])
    assert "precision" in m["f1_at_50"]["macro"]
    md = (out / "report.md").read_text()
    assert "Protocol: `visual_rft`" in md and "## Calibration of the stated confidence" in md
    assert main(argv + ["--no-model-metrics", "--no-compare"]) == 0
    m = json.loads((out / "metrics.json").read_text())["metrics"]
    assert m["protocol"] == "default" and "ap_tie_range" not in m and "protocol_comparison" not in m


def test_eval_coco_generated_data_with_a_category_set(tmp_path, capsys):
    rng = np.random.default_rng(42)
    gt = make_gt(rng, n_images=12)
    records, expected = make_prompt_records(rng, gt, frame="norm1")
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "out.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    assert (
        main(
            [
                "eval",
                "coco",
                "--gt",
                str(tmp_path / "gt.json"),
                "--pred",
                str(tmp_path / "out.jsonl"),
                "--frame",
                "norm1",
                "--categories",
                "dog,cat,fire hydrant",
                "--out",
                str(tmp_path / "r"),
                "--no-plots",
            ]
        )
        == 0
    )
    capsys.readouterr()
    m = json.loads((tmp_path / "r" / "metrics.json").read_text())["metrics"]
    stats, _, per = pycocotools_eval(gt, expected, cat_ids=[1, 2, 3])
    assert list(m["stats"].values()) == stats.tolist()
    assert m["category_set"]["mean_AP"] == float(np.mean([per[c][0] for c in (1, 2, 3) if per[c][0] > -1]))
    assert not list((tmp_path / "r").glob("*.png"))


def test_eval_coco_qwen_format_skips_bad_lines_and_reports_them(tmp_path, capsys, one_line_error):
    qwen = str(demo_data_path("demo_outputs_qwen.jsonl"))
    assert (
        main(
            [
                "eval",
                "coco",
                "--gt",
                GT,
                "--pred",
                qwen,
                "--frame",
                "abs",
                "--no-require-tags",
                "--synonyms",
                '{"puppy": "dog", "kitten": "cat"}',
                "--out",
                str(tmp_path),
                "--no-plots",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "skipped records: 2" in text and "line is not valid JSON: 1" in text
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["skipped"]["total"] == 2
    assert saved["skipped"]["examples"][0].startswith(f"{qwen}:6: line is not valid JSON (")
    assert saved["skipped"]["examples"][1] == f"{qwen}:10: image_id not in the ground truth (999)"
    assert saved["metrics"]["labels"]["unmatched_names"]["lamp"] >= 1
    # --strict turns the first skipped record into an error naming file and line
    assert main(["eval", "coco", "--gt", GT, "--pred", qwen, "--frame", "abs", "--strict"]) == 2
    assert one_line_error(capsys.readouterr().err).startswith(f"vrft-rewards: error: {qwen}:6: line is not valid JSON")


def test_eval_classification_and_grounding_commands(tmp_path, capsys):
    cls = tmp_path / "cls.jsonl"
    cls.write_text(
        "".join(
            json.dumps({"completion": f"<answer>{a}</answer>", "label": t}) + "\n"
            for a, t in [("cat", "cat"), ("dog", "cat"), ("dog", "dog")]
        )
    )
    assert (
        main(["eval", "classification", "--pred", str(cls), "--classes", "cat,dog", "--out", str(tmp_path / "c")]) == 0
    )
    assert "accuracy" in capsys.readouterr().out
    assert json.loads((tmp_path / "c" / "metrics.json").read_text())["metrics"]["accuracy"] == 2 / 3
    grd = tmp_path / "grd.jsonl"
    grd.write_text(
        json.dumps(
            {
                "completion": "<answer>(100,200),(600,700)</answer>",
                "width": 100,
                "height": 50,
                "segmentation": [[10, 10, 60, 10, 60, 35, 10, 35]],
            }
        )
        + "\n"
    )
    assert main(["eval", "grounding", "--pred", str(grd), "--out", str(tmp_path / "g")]) == 0
    out = capsys.readouterr().out
    assert "gIoU (mask)" in out and "cIoU (mask)" in out
    assert json.loads((tmp_path / "g" / "metrics.json").read_text())["metrics"]["cIoU"] == 1.0


def test_score_prints_the_reward_distribution(tmp_path, capsys):
    rollouts = str(demo_data_path("demo_rollouts.jsonl"))
    assert main(["score", "--task", "visual_rft/detection", "--input", rollouts, "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "accuracy_reward_iou" in text and "median" in text
    saved = json.loads((tmp_path / "metrics.json").read_text())["metrics"]["rewards"]
    from vrft_rewards.rewards import resolve_reward_set

    rows = [json.loads(line) for line in Path(rollouts).read_text().splitlines()]
    want = resolve_reward_set("visual_rft/detection")(
        [r["completion"] for r in rows], solution=[r["solution"] for r in rows]
    )
    assert saved["accuracy_reward_iou"]["mean"] == float(np.mean(want.matrix[:, 0]))
    assert saved["overall"]["n"] == 64


@pytest.mark.parametrize(
    "argv",
    [
        ["eval", "--help"],
        ["eval", "coco", "--help"],
        ["eval", "lvis", "--help"],
        ["eval", "classification", "--help"],
        ["eval", "grounding", "--help"],
        ["score", "--help"],
    ],
)
def test_every_subcommand_has_help(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 0
    out = capsys.readouterr().out
    needle = {"score": "--input"}.get(argv[0], "TASK" if argv == ["eval", "--help"] else "--pred")
    assert needle in out and "--strict" in out or argv == ["eval", "--help"]


def _bad_files(tmp_path):
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(make_gt(np.random.default_rng(0))))
    files = {}
    files["notjson"] = tmp_path / "notjson.jsonl"
    files["notjson"].write_text('{"image_id": 1, "category": "dog", "completion": "x"}\n{broken\n')
    files["nokeys"] = tmp_path / "nokeys.jsonl"
    files["nokeys"].write_text('{"image_id": 1, "category": "dog", "completion": "x"}\n{"image_id": 1}\n')
    files["unknown"] = tmp_path / "unknown.jsonl"
    files["unknown"].write_text(
        '{"image_id": 1, "category": "dog", "completion": "x"}\n'
        '{"image_id": 12345, "category": "dog", "completion": "x"}\n'
    )
    files["good"] = tmp_path / "good.jsonl"
    files["good"].write_text('{"image_id": 1, "category": "dog", "completion": "<answer>No Objects</answer>"}\n')
    files["badgt"] = tmp_path / "badgt.json"
    files["badgt"].write_text('{"images": [\n oops')
    return gt, files


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("notjson", "{pred}:2: line is not valid JSON"),
        ("nokeys", "{pred}:2: record has no 'completion'"),
        ("unknown", "{pred}:2: image_id not in the ground truth (12345)"),
    ],
)
def test_bad_records_are_one_line_errors_with_strict_and_counted_without(
    tmp_path, capsys, case, message, one_line_error
):
    gt, files = _bad_files(tmp_path)
    pred = str(files[case])
    assert main(["eval", "coco", "--gt", str(gt), "--pred", pred, "--strict"]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert line.startswith("vrft-rewards: error: " + message.format(pred=pred))
    assert main(["eval", "coco", "--gt", str(gt), "--pred", pred, "--out", str(tmp_path / case), "--no-plots"]) == 0
    assert "skipped records: 1" in capsys.readouterr().out
    assert json.loads((tmp_path / case / "metrics.json").read_text())["skipped"]["total"] == 1


def test_file_problems_are_one_line_errors(tmp_path, capsys, one_line_error):
    gt, files = _bad_files(tmp_path)
    cases = [
        (
            ["eval", "coco", "--gt", str(gt), "--pred", str(tmp_path / "missing.jsonl")],
            "missing.jsonl: no such file (--pred)",
        ),
        (
            ["eval", "coco", "--gt", str(tmp_path / "nogt.json"), "--pred", str(files["nokeys"])],
            "nogt.json: no such file (--gt)",
        ),
        (["eval", "coco", "--gt", str(gt), "--pred", str(tmp_path)], "is a directory (--pred expects a file)"),
        (
            ["eval", "coco", "--gt", str(files["badgt"]), "--pred", str(files["nokeys"])],
            "badgt.json:2: ground truth is not valid JSON",
        ),
        (
            ["eval", "coco", "--gt", str(gt), "--pred", str(files["good"]), "--categories", "dog,unicorn", "--strict"],
            "categories not in the ground truth: unicorn",
        ),
        (
            ["eval", "coco", "--gt", str(gt), "--pred", str(files["nokeys"]), "--synonyms", "{bad"],
            "--synonyms: must be inline JSON",
        ),
        (["eval", "classification", "--pred", str(files["nokeys"])], "no valid classification record"),
        (["score", "--task", "detection", "--input", str(tmp_path / "missing.jsonl")], "no such file (--input)"),
        (["score", "--task", "no-such-task", "--input", str(files["nokeys"])], "task must name a known preset"),
    ]
    if os.geteuid() != 0:  # root reads any file
        unreadable = tmp_path / "unreadable.jsonl"
        unreadable.write_text("{}\n")
        unreadable.chmod(0)
        cases.append((["eval", "coco", "--gt", str(gt), "--pred", str(unreadable)], "cannot read"))
    for argv, needle in cases:
        assert main(argv) == 2, argv
        line = one_line_error(capsys.readouterr().err)
        assert needle in line, (argv, line)


def test_demo_out_writes_full_reports_with_plots(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert main(["demo", "--out", str(tmp_path)]) == 0
    assert "Qwen2.5-VL-style outputs" in capsys.readouterr().out
    for sub in ("visual_rft_format", "qwen_format"):
        assert (tmp_path / sub / "metrics.json").exists() and (tmp_path / sub / "report.md").exists()
        assert _png_size(tmp_path / sub / "pr_curves.png") == (800, 500)
    assert "## Full evaluation reports" in (tmp_path / "report.md").read_text()


def test_demo_runs_without_matplotlib(tmp_path):
    # A fresh interpreter where importing matplotlib fails: the demo still writes its reports.
    code = (
        "import sys; sys.modules['matplotlib'] = None; from vrft_rewards.cli import main; "
        f"raise SystemExit(main(['demo', '--out', {str(tmp_path)!r}]))"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert not list(tmp_path.rglob("*.png"))
    assert "matplotlib is not installed" in (tmp_path / "visual_rft_format" / "report.md").read_text()


def write_gt_and_records(tmp_path, rng, n_images: int, lvis: bool):
    """A generated COCO (or LVIS: federated lists and frequencies added) GT and prompt records,
    written as gt.json and o.jsonl; returns (gt, records, expected detections)."""
    gt = make_gt(rng, n_images=n_images, crowd=0.0 if lvis else 0.1)
    if lvis:
        for im in gt["images"]:
            im["neg_category_ids"], im["not_exhaustive_category_ids"] = [6], [2]
        for c, f in zip(gt["categories"], "rrccff"):
            c["frequency"] = f
    records, expected = make_prompt_records(rng, gt)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "o.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return gt, records, expected


def test_eval_lvis_command(tmp_path, capsys):
    from vrft_rewards.eval import evaluate_lvis

    gt, _, expected = write_gt_and_records(tmp_path, np.random.default_rng(8), 10, lvis=True)
    assert (
        main(
            [
                "eval",
                "lvis",
                "--gt",
                str(tmp_path / "gt.json"),
                "--pred",
                str(tmp_path / "o.jsonl"),
                "--categories",
                "dog,kitchen_table,hot dog",
                "--out",
                str(tmp_path / "r"),
                "--no-plots",
            ]
        )
        == 0
    )
    assert "LVIS detection" in capsys.readouterr().out
    m = json.loads((tmp_path / "r" / "metrics.json").read_text())["metrics"]
    want = evaluate_lvis(gt, expected, cat_ids=[1, 4, 6])
    assert list(m["stats"].values()) == want.stats.tolist()
    aps = [r["AP"] for r in want.per_category if r["AP"] > -1]
    assert m["category_set"]["mean_AP"] == float(np.mean(aps))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["coco", "lvis"])
def test_eval_with_ray_writes_the_same_metrics(tmp_path, capsys, ray_session, kind):
    write_gt_and_records(tmp_path, np.random.default_rng(21), 24, lvis=kind == "lvis")
    metrics = []
    for extra in ([], ["--ray", "--num-shards", "3"]):
        out = tmp_path / f"r{len(extra)}"
        assert (
            main(
                [
                    "eval",
                    kind,
                    "--gt",
                    str(tmp_path / "gt.json"),
                    "--pred",
                    str(tmp_path / "o.jsonl"),
                    "--out",
                    str(out),
                    "--no-plots",
                    *extra,
                ]
            )
            == 0
        )
        metrics.append(json.loads((out / "metrics.json").read_text())["metrics"])
    capsys.readouterr()
    assert metrics[0] == metrics[1]
    assert metrics[0]["stats"] and metrics[0]["per_category"]
