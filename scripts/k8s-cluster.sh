#!/usr/bin/env bash
# A Kubernetes control plane from local binaries, for agentvisor's Kubernetes tests:
#   etcd, kube-apiserver (TLS, RBAC, Pod Security admission, ServiceAccount token signing),
#   kube-controller-manager (the Job controller, the garbage collector, ...), kube-scheduler,
#   kwok, which plays the kubelet of one simulated node (agentvisor-kwok-node, label type=kwok):
#   pods are scheduled, admitted and moved through their phases (scripts/k8s/kwok-stages.yaml), but
#   no container runs;
#   and one real node (agentvisor-node, label type=real, scripts/k8s/node.sh): kubelet, its own
#   containerd with runc, CNI bridge networking, kube-proxy (nftables) and kube-router's NetworkPolicy
#   firewall. Pods go to one node or the other by their namespace's node selector (PodNodeSelector).
#
#   scripts/k8s-cluster.sh build    builds the binaries from the Go module proxy into the cache
#                                   (skipped when they are there; a cold build takes many minutes)
#   scripts/k8s-cluster.sh start    builds if needed, then starts the cluster (idempotent)
#   scripts/k8s-cluster.sh stop     stops the processes this script started and removes the data
#   scripts/k8s-cluster.sh status   says whether the cluster answers
#   scripts/k8s-cluster.sh load IMAGE...   copies images from Docker into the real node's containerd
#
# Where: AGENTVISOR_K8S_CACHE (binaries, default /var/cache/agentvisor-k8s; never in the repo),
# AGENTVISOR_K8S_DATA (certificates, etcd, logs, kubeconfig; default /tmp/agentvisor-k8s).
# The admin kubeconfig is $AGENTVISOR_K8S_DATA/kubeconfig; kwok serves every pod's log from
# $AGENTVISOR_K8S_DATA/pod.log (CRI log format), which tests may append to, and runs every exec into
# a pod in $AGENTVISOR_K8S_DATA/exec on this machine.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
K8S_VERSION=v1.35.4      # kube-apiserver, kube-controller-manager, kube-scheduler
STAGING_VERSION=v0.35.4  # k8s.io/* staging modules at the matching version
KWOK_VERSION=v0.8.0
# the NetworkPolicy firewall of the real node; the only v2 the Go module proxy here serves
KUBE_ROUTER_VERSION=v2.1.0
# Debian's etcd 3.4 lacks the watch progress notifications newer clients' list streams need
ETCD_VERSION=v3.6.16
CACHE="${AGENTVISOR_K8S_CACHE:-/var/cache/agentvisor-k8s}"
DATA="${AGENTVISOR_K8S_DATA:-/tmp/agentvisor-k8s}"
BIN="$CACHE/bin"
PORT_ETCD="${AGENTVISOR_K8S_ETCD_PORT:-23790}"
PORT_ETCD_PEER=$((PORT_ETCD + 1))
PORT_API="${AGENTVISOR_K8S_API_PORT:-26443}"
PORT_KWOK="${AGENTVISOR_K8S_KWOK_PORT:-10247}"
SERVICE_CIDR=10.96.0.0/16
NODE=agentvisor-kwok-node
export PATH="$PATH:/usr/local/go/bin"
say() { printf '\033[1m[k8s]\033[0m %s\n' "$*" >&2; }

binaries_present() {
  for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kwok kube-router pause; do [ -x "$BIN/$b" ] || return 1; done
  [ "$(cat "$BIN/VERSION" 2>/dev/null)" = "$(versions)" ]
}

versions() { echo "$K8S_VERSION kwok-$KWOK_VERSION etcd-$ETCD_VERSION kube-router-$KUBE_ROUTER_VERSION pause-$(sha256sum "$HERE/k8s/pause/main.go" | cut -c1-12)"; }

# what was built already (an older cache): built again only if missing
have() { [ -x "$BIN/$1" ] && grep -q "$2" "$BIN/VERSION" 2>/dev/null; }

build() {
  if binaries_present; then return 0; fi
  command -v go >/dev/null || { say "Go is missing (needed to build Kubernetes from the Go module proxy)"; exit 1; }
  mkdir -p "$CACHE/src" "$BIN"
  local src="$CACHE/src"
  # A wrapper module: k8s.io/kubernetes is not meant to be required, so each staging module it
  # replaces with a local folder is pinned here to its published version instead.
  cat >"$src/go.mod" <<EOF
module agentvisor.local/k8s-build

go 1.25.0

require k8s.io/kubernetes $K8S_VERSION
EOF
  local gomod
  gomod=$(cd "$CACHE" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  {
    echo 'replace ('
    sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\t\1 => \1 '"$STAGING_VERSION"'#p' "$gomod"
    echo ')'
  } >>"$src/go.mod"
  cat >"$src/tools.go" <<'EOF'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
)
EOF
  say "resolving modules (k8s.io/kubernetes $K8S_VERSION)"
  (cd "$src" && go mod tidy)
  local v=k8s.io/component-base/version
  local ldflags="-s -w -X $v.gitVersion=$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=35 -X $v.gitTreeState=clean"
  say "building kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and kube-proxy into $BIN (takes a while)"
  local start=$SECONDS
  # one `go build` for all: they share most packages, which are compiled once
  (cd "$src" && go build -ldflags "$ldflags" -o "$BIN/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy)
  if ! have kwok "kwok-$KWOK_VERSION"; then
    say "built in $((SECONDS - start)) s; building kwok $KWOK_VERSION"
    # kwok with its own module versions (it needs newer k8s.io libraries than the server's)
    (cd "$CACHE" && GOBIN="$BIN" go install -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION")
  fi
  if ! have etcd "etcd-$ETCD_VERSION"; then
    say "built in $((SECONDS - start)) s; building etcd $ETCD_VERSION"
    # etcd's server module holds its main package (a wrapper module again: it has replace lines)
    mkdir -p "$CACHE/etcd-src"
    printf 'module agentvisor.local/etcd-build\n\ngo 1.25.0\n' >"$CACHE/etcd-src/go.mod"
    (cd "$CACHE/etcd-src" && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" && go build -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3)
  fi
  say "built in $((SECONDS - start)) s; building kube-router $KUBE_ROUTER_VERSION"
  mkdir -p "$CACHE/kube-router-src"
  printf 'module agentvisor.local/kube-router-build\n\ngo 1.25.0\n' >"$CACHE/kube-router-src/go.mod"
  (cd "$CACHE/kube-router-src" && go get "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@$KUBE_ROUTER_VERSION" \
    && go build -ldflags "-s -w" -o "$BIN/kube-router" github.com/cloudnativelabs/kube-router/v2/cmd/kube-router)
  # the pod sandbox's process: static, for an image FROM scratch
  (cd "$HERE/k8s/pause" && CGO_ENABLED=0 go build -ldflags "-s -w" -o "$BIN/pause" main.go)
  versions >"$BIN/VERSION"
  say "built in $((SECONDS - start)) s"
}

# --- certificates and kubeconfigs -------------------------------------------------------------
cert() { # in the pki folder: name, subject, extensions
  openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
  printf '%s\n' "$3" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 365 -out "$1.crt" -extfile "$1.ext" 2>/dev/null
  rm -f "$1.csr"
}

pki() {
  local dir="$DATA/pki"
  [ -f "$dir/done" ] && return 0
  mkdir -p "$dir"
  cd "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -days 365 -keyout ca.key -out ca.crt -subj "/CN=agentvisor-k8s-ca" 2>/dev/null
  local client='extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature,keyEncipherment'
  # reached from pods through the kubernetes Service (10.96.0.1) at this machine's address
  cert apiserver "/CN=kube-apiserver" "extendedKeyUsage=serverAuth
keyUsage=critical,digitalSignature,keyEncipherment
subjectAltName=IP:127.0.0.1,IP:10.96.0.1,IP:$(node_ip),DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  cert kwok-serving "/CN=$NODE" "extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:$NODE"
  cert admin "/O=system:masters/CN=agentvisor-admin" "$client"
  cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "$client"
  cert kube-controller-manager "/CN=system:kube-controller-manager" "$client"
  cert kube-scheduler "/CN=system:kube-scheduler" "$client"
  # kwok stands in for the kubelet and the node controller of every simulated node
  cert kwok "/O=system:masters/CN=kwok-controller" "$client"
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  touch done
  cd - >/dev/null
}

kubeconfig() { # file, user cert name
  local ca crt key
  ca=$(base64 -w0 <"$DATA/pki/ca.crt"); crt=$(base64 -w0 <"$DATA/pki/$2.crt"); key=$(base64 -w0 <"$DATA/pki/$2.key")
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: agentvisor-kwok
  cluster:
    server: https://127.0.0.1:$PORT_API
    certificate-authority-data: $ca
users:
- name: $2
  user:
    client-certificate-data: $crt
    client-key-data: $key
contexts:
- name: agentvisor-kwok
  context:
    cluster: agentvisor-kwok
    user: $2
current-context: agentvisor-kwok
EOF
  chmod 600 "$1"
}

# --- processes ----------------------------------------------------------------------------------
alive() { [ -f "$DATA/run/$1.pid" ] && kill -0 "$(cat "$DATA/run/$1.pid")" 2>/dev/null; }

launch() { # name, argv...
  local name=$1; shift
  alive "$name" && return 0
  mkdir -p "$DATA/run" "$DATA/logs"
  # its own session: the cluster outlives this script and the test run's process group
  setsid "$@" >"$DATA/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$DATA/run/$name.pid"
}

api() { # curl as admin against the API server
  curl -sS --fail --cacert "$DATA/pki/ca.crt" --cert "$DATA/pki/admin.crt" --key "$DATA/pki/admin.key" "$@"
}

wait_for() { # what, seconds, command...
  local what=$1 secs=$2; shift 2
  for _ in $(seq 1 $((secs * 4))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.25; done
  say "$what did not come up in ${secs}s; logs in $DATA/logs"
  tail -n 20 "$DATA/logs/"*.log >&2 || true
  return 1
}

start() {
  build
  pki
  local kc="$DATA/kubeconfig"
  kubeconfig "$kc" admin
  kubeconfig "$DATA/kube-controller-manager.kubeconfig" kube-controller-manager
  kubeconfig "$DATA/kube-scheduler.kubeconfig" kube-scheduler
  kubeconfig "$DATA/kwok.kubeconfig" kwok
  local p="$DATA/pki"

  # the data are thrown away with the cluster: no fsync
  launch etcd "$BIN/etcd" --name agentvisor --data-dir "$DATA/etcd" \
    --listen-client-urls "http://127.0.0.1:$PORT_ETCD" --advertise-client-urls "http://127.0.0.1:$PORT_ETCD" \
    --listen-peer-urls "http://127.0.0.1:$PORT_ETCD_PEER" --initial-advertise-peer-urls "http://127.0.0.1:$PORT_ETCD_PEER" \
    --initial-cluster "agentvisor=http://127.0.0.1:$PORT_ETCD_PEER" --log-level warn --unsafe-no-fsync
  wait_for etcd 30 curl -sf "http://127.0.0.1:$PORT_ETCD/health"

  launch kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$PORT_ETCD" \
    --bind-address 0.0.0.0 --secure-port "$PORT_API" --advertise-address "$(node_ip)" \
    --tls-cert-file "$p/apiserver.crt" --tls-private-key-file "$p/apiserver.key" \
    --client-ca-file "$p/ca.crt" \
    --authorization-mode Node,RBAC \
    --enable-admission-plugins NodeRestriction,PodSecurity,PodNodeSelector \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$p/sa.pub" --service-account-signing-key-file "$p/sa.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --kubelet-client-certificate "$p/apiserver-kubelet-client.crt" --kubelet-client-key "$p/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types InternalIP \
    --allow-privileged=false \
    --profiling=false
  wait_for kube-apiserver 120 api "https://127.0.0.1:$PORT_API/readyz"

  launch kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig "$DATA/kube-controller-manager.kubeconfig" \
    --authentication-kubeconfig "$DATA/kube-controller-manager.kubeconfig" \
    --authorization-kubeconfig "$DATA/kube-controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port 0 \
    --leader-elect=false \
    --use-service-account-credentials \
    --service-account-private-key-file "$p/sa.key" --root-ca-file "$p/ca.crt" \
    --cluster-signing-cert-file "$p/ca.crt" --cluster-signing-key-file "$p/ca.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --controllers '*,-node-ipam-controller,-cloud-node-lifecycle-controller,-service-lb-controller,-node-route-controller'
  launch kube-scheduler "$BIN/kube-scheduler" \
    --kubeconfig "$DATA/kube-scheduler.kubeconfig" \
    --authentication-kubeconfig "$DATA/kube-scheduler.kubeconfig" \
    --authorization-kubeconfig "$DATA/kube-scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port 0 --leader-elect=false

  # kwok's configuration: agentvisor's stages, every pod's log served from one file, exec in one folder
  mkdir -p "$DATA/exec"
  [ -f "$DATA/pod.log" ] || printf '%s stdout F simulated container output (kwok: no container runs)\n' "$(date -u +%Y-%m-%dT%H:%M:%S.000000000Z)" >"$DATA/pod.log"
  {
    cat "$HERE/k8s/kwok-stages.yaml"
    cat <<EOF
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: every-pod
spec:
  logs:
  - logsFile: $DATA/pod.log
    follow: true
---
# exec (kubectl exec, cp) runs here on the machine, in one folder that stands in for every pod's
# file system: what the runtime copies into a pod lands there, and is what it copies back out
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterExec
metadata:
  name: every-pod
spec:
  execs:
  - local:
      workDir: $DATA/exec
EOF
  } >"$DATA/kwok.yaml"
  launch kwok "$BIN/kwok" --kubeconfig "$DATA/kwok.kubeconfig" --config "$DATA/kwok.yaml" \
    --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
    --node-ip 127.0.0.1 --node-name "$NODE" --node-port "$PORT_KWOK" --server-address "127.0.0.1:$PORT_KWOK" \
    --tls-cert-file "$p/kwok-serving.crt" --tls-private-key-file "$p/kwok-serving.key" \
    --node-lease-duration-seconds 40

  # the simulated node (kwok manages nodes with its annotation)
  if ! api "https://127.0.0.1:$PORT_API/api/v1/nodes/$NODE" >/dev/null 2>&1; then
    api -X POST -H 'Content-Type: application/json' "https://127.0.0.1:$PORT_API/api/v1/nodes" -d @- >/dev/null <<EOF
{"apiVersion":"v1","kind":"Node","metadata":{"name":"$NODE","annotations":{"kwok.x-k8s.io/node":"fake","node.alpha.kubernetes.io/ttl":"0"},
 "labels":{"kubernetes.io/hostname":"$NODE","kubernetes.io/os":"linux","kubernetes.io/arch":"amd64","type":"kwok"}},
 "status":{"allocatable":{"cpu":"32","memory":"256Gi","ephemeral-storage":"1Ti","pods":"110"},"capacity":{"cpu":"32","memory":"256Gi","ephemeral-storage":"1Ti","pods":"110"}}}
EOF
  fi
  node_ready() {
    api "https://127.0.0.1:$PORT_API/api/v1/nodes/$NODE" | python3 -c 'import json,sys
c = {x["type"]: x["status"] for x in json.load(sys.stdin)["status"].get("conditions", [])}
sys.exit(0 if c.get("Ready") == "True" else 1)'
  }
  wait_for "the simulated node" 60 node_ready
  # pods need their namespace's default ServiceAccount, made by the controller manager
  wait_for "kube-controller-manager" 60 api "https://127.0.0.1:$PORT_API/api/v1/namespaces/default/serviceaccounts/default"
  [ "${AGENTVISOR_K8S_REAL_NODE:-1}" = 0 ] || node_start
  say "cluster up: KUBECONFIG=$kc"
  echo "$kc"
}

stop_process() { # name: TERM, then KILL after 10 s
  local f="$DATA/run/$1.pid"
  [ -f "$f" ] || return 0
  local pid; pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

stop() {
  node_stop
  for name in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do stop_process "$name"; done
  rm -rf "$DATA"
}

status() {
  [ -f "$DATA/pki/ca.crt" ] && api "https://127.0.0.1:$PORT_API/readyz" >/dev/null 2>&1 && { echo "up: KUBECONFIG=$DATA/kubeconfig"; return 0; }
  echo "down"; return 1
}

# shellcheck source=k8s/node.sh
. "$HERE/k8s/node.sh"

case "${1:-}" in
  build) build ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  load) shift; node_import_images "$@" ;;
  *) echo "usage: $0 build|start|stop|status|load IMAGE..." >&2; exit 2 ;;
esac
