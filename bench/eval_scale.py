"""LVIS evaluation at scale: time and peak memory, ours vs hotcoco, each run in a fresh process.

    python bench/eval_scale.py [--sizes 4000 8000 19809] [--inputs path dicts] [--only ours hotcoco]
                               [--dir DIR] [--repeat N]

The workload is LVIS-like (1,203 categories, ~11.9 GT and exactly 300 detections per image:
bench/_eval_workloads.py's ``make_workload``, written in chunks of 1,000 images with seed = chunk
index, so that 19,809 images -- the LVIS v1 val shape, 5.94M detections -- fit in memory while
writing).  The files go to ``--dir`` (kept, reused when present) or a temporary folder.

Each (library, input, size) runs ``evaluate_lvis`` (ours) or ``LVISeval(...).run()`` (hotcoco) in a
new ``python`` process and reports its wall time and peak RSS (``VmHWM``, which covers native
allocations):

- ``path``: the job gets the two file paths; the peak is the whole process's (imports included).
- ``dicts``: the job first loads the results file into a list of dicts with orjson (as a caller
  holding detections in memory does), then resets the peak (``/proc/self/clear_refs``) and
  evaluates; ``peak`` includes the caller's dicts, ``added`` is the peak above them.

Every job prints its AP, and the table marks a row whose AP differs from ours.  bench_eval.py's
``lvis-scale`` group runs the 4,000-image rows under pytest-benchmark.
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

CHUNK = 1000

PRELUDE = r"""
import gc, sys, time
def mem():
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                k, v = line.split()[:2]
                out[k[:-1]] = int(v) / 1024
    return out
gt_path, res_path, kind = sys.argv[1], sys.argv[2], sys.argv[3]
import numpy as np
results = res_path
if kind == "dicts":
    import orjson
    with open(res_path, "rb") as f:
        results = orjson.loads(f.read())
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # the peak from here on: evaluation only (the dicts stay resident)
base = mem()["VmRSS"]
t = time.perf_counter()
"""

JOBS = {
    "ours": """
from vrft_rewards.eval import evaluate_lvis
ap = evaluate_lvis(gt_path, results).results["AP"]
""",
    "hotcoco": """
import contextlib, io, hotcoco
with contextlib.redirect_stdout(io.StringIO()):
    g = hotcoco.COCO(gt_path)
    d = g.load_res(results)
    E = hotcoco.LVISeval(g, d, "bbox")
    E.run()
ap = E.get_results()["AP"]
""",
}

EPILOGUE = """
wall = time.perf_counter() - t
m = mem()
print(f"RESULT {wall:.4f} {m['VmHWM']:.1f} {base:.1f} {float(ap)!r}")
"""


def write_workload(n_images: int, prefix: Path) -> tuple[Path, Path]:
    """``prefix_gt.json`` / ``prefix_res.json`` of the LVIS-like workload (skipped when present)."""
    import orjson

    from _eval_workloads import make_workload

    gt_path, res_path = Path(f"{prefix}_gt.json"), Path(f"{prefix}_res.json")
    if gt_path.exists() and res_path.exists():
        return gt_path, res_path
    images, anns, cats, ann_off = [], [], None, 0
    with open(res_path, "wb") as fr:
        fr.write(b"[")
        first = True
        for chunk, start in enumerate(range(0, n_images, CHUNK)):
            n = min(CHUNK, n_images - start)
            gt, res, _ = make_workload(n, 1203, 300, seed=chunk, lvis=True, gt_per_image=11.9)
            off = 3 * start  # make_workload's image ids are 3, 6, 9, ...: shift each chunk
            cats = cats or gt["categories"]
            for im in gt["images"]:
                im["id"] += off
            for a in gt["annotations"]:
                a["image_id"] += off
                a["id"] += ann_off
            ann_off += len(gt["annotations"])
            images += gt["images"]
            anns += gt["annotations"]
            for r in res:
                r["image_id"] += off
            body = orjson.dumps(res)[1:-1]
            if body:
                fr.write(body if first else b"," + body)
                first = False
        fr.write(b"]")
    gt_path.write_bytes(orjson.dumps({"images": images, "annotations": anns, "categories": cats}))
    return gt_path, res_path


def run_job(library: str, kind: str, gt_path: Path, res_path: Path) -> dict:
    """One evaluation in a fresh process: ``{"wall", "peak", "base", "ap"}`` (seconds, MB)."""
    # The job imports the vrft_rewards this process imported (an in-place build or the installed
    # package), from a neutral directory: with `-c` the working directory comes first on sys.path,
    # and a checkout's source tree without its compiled core would shadow an installed package.
    try:
        import vrft_rewards

        home = str(Path(vrft_rewards.__file__).resolve().parent.parent)
    except ImportError:  # run as a script from a checkout built in place
        home = str(HERE.parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([home, os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run(
        [sys.executable, "-c", PRELUDE + JOBS[library] + EPILOGUE, str(gt_path), str(res_path), kind],
        capture_output=True,
        text=True,
        env=env,
        cwd=home,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{library} ({kind}) failed:\n{out.stderr[-3000:]}")
    line = [x for x in out.stdout.splitlines() if x.startswith("RESULT")][-1]
    wall, peak, base, ap = line.split()[1:]
    return {"wall": float(wall), "peak": float(peak), "base": float(base), "ap": float(ap)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[4000, 8000, 19809])
    ap.add_argument("--inputs", nargs="+", default=["path", "dicts"], choices=["path", "dicts"])
    ap.add_argument("--only", nargs="+", default=list(JOBS), choices=list(JOBS))
    ap.add_argument("--dir", type=Path, default=None, help="where the workload files go (kept)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per row (the fastest is shown)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        print("| images (detections) | input | library | wall s | peak RSS MB | added MB | AP |")
        print("| --- | --- | --- | ---: | ---: | ---: | --- |")
        for n in args.sizes:
            gt_path, res_path = write_workload(n, folder / f"lvis_scale_{n}")
            for kind in args.inputs:
                ours_ap = None
                for library in args.only:
                    runs = [run_job(library, kind, gt_path, res_path) for _ in range(args.repeat)]
                    best = min(runs, key=lambda r: r["wall"])
                    peak = max(r["peak"] for r in runs)
                    ours_ap = best["ap"] if library == "ours" else ours_ap
                    same = "" if ours_ap is None or best["ap"] == ours_ap else " (differs from ours)"
                    print(
                        f"| {n:,} ({300 * n / 1e6:.2f}M) | {kind} | {library} | {best['wall']:.2f} | {peak:,.0f} | "
                        f"{peak - best['base']:,.0f} | {best['ap']:.12f}{same} |",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
