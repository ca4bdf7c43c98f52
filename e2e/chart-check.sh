#!/usr/bin/env bash
# Checks the Helm chart against a real API server: `helm lint`, then `helm template` with the
# default values and with province grants, applied with `kubectl apply --dry-run=server`.
# Prints `N passed, N failed` and exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN="$(e2e/build-controlplane.sh | tail -n1)"
export PATH="$BIN:$PATH"
STATE="$(mktemp -d)"
trap 'e2e/stop-controlplane.sh "$STATE" >/dev/null 2>&1; rm -rf "$STATE"' EXIT
export KUBECONFIG="$(e2e/start-controlplane.sh "$STATE" | tail -n1)"
passed=0 failed=0
check() {
  local name=$1; shift
  if out=$("$@" 2>&1); then passed=$((passed + 1)); echo "ok   $name"
  else failed=$((failed + 1)); echo "FAIL $name"; echo "$out" | tail -20; fi
}
kubectl apply -f charts/khaibao/crds/ >/dev/null
kubectl create namespace khaibao-system >/dev/null
# A server dry run does not create the chart's namespaces, so their Roles need them to exist.
kubectl create namespace dichvucong >/dev/null
kubectl create namespace vanban >/dev/null
check "helm lint" helm lint --strict charts/khaibao
check "helm lint rejects values outside the schema" bash -c '! helm lint charts/khaibao --set replicas=0 >/dev/null 2>&1'
check "default values apply (server dry run)" bash -c \
  'helm template kb charts/khaibao -n khaibao-system | kubectl apply --dry-run=server -f -'
kubectl create namespace tinh-01 >/dev/null
check "province grants apply (server dry run)" bash -c \
  'helm template kb charts/khaibao -n khaibao-system --set "provinceGrants[0].code=01,provinceGrants[0].group=so-tttt-ha-noi" | kubectl apply --dry-run=server -f -'
check "no Secrets cluster-wide: one Role per secretNamespaces entry" bash -c \
  'out=$(helm template kb charts/khaibao -n khaibao-system --set "secretNamespaces={dichvucong}"); ! echo "$out" | grep -q "\"secrets\", " && [ "$(echo "$out" | grep -c "name: kb-operator-secrets$")" -eq 3 ] && echo "$out" | grep -q -- "--secret-namespaces=dichvucong$"'
check "security context is locked down" bash -c \
  'helm template kb charts/khaibao -n khaibao-system | grep -q "readOnlyRootFilesystem: true" && helm template kb charts/khaibao | grep -q "runAsNonRoot: true"'
check "new tenants get the operator's finalizer from the API server" bash -c \
  'helm template kb charts/khaibao -n khaibao-system | grep -q "kind: MutatingAdmissionPolicy$"'
check "Argo CD health checks: one entry per kind, each the chart's health.lua, applies" bash -c '
  cm=$(helm template kb charts/khaibao -n khaibao-system --set argocd.healthChecks=true --show-only templates/argocd-health.yaml) &&
  echo "$cm" | kubectl apply --dry-run=server -f - >/dev/null &&
  for kind in Tenant TenantSet Platform; do
    echo "$cm" | kubectl create --dry-run=client -f - -o "jsonpath={.data.resource\.customizations\.health\.khaibao\.dev_$kind}" |
      diff - charts/khaibao/argocd/health.lua || exit 1
  done && ! helm template kb charts/khaibao | grep -q argocd-health'
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
