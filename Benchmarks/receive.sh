#!/usr/bin/env bash
# Receive-path benchmark: resub beside hiredis (and redis-cli) in the same run, using the peers in
# ../shared/bench (blaster = fake server that isolates the subscriber's own cost; e2e = a real
# redis-server fed by redis-benchmark). Prints one line per peer and the resub/hiredis ratios.
#
# usage: Benchmarks/receive.sh [RUNS]        (default 5; needs libhiredis-dev, redis-server, redis-tools)
#        BASE_BIN=/path/to/older/resub Benchmarks/receive.sh [RUNS]
#            also measures an older build in the same run (before/after), alternating with this one,
#            each beside its own hiredis run; the ratios are printed for both.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${BENCH_DIR:-$ROOT/../shared/bench}
RUNS=${1:-5}
export BENCH_OUT=${BENCH_OUT:-/tmp/resub-bench}
if ! dpkg -s libhiredis-dev >/dev/null 2>&1; then apt-get install -y -qq libhiredis-dev >/dev/null; fi
BIN=$("$ROOT/scripts/build-release.sh" 2>/dev/null)   # the statically linked artefact
sub_cmd() { echo "$1 --url redis://{host}:{port} --channel {channel} --count {n}"; }
OUT=$(mktemp)
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r)"
# Tags each peer line with the build it measured ("after" = this tree, "before" = BASE_BIN).
measure() { # label bin peers args...
  local label=$1 bin=$2 peers=$3; shift 3
  SUB_CMD=$(sub_cmd "$bin") PEERS="$peers" "$BENCH/run-peers.sh" "$@" 2>/dev/null | sed "s/^/$label /" | tee -a "$OUT"
}
for args in "blaster 1000000 64" "blaster 200000 1024"; do
  measure after "$BIN" "hiredis sub" $args "$RUNS"
  if [ -n "${BASE_BIN:-}" ]; then measure before "$BASE_BIN" "hiredis sub" $args "$RUNS"; fi
done
measure after "$BIN" "hiredis rediscli sub" e2e 200000 1024 3
echo "--- ratios (resub msg/s / hiredis msg/s of the same run), peak RSS"
awk '$2 == "blaster" {for (i = 1; i <= NF; i++) { if ($i == "msg/s") rate[$1" "$3" "$5] = $(i-1); if ($i == "peak") peak[$1" "$3" "$5] = $(i+1) } } END {
  for (k in rate) if (k ~ / sub /) { split(k, a, " "); h = rate[a[1] " hiredis " a[3]]; if (h) printf "%-6s %s: %.2fx hiredis, peak %s MiB\n", a[1], a[3], rate[k] / h, peak[k] }
}' "$OUT" | sort
rm -f "$OUT"
