"""Issue 14, items 1, 3 and 4 on the command line (``vrft-rewards score`` / ``eval``).

Item 1: a huge coordinate in one record only changes that record's contribution, exactly as a
non-finite one does (exit 0 in default mode; the record located as file:line).
Item 3: JSON nested 100,000 deep (the stdlib parser raises RecursionError, which is no
ValueError) in a JSONL line, a GT file, ``--synonyms``, ``--aliases`` or ``--option`` is a skipped
record (default) or a one-line error with file:line (``--strict``), never a traceback; with and
without orjson (an optional speed-up with its own depth limit).
Item 4: ``eval grounding`` skips bad ground-truth records (inverted box, huge coordinate,
width 1e308) with file:line instead of aborting with an internal message.
Also: a record whose ``completion`` is a list of lists (not chat messages) is one bad record.

The matrix runs in-process (``vrft_rewards.cli.main`` with captured output; orjson hidden by
patching ``vrft_rewards._json``); a few cases run the real command in a fresh interpreter, and the
rest of that subprocess matrix is marked ``slow``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

import vrft_rewards._json as vr_json
from _reliability_data import (
    HUGE,
    NONFINITE,
    coco_gt,
    det,
    no_traceback,
    one_line_error,
    run_cli,
    solution,
    write_jsonl,
)
from vrft_rewards.cli import main

DEEP_OPEN = "[" * 100_000  # the line: unclosed, 100,000 deep
DEEP_CLOSED = "[" * 100_000 + "]" * 100_000  # valid JSON, too deep for the stdlib parser


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys, monkeypatch):
    """``cli(args, no_orjson=False)``: ``vrft-rewards ARGS`` in this process -> Run."""

    def run(args, *, no_orjson: bool = False) -> Run:
        if no_orjson:
            monkeypatch.setattr(vr_json, "_orjson", None)
        capsys.readouterr()
        rc = main([str(a) for a in args])
        out, err = capsys.readouterr()
        monkeypatch.undo()
        return Run(rc, out, err)

    return run


def _det_record(image_id, x2):
    return {
        "image_id": image_id,
        "category": "dog",
        "completion": f"<answer>[{{'Position': [100, 100, {x2}, {x2}], 'Confidence': 0.9}}]</answer>",
    }


def _metrics(out_dir):
    return json.loads((out_dir / "metrics.json").read_text())


def _located(report: dict, where: str) -> bool:
    """The record at ``where`` (file:line) is named among the skipped records or parse examples."""
    return where in json.dumps(report.get("skipped", {})) or where in json.dumps(report.get("parse", {}))


# -- item 1 ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["coco", "lvis"])
def test_eval_detection_huge_coordinate_is_read_like_a_non_finite_one(tmp_path, cli, kind):
    (tmp_path / "gt.json").write_text(json.dumps(coco_gt(lvis=kind == "lvis")))
    reports = {}
    for name, x2 in (("huge", HUGE), ("nonfinite", NONFINITE)):
        pred = write_jsonl(
            tmp_path / f"{name}.jsonl", [_det_record(1, "300"), _det_record(2, x2), _det_record(3, "300")]
        )
        out = tmp_path / name
        proc = cli(["eval", kind, "--gt", tmp_path / "gt.json", "--pred", pred, "--out", out, "--no-plots"])
        assert proc.returncode == 0, proc.stderr  # before: exit 2 "pred[1] is invalid: coordinate magnitude..."
        reports[name] = _metrics(out)
    # The default protocol drops the huge box like a non-finite one.  Visual-RFT's protocol keeps
    # it (its loop reads 1e200 as a float, pycocotools' area becomes inf) and drops NaN, so the
    # protocol comparison differs in exactly that box.
    compared = {name: r["metrics"].pop("protocol_comparison") for name, r in reports.items()}
    assert reports["huge"]["metrics"] == reports["nonfinite"]["metrics"]
    assert (compared["huge"]["boxes_only_visual_rft"], compared["nonfinite"]["boxes_only_visual_rft"]) == (1, 0)
    assert _located(reports["huge"], "huge.jsonl:2")


@pytest.mark.parametrize("kind", ["coco", "lvis"])
def test_eval_detection_huge_coordinate_with_strict(tmp_path, cli, kind):
    (tmp_path / "gt.json").write_text(json.dumps(coco_gt(lvis=kind == "lvis")))
    rcs = {}
    for name, x2 in (("huge", HUGE), ("nonfinite", NONFINITE)):
        pred = write_jsonl(tmp_path / f"{name}.jsonl", [_det_record(1, "300"), _det_record(2, x2)])
        proc = cli(["eval", kind, "--gt", tmp_path / "gt.json", "--pred", pred, "--strict", "--no-plots"])
        rcs[name] = proc.returncode
        if proc.returncode == 2:
            assert one_line_error(proc.stderr).startswith(f"vrft-rewards: error: {pred}:2:")
    assert rcs["huge"] == rcs["nonfinite"]  # before: 2 (internal message) vs 0


@pytest.mark.parametrize("task", ["detection", "visual_rft/detection", "grounding"])
def test_score_huge_coordinate_only_changes_its_row(tmp_path, cli, task):
    got = {}
    for name, x2 in (("huge", HUGE), ("nonfinite", NONFINITE)):
        rows = [
            {"completion": det(), "solution": solution()},
            {"completion": det(x2, x2), "solution": solution()},
            {"completion": det("8", "9"), "solution": solution(x2, "10")},
        ]
        inp = write_jsonl(tmp_path / f"{name}.jsonl", rows)
        proc = cli(["score", "--task", task, "--input", inp, "--out", tmp_path / name, "--no-plots"])
        assert proc.returncode == 0, proc.stderr  # before: exit 2 "pred[1] is invalid: ..."
        got[name] = _metrics(tmp_path / name)["metrics"]
    assert got["huge"] == got["nonfinite"]


def _grounding_record(answer="<answer>(100,100),(500,500)</answer>", **gt):
    return dict({"completion": answer, "width": 100, "height": 100, "box": [10, 10, 50, 50]}, **gt)


def test_eval_grounding_huge_predicted_coordinate_is_a_failed_answer(tmp_path, cli):
    got = {}
    for name, x in (("huge", HUGE), ("nonfinite", NONFINITE)):
        pred = write_jsonl(
            tmp_path / f"{name}.jsonl", [_grounding_record(), _grounding_record(f"<answer>(0,0),({x},{x})</answer>")]
        )
        proc = cli(["eval", "grounding", "--pred", pred, "--out", tmp_path / name, "--no-plots"])
        assert proc.returncode == 0, proc.stderr  # before: exit 2 "boxes1[1] is invalid: ..."
        got[name] = _metrics(tmp_path / name)["metrics"]
    assert got["huge"] == got["nonfinite"]


# -- item 4: eval grounding and bad ground-truth records ----------------------------------------------
BAD_GROUNDING_GT = {
    "inverted_box": {"box": [50, 50, 10, 10]},
    "huge_box": {"box": [0, 0, 1e200, 1e200]},
    "huge_width": {"width": 1e308},
    "huge_height": {"height": 1e308},
}


@pytest.mark.parametrize("case", list(BAD_GROUNDING_GT))
def test_eval_grounding_bad_gt_record_is_skipped_with_its_line(tmp_path, cli, case):
    pred = write_jsonl(
        tmp_path / "g.jsonl", [_grounding_record(), _grounding_record(**BAD_GROUNDING_GT[case]), _grounding_record()]
    )
    proc = cli(["eval", "grounding", "--pred", pred, "--out", tmp_path / "r", "--no-plots"])
    assert proc.returncode == 0, proc.stderr  # before: exit 2 "boxes2[1] is invalid: inverted box ..."
    report = _metrics(tmp_path / "r")
    assert report["skipped"]["total"] == 1 and _located(report, f"{pred}:2")
    assert report["metrics"]["n"] == 2


@pytest.mark.parametrize("case", list(BAD_GROUNDING_GT))
def test_eval_grounding_bad_gt_record_with_strict_is_one_line_with_its_line(tmp_path, cli, case):
    pred = write_jsonl(tmp_path / "g.jsonl", [_grounding_record(), _grounding_record(**BAD_GROUNDING_GT[case])])
    proc = cli(["eval", "grounding", "--pred", pred, "--strict", "--no-plots"])
    assert proc.returncode == 2
    assert one_line_error(proc.stderr).startswith(f"vrft-rewards: error: {pred}:2:")  # before: no file:line


def test_eval_grounding_bad_gt_from_gt_file_names_the_record(tmp_path, cli):
    gt = {
        "a": {"width": 100, "height": 100, "box": [10, 10, 50, 50]},
        "b": {"width": 100, "height": 100, "box": [50, 50, 10, 10]},
    }
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    pred = write_jsonl(
        tmp_path / "g.jsonl",
        [
            {"id": "a", "completion": "<answer>(100,100),(500,500)</answer>"},
            {"id": "b", "completion": "<answer>(100,100),(500,500)</answer>"},
        ],
    )
    proc = cli(
        ["eval", "grounding", "--pred", pred, "--gt", tmp_path / "gt.json", "--out", tmp_path / "r", "--no-plots"]
    )
    assert proc.returncode == 0, proc.stderr
    report = _metrics(tmp_path / "r")
    assert report["skipped"]["total"] == 1 and _located(report, f"{pred}:2")


# -- item 3: deeply nested JSON -----------------------------------------------------------------------
def _jsonl_inputs(tmp_path, command, bad_line):
    """(argv without --strict/--out, pred path) of `command` whose line 2 is `bad_line`."""
    if command in ("coco", "lvis"):
        (tmp_path / "gt.json").write_text(json.dumps(coco_gt(lvis=command == "lvis")))
        pred = write_jsonl(tmp_path / "p.jsonl", [_det_record(1, "300"), bad_line, _det_record(3, "300")])
        return ["eval", command, "--gt", tmp_path / "gt.json", "--pred", pred], pred
    if command == "classification":
        pred = write_jsonl(
            tmp_path / "p.jsonl",
            [
                {"completion": "<answer>cat</answer>", "label": "cat"},
                bad_line,
                {"completion": "<answer>dog</answer>", "label": "cat"},
            ],
        )
        return ["eval", "classification", "--pred", pred], pred
    if command == "grounding":
        pred = write_jsonl(tmp_path / "p.jsonl", [_grounding_record(), bad_line, _grounding_record()])
        return ["eval", "grounding", "--pred", pred], pred
    pred = write_jsonl(
        tmp_path / "p.jsonl",
        [
            {"completion": det(), "solution": solution()},
            bad_line,
            {"completion": det("8", "9"), "solution": solution()},
        ],
    )
    return ["score", "--task", "detection", "--input", pred], pred


COMMANDS = ["coco", "lvis", "classification", "grounding", "score"]
_FIELDS = '"label": "cat", "solution": "<answer>[0,0,1,1]</answer>", "image_id": 2, "category": "dog", '
_FIELDS += '"width": 100, "height": 100, "box": [10, 10, 50, 50]'
BAD_LINES = {
    "unclosed": DEEP_OPEN,
    "closed": DEEP_CLOSED,
    "deep_value": '{"completion": ' + DEEP_CLOSED + ", " + _FIELDS + "}",
    # deep, but within what orjson and the stdlib parse: refused as a record, never recursed into
    "deep_value_900": '{"completion": ' + "[" * 900 + "]" * 900 + ", " + _FIELDS + "}",
    "deep_label_900": '{"completion": "<answer>cat</answer>", ' + _FIELDS.replace('"cat"', "[" * 900 + "]" * 900) + "}",
    # the extra finding: a list of lists is no chat-message list
    "list_of_lists": '{"completion": [["<answer>cat</answer>"]], ' + _FIELDS + "}",
    "chat_without_assistant": '{"completion": [{"role": "user", "content": "x"}], ' + _FIELDS + "}",
    "chat_with_list_content": '{"completion": [{"role": "assistant", "content": [1]}], ' + _FIELDS + "}",
}
DEEP_COLUMN = (
    '{"completion": "<answer>cat</answer>", "label": "cat", "image_id": 2, "category": "dog", '
    '"solution": "<answer>[0,0,1,1]</answer>", "width": 100, "height": 100, "box": [10, 10, 50, 50], '
    '"extra": ' + DEEP_CLOSED + "}"
)


@pytest.mark.parametrize("no_orjson", [False, True], ids=["orjson", "stdlib-json"])
@pytest.mark.parametrize("line", list(BAD_LINES))
@pytest.mark.parametrize("command", COMMANDS)
def test_bad_jsonl_line_is_a_skipped_record(tmp_path, cli, command, line, no_orjson):
    argv, pred = _jsonl_inputs(tmp_path, command, BAD_LINES[line])
    proc = cli([*argv, "--out", tmp_path / "r", "--no-plots"], no_orjson=no_orjson)
    assert proc.returncode == 0, proc.stderr  # before (stdlib json): RecursionError traceback, exit 1
    report = _metrics(tmp_path / "r")
    assert report["skipped"]["total"] == 1 and _located(report, f"{pred}:2"), report["skipped"]


@pytest.mark.parametrize("no_orjson", [False, True], ids=["orjson", "stdlib-json"])
@pytest.mark.parametrize("command", COMMANDS)
def test_deep_extra_column_never_crashes(tmp_path, cli, command, no_orjson):
    argv, _ = _jsonl_inputs(tmp_path, command, DEEP_COLUMN)
    proc = cli([*argv, "--out", tmp_path / "r", "--no-plots"], no_orjson=no_orjson)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("no_orjson", [False, True], ids=["orjson", "stdlib-json"])
@pytest.mark.parametrize("line", ["unclosed", "closed", "deep_value", "list_of_lists"])
@pytest.mark.parametrize("command", COMMANDS)
def test_bad_jsonl_line_with_strict_is_one_line_with_its_line(tmp_path, cli, command, line, no_orjson):
    argv, pred = _jsonl_inputs(tmp_path, command, BAD_LINES[line])
    proc = cli([*argv, "--strict", "--no-plots"], no_orjson=no_orjson)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert one_line_error(proc.stderr).startswith(f"vrft-rewards: error: {pred}:2:")


@pytest.mark.parametrize("no_orjson", [False, True], ids=["orjson", "stdlib-json"])
@pytest.mark.parametrize("command", ["coco", "lvis", "classification", "grounding"])
def test_deeply_nested_gt_file_is_a_one_line_error_naming_it(tmp_path, cli, command, no_orjson):
    deep = tmp_path / "deep_gt.json"
    deep.write_text(DEEP_OPEN)
    if command in ("coco", "lvis"):
        pred = write_jsonl(tmp_path / "p.jsonl", [_det_record(1, "300")])
    else:
        pred = write_jsonl(tmp_path / "p.jsonl", [{"id": "a", "completion": "<answer>cat</answer>"}])
    proc = cli(["eval", command, "--gt", deep, "--pred", pred, "--no-plots"], no_orjson=no_orjson)
    assert proc.returncode == 2, proc.stderr[-2000:]  # before: RecursionError traceback, exit 1
    assert str(deep) in one_line_error(proc.stderr)


@pytest.mark.parametrize("form", ["inline", "file"])
@pytest.mark.parametrize(
    "option, command", [("--synonyms", "coco"), ("--synonyms", "lvis"), ("--aliases", "classification")]
)
def test_deeply_nested_option_json_is_a_one_line_error(tmp_path, cli, option, command, form):
    argv, _ = _jsonl_inputs(tmp_path, command, {"completion": "<answer>cat</answer>", "label": "cat"})
    value = DEEP_OPEN
    if form == "file":
        (tmp_path / "opt.json").write_text(DEEP_OPEN)
        value = tmp_path / "opt.json"
    proc = cli([*argv, option, value, "--no-plots"])
    assert proc.returncode == 2, proc.stderr[-2000:]  # before: RecursionError traceback, exit 1
    line = one_line_error(proc.stderr)
    assert option in line and (form == "inline" or str(value) in line)


@pytest.mark.parametrize("command", ["score", "serve"])
def test_deeply_nested_option_value_is_a_one_line_error(tmp_path, cli, command):
    if command == "score":
        inp = write_jsonl(tmp_path / "r.jsonl", [{"completion": det(), "solution": solution()}])
        argv = ["score", "--task", "detection", "--input", inp]
    else:
        argv = ["serve", "--task", "detection", "--port", "0"]
    proc = cli([*argv, "--option", "iou_threshold=" + DEEP_OPEN])
    assert proc.returncode == 2, proc.stderr[-2000:]  # before: RecursionError traceback, exit 1
    assert "--option" in one_line_error(proc.stderr)


# -- the real command, in a fresh interpreter ----------------------------------------------------------
SUBPROCESS_CASES = [  # (command, bad line, strict, hide orjson)
    ("coco", "unclosed", False, True),
    ("score", "deep_value", True, True),
    ("grounding", "list_of_lists", False, False),
]
# Each command once per mode in a fresh interpreter (the in-process matrix above covers the rest).
SLOW_SUBPROCESS_CASES = [
    case
    for command in COMMANDS
    for case in ((command, "unclosed", False, True), (command, "deep_value", True, False))
    if case not in SUBPROCESS_CASES
]


def _subprocess_case(tmp_path, command, line, strict, no_orjson):
    argv, pred = _jsonl_inputs(tmp_path, command, BAD_LINES[line])
    extra = ["--strict"] if strict else ["--out", tmp_path / "r"]
    proc = run_cli([*argv, *extra, "--no-plots"], no_orjson=no_orjson)
    no_traceback(proc)
    if strict:
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert one_line_error(proc.stderr).startswith(f"vrft-rewards: error: {pred}:2:")
    else:
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert _located(_metrics(tmp_path / "r"), f"{pred}:2")


@pytest.mark.parametrize("command, line, strict, no_orjson", SUBPROCESS_CASES)
def test_real_command_skips_or_names_a_bad_line(tmp_path, command, line, strict, no_orjson):
    _subprocess_case(tmp_path, command, line, strict, no_orjson)


@pytest.mark.slow
@pytest.mark.parametrize("command, line, strict, no_orjson", SLOW_SUBPROCESS_CASES)
def test_real_command_skips_or_names_a_bad_line_everywhere(tmp_path, command, line, strict, no_orjson):
    _subprocess_case(tmp_path, command, line, strict, no_orjson)


def test_real_command_gt_and_option_errors_are_one_line(tmp_path):
    deep = tmp_path / "deep_gt.json"
    deep.write_text(DEEP_OPEN)
    pred = write_jsonl(tmp_path / "p.jsonl", [_det_record(1, "300")])
    proc = run_cli(["eval", "coco", "--gt", deep, "--pred", pred, "--no-plots"], no_orjson=True)
    assert proc.returncode == 2 and str(deep) in one_line_error(proc.stderr)
    proc = run_cli(["serve", "--task", "detection", "--port", "0", "--option", "iou_threshold=" + DEEP_OPEN])
    assert proc.returncode == 2 and "--option" in one_line_error(proc.stderr)


# -- item 8: CLI errors name their file ------------------------------------------------------------------
@pytest.mark.parametrize("command, gt", [("classification", "[1, 2]"), ("classification", '"x"'), ("grounding", '"x"')])
def test_a_ground_truth_file_of_the_wrong_shape_is_named(tmp_path, cli, command, gt):
    (tmp_path / "gt.json").write_text(gt)
    pred = write_jsonl(tmp_path / "p.jsonl", [{"id": "a", "completion": "<answer>cat</answer>"}])
    proc = cli(["eval", command, "--gt", tmp_path / "gt.json", "--pred", pred, "--no-plots"])
    assert proc.returncode == 2 and str(tmp_path / "gt.json") in one_line_error(proc.stderr)  # before: no file
