"""Issue 14, item 7: reports are written to a temporary name and renamed, so a failure leaves the
previous report (or none), never a truncated ``metrics.json`` or a ``metrics.json`` without its
``report.md``.

A full disk is simulated at the OS level with RLIMIT_FSIZE (every write past N bytes of one file
fails with EFBIG), so the test does not depend on how the files are written.
"""

from __future__ import annotations

import json
import resource
import signal

import pytest

from _reliability_data import coco_gt, det, run_cli, solution, write_jsonl


def _inputs(tmp_path, command, version):
    """argv of `command` whose metrics differ between version 1 and 2."""
    if command == "coco":
        (tmp_path / "gt.json").write_text(json.dumps(coco_gt()))
        x2 = "300" if version == 1 else "250"
        recs = [
            {
                "image_id": i,
                "category": "dog",
                "completion": f"<answer>[{{'Position': [100, 100, {x2}, {x2}], 'Confidence': 0.9}}]</answer>",
            }
            for i in (1, 2, 3)
        ]
        pred = write_jsonl(tmp_path / f"p{version}.jsonl", recs)
        return ["eval", "coco", "--gt", tmp_path / "gt.json", "--pred", pred, "--no-plots"]
    if command == "classification":
        pred = write_jsonl(
            tmp_path / f"p{version}.jsonl",
            [
                {"completion": "<answer>cat</answer>", "label": "cat"},
                {"completion": "<answer>dog</answer>", "label": "cat" if version == 1 else "dog"},
            ],
        )
        return ["eval", "classification", "--pred", pred, "--no-plots"]
    rows = [
        {"completion": det(), "solution": solution()},
        {"completion": det("8", "9" if version == 1 else "7"), "solution": solution()},
    ]
    return ["score", "--task", "detection", "--input", write_jsonl(tmp_path / f"r{version}.jsonl", rows), "--no-plots"]


def _disk_full_after(nbytes):
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))

    return limit


COMMANDS = ["coco", "classification", "score"]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_full_disk_leaves_the_previous_report(tmp_path, command):
    out = tmp_path / "out"
    first = run_cli([*_inputs(tmp_path, command, 1), "--out", out])
    assert first.returncode == 0, first.stderr
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    proc = run_cli([*_inputs(tmp_path, command, 2), "--out", out], preexec_fn=_disk_full_after(200))
    assert proc.returncode == 2, proc.stderr[-2000:]  # the write failed: a one-line error
    after = {p.name: p.read_bytes() for p in out.iterdir() if not p.name.startswith(".")}
    # today: metrics.json is cut at 200 bytes (not JSON any more)
    assert after == before, {k: len(v) for k, v in after.items()}


@pytest.mark.parametrize("command", COMMANDS)
def test_a_full_disk_on_a_first_run_leaves_no_half_report(tmp_path, command):
    out = tmp_path / "out"
    proc = run_cli([*_inputs(tmp_path, command, 1), "--out", out], preexec_fn=_disk_full_after(200))
    assert proc.returncode == 2
    names = sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) if out.exists() else []
    assert "metrics.json" not in names and "report.md" not in names, names  # today: a 200-byte metrics.json


@pytest.mark.parametrize("command", COMMANDS)
def test_when_report_md_cannot_be_written_metrics_json_is_not_updated(tmp_path, command):
    out = tmp_path / "out"
    assert run_cli([*_inputs(tmp_path, command, 1), "--out", out]).returncode == 0
    old_metrics = (out / "metrics.json").read_bytes()
    (out / "report.md").unlink()
    (out / "report.md").mkdir()  # report.md can no longer be written
    proc = run_cli([*_inputs(tmp_path, command, 2), "--out", out])
    assert proc.returncode == 2
    assert (out / "metrics.json").read_bytes() == old_metrics  # today: metrics.json of run 2 without its report


def test_demo_out_with_a_full_disk_leaves_no_half_report(tmp_path):
    out = tmp_path / "demo"
    proc = run_cli(["demo", "--out", out], preexec_fn=_disk_full_after(200))
    assert proc.returncode == 2
    for p in out.rglob("*"):
        if p.is_file() and p.suffix in (".json", ".md"):
            text = p.read_text()
            if p.suffix == ".json":
                json.loads(text)  # never a truncated JSON
