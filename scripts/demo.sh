#!/usr/bin/env bash
# The main job: a local control plane, the operator, the dichvucong platform and the 34
# provinces of the current division (since 1 July 2025), then the status table. Stop everything
# with `make demo-stop`. (`examples/provinces-63` is the division before the reform.)
set -euo pipefail
cd "$(dirname "$0")/.."
STATE="${KHAIBAO_DEMO_STATE:-$PWD/e2e/.run/demo}"
mkdir -p "$STATE"

echo "== building khaibao and the operator"
cargo build --release -q -p khaibao-cli -p khaibao --features khaibao/operator
ln -sf khaibao target/release/kubectl-khaibao
KHAIBAO=target/release/khaibao

echo "== starting the local control plane (first run builds it from the Go module proxy: ~15 min)"
export KUBECONFIG="$(e2e/start-controlplane.sh "$STATE" | tail -n1)"
BIN="$(e2e/build-controlplane.sh | tail -n1)"
export PATH="$BIN:$PWD/target/release:$PATH"

echo "== installing the CRDs"
kubectl apply -f charts/khaibao/crds/ >/dev/null
kubectl apply -f charts/khaibao/templates/tenant-finalizer-policy.yaml >/dev/null
kubectl wait --for condition=established --timeout=60s crd/platforms.khaibao.dev crd/tenants.khaibao.dev >/dev/null
kubectl create namespace khaibao-system --dry-run=client -o yaml | kubectl apply -f - >/dev/null

echo "== starting the operator (log: $STATE/operator.log)"
if [ -f "$STATE/operator.pid" ] && kill -0 "$(cat "$STATE/operator.pid")" 2>/dev/null; then
  echo "   already running (pid $(cat "$STATE/operator.pid"))"
else
  target/release/khaibao-operator --metrics-addr 127.0.0.1:18080 --log-format json >"$STATE/operator.log" 2>&1 &
  echo $! >"$STATE/operator.pid"
fi

echo "== declaring the platform and the 34 provinces"
$KHAIBAO apply examples/provinces-34 | tail -n 2

echo "== waiting until every tenant is Ready"
for _ in $(seq 1 120); do
  ready=$(kubectl get tenants.khaibao.dev -A -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c True || true)
  [ "$ready" -ge 34 ] && break
  sleep 1
done
$KHAIBAO status
echo
echo "The cluster keeps running. Try:"
echo "  export KUBECONFIG=$KUBECONFIG PATH=$BIN:$PWD/target/release:\$PATH"
echo "  kubectl get tenants -A          # or: kubectl khaibao status"
echo "  kubectl -n dichvucong get configmaps,ingresses,secrets"
echo "Stop everything with: make demo-stop"
