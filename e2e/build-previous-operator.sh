#!/usr/bin/env bash
# Builds khaibao-operator as it was at an earlier commit (default: the last one before renderer
# epochs, whose output is epoch 1), for the operator-upgrade e2e run against a real previous
# release: `make upgrade-from [REV=...]`. The build is cached by commit under
#   ${KHAIBAO_CACHE_DIR:-$HOME/.cache/khaibao}/previous-operator/<commit>/bin
# with a stamp, so a second run returns at once. Its own cargo target dir (the dependencies
# build once per commit, about as long as a cold `cargo build`). Progress goes to stderr; the
# last line on stdout is the bin directory.
#
# Environment:
#   KHAIBAO_CACHE_DIR   cache root (default $HOME/.cache/khaibao)
#   KHAIBAO_REBUILD=1   ignore the stamp and rebuild
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REV="${1:-bac7865}"

log() { printf '[build-previous-operator] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

COMMIT="$(git -C "$ROOT" rev-parse --verify "$REV^{commit}" 2>/dev/null)" ||
	die "commit $REV is not in this clone (git fetch it, or pass another revision)"
OUT_DIR="${KHAIBAO_CACHE_DIR:-$HOME/.cache/khaibao}/previous-operator/$COMMIT"
BIN_DIR="$OUT_DIR/bin"
STAMP="$BIN_DIR/.stamp"
FINGERPRINT="commit=$COMMIT rustc=$(rustc --version)"

# shellcheck source=e2e/build-cache.sh
source "$(dirname "${BASH_SOURCE[0]}")/build-cache.sh"
use_cache_or_lock "$FINGERPRINT" khaibao-operator
SRC="$OUT_DIR/src"
trap 'rm -rf "$TMP_BIN"; git -C "$ROOT" worktree remove --force "$SRC" >/dev/null 2>&1 || true' EXIT
START=$SECONDS

git -C "$ROOT" worktree remove --force "$SRC" >/dev/null 2>&1 || rm -rf "$SRC"
git -C "$ROOT" worktree add --detach "$SRC" "$COMMIT" >&2
log "building khaibao-operator at ${COMMIT:0:10}"
(cd "$SRC" && CARGO_TARGET_DIR="$OUT_DIR/target" CARGO_INCREMENTAL=0 \
	cargo build --locked -p khaibao --features operator --bin khaibao-operator >&2) ||
	die "the build at $COMMIT failed"
cp "$OUT_DIR/target/debug/khaibao-operator" "$TMP_BIN/"
"$TMP_BIN/khaibao-operator" --version >/dev/null || die "the built operator does not run"

printf '%s\n' "$FINGERPRINT" >"$TMP_BIN/.stamp"
rm -rf "$BIN_DIR" "$OUT_DIR/target"
mv "$TMP_BIN" "$BIN_DIR"
log "built in $(( SECONDS - START ))s: $BIN_DIR"
echo "$BIN_DIR"
