"""Peak memory (and one wall time) of each evaluator, each in a fresh process.

    python bench/eval_memory.py [--small] [--only NAME ...]

Writes the seeded workloads of bench_eval.py to a temporary directory, then for every
competitor starts ``python -c <job>`` that loads the GT and results JSON files and runs
evaluate + accumulate + summarize; the job prints its wall time and the process's peak RSS
(``VmHWM`` of /proc/self/status, which covers native allocations too, unlike tracemalloc) and
that peak minus the one after imports.  One run each: timings here are indicative only; the
medians are bench_eval.py's.
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

PRELUDE = """
import contextlib, io, logging, resource, sys, time, warnings
import numpy as np
def rss_mb():
    # VmHWM (peak RSS) resets at exec; ru_maxrss would carry the parent's peak over fork + exec.
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
gt_path, res_path = sys.argv[1], sys.argv[2]
"""

JOBS = {
    ("coco", "ours"): """
from vrft_rewards.eval import evaluate_coco
base = rss_mb(); t = time.perf_counter()
stats = evaluate_coco(gt_path, res_path).stats
""",
    ("coco", "pycocotools"): """
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
base = rss_mb(); t = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()):
    g = COCO(gt_path); d = g.loadRes(res_path)
    E = COCOeval(g, d, "bbox"); E.evaluate(); E.accumulate(); E.summarize()
stats = E.stats
""",
    ("coco", "faster-coco-eval"): """
from faster_coco_eval import COCO, COCOeval_faster
base = rss_mb(); t = time.perf_counter()
g = COCO(gt_path); d = g.loadRes(res_path)
E = COCOeval_faster(g, d, "bbox"); E.evaluate(); E.accumulate(); E.summarize()
stats = E.stats
""",
    ("coco", "hotcoco"): """
import hotcoco
base = rss_mb(); t = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()):
    g = hotcoco.COCO(gt_path); d = g.load_res(res_path)
    E = hotcoco.COCOeval(g, d, "bbox"); E.evaluate(); E.accumulate(); E.summarize()
stats = E.stats
""",
    ("coco", "ultrafast"): """
import ultrafast_pycocotools as U
base = rss_mb(); t = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()):
    g = U.COCO(gt_path); d = g.loadRes(res_path)
    E = U.COCOeval(g, d, "bbox"); E.evaluate(); E.accumulate(); E.summarize()
stats = E.stats
""",
    ("lvis", "ours"): """
from vrft_rewards.eval import evaluate_lvis
base = rss_mb(); t = time.perf_counter()
stats = evaluate_lvis(gt_path, res_path).stats
""",
    ("lvis", "lvis-api"): """
np.float = float
warnings.simplefilter("ignore")
logging.disable(logging.WARNING)
from lvis import LVIS, LVISEval, LVISResults
base = rss_mb(); t = time.perf_counter()
g = LVIS(gt_path); E = LVISEval(g, LVISResults(g, res_path), "bbox"); E.run()
stats = list(E.results.values())
""",
    ("lvis", "faster-coco-eval"): """
from faster_coco_eval import COCO, COCOeval_faster
base = rss_mb(); t = time.perf_counter()
g = COCO(gt_path); d = g.loadRes(res_path)
E = COCOeval_faster(g, d, "bbox", lvis_style=True); E.params.maxDets = [300]
E.evaluate(); E.accumulate(); E.summarize()
stats = E.stats
""",
    ("lvis", "hotcoco"): """
import hotcoco
base = rss_mb(); t = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()):
    g = hotcoco.COCO(gt_path); d = g.load_res(res_path)
    E = hotcoco.LVISeval(g, d, "bbox"); E.run()
stats = list(E.get_results().values())
""",
    ("lvis", "ultrafast"): """
import ultrafast_pycocotools as U
base = rss_mb(); t = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()):
    g = U.COCO(gt_path); d = g.loadRes(res_path)
    E = U.COCOeval(g, d, "bbox", lvis_style=True); E.evaluate(); E.accumulate(); E.summarize()
stats = E.stats
""",
}

EPILOGUE = """
wall = time.perf_counter() - t
print(f"{wall:.3f} {rss_mb():.1f} {rss_mb() - base:.1f} {float(stats[0]):.12f}")
"""


def main() -> None:
    from _eval_workloads import make_workload
    from bench_eval import COCO_FULL, COCO_SMALL, LVIS_FULL, LVIS_SMALL, _dump

    ap = argparse.ArgumentParser()
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--only", nargs="*", default=None)
    args = ap.parse_args()
    env = dict(os.environ, PYTHONPATH=str(HERE.parent) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for kind, size, seed in (
            ("coco", COCO_SMALL if args.small else COCO_FULL, 0),
            ("lvis", LVIS_SMALL if args.small else LVIS_FULL, 1),
        ):
            gt, res, _ = make_workload(**size, seed=seed, lvis=kind == "lvis")
            paths[kind] = (Path(tmp) / f"{kind}_gt.json", Path(tmp) / f"{kind}_res.json")
            _dump(gt, paths[kind][0])
            _dump(res, paths[kind][1])
        print(f"{'workload':8} {'evaluator':18} {'wall s':>8} {'peak RSS MB':>12} {'above imports MB':>17}  AP")
        for (kind, name), job in JOBS.items():
            if args.only and name not in args.only:
                continue
            out = subprocess.run(
                [sys.executable, "-c", PRELUDE + job + EPILOGUE, str(paths[kind][0]), str(paths[kind][1])],
                capture_output=True,
                text=True,
                env=env,
            )
            if out.returncode != 0:
                print(f"{kind:8} {name:18} failed: {out.stderr.strip().splitlines()[-1]}")
                continue
            wall, peak, above, ap0 = out.stdout.split()[-4:]
            print(f"{kind:8} {name:18} {float(wall):8.2f} {float(peak):12.0f} {float(above):17.0f}  {ap0}")


if __name__ == "__main__":
    main()
