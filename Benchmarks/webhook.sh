#!/usr/bin/env bash
# Webhook throughput: blaster (../shared/bench, a fake Redis server writing N messages as fast as the socket
# takes them) -> resub --webhook -> a local receiver answering 200 at once. Prints messages/s through the
# webhook and the receiver's request rate, per run. usage: Benchmarks/webhook.sh [N] [S] [RUNS]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${BENCH_DIR:-$ROOT/../shared/bench}
N=${1:-500000}; S=${2:-64}; RUNS=${3:-3}
OUT=${BENCH_OUT:-/tmp/resub-bench}; mkdir -p "$OUT"
gcc -O2 -o "$OUT/blaster" "$BENCH/blaster.c"
BIN=$("$ROOT/scripts/build-release.sh" 2>/dev/null)   # the statically linked artefact
for run in $(seq 1 "$RUNS"); do
  "$OUT/blaster" -p 7720 -n "$N" -s "$S" -c ch -r 1 -t 30 >/dev/null 2>&1 &
  BL=$!
  python3 "$ROOT/Benchmarks/webhook_receiver.py" 7721 "$N" > "$OUT/receiver.out" &
  RC=$!
  sleep 0.3
  t0=$(date +%s%N)
  "$BIN" --url redis://127.0.0.1:7720 --channel ch --webhook http://127.0.0.1:7721/hook --webhook-batch 1000 --webhook-linger 5 --log-format text 2>"$OUT/resub.err" &
  RS=$!
  wait "$RC" || true
  t1=$(date +%s%N)
  kill "$RS" "$BL" 2>/dev/null || true; wait "$RS" 2>/dev/null || true
  read -r reqs msgs secs < <(sed 's/[a-z]*=//g' "$OUT/receiver.out")
  awk -v n="$msgs" -v r="$reqs" -v s="$secs" -v w="$(( (t1 - t0) ))" -v run="$run" -v size="$S" \
    'BEGIN {printf "webhook run %d: %d x %d B in %.3f s (first->last request) = %.0f msg/s, receiver %d requests = %.0f req/s, %.0f msg/request (wall incl. start %.3f s)\n", run, n, size, s, n/s, r, r/s, n/r, w/1e9}'
done
