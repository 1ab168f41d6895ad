"""Peak memory (and one wall time) of mask / keypoint evaluation from JSON files, each in a fresh
process: ours (native results reader), ours with the general reader (load_json + result dicts, as
before the native one), hotcoco, faster-coco-eval and pycocotools.

    python bench/eval_memory_segm.py [--small] [--only NAME ...]

The workloads are bench_eval_segm.py's (full sizes: COCO-like 25k RLE or polygon + bbox masks,
40k keypoint persons), written to a temporary directory; each job loads the GT and results files
and evaluates; it prints its wall time, the peak RSS (VmHWM) and that peak minus the one after
imports (see eval_memory.py).  One run each: the medians are bench_eval_segm.py's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # the in-place build of vrft_rewards

from eval_memory import EPILOGUE, PRELUDE  # noqa: E402

JOBS = {
    "ours": """
from vrft_rewards.eval import evaluate_coco
base = rss_mb(); t = time.perf_counter()
stats = evaluate_coco(gt_path, res_path, iou_type=iou_type).stats
""",
    "ours-general-reader": """
from vrft_rewards.eval import evaluate_coco
from vrft_rewards.cocoeval import loadres
loadres._from_file = lambda *a, **k: None
base = rss_mb(); t = time.perf_counter()
stats = evaluate_coco(gt_path, res_path, iou_type=iou_type).stats
""",
    "hotcoco": """
import hotcoco
base = rss_mb(); t = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()):
    g = hotcoco.COCO(gt_path); d = g.load_res(res_path)
    E = hotcoco.COCOeval(g, d, iou_type); E.evaluate(); E.accumulate(); E.summarize()
stats = E.stats
""",
    "faster-coco-eval": """
from faster_coco_eval import COCO, COCOeval_faster
base = rss_mb(); t = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()):
    g = COCO(gt_path); d = g.loadRes(res_path)
    E = COCOeval_faster(g, d, iou_type); E.evaluate(); E.accumulate(); E.summarize()
stats = E.stats
""",
    "pycocotools": """
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
base = rss_mb(); t = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()):
    g = COCO(gt_path); d = g.loadRes(res_path)
    E = COCOeval(g, d, iou_type); E.evaluate(); E.accumulate(); E.summarize()
stats = E.stats
""",
}


def main() -> None:
    from _shape_workloads import make_keypoint_workload, make_segm_workload
    from bench_eval_segm import SIZES, _dump

    ap = argparse.ArgumentParser()
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--only", nargs="*", default=None)
    args = ap.parse_args()
    env = dict(os.environ, PYTHONPATH=str(HERE.parent) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    pick = 1 if args.small else 0
    with tempfile.TemporaryDirectory() as tmp:
        workloads = {
            "coco-segm-rle": (make_segm_workload(**SIZES["coco"][pick], seed=2, polygons=False), "segm"),
            "coco-segm-poly": (make_segm_workload(**SIZES["coco"][pick], seed=2, polygons=True), "segm"),
            "coco-kp": (make_keypoint_workload(**SIZES["kp"][pick], seed=3), "keypoints"),
        }
        paths = {}
        for name, ((gt, res), iou_type) in workloads.items():
            paths[name] = (Path(tmp) / f"{name}_gt.json", Path(tmp) / f"{name}_res.json", iou_type)
            _dump(gt, paths[name][0])
            _dump(res, paths[name][1])
        del workloads
        print(f"{'workload':15} {'evaluator':20} {'wall s':>8} {'peak RSS MB':>12} {'above imports MB':>17}  AP")
        for name, (gt_path, res_path, iou_type) in paths.items():
            for tool, job in JOBS.items():
                if args.only and tool not in args.only:
                    continue
                code = PRELUDE + f"iou_type = {iou_type!r}\n" + job + EPILOGUE
                out = subprocess.run(
                    [sys.executable, "-c", code, str(gt_path), str(res_path)], capture_output=True, text=True, env=env
                )
                if out.returncode != 0:
                    print(f"{name:15} {tool:20} failed: {out.stderr.strip().splitlines()[-1]}")
                    continue
                wall, peak, above, ap0 = out.stdout.split()[-4:]
                print(f"{name:15} {tool:20} {float(wall):8.2f} {float(peak):12.0f} {float(above):17.0f}  {ap0}")


if __name__ == "__main__":
    main()
