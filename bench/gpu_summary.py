"""Summarise bench_cuda.py's pytest-benchmark JSON: medians, ratios, bandwidth (markdown).

python bench/gpu_summary.py results/bench_cuda.json > results/summary.md
"""

from __future__ import annotations

import json
import sys


def main(path: str) -> None:
    data = json.load(open(path))
    machine = data.get("machine_info", {})
    by_name = {b["name"]: b for b in data["benchmarks"]}
    print(
        f"# GPU benchmark summary\n\nSource: `{path}`; CPU: {machine.get('cpu', {}).get('brand_raw', '?')}; "
        f"{data.get('datetime', '')}\n"
    )
    print("| benchmark | group | median ms | min ms | rounds |")
    print("| --- | --- | ---: | ---: | ---: |")
    for b in data["benchmarks"]:
        st = b["stats"]
        print(f"| {b['name']} | {b['group']} | {st['median'] * 1e3:.3f} | {st['min'] * 1e3:.3f} | {st['rounds']} |")

    def median(name: str) -> float | None:
        b = by_name.get(name)
        return b["stats"]["median"] if b else None

    print("\n## Ratios\n")
    ours = median("test_pairwise_ours")
    anchor = median("test_pairwise_torch_formula")
    copy = median("test_pairwise_reference_d2d_copy")
    fill = median("test_pairwise_reference_fill")
    if ours:
        nbytes = by_name["test_pairwise_ours"]["extra_info"]["bytes_written"]
        rate = nbytes / ours / 1e9
        print(f"- pairwise IoU: ours {ours * 1e3:.3f} ms, writing {nbytes / 1e9:.2f} GB at {rate:.0f} GB/s")
        if anchor:
            print(f"- pairwise IoU vs torch formula (torchvision box_iou): {anchor / ours:.1f}x faster (target >= 5x)")
        if copy:
            copy_rate = nbytes / copy / 1e9
            print(
                f"- device-to-device copy of the same bytes: {copy_rate:.0f} GB/s (bytes copied / time); "
                f"ours = {100 * rate / copy_rate:.0f}% of it (target >= 70%)"
            )
        if fill:
            print(
                f"- fill_ of the same bytes (write only): {nbytes / fill / 1e9:.0f} GB/s; "
                f"ours = {100 * fill / ours:.0f}% of it"
            )
    gpu = median("test_ragged_ours_gpu")
    cpu = median("test_ragged_ours_cpu")
    loop = median("test_ragged_torch_scipy_loop")
    if gpu:
        threads = by_name.get("test_ragged_ours_cpu", {}).get("extra_info", {}).get("threads", "?")
        print(f"- ragged IoU + Hungarian: ours GPU {gpu * 1e3:.3f} ms")
        if cpu:
            print(f"- vs ours CPU ({threads} threads, {cpu * 1e3:.2f} ms): {cpu / gpu:.1f}x (target >= 10x)")
        if loop:
            print(f"- vs per-problem torch (GPU) + scipy loop ({loop * 1e3:.0f} ms): {loop / gpu:.0f}x")


if __name__ == "__main__":
    main(sys.argv[1])
