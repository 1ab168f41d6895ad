#!/usr/bin/env bash
# The sanitizer pass (CI's last step; docs/reliability.md): builds _C with AddressSanitizer + UBSan
# in a copy of the sources ($VRFT_SANITIZE_DIR, default build/sanitize: the normal in-place or
# installed build is untouched), runs the native tests against it with the sanitizer runtime
# preloaded (Python itself is not instrumented), then the libFuzzer harnesses of fuzz/ for
# FUZZ_SECONDS each (default 60) when clang with libFuzzer is there (apt-get install -y clang-14).
#   tools/sanitize.sh [tests|fuzz|all]        (default: all)
# Knobs: VRFT_RACE_SECONDS (race driver, per call: 1), VRFT_FUZZ_EXAMPLES (hypothesis: 500),
# FUZZ_SECONDS (libFuzzer, per harness: 60), CXX (the fuzz compiler: clang++-14).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
OUT=${VRFT_SANITIZE_DIR:-build/sanitize}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

if [ "$what" != fuzz ]; then
  start=$(date +%s)
  # A copy of the tracked (and new, not ignored) files: the build directory and the .so stay apart.
  rm -rf "$OUT/src" && mkdir -p "$OUT/src"
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C "$OUT/src"
  else
    cp -r CMakeLists.txt setup.py pyproject.toml README.md csrc vrft_rewards tests "$OUT/src"
  fi
  # An in-place build needs the build requirements in this environment (pip install . brings them
  # in an isolated one): pybind11's CMake config.
  python -c "import pybind11" 2>/dev/null || python -m pip install -q "pybind11>=2.12"
  (cd "$OUT/src" && VRFT_SANITIZE=address,undefined VRFT_CUDA=0 python setup.py build_ext --inplace \
     > "$OUT/build.log" 2>&1) || { tail -n 40 "$OUT/build.log"; exit 1; }
  echo "sanitizer build: $(( $(date +%s) - start )) s"
  # libasan first (Python is not instrumented); libstdc++ too, or the first C++ exception thrown
  # by _C aborts in ASan's __cxa_throw interceptor.  Leaks: CPython's own are not ours.
  export LD_PRELOAD="$(c++ -print-file-name=libasan.so) $(c++ -print-file-name=libstdc++.so)"
  export ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1:halt_on_error=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  export VRFT_RACE_SECONDS=${VRFT_RACE_SECONDS:-1} VRFT_FUZZ_EXAMPLES=${VRFT_FUZZ_EXAMPLES:-500}
  start=$(date +%s)
  (cd "$OUT/src" && python -m pytest -q -p no:cacheprovider -m "not slow" \
     tests/test_reliability_native.py tests/test_reliability_fuzz.py tests/test_reliability_rewards.py \
     tests/test_parsing.py tests/test_matching.py tests/test_boxes.py tests/test_eval_shards.py \
     tests/test_masks.py tests/test_reward_kernels.py tests/test_rewards_ap.py)
  echo "sanitizer tests: $(( $(date +%s) - start )) s"
  unset LD_PRELOAD
fi

if [ "$what" != tests ]; then
  CXX=${CXX:-clang++-14}
  if ! command -v "$CXX" >/dev/null 2>&1; then
    echo "fuzzing skipped: $CXX not found (apt-get install -y clang-14, or CXX=<clang++ with libFuzzer>)"
    exit 0
  fi
  start=$(date +%s)
  FUZZ_OUT="$OUT/fuzz" CXX=$CXX fuzz/build.sh
  echo "fuzz build: $(( $(date +%s) - start )) s"
  FUZZ_OUT="$OUT/fuzz" fuzz/run.sh "${FUZZ_SECONDS:-60}"
fi
