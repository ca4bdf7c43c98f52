#!/usr/bin/env bash
# Stops what `make demo` started: the operator, then the control plane.
set -euo pipefail
cd "$(dirname "$0")/.."
STATE="${KHAIBAO_DEMO_STATE:-$PWD/e2e/.run/demo}"
if [ -f "$STATE/operator.pid" ]; then
  kill "$(cat "$STATE/operator.pid")" 2>/dev/null || true
  rm -f "$STATE/operator.pid"
fi
e2e/stop-controlplane.sh "$STATE"
