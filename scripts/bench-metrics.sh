#!/usr/bin/env bash
# What metrics cost a command: placing orders over HTTP (wrk, 16 connections, the body of
# bench-api.sh) against two `backoffice serve` processes on PostgreSQL, one with metrics off
# (`metrics_listen` empty) and one with metrics on and scraped every 5 s (a scrape reads the
# subscriber, inbox and business figures from the database). Rounds alternate between the two, so
# that both see the same machine; prints each round, the totals and the ratio on/off.
# Env: BENCH_SECONDS per round (default 15), BENCH_ROUNDS per side (default 3),
# BENCH_PG (default postgres://postgres@127.0.0.1:5432).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${BENCH_SECONDS:-15}
rounds=${BENCH_ROUNDS:-3}
pg=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
  wait 2> /dev/null || true
  for side in off on; do
    psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS bench_metrics_${side}_$$" > /dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
command -v wrk > /dev/null || { echo "wrk is missing (Debian package wrk)"; exit 1; }
cargo build --quiet --release --bin backoffice
target_dir=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
bin="$target_dir/release/backoffice"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

declare -A port token
for side in off on; do
  db="bench_metrics_${side}_$$"
  psql "$pg/postgres" -qc "CREATE DATABASE $db"
  port[$side]=$(free_port)
  metrics=""
  if [ "$side" = on ]; then metrics="127.0.0.1:$(free_port)"; echo "$metrics" > "$work/metrics"; fi
  export DATABASE_URL="$pg/$db" BACKOFFICE_MAX_CONNECTIONS=20 RUST_LOG=warn
  token[$side]=$("$bin" users create --name bench --role admin)
  BACKOFFICE_LISTEN="127.0.0.1:${port[$side]}" BACKOFFICE_METRICS_LISTEN="$metrics" \
    "$bin" serve > "$work/serve-$side.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:${port[$side]}/health/ready" > /dev/null && break
    sleep 0.1
  done
done
metrics=$(cat "$work/metrics")
( while true; do curl -fs "http://$metrics/metrics" > /dev/null || echo "scrape failed"; sleep 5; done ) &
pids+=($!)

for side in off on; do
  cat > "$work/place-$side.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer ${token[$side]}"
wrk.body = '{"customer_id":"0190d8a4-0000-7000-8000-000000000001","currency":"EUR","lines":[{"sku":"SKU-A","name":"Mug","quantity":2,"unit_price_minor":1000},{"sku":"SKU-B","name":"Tea","quantity":1,"unit_price_minor":500}],"shipping_address":{"recipient":"Ana Lima","line1":"Hauptstrasse 1","city":"Berlin","country":"DE"}}'
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.2f %.2f %.2f %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA
done

echo "round side requests/s p50_ms p99_ms errors"
for round in $(seq 1 "$rounds"); do
  for side in off on; do
    result=$(wrk -t2 -c16 -d"${seconds}s" --latency -s "$work/place-$side.lua" \
      "http://127.0.0.1:${port[$side]}/api/v1/orders" | grep '^RESULT' | cut -d' ' -f2-)
    echo "$round $side $result" | tee -a "$work/results"
  done
done
python3 - "$work/results" <<'PY'
import sys
rows = [line.split() for line in open(sys.argv[1])]
total = {side: sum(float(r[2]) for r in rows if r[1] == side) for side in ("off", "on")}
p99 = {side: max(float(r[4]) for r in rows if r[1] == side) for side in ("off", "on")}
errors = sum(int(r[5]) for r in rows)
print(f"metrics off: {total['off'] / len(rows) * 2:.1f} req/s mean, worst p99 {p99['off']:.1f} ms")
print(f"metrics on:  {total['on'] / len(rows) * 2:.1f} req/s mean, worst p99 {p99['on']:.1f} ms")
print(f"ratio on/off: {total['on'] / total['off']:.3f}  (errors: {errors})")
PY
