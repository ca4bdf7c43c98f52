#!/usr/bin/env bash
# Starts a component (kube-apiserver or etcd) of a control plane made by
# start-controlplane.sh again, with the exact command line it was first started
# with (kept in STATE_DIR/pids/COMPONENT.cmdline), and waits until it is ready
# (/readyz for the API server, /health for etcd). Used by the e2e tests to
# simulate outages: kill the PID in STATE_DIR/pids/COMPONENT.pid, wait, then run
# this script.
#
#   e2e/restart-component.sh STATE_DIR COMPONENT [FLAG...]
#
# FLAGs are appended to the recorded command line for this start only (a flag given twice
# takes its last value): `kube-apiserver --max-requests-inflight=2` makes an API server that
# answers 429.
#
# If the component is still running it is stopped first (TERM, then KILL after 15 s), so the
# script is also a plain restart. The other components are left alone; etcd keeps its data
# directory, so a restarted etcd serves the same store. The log is appended to STATE_DIR/logs.
# The last line on stdout is the kubeconfig path, as with start-controlplane.sh.
#
# Environment:
#   KHAIBAO_CP_TIMEOUT   seconds to wait for readiness (default 120)
set -euo pipefail

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
usage="usage: e2e/restart-component.sh STATE_DIR kube-apiserver|etcd [FLAG...]"
STATE_DIR="${1:?$usage}"
NAME="${2:?$usage}"
shift 2
EXTRA=("$@")
STATE_DIR="$(cd "$STATE_DIR" && pwd)"
CERTS="$STATE_DIR/certs"
PIDS="$STATE_DIR/pids"
LOGS="$STATE_DIR/logs"
PIDFILE="$PIDS/$NAME.pid"
CMDLINE="$PIDS/$NAME.cmdline"
TIMEOUT="${KHAIBAO_CP_TIMEOUT:-120}"

log() { printf '[restart-%s] %s\n' "$NAME" "$*" >&2; }

port() { sed -n "s/^$1=//p" "$STATE_DIR/ports"; }
case "$NAME" in
kube-apiserver)
	API="https://127.0.0.1:$(port api_port)"
	ready() {
		[[ "$(curl -sS --max-time 5 --cacert "$CERTS/serving-ca.crt" --cert "$CERTS/admin.crt" \
			--key "$CERTS/admin.key" "$API/readyz" 2>/dev/null)" == ok ]]
	}
	where="$API/readyz"
	;;
etcd)
	ETCD="http://127.0.0.1:$(port etcd_port)"
	ready() { curl -fsS --max-time 2 "$ETCD/health" 2>/dev/null | grep -q '"health":"true"'; }
	where="$ETCD/health"
	;;
*)
	log "ERROR: unknown component '$NAME' ($usage)"
	exit 2
	;;
esac

[[ -s "$CMDLINE" ]] || {
	log "ERROR: $CMDLINE is missing: start the control plane with $E2E_DIR/start-controlplane.sh first"
	exit 1
}

# shellcheck source=proc.sh
. "$E2E_DIR/proc.sh"
is_ours() { runs_binary "$1" "$NAME"; }

if [[ -f "$PIDFILE" ]]; then
	pid="$(cat "$PIDFILE")"
	if [[ "$pid" =~ ^[0-9]+$ ]] && is_ours "$pid"; then
		log "stopping $NAME (pid $pid)"
		kill -TERM "$pid" 2>/dev/null || true
		deadline=$((SECONDS + 15))
		while is_ours "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
		is_ours "$pid" && kill -KILL "$pid" 2>/dev/null || true
		for _ in $(seq 50); do is_ours "$pid" || break; sleep 0.1; done
	fi
	rm -f "$PIDFILE"
fi

mapfile -d '' ARGS <"$CMDLINE"
ARGS+=("${EXTRA[@]}")
mkdir -p "$LOGS"
# As start-controlplane.sh: own session, the recorded PID is the binary's.
# shellcheck disable=SC2016 # expanded by the inner shell
setsid bash -c 'echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "$PIDFILE" "${ARGS[@]}" \
	</dev/null >>"$LOGS/$NAME.log" 2>&1 &
for ((i = 0; i < 100; i++)); do [[ -s "$PIDFILE" ]] && break; sleep 0.05; done
[[ -s "$PIDFILE" ]] || { log "ERROR: $NAME did not start"; exit 1; }
pid="$(cat "$PIDFILE")"
log "started $NAME (pid $pid, log $LOGS/$NAME.log)${EXTRA[*]:+ with ${EXTRA[*]}}"

deadline=$((SECONDS + TIMEOUT))
until ready; do
	is_ours "$pid" || { log "ERROR: $NAME exited; last lines of its log:"; tail -n 25 "$LOGS/$NAME.log" >&2; exit 1; }
	((SECONDS < deadline)) || { log "ERROR: timed out after ${TIMEOUT}s waiting for $where"; exit 1; }
	sleep 0.2
done
log "ready: $where"
echo "$STATE_DIR/kubeconfig"
