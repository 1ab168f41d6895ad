#!/usr/bin/env bash
# Runs both libFuzzer harnesses of build/fuzz (fuzz/build.sh) for SECONDS each (default 60), from
# a seed corpus made of the bundled demo completions; exits non-zero on a finding (the crashing
# input is left in $FUZZ_OUT/artifacts/).  Extra arguments go to libFuzzer, e.g. a long run:
#   fuzz/run.sh 3600 -fork=2 -len_control=0
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-60}
shift || true
OUT=${FUZZ_OUT:-build/fuzz}
SUFFIX=$([ "${FUZZ_RECOVER:-0}" = 1 ] && echo _recover || true)
mkdir -p "$OUT/corpus_parse" "$OUT/corpus_eval_state" "$OUT/artifacts" "$OUT/seeds_parse"
# Seeds: every completion and solution of the bundled demo data, one file each (byte 0 = options).
python - "$OUT/seeds_parse" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
n = 0
for path in sorted(pathlib.Path("vrft_rewards/data").glob("*.jsonl")):
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:  # the demo data holds a few bad records on purpose
            continue
        for key in ("completion", "solution"):
            if isinstance(rec.get(key), str):
                (out / f"seed{n:04d}").write_bytes(bytes([n % 128]) + rec[key].encode())
                n += 1
print(f"{n} parser seeds")
PY
status=0
for h in fuzz_parse fuzz_eval_state; do
  corpus=$OUT/corpus_${h#fuzz_}
  seeds=()
  [ "$h" = fuzz_parse ] && seeds=("$OUT/seeds_parse")
  echo "== $h: $SECONDS_EACH s"
  rc=0
  "$OUT/$h$SUFFIX" -max_total_time="$SECONDS_EACH" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$OUT/artifacts/$h-" -print_final_stats=1 "$@" "$corpus" "${seeds[@]}" \
    > "$OUT/$h.log" 2>&1 || rc=$?
  grep -E "DONE|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb|ERROR|SUMMARY|invariant broken|runtime error" \
    "$OUT/$h.log" | tail -n 12 || true
  if [ "$rc" != 0 ]; then
    status=1
    echo "$h: FINDING (exit $rc; log $OUT/$h.log, input in $OUT/artifacts/)"
  fi
done
exit $status
