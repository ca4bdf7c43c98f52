#!/usr/bin/env bash
# Stops what `make demo` started: the portal and the operator, then the control plane.
set -euo pipefail
cd "$(dirname "$0")/.."
STATE="${KHAIBAO_DEMO_STATE:-$PWD/e2e/.run/demo}"
for pidfile in "$STATE/portal.pid" "$STATE/operator.pid"; do
  if [ -f "$pidfile" ]; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  fi
done
e2e/stop-controlplane.sh "$STATE"
