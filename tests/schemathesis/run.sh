#!/usr/bin/env bash
# Property-based conformance run of the sandbox against Intercom's own 2.16 OpenAPI spec, with
# schemathesis (PyPI), restricted to the operations the sandbox serves. Not part of CI (it takes
# minutes); run it after changing src/sandbox/:
#
#   bash tests/schemathesis/run.sh            # from the repo root; MAX_EXAMPLES=50 by default
#
# It builds the debug binary, starts `triaged sandbox` on a free loopback port with the rate
# limit lifted, runs the `not_a_server_error` and `content_type_conformance` checks, and stops
# the sandbox whatever happens. The venv lives in ./.venv-schemathesis. TRIAGED_BIN=PATH runs an
# already-built binary instead (e.g. an older one, to compare).
set -euo pipefail
cd "$(dirname "$0")/../.."

SPEC=../shared/intercom/api.intercom.io.2.16.yaml
VENV=${TRIAGED_SCHEMATHESIS_VENV:-.venv-schemathesis}
VERSION=4.32.5
MAX_EXAMPLES=${MAX_EXAMPLES:-50}
PORT=${SANDBOX_PORT:-18090}

if [ ! -x "$VENV/bin/schemathesis" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "schemathesis==$VERSION"
fi
BIN=${TRIAGED_BIN:-target/debug/triaged}
[ -n "${TRIAGED_BIN:-}" ] || cargo build --quiet --bin triaged

SANDBOX_LISTEN=127.0.0.1:$PORT SANDBOX_RATE_LIMIT=1000000 INTERCOM_ACCESS_TOKEN=st-token \
    "$BIN" sandbox >/dev/null &
SANDBOX=$!
trap 'kill $SANDBOX 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    curl -sf -o /dev/null -H 'authorization: Bearer st-token' "http://127.0.0.1:$PORT/me" && break
    sleep 0.1
done

# The sandbox's routes (src/sandbox/routes/mod.rs).
PATHS='^/(me|admins|admins/\{[a-z_]+\}|teams|conversations|conversations/search|conversations/\{[a-z_]+\}|conversations/\{[a-z_]+\}/(reply|parts|tags)|conversations/\{[a-z_]+\}/tags/\{[a-z_]+\}|tags|tickets|tickets/\{[a-z_]+\}|ticket_types|contacts/search|contacts/\{[a-z_]+\}|visitors|companies/scroll|companies/\{[a-z_]+\}|articles/search)$'

"$VENV/bin/schemathesis" run "$SPEC" \
    --url "http://127.0.0.1:$PORT" \
    -H 'Authorization: Bearer st-token' -H 'Intercom-Version: 2.16' \
    --include-path-regex "$PATHS" \
    --checks not_a_server_error,content_type_conformance \
    --max-examples "$MAX_EXAMPLES" \
    --no-color
