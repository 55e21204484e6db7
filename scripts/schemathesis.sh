#!/usr/bin/env bash
# Runs schemathesis (PyPI) against the OpenAPI document and the live server, on each backend:
# a fresh SQLite database, then a fresh PostgreSQL database (BACKOFFICE_TEST_POSTGRES_URL, else
# the local server), each with an admin token and `backoffice serve` on a free port. Every
# check (`--checks all`: no server error, status codes, content types, headers and bodies as
# documented, schema-valid requests accepted and invalid ones refused, authentication not
# ignored, …) over every phase (examples, coverage, fuzzing, stateful). The seed is random per
# run and printed; SCHEMATHESIS_SEED=<n> repeats a run. schemathesis.toml names the few
# refusals no schema can state; scripts/schemathesis_hooks.py keeps generated Idempotency-Keys
# from colliding; scripts/schemathesis_seed.py fills the ERP's catalog and the CRM's contacts
# through signed webhooks first, so that their lists are checked with rows in them.
# Needs: pip install schemathesis==4.32.5, and psql for the PostgreSQL database.
set -euo pipefail
cd "$(dirname "$0")/.."

seed=${SCHEMATHESIS_SEED:-$(python3 -c 'import random; print(random.randrange(1, 2**31))')}
echo "schemathesis seed: $seed (SCHEMATHESIS_SEED=$seed repeats this run)"

work=$(mktemp -d)
admin_url=${BACKOFFICE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
database="bo_schemathesis_$$"
cleanup() {
  kill "${server:-0}" 2>/dev/null || true
  psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cargo build --quiet --bin backoffice
target_dir=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
bin="$target_dir/debug/backoffice"
export BACKOFFICE_WEBHOOKS__STRIPE="whsec_schemathesis" BACKOFFICE_WEBHOOKS__EASYPOST="schemathesis" \
  BACKOFFICE_WEBHOOKS__ERP="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" \
  BACKOFFICE_WEBHOOKS__CRM="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

# run_against NAME DATABASE_URL: serves on DATABASE_URL and runs schemathesis against it.
run_against() {
  local name=$1
  export BACKOFFICE_DATABASE_URL=$2
  # The keys and the seals stay in the run's folder, not the checkout's ./data.
  export BACKOFFICE_KEYS__FILE="$work/keys.toml" BACKOFFICE_AUDIT__SEALS_FILE="$work/seals-$name.jsonl"
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  export BACKOFFICE_LISTEN="127.0.0.1:$port"
  SCHEMATHESIS_TOKEN=$("$bin" users create --name "schemathesis" --role admin)
  export SCHEMATHESIS_TOKEN
  "$bin" serve > "$work/serve-$name.log" 2>&1 &
  server=$!
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/health/ready" > /dev/null && break
    sleep 0.1
  done
  python3 scripts/schemathesis_seed.py "http://127.0.0.1:$port"
  echo "== schemathesis on $name"
  local status=0
  PYTHONPATH="$PWD/scripts${PYTHONPATH:+:$PYTHONPATH}" SCHEMATHESIS_HOOKS=schemathesis_hooks \
  schemathesis run "http://127.0.0.1:$port/api/v1/openapi.json" \
    --checks all \
    --max-examples "${SCHEMATHESIS_EXAMPLES:-30}" \
    --seed "$seed" \
    --suppress-health-check all || status=$?
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  if grep -q '"level":"ERROR"\|ERROR' "$work/serve-$name.log"; then
    echo "server errors on $name:"; grep 'ERROR' "$work/serve-$name.log" | tail -5
  fi
  return $status
}

failed=0
run_against sqlite "sqlite:$work/backoffice.db" || failed=1
psql -q "$admin_url" -c "CREATE DATABASE $database"
run_against postgres "${admin_url%/*}/$database" || failed=1
echo "schemathesis seed was $seed"
exit $failed
