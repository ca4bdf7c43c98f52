#!/usr/bin/env bash
# Starts a real Kubernetes control plane as local processes on 127.0.0.1:
# etcd, kube-apiserver (RBAC) and kube-controller-manager (garbage collector,
# namespace deletion, service accounts, ...). No kubelet and no scheduler:
# Pods stay Pending.
#
#   e2e/start-controlplane.sh [STATE_DIR]     (default: e2e/.run)
#
# Builds the binaries first (cached, see build-controlplane.sh). Logs go to
# STATE_DIR/logs, PIDs to STATE_DIR/pids/*.pid. The last line on stdout is the
# path of the admin kubeconfig (STATE_DIR/kubeconfig). If the control plane of
# STATE_DIR is already running and ready, it just prints that path. Each
# component's command line is kept in STATE_DIR/pids/*.cmdline (NUL-separated)
# so that e2e/restart-component.sh can start the API server or etcd again.
# Stop it with e2e/stop-controlplane.sh [STATE_DIR].
#
# Environment:
#   KHAIBAO_CP_TIMEOUT   seconds to wait for readiness (default 120)
#   KHAIBAO_CP_VERBOSITY klog -v for apiserver/controller-manager (default 1)
set -euo pipefail

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE_DIR="${1:-$E2E_DIR/.run}"
mkdir -p "$STATE_DIR"
STATE_DIR="$(cd "$STATE_DIR" && pwd)"
CERTS="$STATE_DIR/certs"
LOGS="$STATE_DIR/logs"
PIDS="$STATE_DIR/pids"
KUBECONFIG_PATH="$STATE_DIR/kubeconfig"
TIMEOUT="${KHAIBAO_CP_TIMEOUT:-120}"
VERBOSITY="${KHAIBAO_CP_VERBOSITY:-1}"
COMPONENTS=(etcd kube-apiserver kube-controller-manager)

log() { printf '[start-controlplane] %s\n' "$*" >&2; }

for tool in openssl curl; do
	command -v "$tool" >/dev/null 2>&1 || { log "ERROR: $tool is required"; exit 1; }
done

# shellcheck source=proc.sh
. "$E2E_DIR/proc.sh"

# PID of a component if its pid file names a live process running that binary.
live_pid() {
	local f="$PIDS/$1.pid" pid
	[[ -f "$f" ]] || return 1
	pid="$(cat "$f")"
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	# An empty command line is a process in the middle of exec'ing its binary (launch writes
	# the PID just before the exec): alive.
	runs_binary "$pid" "$1" || { [[ -z "$(tr -d '\0' <"/proc/$pid/cmdline" 2>/dev/null)" ]] && kill -0 "$pid" 2>/dev/null; } || return 1
	echo "$pid"
}

api_url() { sed -n 's/^api_port=//p' "$STATE_DIR/ports" 2>/dev/null | sed 's|^|https://127.0.0.1:|'; }

# curl against the apiserver as the admin user.
api_get() {
	curl -sS --max-time 5 --cacert "$CERTS/serving-ca.crt" \
		--cert "$CERTS/admin.crt" --key "$CERTS/admin.key" "$(api_url)$1"
}

# --- already running? -------------------------------------------------------
running=0
for c in "${COMPONENTS[@]}"; do live_pid "$c" >/dev/null && running=$((running + 1)); done
if ((running == ${#COMPONENTS[@]})) && [[ -f "$KUBECONFIG_PATH" ]] &&
	[[ "$(api_get /readyz 2>/dev/null)" == ok ]]; then
	log "already running (state dir $STATE_DIR)"
	echo "$KUBECONFIG_PATH"
	exit 0
fi
if ((running > 0)) || [[ -f "$STATE_DIR/etcd-data-dir" ]]; then
	# Partly running, not ready, or left over from a crash: clean up first
	# (also removes a stale etcd data dir).
	log "found a previous control plane in $STATE_DIR that is not ready; stopping it first"
	"$E2E_DIR/stop-controlplane.sh" "$STATE_DIR" >&2
fi

# --- binaries ---------------------------------------------------------------
BIN_DIR="$("$E2E_DIR/build-controlplane.sh" | tail -n 1)"
[[ -x "$BIN_DIR/kube-apiserver" ]] || { log "ERROR: build did not produce binaries"; exit 1; }

START=$SECONDS
rm -rf "$CERTS" "$PIDS" "$LOGS"
mkdir -p "$CERTS" "$LOGS" "$PIDS"

# --- free ports -------------------------------------------------------------
free_ports() {
	if command -v python3 >/dev/null 2>&1; then
		python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
	else
		local out=() p
		while ((${#out[@]} < $1)); do
			p=$((20000 + RANDOM % 30000))
			[[ " ${out[*]} " == *" $p "* ]] && continue
			(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
			out+=("$p")
		done
		echo "${out[*]}"
	fi
}
read -r ETCD_PORT ETCD_PEER_PORT API_PORT KCM_PORT <<<"$(free_ports 4)"
cat >"$STATE_DIR/ports" <<EOF
etcd_port=$ETCD_PORT
etcd_peer_port=$ETCD_PEER_PORT
api_port=$API_PORT
kcm_port=$KCM_PORT
EOF
API="https://127.0.0.1:$API_PORT"

# --- certificates -----------------------------------------------------------
# As envtest: one CA for serving certs, a separate CA for client certs, an
# admin client cert in system:masters, and an ECDSA service-account key pair.
# All keys are ECDSA P-256 (fast to generate).
(
	cd "$CERTS"
	ossl() { openssl "$@" 2>/dev/null; }
	eckey() { ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
	ca() { # name CN
		eckey "$1.key"
		ossl req -x509 -new -key "$1.key" -subj "/CN=$2" -days 3650 -out "$1.crt" \
			-addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"
	}
	leaf() { # name CA subject extfile-content
		eckey "$1.key"
		ossl req -new -key "$1.key" -subj "$3" -out "$1.csr"
		printf '%s\n' "$4" >"$1.ext"
		ossl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial \
			-days 3650 -extfile "$1.ext" -out "$1.crt"
		rm -f "$1.csr" "$1.ext"
	}
	ca serving-ca "khaibao-e2e-serving-ca"
	ca client-ca "khaibao-e2e-client-ca"
	leaf apiserver serving-ca "/CN=kube-apiserver" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost,IP:10.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
	leaf admin client-ca "/O=system:masters/CN=khaibao-admin" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
	# Front proxy (aggregation layer / requestheader authentication): without
	# it the controller manager keeps logging a missing requestheader CA.
	ca front-proxy-ca "khaibao-e2e-front-proxy-ca"
	leaf front-proxy-client front-proxy-ca "/CN=front-proxy-client" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
	eckey sa.key
	ossl pkey -in sa.key -pubout -out sa.pub
	chmod 600 ./*.key
) || { log "ERROR: certificate generation failed"; exit 1; }

# --- kubeconfig ---------------------------------------------------------------
b64() { base64 -w0 <"$1"; }
umask_old="$(umask)"
umask 077
cat >"$KUBECONFIG_PATH.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: khaibao-e2e
  cluster:
    server: $API
    certificate-authority-data: $(b64 "$CERTS/serving-ca.crt")
users:
- name: khaibao-admin
  user:
    client-certificate-data: $(b64 "$CERTS/admin.crt")
    client-key-data: $(b64 "$CERTS/admin.key")
contexts:
- name: khaibao-e2e
  context:
    cluster: khaibao-e2e
    user: khaibao-admin
    namespace: default
current-context: khaibao-e2e
EOF
mv "$KUBECONFIG_PATH.tmp" "$KUBECONFIG_PATH"
umask "$umask_old"

# --- process helpers ----------------------------------------------------------
# Start a component in its own session (so it survives the caller's Ctrl-C and
# terminal) and record its PID; the inner shell writes its own PID and then
# execs the binary, so the recorded PID is the binary's.
launch() { # name binary args...
	local name="$1"; shift
	local pidfile="$PIDS/$name.pid"
	: >"$LOGS/$name.log"
	# The exact command line, NUL-separated, for e2e/restart-component.sh.
	printf '%s\0' "$@" >"$PIDS/$name.cmdline"
	# shellcheck disable=SC2016 # expanded by the inner shell
	setsid bash -c 'echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "$pidfile" "$@" \
		</dev/null >>"$LOGS/$name.log" 2>&1 &
	local i
	for ((i = 0; i < 100; i++)); do [[ -s "$pidfile" ]] && break; sleep 0.05; done
	[[ -s "$pidfile" ]] || { log "ERROR: $name did not start"; return 1; }
	log "started $name (pid $(cat "$pidfile"), log $LOGS/$name.log)"
}

fail() {
	log "ERROR: $*"
	local c
	for c in "${COMPONENTS[@]}"; do
		[[ -f "$LOGS/$c.log" ]] || continue
		log "---- last lines of $LOGS/$c.log ----"
		tail -n 25 "$LOGS/$c.log" >&2 || true
	done
	"$E2E_DIR/stop-controlplane.sh" "$STATE_DIR" >&2 || true
	exit 1
}

# wait_for DESCRIPTION COMPONENT COMMAND...: until COMMAND succeeds, the
# component dies, or the deadline passes.
DEADLINE=$((SECONDS + TIMEOUT))
wait_for() {
	local what="$1" comp="$2"; shift 2
	until "$@" >/dev/null 2>&1; do
		live_pid "$comp" >/dev/null || fail "$comp exited while waiting for $what"
		((SECONDS < DEADLINE)) || fail "timed out after ${TIMEOUT}s waiting for $what"
		sleep 0.2
	done
}

# --- etcd ---------------------------------------------------------------------
# Data on tmpfs when there is one; fsync off: this cluster is disposable.
if [[ -d /dev/shm && -w /dev/shm ]]; then
	ETCD_DATA="$(mktemp -d /dev/shm/khaibao-etcd.XXXXXX)"
else
	ETCD_DATA="$STATE_DIR/etcd-data"
	rm -rf "$ETCD_DATA"; mkdir -p "$ETCD_DATA"
fi
echo "$ETCD_DATA" >"$STATE_DIR/etcd-data-dir"
chmod 700 "$ETCD_DATA"
launch etcd "$BIN_DIR/etcd" \
	--name=node0 \
	--data-dir="$ETCD_DATA" \
	--listen-client-urls="http://127.0.0.1:$ETCD_PORT" \
	--advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
	--listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
	--initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
	--initial-cluster="node0=http://127.0.0.1:$ETCD_PEER_PORT" \
	--initial-cluster-state=new \
	--unsafe-no-fsync=true \
	--quota-backend-bytes=$((2 * 1024 * 1024 * 1024)) \
	--log-level=warn || fail "could not start etcd"
etcd_healthy() { curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_PORT/health" | grep -q '"health":"true"'; }
wait_for "etcd /health" etcd etcd_healthy

# --- kube-apiserver -------------------------------------------------------------
launch kube-apiserver "$BIN_DIR/kube-apiserver" \
	--etcd-servers="http://127.0.0.1:$ETCD_PORT" \
	--bind-address=127.0.0.1 \
	--advertise-address=127.0.0.1 \
	--secure-port="$API_PORT" \
	--cert-dir="$CERTS" \
	--tls-cert-file="$CERTS/apiserver.crt" \
	--tls-private-key-file="$CERTS/apiserver.key" \
	--client-ca-file="$CERTS/client-ca.crt" \
	--authorization-mode=RBAC \
	--requestheader-client-ca-file="$CERTS/front-proxy-ca.crt" \
	--requestheader-allowed-names=front-proxy-client \
	--requestheader-username-headers=X-Remote-User \
	--requestheader-group-headers=X-Remote-Group \
	--requestheader-extra-headers-prefix=X-Remote-Extra- \
	--proxy-client-cert-file="$CERTS/front-proxy-client.crt" \
	--proxy-client-key-file="$CERTS/front-proxy-client.key" \
	--service-cluster-ip-range=10.0.0.0/24 \
	--endpoint-reconciler-type=none \
	--allow-privileged=true \
	--service-account-issuer="$API" \
	--service-account-key-file="$CERTS/sa.pub" \
	--service-account-signing-key-file="$CERTS/sa.key" \
	--profiling=false \
	--v="$VERBOSITY" || fail "could not start kube-apiserver"
api_ready() { [[ "$(api_get /readyz)" == ok ]]; }
wait_for "kube-apiserver /readyz" kube-apiserver api_ready

# --- kube-controller-manager --------------------------------------------------
# All controllers run with the admin credentials
# (--use-service-account-credentials=false): simpler and faster to start;
# what they do is the same.
launch kube-controller-manager "$BIN_DIR/kube-controller-manager" \
	--kubeconfig="$KUBECONFIG_PATH" \
	--authentication-kubeconfig="$KUBECONFIG_PATH" \
	--authorization-kubeconfig="$KUBECONFIG_PATH" \
	--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics \
	--leader-elect=false \
	--bind-address=127.0.0.1 \
	--secure-port="$KCM_PORT" \
	--cert-dir="$CERTS/kcm" \
	--root-ca-file="$CERTS/serving-ca.crt" \
	--service-account-private-key-file="$CERTS/sa.key" \
	--use-service-account-credentials=false \
	--cluster-signing-cert-file="$CERTS/client-ca.crt" \
	--cluster-signing-key-file="$CERTS/client-ca.key" \
	--service-cluster-ip-range=10.0.0.0/24 \
	--profiling=false \
	--v="$VERBOSITY" || fail "could not start kube-controller-manager"
kcm_healthy() { [[ "$(curl -sS -k --max-time 2 "https://127.0.0.1:$KCM_PORT/healthz")" == ok ]]; }
wait_for "kube-controller-manager /healthz" kube-controller-manager kcm_healthy

# The ServiceAccount admission plugin stays on (Pods get real tokens). Wait
# until the serviceaccount controller has created default/default, so the
# cluster is fully settled; ConfigMaps and other objects never need it, and a
# Pod in a brand-new namespace is retried by the plugin (~1-2 s) until its
# namespace's default ServiceAccount exists.
sa_ready() { api_get /api/v1/namespaces/default/serviceaccounts/default | grep -q '"kind": *"ServiceAccount"'; }
wait_for "ServiceAccount default/default" kube-controller-manager sa_ready

log "ready in $((SECONDS - START))s: $API (state dir $STATE_DIR)"
echo "$KUBECONFIG_PATH"
