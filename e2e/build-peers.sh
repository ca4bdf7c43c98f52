#!/usr/bin/env bash
# Builds the ecosystem peers of the e2e tests from their Go modules in e2e/peers/:
#   kstatus-check   an object's kstatus status, computed by sigs.k8s.io/cli-utils (as Flux does)
#   argocd-health   an Argo CD Lua health script run on an object, as Argo CD runs it
# with the conventions of build-controlplane.sh. Binaries are cached in
#   ${KHAIBAO_CACHE_DIR:-$HOME/.cache/khaibao}/peers/<key>/bin
# where <key> is a digest of the peers' go.mod, go.sum and sources and the Go version, with a
# stamp file, so a second run returns at once. Progress goes to stderr; the last line on stdout
# is the bin directory.
#
# Environment:
#   KHAIBAO_CACHE_DIR   cache root (default $HOME/.cache/khaibao)
#   KHAIBAO_BUILD_P     go build -p value (default 2)
#   KHAIBAO_REBUILD=1   ignore the stamp and rebuild
set -euo pipefail

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PEERS_DIR="$E2E_DIR/peers"

log() { printf '[build-peers] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

command -v go >/dev/null 2>&1 || die "go is not on PATH"

# As build-controlplane.sh: never fetch a toolchain, never follow a go.work, never rewrite the
# committed go.mod/go.sum.
export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=readonly -buildvcs=false"
P="${KHAIBAO_BUILD_P:-2}"

# binary name -> module dir under e2e/peers/
declare -A PEERS=([kstatus-check]=kstatus [argocd-health]=argocd-health)

# Library versions, for the stamp and the log.
req_version() { awk -v m="$2" '$1 == m && $2 ~ /^v/ { print $2; exit }' "$PEERS_DIR/$1/go.mod"; }
CLI_UTILS="$(req_version kstatus sigs.k8s.io/cli-utils)"
GOPHER_LUA="$(req_version argocd-health github.com/yuin/gopher-lua)"
[[ -n "$CLI_UTILS" && -n "$GOPHER_LUA" ]] || die "could not read versions from $PEERS_DIR/*/go.mod"

# Modules and sources (a peer is a few hundred lines: an edit to one rebuilds it too).
fingerprint() {
	printf 'cli-utils=%s\ngopher-lua=%s\n' "$CLI_UTILS" "$GOPHER_LUA"
	(cd "$PEERS_DIR" && find kstatus argocd-health -type f \( -name go.mod -o -name go.sum -o -name '*.go' \) \
		-print0 | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum | awk '{print "sources=" $1}'
	printf 'go=%s\n' "$(go env GOVERSION)"
}

FINGERPRINT="$(fingerprint)"
KEY="cli-utils${CLI_UTILS#v}-gopher-lua${GOPHER_LUA#v}-$(sha256sum <<<"$FINGERPRINT" | cut -c1-12)"
OUT_DIR="${KHAIBAO_CACHE_DIR:-$HOME/.cache/khaibao}/peers/$KEY"
BIN_DIR="$OUT_DIR/bin"
STAMP="$BIN_DIR/.stamp"

# shellcheck source=e2e/build-cache.sh
source "$(dirname "${BASH_SOURCE[0]}")/build-cache.sh"
use_cache_or_lock "$FINGERPRINT" "${!PEERS[@]}"
trap 'rm -rf "$TMP_BIN"' EXIT
START=$SECONDS

# One build at a time, in a fixed order.
for bin in kstatus-check argocd-health; do
	dir="${PEERS[$bin]}"
	log "building $bin (e2e/peers/$dir; -p $P)"
	(cd "$PEERS_DIR/$dir" && go build -p "$P" -trimpath -ldflags "-s -w" -o "$TMP_BIN/$bin" .) ||
		die "$bin build failed"
done

# A smoke run of each: a usage error must come back as exit 2, proving the binary runs here.
for bin in kstatus-check argocd-health; do
	rc=0
	"$TMP_BIN/$bin" >/dev/null 2>&1 || rc=$?
	[[ $rc -eq 2 ]] || die "$bin without arguments exited $rc, expected the usage error (2)"
done

printf '%s\n' "$FINGERPRINT" >"$TMP_BIN/.stamp"
rm -rf "$BIN_DIR"
mv "$TMP_BIN" "$BIN_DIR"
trap - EXIT
log "built in $(( SECONDS - START ))s (cli-utils $CLI_UTILS, gopher-lua $GOPHER_LUA): $BIN_DIR"
echo "$BIN_DIR"
