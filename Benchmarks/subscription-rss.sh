#!/usr/bin/env bash
# Resident memory (VmRSS) of a release `resub` holding CHANNELS channels + PATTERNS patterns from a --config
# YAML file (names like mem.channel.12345), against a local redis-server on a free port, measured once every
# subscription is active on the server, against the same binary with one channel; prints both and the
# difference per subscription.
#
# usage: Benchmarks/subscription-rss.sh [RESUB_BINARY] [CHANNELS] [PATTERNS]
set -euo pipefail
bin=${1:-.build/release/resub}
channels=${2:-100000}
patterns=${3:-1000}
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" --logfile "$work/redis.log" &
redis_pid=$!
resub_pid=
cleanup() {
    [ -n "$resub_pid" ] && kill "$resub_pid" 2>/dev/null || true
    kill "$redis_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 500); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.01; done

# measure CHANNELS PATTERNS: prints VmRSS in KiB once the server reports every subscription
measure() {
    python3 - "$1" "$2" "$port" > "$work/config.yaml" <<'PY'
import sys
channels, patterns, port = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
print(f'urls: ["redis://127.0.0.1:{port}"]')
print("channels:")
for i in range(channels): print(f"  - mem.channel.{i}")
if patterns:
    print("patterns:")
    for i in range(patterns): print(f"  - mem.pattern.{i}.*")
PY
    "$bin" --config "$work/config.yaml" > /dev/null 2> "$work/resub.log" &
    resub_pid=$!
    for _ in $(seq 1200); do
        c=$(redis-cli -p "$port" info stats | tr -d '\r' | sed -n 's/^pubsub_channels://p')
        p=$(redis-cli -p "$port" pubsub numpat)
        [ "$c" = "$1" ] && [ "$p" = "$2" ] && break
        sleep 0.1
    done
    [ "$c" = "$1" ] && [ "$p" = "$2" ] || { echo "not all subscribed ($c/$1 channels, $p/$2 patterns)" >&2; cat "$work/resub.log" >&2; exit 1; }
    sleep 1
    sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$resub_pid/status"
    kill "$resub_pid"
    wait "$resub_pid" 2>/dev/null || true
    resub_pid=
}

one=$(measure 1 0)
full=$(measure "$channels" "$patterns")
total=$((channels + patterns))
echo "RSS with 1 channel: $((one / 1024)) MiB ($one KiB)"
echo "RSS with $channels channels + $patterns patterns: $((full / 1024)) MiB ($full KiB)"
echo "per subscription: $(( (full - one) * 1024 / total )) B"
