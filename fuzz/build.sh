#!/usr/bin/env bash
# Builds the libFuzzer harnesses (fuzz_parse, fuzz_eval_state) against the C++ core of this
# checkout, with AddressSanitizer + UBSan, into $FUZZ_OUT (default build/fuzz).  The core knows
# nothing of Python, so the harnesses link its sources directly; no Python is involved.
# Needs clang with libFuzzer: Debian/Ubuntu `apt-get install -y clang-14` (CXX=clang++-14 is the
# default; any clang >= 14 works: CXX=clang++).  FUZZ_RECOVER=1 builds *_recover variants, where
# UBSan reports each location once and the run goes on (long survey runs).
set -euo pipefail
cd "$(dirname "$0")/.."
CXX=${CXX:-clang++-14}
OUT=${FUZZ_OUT:-build/fuzz}
SUFFIX=$([ "${FUZZ_RECOVER:-0}" = 1 ] && echo _recover || true)
RECOVER=$([ "${FUZZ_RECOVER:-0}" = 1 ] && echo -fsanitize-recover=undefined || echo -fno-sanitize-recover=all)
FLAGS=(-std=c++17 -O1 -g -fno-omit-frame-pointer -ffp-contract=off "$RECOVER" -Icsrc -pthread)
OBJ=$OUT/obj$SUFFIX
mkdir -p "$OBJ"
mapfile -t core < <(find csrc -name '*.cpp' ! -path 'csrc/cuda/*' ! -path 'csrc/bindings/*' | sort)
objs=()
for f in "${core[@]}"; do
  o=$OBJ/$(echo "${f#csrc/}" | tr / _).o
  if [ ! -f "$o" ] || [ "$f" -nt "$o" ]; then
    "$CXX" "${FLAGS[@]}" -fsanitize=fuzzer-no-link,address,undefined -c "$f" -o "$o" &
  fi
  objs+=("$o")
  while [ "$(jobs -r | wc -l)" -ge "${JOBS:-2}" ]; do sleep 0.1; done
done
wait
for h in fuzz_parse fuzz_eval_state; do
  "$CXX" "${FLAGS[@]}" -fsanitize=fuzzer,address,undefined "fuzz/$h.cpp" "${objs[@]}" -o "$OUT/$h$SUFFIX"
done
echo "built $OUT/fuzz_parse$SUFFIX $OUT/fuzz_eval_state$SUFFIX"
