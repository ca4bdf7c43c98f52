#!/usr/bin/env bash
# Builds a real Prometheus for the tests, `prometheus` and `promtool`, from Prometheus' Go module
# (github.com/prometheus/prometheus; its v0.3MM.P versions are the v3.MM.P releases), with the
# conventions of build-controlplane.sh and build-peers.sh. The e2e tests scrape the operator with
# it and e2e/chart-check.sh checks and unit-tests the chart's alerting rules with promtool.
#
# Binaries are cached by version in
#   ${KHAIBAO_CACHE_DIR:-$HOME/.cache/khaibao}/peers/prometheus-<module version>/bin
# with a stamp file, so a second run returns at once. Progress goes to stderr; the last line on
# stdout is the bin directory.
#
# Built without the `builtinassets` tag: the web UI's compiled assets are made by npm in
# Prometheus' release process and are not in the Go module; the HTTP API the tests use does not
# need them. Built with `remove_all_sd`: of the service discoveries only static, file and http
# are kept (the tests use static targets), which leaves out the cloud SDKs and saves most of the
# build time.
#
# Environment:
#   KHAIBAO_CACHE_DIR   cache root (default $HOME/.cache/khaibao)
#   KHAIBAO_BUILD_P     go build -p value (default 2)
#   KHAIBAO_REBUILD=1   ignore the stamp and rebuild
set -euo pipefail

# Prometheus 3.16.0. Its go.mod asks for Go 1.26.7, which the machine's Go satisfies.
PROMETHEUS_MODULE=github.com/prometheus/prometheus
PROMETHEUS_VERSION=v0.316.0
TAGS="netgo remove_all_sd"

log() { printf '[build-prometheus] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

command -v go >/dev/null 2>&1 || die "go is not on PATH"

# As build-controlplane.sh: never fetch a toolchain, never follow a go.work. -mod=mod: the build
# runs in a throwaway module whose go.mod and go.sum go writes itself, from Prometheus' own
# go.mod (no replace directives there), so the dependency versions are the ones Prometheus
# released with.
export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod -buildvcs=false"
P="${KHAIBAO_BUILD_P:-2}"

# v0.316.0 -> 3.16.0, the version Prometheus reports for that release.
release_version() {
	local v="${1#v0.}" minor patch
	minor="${v%%.*}"
	patch="${v#*.}"
	[[ "$minor" =~ ^[0-9]{3}$ ]] || die "unexpected Prometheus module version $1"
	printf '%d.%d.%s\n' "$(( minor / 100 ))" "$(( 10#${minor:1} ))" "$patch"
}
RELEASE="$(release_version "$PROMETHEUS_VERSION")"

CACHE_ROOT="${KHAIBAO_CACHE_DIR:-$HOME/.cache/khaibao}"
OUT_DIR="$CACHE_ROOT/peers/prometheus-$PROMETHEUS_VERSION"
BIN_DIR="$OUT_DIR/bin"
STAMP="$BIN_DIR/.stamp"
BINARIES=(prometheus promtool)

fingerprint() {
	printf 'module=%s@%s\n' "$PROMETHEUS_MODULE" "$PROMETHEUS_VERSION"
	printf 'tags=%s\n' "$TAGS"
	printf 'go=%s\n' "$(go env GOVERSION)"
}

# shellcheck source=e2e/build-cache.sh
source "$(dirname "${BASH_SOURCE[0]}")/build-cache.sh"
use_cache_or_lock "$(fingerprint)" "${BINARIES[@]}"
MOD_DIR="$(mktemp -d)"
trap 'rm -rf "$TMP_BIN" "$MOD_DIR"' EXIT
START=$SECONDS

log "resolving $PROMETHEUS_MODULE@$PROMETHEUS_VERSION in a temp module"
(cd "$MOD_DIR" && go mod init khaibao.dev/e2e-prometheus >/dev/null 2>&1 &&
	go get "$PROMETHEUS_MODULE@$PROMETHEUS_VERSION" >&2) ||
	die "could not resolve $PROMETHEUS_MODULE@$PROMETHEUS_VERSION (is it served by the Go module proxy?)"

# As Prometheus' .promu.yml: the version package tells `--version` and the build_info metric.
# No git checkout exists: the module's checksum stands for the revision.
SUM="$(awk -v m="$PROMETHEUS_MODULE" -v v="$PROMETHEUS_VERSION" '$1 == m && $2 == v { print $3; exit }' "$MOD_DIR/go.sum")"
BUILD_DATE="$(date -u ${SOURCE_DATE_EPOCH:+--date=@$SOURCE_DATE_EPOCH} +%Y%m%d-%H:%M:%S)"
ldflags="-s -w"
ldflags+=" -X github.com/prometheus/common/version.Version=$RELEASE"
ldflags+=" -X github.com/prometheus/common/version.Revision=${SUM:-unknown}"
ldflags+=" -X github.com/prometheus/common/version.Branch=module"
ldflags+=" -X github.com/prometheus/common/version.BuildUser=khaibao"
ldflags+=" -X github.com/prometheus/common/version.BuildDate=$BUILD_DATE"

log "building prometheus and promtool $RELEASE (-p $P, tags: $TAGS; a cold build takes many minutes)"
(cd "$MOD_DIR" && go build -p "$P" -trimpath -tags "${TAGS// /,}" -ldflags "$ldflags" -o "$TMP_BIN/" \
	"$PROMETHEUS_MODULE/cmd/prometheus" "$PROMETHEUS_MODULE/cmd/promtool") ||
	die "Prometheus build failed"

# A smoke run of each: both must run here and report the pinned release.
for bin in "${BINARIES[@]}"; do
	out="$("$TMP_BIN/$bin" --version 2>&1)" || die "$bin --version failed: $out"
	grep -q "version $RELEASE " <<<"$out" || die "$bin --version does not report $RELEASE: $out"
done

fingerprint >"$TMP_BIN/.stamp"
rm -rf "$BIN_DIR"
mv "$TMP_BIN" "$BIN_DIR"
trap 'rm -rf "$MOD_DIR"' EXIT
log "built in $(( SECONDS - START ))s (Prometheus $RELEASE, module $PROMETHEUS_VERSION): $BIN_DIR"
echo "$BIN_DIR"
