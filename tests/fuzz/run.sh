#!/usr/bin/env bash
# OpenAPI-driven fuzzing of /api/v1: starts `relance demo` (a fresh SQLite
# file seeded with the demo portfolio, served on a local port), creates an
# admin token for every client, and lets schemathesis send generated
# requests from /api/v1/openapi.json. Any 5xx answer fails the run.
#
# Needs `schemathesis` on the PATH (pip install schemathesis) and curl.
# Settings (environment):
#   RELANCE_BIN          the relance binary (default: built with cargo)
#   FUZZ_MAX_EXAMPLES    examples per operation (default 50)
#   FUZZ_TIMEOUT         seconds the whole schemathesis run may take (default 270)
#   FUZZ_SEED            schemathesis seed, for a reproducible run
#   FUZZ_RATE            requests the fuzzer sends, at most (default 40/s: under
#                        the server's default per-token rate limit)
#   RELANCE_FUZZ_TOKEN   an admin token to use instead of creating one
set -euo pipefail

cd "$(dirname "$0")/../.."

if [[ -z "${RELANCE_BIN:-}" ]]; then
    cargo build --quiet --bin relance
    target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
    RELANCE_BIN="$target_dir/debug/relance"
fi
command -v schemathesis >/dev/null || { echo "fuzz: schemathesis is not installed (pip install schemathesis)" >&2; exit 2; }

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
server=""

cleanup() {
    if [[ -n "$server" ]] && kill -0 "$server" 2>/dev/null; then
        kill -TERM "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# The demo seeds its portfolio and serves it; speed 1 keeps the clock real,
# so that the scheduler stays quiet while the fuzzer runs.
"$RELANCE_BIN" demo --dir "$work" --debtors 40 --speed 1 --listen "127.0.0.1:$port" \
    >"$work/serve.log" 2>&1 &
server=$!

for _ in $(seq 1 120); do
    if curl -fsS "$base/ready" >/dev/null 2>&1; then
        break
    fi
    if ! kill -0 "$server" 2>/dev/null; then
        echo "fuzz: relance demo stopped:" >&2
        cat "$work/serve.log" >&2
        exit 1
    fi
    sleep 0.5
done
curl -fsS "$base/ready" >/dev/null || { echo "fuzz: the server never got ready" >&2; cat "$work/serve.log" >&2; exit 1; }

token="${RELANCE_FUZZ_TOKEN:-}"
if [[ -z "$token" ]]; then
    cat >"$work/relance.yaml" <<CONFIG
database:
  url: "sqlite://$work/relance-demo.db?mode=rwc"
CONFIG
    created=$("$RELANCE_BIN" token create --role admin --all-clients --config "$work/relance.yaml")
    token=$(grep -o 'rl_[A-Za-z0-9_-]*' <<<"$created" | head -n 1)
fi
[[ -n "$token" ]] || { echo "fuzz: no token was created" >&2; exit 1; }

echo "fuzz: schemathesis against $base/api/v1/openapi.json"
seed_args=()
if [[ -n "${FUZZ_SEED:-}" ]]; then
    seed_args=(--seed "$FUZZ_SEED")
fi
status=0
# Run from the scratch folder: schemathesis keeps its example database in
# the working folder.
(cd "$work" && timeout "${FUZZ_TIMEOUT:-270}" schemathesis run "$base/api/v1/openapi.json" \
    --checks not_a_server_error \
    --max-examples "${FUZZ_MAX_EXAMPLES:-50}" \
    --header "Authorization: Bearer $token" \
    --request-timeout 10 \
    --rate-limit "${FUZZ_RATE:-40/s}" \
    --workers 1 \
    --suppress-health-check filter_too_much \
    "${seed_args[@]}") || status=$?

if grep -E 'panicked|ERROR' "$work/serve.log" >/dev/null; then
    echo "fuzz: the server logged errors:" >&2
    grep -E 'panicked|ERROR' "$work/serve.log" | head -n 20 >&2
    status=1
fi
if [[ $status -eq 124 ]]; then
    echo "fuzz: schemathesis did not finish within ${FUZZ_TIMEOUT:-270} s" >&2
fi
exit $status
