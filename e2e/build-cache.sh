# Sourced by the e2e/build-*.sh scripts: the cache they share. A build's binaries live in
# $BIN_DIR with a stamp holding the fingerprint of what they were built from; a script calls
# `use_cache_or_lock FINGERPRINT BINARY...`, which prints $BIN_DIR and exits when the cache is
# fresh, and otherwise takes the build lock (concurrent test binaries wait for one build),
# checks again, and leaves an empty $TMP_BIN to build into. Needs OUT_DIR, BIN_DIR, STAMP and
# a `log` function. KHAIBAO_REBUILD=1 ignores the cache.

cache_fresh() {
	local fingerprint=$1 b
	shift
	[[ "${KHAIBAO_REBUILD:-0}" != 1 && -f "$STAMP" ]] || return 1
	[[ "$(cat "$STAMP")" == "$fingerprint" ]] || return 1
	for b in "$@"; do [[ -x "$BIN_DIR/$b" ]] || return 1; done
}

use_cache_or_lock() {
	if cache_fresh "$@"; then
		log "cached: $BIN_DIR"
		echo "$BIN_DIR"
		exit 0
	fi
	mkdir -p "$OUT_DIR"
	exec 9>"$OUT_DIR/.lock"
	flock 9
	if cache_fresh "$@"; then
		log "cached (built concurrently): $BIN_DIR"
		echo "$BIN_DIR"
		exit 0
	fi
	TMP_BIN="$(mktemp -d "$OUT_DIR/bin.tmp.XXXXXX")"
	chmod 755 "$TMP_BIN"
}
