#!/usr/bin/env bash
# The main job: a local control plane, the operator, the dichvucong platform and the 34
# provinces of the current division (since 1 July 2025), then the status table, then the
# platform's portal answering for Hà Nội and for a commune declared on the spot. Stop
# everything with `make demo-stop`. (`examples/provinces-63` is the division before the reform.)
set -euo pipefail
cd "$(dirname "$0")/.."
STATE="${KHAIBAO_DEMO_STATE:-$PWD/e2e/.run/demo}"
mkdir -p "$STATE"

echo "== building khaibao and the operator"
cargo build --release -q -p khaibao-cli -p khaibao -p dichvucong-portal --features khaibao/operator
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

# No kubelet here: the portal runs as a local process. It authenticates with a token of its own
# ServiceAccount, so what it may read is exactly what access.yaml grants, as in a pod.
PORTAL=127.0.0.1:18081
echo
echo "== starting the portal as ServiceAccount dichvucong/dichvucong-portal (log: $STATE/portal.log)"
kubectl apply --server-side --field-manager=platform-owner -f platforms/dichvucong/portal/access.yaml >/dev/null
if [ -f "$STATE/portal.pid" ] && kill -0 "$(cat "$STATE/portal.pid")" 2>/dev/null; then
  echo "   already running (pid $(cat "$STATE/portal.pid"))"
else
  PORTAL_KUBECONFIG="$STATE/portal-kubeconfig"
  kubectl config view --raw --minify >"$PORTAL_KUBECONFIG"
  token="$(kubectl create token dichvucong-portal -n dichvucong --duration=24h)"
  kubectl --kubeconfig "$PORTAL_KUBECONFIG" config set-credentials dichvucong-portal --token="$token" >/dev/null
  kubectl --kubeconfig "$PORTAL_KUBECONFIG" config set-context --current --user=dichvucong-portal >/dev/null
  KUBECONFIG="$PORTAL_KUBECONFIG" target/release/dichvucong-portal --listen "$PORTAL" --namespace dichvucong \
    >"$STATE/portal.log" 2>&1 &
  echo $! >"$STATE/portal.pid"
fi
for _ in $(seq 1 100); do
  curl -fs "http://$PORTAL/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done

echo "== Hà Nội's page: curl -s -H 'Host: ha-noi.dichvucong.gov.vn' http://$PORTAL/"
curl -s -H 'Host: ha-noi.dichvucong.gov.vn' "http://$PORTAL/" | grep -E '<title>|class="unit"|Đường dây nóng' | sed 's/^/   /'

echo "== declaring a commune by hand: Phường Ba Đình (00004) of Hà Nội"
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: khaibao.dev/v1alpha1
kind: Tenant
metadata:
  name: phuong-ba-dinh
  namespace: tinh-01
spec:
  platform: dichvucong
  parent: ha-noi
  unit:
    level: commune
    code: "00004"
    name: Phường Ba Đình
    provinceCode: "01"
YAML
start=$(date +%s%N)
code=000
for _ in $(seq 1 600); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: phuong-ba-dinh.ha-noi.dichvucong.gov.vn' "http://$PORTAL/")
  [ "$code" = 200 ] && break
  sleep 0.05
done
took=$(( ($(date +%s%N) - start) / 1000000 ))
if [ "$code" = 200 ]; then
  echo "   served $took ms after the declaration:"
  curl -s -H 'Host: phuong-ba-dinh.ha-noi.dichvucong.gov.vn' "http://$PORTAL/" | grep -E '<title>|class="unit"' | sed 's/^/   /'
else
  echo "   not served after $took ms (last answer $code); see $STATE/portal.log and: kubectl -n tinh-01 get tenant phuong-ba-dinh -o yaml" >&2
  exit 1
fi

echo
echo "The cluster and the portal keep running. Try:"
echo "  export KUBECONFIG=$KUBECONFIG PATH=$BIN:$PWD/target/release:\$PATH"
echo "  kubectl get tenants -A          # or: kubectl khaibao status"
echo "  kubectl -n dichvucong get configmaps,ingresses,secrets"
echo "  curl -H 'Host: hue.dichvucong.gov.vn' http://$PORTAL/"
echo "  curl -s http://$PORTAL/metrics | grep portal_requests"
echo "Stop everything with: make demo-stop"
