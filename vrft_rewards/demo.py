"""``vrft-rewards demo``: the package's two jobs on bundled data, in a few seconds.

1. Score one GRPO step (64 rollouts in Visual-RFT's detection format) with Visual-RFT's exact
   reward functions and with this package's recommended detection rewards.
2. Evaluate 96 model outputs (one per image x category prompt, boxes on Qwen2-VL's 0..1000 grid)
   against a small COCO-format ground truth: parse, convert to pixels with the GT image sizes,
   and run the COCO evaluation (bit-identical to pycocotools).

The data comes from ``tools/make_demo_data.py`` (seeded) and ships in ``vrft_rewards/data/``.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any, Optional, TextIO

import numpy as np

from ._atomic import StagedFiles
from .parsing import STATUS_NAMES, boxes_to_pixels, parse_completions

__all__ = ["run_demo", "demo_data_path"]


def demo_data_path(name: str) -> Path:
    """Path of a bundled demo file (``demo_coco_gt.json``, ``demo_rollouts.jsonl``, ...)."""
    return Path(str(resources.files("vrft_rewards") / "data" / name))


def _read_jsonl(path: Path) -> list:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _table(rows: list, headers: list) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def score_rollouts(rollouts: list) -> dict:
    """Reward statistics of one GRPO step for the Visual-RFT preset and our detection preset."""
    from .rewards import resolve_reward_set

    completions = [r["completion"] for r in rollouts]
    solution = [r["solution"] for r in rollouts]
    out: dict = {}
    for task in ("visual_rft/detection", "detection"):
        result = resolve_reward_set(task)(completions, solution=solution)
        out[task] = {name: [None if np.isnan(v) else float(v) for v in result.column(name)] for name in result.names}
    parsed = parse_completions(completions)
    out["statuses"] = {
        name: int(n) for name, n in zip(STATUS_NAMES, np.bincount(parsed.status, minlength=len(STATUS_NAMES)))
    }
    return out


def detections_from_outputs(outputs: list, gt: dict) -> tuple[np.ndarray, Any]:
    """(N, 7) detections ``[image_id, x, y, w, h, score, category_id]`` in pixels from
    ``{image_id, category, completion}`` records on the 0..1000 grid, and the ParsedBatch."""
    cat_id = {c["name"]: c["id"] for c in gt["categories"]}
    sizes = {im["id"]: (im["width"], im["height"]) for im in gt["images"]}
    image_ids = np.array([r["image_id"] for r in outputs], dtype=np.int64)
    category_ids = np.array([cat_id[r["category"]] for r in outputs], dtype=np.int64)
    parsed = parse_completions([r["completion"] for r in outputs])
    image_sizes = np.array([sizes[i] for i in image_ids.tolist()], dtype=np.float64)
    px = boxes_to_pixels(parsed.boxes, parsed.offsets, image_sizes, "norm1000")
    owner = parsed.box_owner
    scores = np.where(np.isnan(parsed.confidences), 1.0, parsed.confidences)
    dets = np.column_stack(
        [image_ids[owner], px[:, 0], px[:, 1], px[:, 2] - px[:, 0], px[:, 3] - px[:, 1], scores, category_ids[owner]]
    )
    return dets, parsed


# Names a Qwen2.5-VL-style model writes for the demo's categories (see tools/make_demo_data.py).
QWEN_SYNONYMS = {
    "dogs": "dog",
    "puppy": "dog",
    "kitten": "cat",
    "cars": "car",
    "automobile": "car",
    "man": "person",
    "people": "person",
}


def _qwen_report() -> Any:
    from .eval import evaluate_detection

    return evaluate_detection(
        str(demo_data_path("demo_coco_gt.json")),
        str(demo_data_path("demo_outputs_qwen.jsonl")),
        frame="abs",
        require_tags=False,
        synonyms=QWEN_SYNONYMS,
    )


def _write_reports(out: Path, gt: dict, outputs: list, qwen: Any) -> tuple[str, list]:
    """Full evaluation reports (tables, parse statistics, plots when matplotlib is installed)
    in ``out/visual_rft_format`` and ``out/qwen_format``; returns the summary and the lines that
    link them from ``out/report.md``."""
    from .eval import evaluate_detection, write_report

    vrft = evaluate_detection(gt, outputs, source="demo_outputs.jsonl", lines=list(range(1, len(outputs) + 1)))
    lines = ["", "## Full evaluation reports", ""]
    n_plots = 0
    for name, rep in (("visual_rft_format", vrft), ("qwen_format", qwen)):
        written = write_report(rep, out / name)
        n_plots += len(written["plots"])
        lines.append(
            f"- [{name}]({name}/report.md)"
            + (f" (plots not drawn: {written['plots_skipped']})" if written["plots_skipped"] else "")
        )
        lines += [f"  ![{Path(p).stem}]({name}/{Path(p).name})" for p in written["plots"]]
    return f", full reports in {out / 'visual_rft_format'} and {out / 'qwen_format'} ({n_plots} plots)", lines


def run_demo(out_dir: Optional[str] = None, stream: Optional[TextIO] = None) -> dict:
    """Run the demo, print its tables to ``stream`` (stdout) and return the numbers.

    With ``out_dir``, also write ``metrics.json`` and ``report.md`` there, and the full evaluation
    reports of both output formats (Markdown, metrics, and PNG plots when matplotlib is
    installed) in ``out_dir/visual_rft_format`` and ``out_dir/qwen_format``.
    """
    import sys

    from .eval import evaluate_coco

    stream = stream or sys.stdout
    say = lambda text="": print(text, file=stream)  # noqa: E731

    rollouts = _read_jsonl(demo_data_path("demo_rollouts.jsonl"))
    scored = score_rollouts(rollouts)
    say(f"== 1. Scoring one GRPO step: {len(rollouts)} completions (8 prompts x 8) ==")
    say("parse statuses: " + ", ".join(f"{k}={v}" for k, v in scored["statuses"].items() if v))
    rows = []
    for task in ("visual_rft/detection", "detection"):
        for name, values in scored[task].items():
            v = np.array([np.nan if x is None else x for x in values])
            rows.append(
                [
                    task,
                    name,
                    f"{np.nanmean(v):.3f}",
                    f"{np.nanstd(v):.3f}",
                    f"{np.nanmin(v):.3f}",
                    f"{np.nanmax(v):.3f}",
                ]
            )
    say(_table(rows, ["preset", "reward", "mean", "std", "min", "max"]))

    gt = json.loads(demo_data_path("demo_coco_gt.json").read_text())
    outputs = _read_jsonl(demo_data_path("demo_outputs.jsonl"))
    dets, parsed = detections_from_outputs(outputs, gt)
    result = evaluate_coco(gt, dets)
    say()
    say(f"== 2. COCO evaluation of {len(outputs)} model outputs ({len(dets)} boxes, 0..1000 grid -> pixels) ==")
    say(result.summary())
    say()
    say(
        _table(
            [
                [r["name"], f"{r['AP']:.3f}", f"{r['AP50']:.3f}", f"{r['AP75']:.3f}", f"{r['AR']:.3f}"]
                for r in result.per_category
            ],
            ["category", "AP", "AP50", "AP75", "AR@100"],
        )
    )
    metrics = {"rollouts": scored, "coco": result.to_dict()}
    qwen = _qwen_report()
    say()
    say(
        "== 3. The same evaluation from Qwen2.5-VL-style outputs (labelled boxes in pixels, "
        "no confidence, two bad records) =="
    )
    say(qwen.text())
    metrics["qwen"] = qwen.to_dict()
    if out_dir is not None:
        out = Path(out_dir)
        extra, links = _write_reports(out, gt, outputs, qwen)
        with StagedFiles(out) as stage:  # both or neither (a full disk leaves the previous ones)
            stage.write_text("metrics.json", json.dumps(metrics, indent=1) + "\n")
            stage.write_text(
                "report.md",
                "# vrft-rewards demo report\n\n## Rewards of one GRPO step\n\n```\n"
                + _table(rows, ["preset", "reward", "mean", "std", "min", "max"])
                + "\n```\n\n## COCO evaluation\n\n```\n"
                + result.summary()
                + "\n```\n"
                + "\n".join(links)
                + "\n",
            )
        say(f"\nwrote {out / 'metrics.json'} and {out / 'report.md'}" + extra)
    return metrics
