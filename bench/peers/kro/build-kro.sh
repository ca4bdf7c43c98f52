#!/usr/bin/env bash
# Builds kro's controller (github.com/kubernetes-sigs/kro, pinned in go.mod next to this script)
# through the Go module proxy, cached by version like the control plane. The last stdout line is
# the binary. CGO_ENABLED=0 -trimpath, GOTOOLCHAIN=local, -mod=readonly.
set -euo pipefail
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VERSION="$(sed -n 's|^\(require\)\{0,1\}[[:space:]]*github.com/kubernetes-sigs/kro \(v[^ ]*\).*|\2|p' "$DIR/go.mod" | head -n1)"
[[ -n "$VERSION" ]] || { echo "no kro version in $DIR/go.mod" >&2; exit 1; }
OUT="${KHAIBAO_CACHE_DIR:-$HOME/.cache/khaibao}/kro/$VERSION"
STAMP="$(cat "$DIR/go.mod" "$DIR/go.sum" | sha256sum | cut -c1-16) $(go env GOVERSION)"
if [[ -x "$OUT/kro" && -d "$OUT/crds" && "$(cat "$OUT/.stamp" 2>/dev/null)" == "$STAMP" ]]; then
	echo "$OUT/kro"
	exit 0
fi
mkdir -p "$OUT"
echo "[build-kro] building kro $VERSION (a few minutes the first time)" >&2
(cd "$DIR" && GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=readonly \
	go build -trimpath -p 2 -o "$OUT/kro" github.com/kubernetes-sigs/kro/cmd/controller) >&2
rm -rf "$OUT/crds"
cp -r "$(cd "$DIR" && go env GOMODCACHE)/github.com/kubernetes-sigs/kro@$VERSION/helm/crds" "$OUT/crds"
chmod -R u+w "$OUT/crds"
echo "$STAMP" >"$OUT/.stamp"
echo "$OUT/kro"
