#!/usr/bin/env bash
# Fuzzes the RESP parser and the pub/sub routing with libFuzzer + AddressSanitizer.
# The target compares two readings of each input (see Tests/TestSupport/RESPDifferential.swift): whole with
# next() + routing, and chunked through the connection's fast path; any difference, crash or sanitizer
# report is a finding. Inputs that found something go to Fuzz/regressions/, which `swift test` replays.
#
# usage: Fuzz/run.sh [SECONDS]        (default 300; corpus grows in Fuzz/corpus/, findings in /tmp/resub-fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${1:-300}
OUT=${FUZZ_OUT:-/tmp/resub-fuzz}; mkdir -p "$OUT/corpus"; touch "$OUT/.start"
swiftc -sanitize=fuzzer,address -parse-as-library -O -g -module-name RESPFuzz \
  Sources/RESP/*.swift Tests/TestSupport/RESPDifferential.swift Fuzz/FuzzTarget.swift -o "$OUT/resp-fuzz" 2>"$OUT/build.log" \
  || { cat "$OUT/build.log"; exit 1; }
cp Fuzz/corpus/* "$OUT/corpus/" 2>/dev/null || true
"$OUT/resp-fuzz" "$OUT/corpus" Fuzz/corpus -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -timeout=10 \
  -dict=Fuzz/resp.dict -artifact_prefix="$OUT/" -print_final_stats=1 2>&1 | tee "$OUT/fuzz.log" | grep -E "^#[0-9]+ +(DONE|pulse)|stat::|ERROR|crash-|Fatal" || true
findings=$(find "$OUT" -maxdepth 1 -newer "$OUT/.start" \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
echo "corpus: $(ls "$OUT/corpus" | wc -l) inputs; findings this run: $findings (copy each to Fuzz/regressions/ once fixed)"
