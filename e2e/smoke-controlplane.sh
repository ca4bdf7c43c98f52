#!/usr/bin/env bash
# Checks that the e2e control plane is a real one: version, namespaces and
# ConfigMaps, RBAC through impersonation, garbage collection, CRDs with
# server-side apply, apiserver /metrics, namespace deletion.
#
#   e2e/smoke-controlplane.sh [KUBECONFIG]
#
# Without an argument it starts a control plane in a temporary state dir and
# stops it at the end. Prints 'N passed, N failed' as its last line.
set -uo pipefail

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN_DIR="$("$E2E_DIR/build-controlplane.sh" | tail -n 1)" || exit 1
export PATH="$BIN_DIR:$PATH"

OWN_STATE=""
if [[ $# -ge 1 ]]; then
	export KUBECONFIG="$1"
else
	OWN_STATE="$(mktemp -d "${TMPDIR:-/tmp}/khaibao-smoke.XXXXXX")"
	trap '"$E2E_DIR/stop-controlplane.sh" "$OWN_STATE"; rm -rf "$OWN_STATE"' EXIT
	KUBECONFIG="$("$E2E_DIR/start-controlplane.sh" "$OWN_STATE" | tail -n 1)" || exit 1
	export KUBECONFIG
fi
STATE_DIR="$(dirname "$KUBECONFIG")"
K8S_VERSION="$(basename "$(dirname "$BIN_DIR")" | cut -d- -f1)"

passed=0 failed=0
check() { # description command...
	local what="$1"; shift
	if "$@" >/tmp/khaibao-smoke.$$ 2>&1; then
		passed=$((passed + 1)); printf 'ok   %s\n' "$what"
	else
		failed=$((failed + 1)); printf 'FAIL %s\n' "$what"; sed 's/^/     /' /tmp/khaibao-smoke.$$
	fi
	rm -f /tmp/khaibao-smoke.$$
}
# eventually SECONDS command...: retries until it succeeds.
eventually() {
	local deadline=$((SECONDS + $1)); shift
	until "$@"; do ((SECONDS < deadline)) || return 1; sleep 0.2; done
}

NS="smoke-$$"

# (Outputs are captured before matching: with pipefail, grep -q closing the
# pipe early would fail the writer.)
versions() {
	local v
	v="$(kubectl version -o json)" || return 1
	echo "$v"
	[[ "$(grep -c "\"gitVersion\": \"$K8S_VERSION\"" <<<"$v")" == 2 ]]
}
system_namespaces() { kubectl get ns default kube-system kube-public; }
configmap_in_new_ns() { kubectl create ns "$NS" && kubectl -n "$NS" create configmap c1 --from-literal=a=b; }
rbac_denies() { [[ "$(kubectl auth can-i --as=someone --as-group=g list secrets)" == no ]]; }
rbac_forbidden() {
	local out
	if out="$(kubectl --as=someone get secrets 2>&1)"; then echo "allowed: $out"; return 1; fi
	echo "$out"
	grep -q 'Forbidden' <<<"$out"
}
admin_allowed() { [[ "$(kubectl auth can-i '*' '*')" == yes ]]; }

owned_cm() { # name owner-name owner-uid
	kubectl -n "$NS" create -f - <<EOF
apiVersion: v1
kind: ConfigMap
metadata:
  name: $1
  ownerReferences:
  - {apiVersion: v1, kind: ConfigMap, name: $2, uid: $3}
EOF
}
cm_gone() { ! kubectl -n "$NS" get configmap "$1" >/dev/null 2>&1; }
garbage_collection() {
	kubectl -n "$NS" create configmap owner &&
		owned_cm dependent owner "$(kubectl -n "$NS" get configmap owner -o jsonpath='{.metadata.uid}')" &&
		kubectl -n "$NS" delete configmap owner &&
		eventually 20 cm_gone dependent
}

# Retried: kubectl's discovery may not know a just-established CRD yet.
apply_cr() {
	printf 'apiVersion: e2e.khaibao.test/v1\nkind: Smoke\nmetadata: {name: s1, namespace: %s}\nspec: {size: 3}\n' "$NS" |
		kubectl apply --server-side --field-manager=smoke -f -
}
crd_and_ssa() {
	kubectl apply --server-side -f - <<'EOF' &&
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: smokes.e2e.khaibao.test
spec:
  group: e2e.khaibao.test
  names: {kind: Smoke, plural: smokes, singular: smoke, listKind: SmokeList}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {size: {type: integer}}}
          status: {type: object, x-kubernetes-preserve-unknown-fields: true}
EOF
	kubectl wait --for=condition=Established crd/smokes.e2e.khaibao.test --timeout=30s &&
	eventually 20 apply_cr &&
	[[ "$(kubectl -n "$NS" get smoke s1 -o jsonpath='{.spec.size}')" == 3 ]] &&
	[[ "$(kubectl -n "$NS" get smoke s1 -o jsonpath='{.metadata.managedFields[0].operation}')" == Apply ]]
}
ssa_conflict() {
	# A second field manager must get a conflict on a field it does not own.
	local out
	if out="$(printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c1, namespace: %s}\ndata: {a: other}\n' "$NS" |
		kubectl apply --server-side --field-manager=intruder -f - 2>&1)"; then
		echo "apply unexpectedly succeeded: $out"; return 1
	fi
	grep -q 'conflict' <<<"$out" || { echo "$out"; return 1; }
}
pod_in_new_ns() {
	kubectl create ns "$NS-pod" && kubectl -n "$NS-pod" run p --image=example.invalid/x --restart=Never &&
		[[ "$(kubectl -n "$NS-pod" get pod p -o jsonpath='{.spec.serviceAccountName}')" == default ]]
}
apiserver_metrics() {
	local c="$STATE_DIR/certs" port
	port="$(sed -n 's/^api_port=//p' "$STATE_DIR/ports")"
	local m
	m="$(curl -fsS --cacert "$c/serving-ca.crt" --cert "$c/admin.crt" --key "$c/admin.key" \
		"https://127.0.0.1:$port/metrics")" || return 1
	grep -q '^apiserver_request_total' <<<"$m"
}
ns_deleted() { ! kubectl get ns "$1" >/dev/null 2>&1; }
namespace_deletion() {
	kubectl delete ns "$NS" "$NS-pod" --wait=false && eventually 60 ns_deleted "$NS" && eventually 60 ns_deleted "$NS-pod"
}

check "server and client report $K8S_VERSION" versions
check "system namespaces exist" system_namespaces
check "ConfigMap in a fresh namespace" configmap_in_new_ns
check "RBAC: auth can-i as someone/g list secrets is no" rbac_denies
check "RBAC: impersonated get secrets is Forbidden" rbac_forbidden
check "admin (system:masters) may do anything" admin_allowed
check "garbage collector deletes a dependent ConfigMap" garbage_collection
check "CRD + custom resource via server-side apply" crd_and_ssa
check "server-side apply reports field conflicts" ssa_conflict
check "Pod in a fresh namespace gets the default ServiceAccount" pod_in_new_ns
check "apiserver /metrics readable with the admin cert" apiserver_metrics
check "namespace deletion completes" namespace_deletion
kubectl delete crd smokes.e2e.khaibao.test --wait=false >/dev/null 2>&1

echo "$passed passed, $failed failed"
((failed == 0))
