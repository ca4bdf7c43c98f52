#!/usr/bin/env bash
# Stops the control plane started by start-controlplane.sh in STATE_DIR
# (default e2e/.run): every process it recorded in STATE_DIR/pids, by PID,
# with TERM and then KILL after a timeout; removes the etcd data dir.
# Idempotent: stopping a stopped (or never started) control plane succeeds.
#
#   e2e/stop-controlplane.sh [STATE_DIR]
#
# Environment:
#   KHAIBAO_CP_STOP_TIMEOUT  seconds to wait after TERM before KILL (default 15)
set -euo pipefail

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE_DIR="${1:-$E2E_DIR/.run}"
[[ -d "$STATE_DIR" ]] && STATE_DIR="$(cd "$STATE_DIR" && pwd)"
PIDS="$STATE_DIR/pids"
TIMEOUT="${KHAIBAO_CP_STOP_TIMEOUT:-15}"

log() { printf '[stop-controlplane] %s\n' "$*" >&2; }

# shellcheck source=proc.sh
. "$E2E_DIR/proc.sh"

# Stop in reverse start order: controller-manager, apiserver, then etcd.
for name in kube-controller-manager kube-apiserver etcd; do
	pidfile="$PIDS/$name.pid"
	[[ -f "$pidfile" ]] || continue
	pid="$(cat "$pidfile")"
	if [[ "$pid" =~ ^[0-9]+$ ]] && runs_binary "$pid" "$name"; then
		log "stopping $name (pid $pid)"
		kill -TERM "$pid" 2>/dev/null || true
		deadline=$((SECONDS + TIMEOUT))
		while runs_binary "$pid" "$name" && ((SECONDS < deadline)); do sleep 0.1; done
		if runs_binary "$pid" "$name"; then
			log "$name (pid $pid) still running after ${TIMEOUT}s; sending KILL"
			kill -KILL "$pid" 2>/dev/null || true
			for _ in $(seq 50); do runs_binary "$pid" "$name" || break; sleep 0.1; done
		fi
		# A process that has exited but is not yet reaped by its parent
		# (init, as the components run in their own sessions) is a zombie
		# with an empty cmdline: give the reaper a moment so callers that
		# check with kill -0 see it gone.
		for _ in $(seq 30); do [[ -e "/proc/$pid" ]] || break; sleep 0.1; done
	fi
	rm -f "$pidfile"
done

data_file="$STATE_DIR/etcd-data-dir"
if [[ -f "$data_file" ]]; then
	data_dir="$(cat "$data_file")"
	# Only ever remove a directory this harness created.
	case "$data_dir" in
	/dev/shm/khaibao-etcd.* | "$STATE_DIR/etcd-data")
		rm -rf -- "$data_dir"
		;;
	*) log "not removing unexpected etcd data dir '$data_dir'" ;;
	esac
	rm -f "$data_file"
fi
log "stopped (state dir $STATE_DIR)"
