#!/usr/bin/env bash
# Runs schemathesis (PyPI) against the OpenAPI document and the live server: a fresh SQLite
# database, an admin token, `backoffice serve` on a free port. Fails on any server error (5xx)
# or any response that contradicts the document.
# Needs: pip install schemathesis==4.32.5
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
trap 'kill "${server:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
cargo build --quiet --bin backoffice
target_dir=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
bin="$target_dir/debug/backoffice"
export BACKOFFICE_DATABASE_URL="sqlite:$work/backoffice.db"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export BACKOFFICE_LISTEN="127.0.0.1:$port"
export BACKOFFICE_WEBHOOKS__STRIPE="whsec_schemathesis" BACKOFFICE_WEBHOOKS__EASYPOST="schemathesis" \
  BACKOFFICE_WEBHOOKS__ERP="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" \
  BACKOFFICE_WEBHOOKS__CRM="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
token=$("$bin" users create --name schemathesis --role admin)
"$bin" serve > "$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/health/ready" > /dev/null && break
  sleep 0.1
done

schemathesis run "http://127.0.0.1:$port/api/v1/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "${SCHEMATHESIS_EXAMPLES:-30}" \
  --seed 1 \
  --suppress-health-check all
