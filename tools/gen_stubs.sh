#!/usr/bin/env bash
# Regenerates the type stubs of the compiled modules (vrft_rewards/_C.pyi, _C_cuda.pyi) from an
# in-place build.  Run after changing csrc/bindings/*.cpp or csrc/cuda/bindings_cuda.cpp;
# tests/test_stubs.py fails when a compiled name is missing from its stub.
#   pip install pybind11-stubgen && python setup.py build_ext --inplace && tools/gen_stubs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
for mod in _C _C_cuda; do
  if PYTHONPATH=. python -c "import vrft_rewards.$mod" 2>/dev/null; then
    PYTHONPATH=. pybind11-stubgen "vrft_rewards.$mod" -o "$out" --numpy-array-wrap-with-annotated >/dev/null
    cp "$out/vrft_rewards/$mod.pyi" "vrft_rewards/$mod.pyi"
    echo "wrote vrft_rewards/$mod.pyi"
  fi
done
rm -rf "$out"
