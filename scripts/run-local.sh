#!/usr/bin/env bash
# Runs resub against a local redis-server and shows messages flowing. Installs what is missing; starts a
# throwaway redis-server on 127.0.0.1:6379 when none answers there (stopped again on exit); publishes a
# few messages with redis-cli after start-up. Extra arguments go to resub (default: --channel orders
# --pattern 'news.*' --shard-channel 'user:{42}'). Stop with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
BIN=$(scripts/build-release.sh)   # the statically linked release build, as in deploy/ and Benchmarks/
URL=${REDIS_URL:-redis://127.0.0.1:6379}
started=""
if ! redis-cli -u "$URL" ping >/dev/null 2>&1; then
  dir=$(mktemp -d)
  redis-server --port 6379 --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" --daemonize yes \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
  for _ in $(seq 100); do redis-cli -u "$URL" ping >/dev/null 2>&1 && break; sleep 0.05; done
  started=$(cat "$dir/redis.pid")
  echo "started a throwaway redis-server (pid $started) on $URL" >&2
fi
# Each step on its own (never `a && b` as a function's last word under set -e): when resub has already exited
# (--count reached, Ctrl-C), a failed kill of it must not skip stopping the throwaway server.
cleanup() {
  if [ -n "${resub_pid:-}" ]; then kill "$resub_pid" 2>/dev/null || true; fi
  if [ -n "$started" ]; then kill "$started" 2>/dev/null || true; fi
}
trap cleanup EXIT INT TERM
args=("$@")
[ ${#args[@]} -eq 0 ] && args=(--channel orders --pattern 'news.*' --shard-channel 'user:{42}')
"$BIN" --url "$URL" "${args[@]}" &
resub_pid=$!
( sleep 1
  redis-cli -u "$URL" publish orders '{"id":1,"total":9.5}' >/dev/null
  redis-cli -u "$URL" publish news.eu 'hello from Europe' >/dev/null
  redis-cli -u "$URL" spublish 'user:{42}' 'a shard message' >/dev/null
  echo "published 3 sample messages; publish more with: redis-cli publish orders hi" >&2 ) &
wait "$resub_pid"
