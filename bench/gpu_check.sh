#!/usr/bin/env bash
# The one prepared GPU check of vrft_rewards: build with CUDA, run the GPU tests, run the GPU
# benchmarks, write everything into a results folder.  Usage, on a machine with a GPU:
#     bash bench/gpu_check.sh            # results in $OUT if set, else ./gpu_results/
# Knobs: VRFT_CUDA_ARCHS (default: the present GPU's architecture only, to build fast).
# Budget: under 5 minutes on one H100 (build ~1-2 min on 16 cores, tests ~1 min, benchmarks
# ~1-2 min).  It stops at the first setup failure; test and benchmark failures are recorded, the
# remaining steps still run, and the exit status is non-zero when anything failed or was skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
RESULTS="${OUT:-$PWD/gpu_results}"
mkdir -p "$RESULTS"
exec > >(tee "$RESULTS/gpu_check.log") 2>&1
status=0

echo "== machine ($(date -u +%FT%TZ))"
nvidia-smi
nvcc --version | tail -n 2
python - <<'PY'
import sys, torch
print("python", sys.version.split()[0], "| torch", torch.__version__, "| torch CUDA", torch.version.cuda)
assert torch.cuda.is_available(), "torch sees no GPU: install a CUDA build of torch"
print("device:", torch.cuda.get_device_name(0), "capability", torch.cuda.get_device_capability(0))
PY

echo "== build"
if [[ -z "${VRFT_CUDA_ARCHS:-}" ]]; then
  VRFT_CUDA_ARCHS=$(python -c "import torch; print('%d%d' % torch.cuda.get_device_capability(0))")
fi
export VRFT_CUDA_ARCHS
python -c "import pybind11" 2>/dev/null || python -m pip install -q pybind11
CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" VRFT_WERROR=1 python setup.py -q build_ext --inplace
python - <<'PY'
import vrft_rewards as vr
from vrft_rewards import _ext
mod = _ext.cuda_module()
assert mod is not None, f"_C_cuda did not build or load: {_ext._cuda_error}"
print("_C_cuda loaded;", mod.runtime_info(), "; has_cuda =", vr.has_cuda())
assert vr.has_cuda(), f"_C_cuda sees no device: {mod.runtime_info()}"
PY

echo "== GPU tests"
python -m pip install -q pytest pytest-benchmark hypothesis scipy >/dev/null 2>&1 || true
if ! python -m pytest tests/test_cuda.py tests/test_boxes.py tests/test_package.py -q -rs -p no:cacheprovider \
    --junitxml="$RESULTS/tests.xml"; then
  echo "!! GPU tests FAILED"; status=1
fi
# Nothing may be skipped silently: a needs_cuda test that skipped here means the GPU path was not
# exercised.
python - "$RESULTS/tests.xml" <<'PY' || status=1
import sys, xml.etree.ElementTree as ET
skipped = [(c.get("classname"), c.get("name"), s.get("message"))
           for c in ET.parse(sys.argv[1]).iter("testcase") for s in c.findall("skipped")]
for item in skipped:
    print("skipped:", *item)
bad = [s for s in skipped if "CUDA" in (s[2] or "")]
if bad:
    print(f"!! {len(bad)} GPU tests were skipped"); sys.exit(1)
print(f"{len(skipped)} skipped tests, none for want of a GPU")
PY

echo "== GPU benchmarks"
if ! python -m pytest bench/bench_cuda.py -q -p no:cacheprovider --benchmark-enable \
    --benchmark-only --benchmark-json="$RESULTS/bench_cuda.json" --benchmark-columns=min,median,max,rounds; then
  echo "!! GPU benchmarks FAILED"; status=1
fi
if [[ -s "$RESULTS/bench_cuda.json" ]]; then
  python bench/gpu_summary.py "$RESULTS/bench_cuda.json" | tee "$RESULTS/summary.md"
fi

echo "== done: status $status; results in $RESULTS"
exit "$status"
