#!/usr/bin/env bash
# Fails (exit 1) when a C++ / CUDA file of csrc/, tools/cuda_emu/ or fuzz/ is not formatted as
# .clang-format says, and prints each violation.  CI runs it; to format the files instead:
#   tools/check_cpp_format.sh --fix
# Needs clang-format 23, the version CI pins (other major versions may format differently):
#   pip install clang-format==23.1.5
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang-format >/dev/null 2>&1; then
  echo "clang-format not found; install it with: pip install clang-format==23.1.5" >&2
  exit 2
fi
version=$(clang-format --version)
if [[ ! "$version" =~ version\ 23\. ]]; then
  echo "warning: $version is not clang-format 23 (pip install clang-format==23.1.5)" >&2
fi
mapfile -t files < <(find csrc tools/cuda_emu fuzz -type f \
                       \( -name '*.h' -o -name '*.cpp' -o -name '*.cu' -o -name '*.cuh' \) | sort)
if [[ "${1:-}" == "--fix" ]]; then
  clang-format -i "${files[@]}"
  echo "formatted ${#files[@]} files"
else
  clang-format --dry-run --Werror "${files[@]}"
  echo "clang-format: ${#files[@]} files clean"
fi
