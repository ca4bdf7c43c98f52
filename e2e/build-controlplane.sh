#!/usr/bin/env bash
# Builds the e2e control-plane binaries from Go modules (no containers, no
# prebuilt downloads): etcd, kube-apiserver, kube-controller-manager, kubectl
# and helm. Versions come from the wrapper modules in e2e/controlplane/*/go.mod.
#
# Binaries are cached by version in
#   ${KHAIBAO_CACHE_DIR:-$HOME/.cache/khaibao}/controlplane/<k8s>-etcd<ver>-helm<ver>/bin, e.g. v1.37.2-etcd3.6.16-helm3.22.0/bin
# with a stamp file, so a second run returns at once. Progress goes to stderr;
# the last line on stdout is the bin directory.
#
# Environment:
#   KHAIBAO_CACHE_DIR   cache root (default $HOME/.cache/khaibao)
#   KHAIBAO_BUILD_P     go build -p value (default 2)
#   KHAIBAO_REBUILD=1   ignore the stamp and rebuild
set -euo pipefail

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CP_DIR="$E2E_DIR/controlplane"

log() { printf '[build-controlplane] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

command -v go >/dev/null 2>&1 || die "go is not on PATH"

# Go settings shared by every build. GOTOOLCHAIN=local: a go line newer than
# the installed Go fails at once instead of trying to fetch a toolchain.
# GOWORK=off: never let a go.work elsewhere in the tree pick the versions.
# -mod=readonly: go.mod/go.sum are committed and complete; never rewrite them.
export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=readonly -buildvcs=false"
P="${KHAIBAO_BUILD_P:-2}"

# Required version of module $2 in wrapper module dir $1 (from its go.mod).
req_version() {
	awk -v m="$2" '
		$1 == "require" && $2 == m { print $3; exit }
		$1 == m && $2 ~ /^v/ { print $2; exit }
	' "$1/go.mod"
}

K8S_VERSION="$(req_version "$CP_DIR/kubernetes" k8s.io/kubernetes)"
ETCD_VERSION="$(req_version "$CP_DIR/etcd" go.etcd.io/etcd/server/v3)"
HELM_VERSION="$(req_version "$CP_DIR/helm" helm.sh/helm/v3)"
[[ -n "$K8S_VERSION" && -n "$ETCD_VERSION" && -n "$HELM_VERSION" ]] ||
	die "could not read versions from $CP_DIR/*/go.mod"

CACHE_ROOT="${KHAIBAO_CACHE_DIR:-$HOME/.cache/khaibao}"
KEY="${K8S_VERSION}-etcd${ETCD_VERSION#v}-helm${HELM_VERSION#v}"
OUT_DIR="$CACHE_ROOT/controlplane/$KEY"
BIN_DIR="$OUT_DIR/bin"
STAMP="$BIN_DIR/.stamp"
BINARIES=(etcd kube-apiserver kube-controller-manager kubectl helm)

# The stamp records the versions and a digest of the wrapper modules, so a
# changed go.mod/go.sum (same versions, other dependencies) rebuilds too.
fingerprint() {
	printf 'key=%s\n' "$KEY"
	(cd "$CP_DIR" && cat kubernetes/go.mod kubernetes/go.sum etcd/go.mod etcd/go.sum \
		helm/go.mod helm/go.sum) | sha256sum | awk '{print "modules=" $1}'
	printf 'go=%s\n' "$(go env GOVERSION)"
	printf 'symbols=kept\n'
}

# shellcheck source=e2e/build-cache.sh
source "$(dirname "${BASH_SOURCE[0]}")/build-cache.sh"
use_cache_or_lock "$(fingerprint)" "${BINARIES[@]}"
trap 'rm -rf "$TMP_BIN"' EXIT

BUILD_DATE="$(date -u ${SOURCE_DATE_EPOCH:+--date=@$SOURCE_DATE_EPOCH} +%Y-%m-%dT%H:%M:%SZ)"
START=$SECONDS

# --- Kubernetes ------------------------------------------------------------
# Stamp both version packages as hack/lib/version.sh does, so that the server
# and kubectl report the real version instead of v0.0.0-master.
k8s_ver="${K8S_VERSION#v}"
K8S_MAJOR="${k8s_ver%%.*}"
K8S_MINOR="$(cut -d. -f2 <<<"$k8s_ver")"
# No git checkout exists: record the module's checksum as the "commit".
K8S_COMMIT="$(awk -v v="$K8S_VERSION" '$1 == "k8s.io/kubernetes" && $2 == v { print $3; exit }' "$CP_DIR/kubernetes/go.sum")"
K8S_COMMIT="${K8S_COMMIT:-unknown}"
# Symbols kept (no -s -w) in the control plane's binaries: `perf` can then name the functions
# where the API server and etcd spend their CPU (khaibao-bench --perf-dir).
k8s_ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	k8s_ldflags+=" -X '$pkg.gitVersion=$K8S_VERSION'"
	k8s_ldflags+=" -X '$pkg.gitMajor=$K8S_MAJOR'"
	k8s_ldflags+=" -X '$pkg.gitMinor=$K8S_MINOR'"
	k8s_ldflags+=" -X '$pkg.gitCommit=$K8S_COMMIT'"
	k8s_ldflags+=" -X '$pkg.gitTreeState=clean'"
	k8s_ldflags+=" -X '$pkg.buildDate=$BUILD_DATE'"
done

log "building kube-apiserver, kube-controller-manager, kubectl $K8S_VERSION (-p $P; cold builds take many minutes)"
(cd "$CP_DIR/kubernetes" && go build -p "$P" -trimpath -ldflags "$k8s_ldflags" -o "$TMP_BIN/" \
	k8s.io/kubernetes/cmd/kube-apiserver \
	k8s.io/kubernetes/cmd/kube-controller-manager \
	k8s.io/kubernetes/cmd/kubectl) || die "Kubernetes build failed"

# --- etcd ------------------------------------------------------------------
log "building etcd $ETCD_VERSION"
(cd "$CP_DIR/etcd" && go build -p "$P" -trimpath \
	-ldflags "-X 'go.etcd.io/etcd/api/v3/version.GitSHA=module-$ETCD_VERSION'" \
	-o "$TMP_BIN/etcd" go.etcd.io/etcd/server/v3) || die "etcd build failed"

# --- helm ------------------------------------------------------------------
# As helm's Makefile: the Kubernetes version it assumes for lint and
# template capabilities follows its client-go (v0.X.Y -> 1.X).
log "building helm $HELM_VERSION"
helm_cg="$(cd "$CP_DIR/helm" && go list -m -f '{{.Version}}' k8s.io/client-go)"
helm_cg="${helm_cg#v}"
helm_k8s_major=$(( ${helm_cg%%.*} + 1 ))
helm_k8s_minor="$(cut -d. -f2 <<<"$helm_cg")"
helm_ldflags="-s -w"
helm_ldflags+=" -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
helm_ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
	helm_ldflags+=" -X $pkg.k8sVersionMajor=$helm_k8s_major -X $pkg.k8sVersionMinor=$helm_k8s_minor"
done
(cd "$CP_DIR/helm" && go build -p "$P" -trimpath -ldflags "$helm_ldflags" \
	-o "$TMP_BIN/helm" helm.sh/helm/v3/cmd/helm) || die "helm build failed"

# --- install ---------------------------------------------------------------
"$TMP_BIN/kubectl" version --client -o yaml 2>/dev/null | grep -q "gitVersion: $K8S_VERSION" ||
	die "kubectl does not report $K8S_VERSION"
fingerprint >"$TMP_BIN/.stamp"
rm -rf "$BIN_DIR"
mv "$TMP_BIN" "$BIN_DIR"
trap - EXIT
log "built in $(( SECONDS - START ))s: $BIN_DIR"
echo "$BIN_DIR"
