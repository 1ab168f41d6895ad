"""Print the ratio table of a pytest-benchmark JSON file.

    pytest bench/ --benchmark-only --benchmark-json=bench.json
    python bench/report.py bench.json            # Markdown table on stdout

Within each benchmark group, the entry whose name contains "ours" is our implementation; every
other entry is an anchor, and the table gives anchor median / our median (higher = we are faster).
"""

from __future__ import annotations

import json
import platform
import sys
from collections import defaultdict


def _label(bench: dict) -> str:
    return bench["name"].removeprefix("test_")


def main(path: str) -> int:
    data = json.loads(open(path).read())
    groups: dict[str, list[dict]] = defaultdict(list)
    for bench in data["benchmarks"]:
        groups[bench.get("group") or bench["name"]].append(bench)
    machine = data.get("machine_info", {})
    print(
        f"Machine: {machine.get('cpu', {}).get('brand_raw', platform.processor())}, "
        f"{machine.get('cpu', {}).get('count', '?')} logical CPUs, Python {machine.get('python_version', '?')}"
    )
    print(f"Date: {data.get('datetime', '?')}\n")
    print("| group | implementation | median (ms) | ratio vs ours |")
    print("| --- | --- | ---: | ---: |")
    for group, benches in sorted(groups.items()):
        ours = [b for b in benches if "ours" in b["name"] and "1thread" not in b["name"]]
        base = ours[0]["stats"]["median"] if ours else None
        for b in sorted(benches, key=lambda b: b["stats"]["median"]):
            median = b["stats"]["median"]
            ratio = f"{median / base:.1f}x" if base else "n/a"
            print(f"| {group} | {_label(b)} | {median * 1e3:.3f} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "bench.json"))
