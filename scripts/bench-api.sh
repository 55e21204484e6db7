#!/usr/bin/env bash
# HTTP throughput and latency of placing orders and listing orders at 16 concurrent connections,
# on PostgreSQL, with wrk (Debian package `wrk`). Builds the release binary, makes a fresh
# database, runs `backoffice serve` on it, and prints wrk's figures (p50 ... p99).
# Env: BENCH_SECONDS (default 20), BENCH_PG (default postgres://postgres@127.0.0.1:5432).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${BENCH_SECONDS:-20}
pg=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
db="bench_api_$$"
work=$(mktemp -d)
cleanup() {
  kill "${server:-0}" 2>/dev/null || true
  wait "${server:-0}" 2>/dev/null || true
  psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $db" > /dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
cargo build --quiet --release --bin backoffice
target_dir=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
bin="$target_dir/release/backoffice"
psql "$pg/postgres" -qc "CREATE DATABASE $db"
export DATABASE_URL="$pg/$db" BACKOFFICE_MAX_CONNECTIONS=20 RUST_LOG=warn
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export BACKOFFICE_LISTEN="127.0.0.1:$port"
token=$("$bin" users create --name bench --role admin)
"$bin" serve > "$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/health/ready" > /dev/null && break
  sleep 0.1
done

cat > "$work/place.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
wrk.body = '{"customer_id":"0190d8a4-0000-7000-8000-000000000001","currency":"EUR","lines":[{"sku":"SKU-A","name":"Mug","quantity":2,"unit_price_minor":1000},{"sku":"SKU-B","name":"Tea","quantity":1,"unit_price_minor":500}],"shipping_address":{"recipient":"Ana Lima","line1":"Hauptstrasse 1","city":"Berlin","country":"DE"}}'
done = function(summary, latency, requests)
  io.write(string.format("non-2xx or errors: %d\n", summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA
cat > "$work/list.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $token"
done = function(summary, latency, requests)
  io.write(string.format("non-2xx or errors: %d\n", summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA

echo "== place orders: POST /api/v1/orders, 16 connections, ${seconds}s"
wrk -t2 -c16 -d"${seconds}s" --latency -s "$work/place.lua" "http://127.0.0.1:$port/api/v1/orders"
echo "== list orders: GET /api/v1/orders?limit=50, 16 connections, ${seconds}s"
wrk -t2 -c16 -d"${seconds}s" --latency -s "$work/list.lua" "http://127.0.0.1:$port/api/v1/orders?limit=50"
