"""Shared inputs of the reliability tests (issue 14): tiny ground truths, completions with huge /
non-finite coordinates, and a runner for the command line in a fresh interpreter.

Written against the public API only (``vrft_rewards.cli.main``, ``python -m vrft_rewards``,
``vrft_rewards.rewards``, ``vrft_rewards.serve``), so the tests survive moving modules around.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import vrft_rewards

ROOT = Path(vrft_rewards.__file__).resolve().parent.parent  # the package under test

# A finite coordinate above 2**510 ~ 3.4e153 (areas overflow float64): must be read like a
# non-finite one (the box is dropped, the row gets the documented reward), never raise for a batch.
HUGE = "1e200"
NONFINITE = "1e400"  # parses to inf: the documented behaviour the huge case must equal

GOOD_DET = "<think>x</think><answer>[{'Position': [0, 0, 10, 10], 'Confidence': 1.0}]</answer>"
SOLUTION = "<answer>[{'Position': [0, 0, 10, 10], 'Confidence': 1}]</answer>"


def det(x2: str = "10", y2: str = "10", conf: str = "1.0") -> str:
    return f"<think>x</think><answer>[{{'Position': [0, 0, {x2}, {y2}], 'Confidence': {conf}}}]</answer>"


def solution(x2: str = "10", y2: str = "10") -> str:
    return f"<answer>[{{'Position': [0, 0, {x2}, {y2}], 'Confidence': 1}}]</answer>"


def coco_gt(lvis: bool = False) -> dict:
    gt = {
        "images": [{"id": i, "width": 100, "height": 100} for i in (1, 2, 3)],
        "categories": [{"id": 1, "name": "dog"}, {"id": 2, "name": "cat"}],
        "annotations": [
            {"id": k, "image_id": i, "category_id": 1, "bbox": [10, 10, 20, 20], "area": 400, "iscrowd": 0}
            for k, i in enumerate((1, 2, 3), start=1)
        ],
    }
    if lvis:
        for im in gt["images"]:
            im["neg_category_ids"], im["not_exhaustive_category_ids"] = [], []
        for c in gt["categories"]:
            c["frequency"] = "f"
    return gt


def write_jsonl(path: Path, rows) -> Path:
    """rows: dicts (dumped) or raw str lines (written as they are)."""
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def run_cli(args, *, no_orjson: bool = False, timeout: float = 300, cwd=None, preexec_fn=None):
    """``vrft-rewards ARGS`` in a fresh interpreter; returns CompletedProcess (text).

    ``no_orjson=True`` hides orjson (an optional speed-up), so that the stdlib json path runs.
    """
    code = (
        "import sys\n"
        + ("sys.modules['orjson'] = None\n" if no_orjson else "")
        + "from vrft_rewards.cli import main\nraise SystemExit(main(sys.argv[1:]))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
        preexec_fn=preexec_fn,
    )


def one_line_error(stderr: str) -> str:
    """The single ``vrft-rewards...`` line every user mistake must be reported as."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr[-3000:]
    assert lines[0].startswith("vrft-rewards"), lines[0]
    return lines[0]


def no_traceback(proc) -> None:
    assert "Traceback" not in proc.stderr and "RecursionError" not in proc.stderr, proc.stderr[-3000:]
