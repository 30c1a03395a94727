#!/usr/bin/env bash
# Receive-path benchmark: resub beside hiredis (and redis-cli) in the same run, using the peers in
# ../shared/bench (blaster = fake server that isolates the subscriber's own cost; e2e = a real
# redis-server fed by redis-benchmark). Prints one line per peer and the resub/hiredis ratios.
#
# usage: Benchmarks/receive.sh [RUNS]        (default 5; needs libhiredis-dev, redis-server, redis-tools)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${BENCH_DIR:-$ROOT/../shared/bench}
RUNS=${1:-5}
export BENCH_OUT=${BENCH_OUT:-/tmp/resub-bench}
if ! dpkg -s libhiredis-dev >/dev/null 2>&1; then apt-get install -y -qq libhiredis-dev >/dev/null; fi
BIN=$("$ROOT/scripts/build-release.sh" 2>/dev/null)   # the statically linked artefact
export SUB_CMD="$BIN --url redis://{host}:{port} --channel {channel} --count {n}"
OUT=$(mktemp)
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r)"
for args in "blaster 1000000 64" "blaster 200000 1024"; do
  PEERS="hiredis sub" "$BENCH/run-peers.sh" $args "$RUNS" 2>/dev/null | tee -a "$OUT"
done
PEERS="hiredis rediscli sub" "$BENCH/run-peers.sh" e2e 200000 1024 3 2>/dev/null | tee -a "$OUT"
echo "--- ratios (resub msg/s / hiredis msg/s, same run)"
awk '/^blaster/ {for (i = 1; i <= NF; i++) if ($i == "msg/s") rate[$2" "$4] = $(i-1)} END {
  for (k in rate) if (k ~ /^sub/) { split(k, a, " "); h = rate["hiredis " a[2]]; if (h) printf "%s: %.2fx hiredis\n", a[2], rate[k] / h }
}' "$OUT"
rm -f "$OUT"
