#!/usr/bin/env bash
# Browser tests: a demo platform served by the real binary, driven in headless Chromium.
# Usage: DIWAN_BIN=path/to/diwan tests/browser/run.sh
set -euo pipefail
cd "$(dirname "$0")"
BIN="${DIWAN_BIN:-diwan}"
[ -d node_modules/playwright-core ] || npm install --no-audit --no-fund --silent
DATA=$(mktemp -d /tmp/diwan-browser.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN" demo --data "$DATA" >/dev/null
# The portal's proof of work stays on (the page's solver is under test) with a small difficulty.
DIWAN_PORTAL__CHALLENGE_BITS=10 DIWAN_PUBLIC_URL="http://127.0.0.1:$PORT" \
  "$BIN" serve --data "$DATA" --listen "127.0.0.1:$PORT" >"$DATA/serve.log" 2>&1 &
SERVER=$!
cleanup() { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$DATA"; }
trap cleanup EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
node pages.test.mjs "http://127.0.0.1:$PORT" "$DATA" || { tail -30 "$DATA/serve.log"; exit 1; }
