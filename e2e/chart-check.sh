#!/usr/bin/env bash
# Checks the Helm chart against a real API server: `helm lint`, then `helm template` with the
# default values and with province grants, applied with `kubectl apply --dry-run=server`; and
# its monitoring: the alerting rules with a real promtool (check, unit tests, as rendered into
# the PrometheusRule) and the Grafana dashboard's JSON.
# Prints `N passed, N failed` and exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN="$(e2e/build-controlplane.sh | tail -n1)"
PROM_BIN="$(e2e/build-prometheus.sh | tail -n1)"
[ -x "$PROM_BIN/promtool" ] || { echo "e2e/build-prometheus.sh gave no promtool (run it to see why)" >&2; exit 1; }
export PATH="$BIN:$PROM_BIN:$PATH"
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
check "rendererEpoch pins the operator's renderer epoch; unset, no flag" bash -c \
  'helm template kb charts/khaibao --set rendererEpoch=1 | grep -q -- "--renderer-epoch=1$" && ! helm template kb charts/khaibao | grep -q -- "--renderer-epoch" && ! helm lint charts/khaibao --set rendererEpoch=0 >/dev/null 2>&1'
check "new tenants get the operator's finalizer from the API server" bash -c \
  'helm template kb charts/khaibao -n khaibao-system | grep -q "kind: MutatingAdmissionPolicy$"'
check "Argo CD health checks: one entry per kind, each the chart's health.lua, applies" bash -c '
  cm=$(helm template kb charts/khaibao -n khaibao-system --set argocd.healthChecks=true --show-only templates/argocd-health.yaml) &&
  echo "$cm" | kubectl apply --dry-run=server -f - >/dev/null &&
  for kind in Tenant TenantSet Platform; do
    echo "$cm" | kubectl create --dry-run=client -f - -o "jsonpath={.data.resource\.customizations\.health\.khaibao\.dev_$kind}" |
      diff - charts/khaibao/argocd/health.lua || exit 1
  done && ! helm template kb charts/khaibao | grep -q argocd-health'

# --- monitoring ------------------------------------------------------------
RULES=charts/khaibao/prometheus/rules.yaml
DASHBOARD=charts/khaibao/grafana/dashboard.json
# The spec of a rendered PrometheusRule (the template's last key) as a rule file promtool reads.
rule_spec() { sed -n '/^spec:$/,$p' | tail -n +2 | sed 's/^  //'; }
json_ok() { if command -v jq >/dev/null; then jq -e . >/dev/null; else python3 -m json.tool >/dev/null; fi; }
export -f rule_spec json_ok
export RULES DASHBOARD
check "alerting rules: promtool check rules" promtool check rules "$RULES"
check "alerting rules: each alert fires when it should and not otherwise (promtool test rules)" \
  promtool test rules charts/khaibao/prometheus/rules_test.yaml
# Every khaibao_ metric the rules and the dashboard read is one the operator registers.
check "alerting rules and dashboard read only metrics the operator exports" bash -c '
  for m in $(grep -ohE "khaibao_[a-z_]+" "$RULES" "$DASHBOARD" | sort -u); do
    base=${m#khaibao_}; base=${base%_total}; base=${base%_bucket}
    grep -q "\"$base\"," operator/src/controller/metrics.rs || { echo "$m is not registered in operator/src/controller/metrics.rs"; exit 1; }
  done'
check "PrometheusRule: off by default; rendered, it passes the same unit tests" bash -c '
  ! helm template kb charts/khaibao | grep -q "kind: PrometheusRule" &&
  dir=$(mktemp -d) && trap "rm -rf $dir" EXIT &&
  helm template kb charts/khaibao -n khaibao-system --set prometheusRule.enabled=true \
    --show-only templates/prometheus-rule.yaml >"$dir/rendered.yaml" &&
  grep -q "^kind: PrometheusRule$" "$dir/rendered.yaml" &&
  rule_spec <"$dir/rendered.yaml" >"$dir/rules.yaml" &&
  cp charts/khaibao/prometheus/rules_test.yaml "$dir/" &&
  promtool test rules "$dir/rules_test.yaml"'
check "PrometheusRule: job, minutes and labels from values" bash -c '
  dir=$(mktemp -d) && trap "rm -rf $dir" EXIT &&
  helm template kb charts/khaibao -n khaibao-system --set prometheusRule.enabled=true \
    --set prometheusRule.job=kb-operator-metrics,prometheusRule.tenantsFailingMinutes=30 \
    --set prometheusRule.labels.release=kube-prometheus-stack \
    --show-only templates/prometheus-rule.yaml >"$dir/rendered.yaml" &&
  grep -q "^    release: kube-prometheus-stack$" "$dir/rendered.yaml" &&
  rule_spec <"$dir/rendered.yaml" >"$dir/rules.yaml" && promtool check rules "$dir/rules.yaml" &&
  grep -q "up{job=\"kb-operator-metrics\"}" "$dir/rules.yaml" && ! grep -q "job=\"khaibao\"" "$dir/rules.yaml" &&
  sed -n "/alert: KhaibaoTenantsFailing/,/alert:/p" "$dir/rules.yaml" | grep -q "for: 30m$" &&
  tr -s " \n" "  " <"$dir/rules.yaml" | grep -q "not Ready for 30 minutes" &&
  ! helm template kb charts/khaibao --set prometheusRule.enabled=true --set prometheusRule.tenantsFailingMinutes=0 >/dev/null 2>&1'
check "ServiceMonitor names its job khaibao, as the rules expect" bash -c '
  helm template kb charts/khaibao --set metrics.serviceMonitor.enabled=true --show-only templates/service.yaml |
    grep -q "jobLabel: app.kubernetes.io/name$"'
check "dashboard: grafana/dashboard.json is JSON with a uid and panels" bash -c '
  json_ok <"$DASHBOARD" && grep -q "\"uid\": \"khaibao-operator\"" "$DASHBOARD" && grep -q "\"panels\"" "$DASHBOARD"'
check "dashboard ConfigMap: off by default; labelled for the sidecar, applies, carries the JSON unchanged" bash -c '
  ! helm template kb charts/khaibao | grep -q grafana_dashboard &&
  dir=$(mktemp -d) && trap "rm -rf $dir" EXIT &&
  helm template kb charts/khaibao -n khaibao-system --set grafanaDashboard.enabled=true \
    --set grafanaDashboard.annotations.grafana_folder=khaibao \
    --show-only templates/grafana-dashboard.yaml >"$dir/cm.yaml" &&
  kubectl apply --dry-run=server -f "$dir/cm.yaml" >/dev/null &&
  get() { kubectl create --dry-run=client -f "$dir/cm.yaml" -o "jsonpath={$1}"; } &&
  [ "$(get .metadata.labels.grafana_dashboard)" = 1 ] &&
  [ "$(get .metadata.annotations.grafana_folder)" = khaibao ] &&
  get ".data.khaibao-operator\.json" >"$dir/dashboard.json" &&
  json_ok <"$dir/dashboard.json" && diff "$dir/dashboard.json" "$DASHBOARD"'
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
