#!/usr/bin/env bash
# A command over HTTP against the least the stack can do (issue 16), side by side in one run:
# `backoffice serve` on PostgreSQL and on SQLite (projections and process managers running)
# and the reference server (api/examples/reference-server.rs: axum + sqlx, the same JSON
# parsed, one autocommit INSERT, 201) on the same PostgreSQL, each driven by wrk with the body
# of scripts/bench-api.sh at 16 connections, the sides interleaved round by round. Prints
# requests/s, p50 and p99 per round, the medians, the ratios to the reference, and how long the
# projections and process managers took to catch up after each backoffice round. Then, on each
# backend, how soon a webhook's effect is readable: from a signed Stripe webhook's 2xx to the
# payments read model showing the capture (scripts/webhook_latency.py, BENCH_WEBHOOKS samples).
# Env: BENCH_SECONDS (per round, default 15), BENCH_ROUNDS (default 3), BENCH_WEBHOOKS (200),
#      BENCH_PG (default postgres://postgres@127.0.0.1:5432). Needs wrk (Debian package `wrk`).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${BENCH_SECONDS:-15}
rounds=${BENCH_ROUNDS:-3}
pg=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
suffix=$$
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  for db in bench_cp_ours_$suffix bench_cp_ref_$suffix; do
    psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $db" > /dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
command -v wrk > /dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }

cargo build --quiet --release --bin backoffice -p api
cargo build --quiet --release --example reference-server -p api
target_dir=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
bin="$target_dir/release/backoffice"
reference="$target_dir/release/examples/reference-server"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_ready() { for _ in $(seq 1 200); do curl -fs "$1" > /dev/null 2>&1 && return 0; sleep 0.1; done; echo "not ready: $1" >&2; exit 1; }

body='{"customer_id":"0190d8a4-0000-7000-8000-000000000001","currency":"EUR","lines":[{"sku":"SKU-A","name":"Mug","quantity":2,"unit_price_minor":1000},{"sku":"SKU-B","name":"Tea","quantity":1,"unit_price_minor":500}],"shipping_address":{"recipient":"Ana Lima","line1":"Hauptstrasse 1","city":"Berlin","country":"DE"}}'
script() { # $1: file, $2: token (may be empty)
  cat > "$1" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
$( [ -n "$2" ] && echo "wrk.headers[\"Authorization\"] = \"Bearer $2\"" )
wrk.body = '$body'
done = function(summary, latency, requests)
  local bad = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT %.1f %.2f %.2f %d\n", summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000, bad))
end
LUA
}

stripe_secret=whsec_bench_command_path
# backoffice on PostgreSQL and on SQLite, each its own process, port and data.
start_ours() { # $1: name, $2: database url
  local port; port=$(free_port)
  local dir="$work/$1"; mkdir -p "$dir"
  local token
  token=$(cd "$dir" && DATABASE_URL="$2" RUST_LOG=error "$bin" users create --name bench --role admin)
  (cd "$dir" && DATABASE_URL="$2" BACKOFFICE_LISTEN="127.0.0.1:$port" BACKOFFICE_METRICS_LISTEN="" \
     BACKOFFICE_WEBHOOKS__STRIPE="$stripe_secret" \
     BACKOFFICE_MAX_CONNECTIONS=20 RUST_LOG=error exec "$bin" serve > "$dir/serve.log" 2>&1) &
  pids+=($!)
  wait_ready "http://127.0.0.1:$port/health/ready"
  script "$work/$1.lua" "$token"
  echo "$port" > "$work/$1.port"
  echo "$token" > "$work/$1.token"
}
psql "$pg/postgres" -qc "CREATE DATABASE bench_cp_ours_$suffix"
psql "$pg/postgres" -qc "CREATE DATABASE bench_cp_ref_$suffix"
start_ours pg "$pg/bench_cp_ours_$suffix"
start_ours sqlite "sqlite:$work/sqlite/backoffice.db"
ref_port=$(free_port)
"$reference" "$pg/bench_cp_ref_$suffix" "127.0.0.1:$ref_port" > "$work/reference.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$ref_port/" && break; sleep 0.1; done
script "$work/reference.lua" ""

# How long after the load until every subscriber of backoffice $1 is at the log's head.
catch_up() {
  local dir="$work/$1" url; url=$( [ "$1" = pg ] && echo "$pg/bench_cp_ours_$suffix" || echo "sqlite:$work/sqlite/backoffice.db" )
  local start; start=$(date +%s.%N)
  for _ in $(seq 1 600); do
    if (cd "$dir" && DATABASE_URL="$url" RUST_LOG=error "$bin" projections status) \
         | awk 'NR > 1 && NF > 3 { if ($4 + 0 > 0) lag = 1 } END { exit lag }'; then
      python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$start" "$(date +%s.%N)"
      return
    fi
    sleep 0.05
  done
  echo "never"
}

run() { # $1: side, $2: port
  wrk -t2 -c16 -d"${seconds}s" --latency -s "$work/$1.lua" "http://127.0.0.1:$2/api/v1/orders" \
    | awk '/^RESULT/ { print $2, $3, $4, $5 }'
}

# Warm-up, untimed.
for side in pg sqlite; do wrk -t2 -c16 -d3s -s "$work/$side.lua" "http://127.0.0.1:$(cat "$work/$side.port")/api/v1/orders" > /dev/null; done
wrk -t2 -c16 -d3s -s "$work/reference.lua" "http://127.0.0.1:$ref_port/api/v1/orders" > /dev/null

printf "%-28s %5s %10s %9s %9s %7s %10s\n" side round "req/s" "p50 ms" "p99 ms" errors "caught up"
: > "$work/results"
for round in $(seq 1 "$rounds"); do
  for side in reference pg sqlite; do
    port=$( [ "$side" = reference ] && echo "$ref_port" || cat "$work/$side.port" )
    read -r rps p50 p99 bad <<< "$(run "$side" "$port")"
    lag="-"
    [ "$side" != reference ] && lag="$(catch_up "$side") s"
    name=$(case $side in reference) echo "reference (axum+sqlx)";; pg) echo "backoffice, PostgreSQL";; sqlite) echo "backoffice, SQLite";; esac)
    printf "%-28s %5s %10s %9s %9s %7s %10s\n" "$name" "$round" "$rps" "$p50" "$p99" "$bad" "$lag"
    echo "$side $round $rps $p50 $p99" >> "$work/results"
  done
done

python3 - "$work/results" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
by = {}
for side, rnd, rps, p50, p99 in rows:
    by.setdefault(side, []).append((int(rnd), float(rps), float(p50), float(p99)))
ref = {r: rps for r, rps, _, _ in by["reference"]}
print()
print("ratio to the reference in the same round (req/s):")
for side in ("pg", "sqlite"):
    ratios = [rps / ref[r] for r, rps, _, _ in by[side]]
    print(f"  {side:7} " + "  ".join(f"{x:.2f}x" for x in ratios) + f"   median {statistics.median(ratios):.2f}x")
print("medians: " + ", ".join(
    f"{side} {statistics.median(x[1] for x in by[side]):.0f} req/s p99 {statistics.median(x[3] for x in by[side]):.1f} ms"
    for side in ("reference", "pg", "sqlite")))
PY

echo
echo "from a webhook's 2xx to the read model showing it (ms; ${BENCH_WEBHOOKS:-200} webhooks, one at a time)"
printf "%-28s %8s %8s %8s %8s\n" side p50 p90 p99 max
for side in pg sqlite; do
  read -r _ _ p50 p90 p99 max <<< "$(python3 scripts/webhook_latency.py "http://127.0.0.1:$(cat "$work/$side.port")" \
    "$(cat "$work/$side.token")" "$stripe_secret" adapters/tests/fixtures/webhooks/stripe/evt_payment_intent.succeeded.json \
    "${BENCH_WEBHOOKS:-200}" | awk '/^RESULT/')"
  name=$( [ "$side" = pg ] && echo "backoffice, PostgreSQL" || echo "backoffice, SQLite" )
  printf "%-28s %8s %8s %8s %8s\n" "$name" "$p50" "$p90" "$p99" "$max"
done
