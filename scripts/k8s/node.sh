# The real node of the test cluster, sourced by scripts/k8s-cluster.sh (which defines DATA, BIN,
# launch, alive, wait_for, api, kubeconfig, say). Everything it makes is its own and named so:
#   containerd   its own daemon (root, state and socket under $DATA/node), never dockerd's
#   kubelet      cgroup v1 with cgroupfs (like dockerd here), its root and pod logs under $DATA/node
#   CNI          the bridge avk8s0 with host-local addresses from POD_CIDR (Debian's plugins)
#   kube-proxy   nftables mode: its own tables (ip/ip6 kube-proxy), no iptables rule
#   kube-router  the NetworkPolicy firewall only (no routing, no service proxy): its chains
#                KUBE-ROUTER-*, KUBE-POD-FW-*, KUBE-NWPLCY-* and ipsets KUBE-*
#   AGENTVISOR-K8S-NODE  one chain of ours in filter FORWARD accepting the bridge's traffic (the
#                FORWARD policy dockerd sets is DROP); kube-router's rules come before it
# `node_stop` removes exactly these and puts back the kernel settings kubelet changes.
NODE_REAL=agentvisor-node
POD_CIDR="${AGENTVISOR_K8S_POD_CIDR:-10.244.0.0/24}"
BRIDGE=avk8s0
PORT_KUBELET="${AGENTVISOR_K8S_KUBELET_PORT:-10260}"
NODE_DIR="$DATA/node"
CONTAINERD_SOCK="$NODE_DIR/containerd/containerd.sock"
PAUSE_IMAGE=agentvisor.local/pause:1
FORWARD_CHAIN=AGENTVISOR-K8S-NODE
# kubelet sets these kernel settings (protectKernelDefaults: false); node_stop puts them back
KERNEL_SETTINGS="vm/overcommit_memory kernel/panic kernel/panic_on_oops"

node_ip() { ip -4 route get 1.1.1.1 | sed -n 's/.* src \([0-9.]*\).*/\1/p'; }

ctr_node() { ctr --address "$CONTAINERD_SOCK" --namespace k8s.io "$@"; }

node_certs() { # the kubelet's client and serving certificates, kube-proxy's and kube-router's
  local dir="$DATA/pki" ip
  [ -f "$dir/node-done" ] && return 0
  ip=$(node_ip)
  cd "$dir"
  local client='extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature,keyEncipherment'
  cert kubelet "/O=system:nodes/CN=system:node:$NODE_REAL" "$client"
  cert kubelet-serving "/CN=$NODE_REAL" "extendedKeyUsage=serverAuth
keyUsage=critical,digitalSignature,keyEncipherment
subjectAltName=IP:$ip,IP:127.0.0.1,DNS:$NODE_REAL"
  cert kube-proxy "/CN=system:kube-proxy" "$client"
  # it reads every pod, namespace and policy; as the kwok controller, an administrator of the test cluster
  cert kube-router "/O=system:masters/CN=kube-router" "$client"
  touch node-done
  cd - >/dev/null
}

node_packages() { # Debian's: containerd 1.6 and runc 1.1 (with Debian's backported fixes), CNI plugins, ipset
  local missing=()
  command -v containerd >/dev/null || missing+=(containerd)
  command -v runc >/dev/null || missing+=(runc)
  [ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
  command -v ipset >/dev/null || missing+=(ipset)
  command -v conntrack >/dev/null || missing+=(conntrack)
  [ ${#missing[@]} = 0 ] && return 0
  say "installing ${missing[*]} (apt)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null; }
}

node_start() {
  node_packages
  local ip; ip=$(node_ip)
  [ -n "$ip" ] || { say "no address of this machine for the node (ip route get 1.1.1.1)"; return 1; }
  node_certs
  mkdir -p "$NODE_DIR"/{containerd,kubelet,pod-logs,cni/net.d,cni/ipam,cni/cache}
  kubeconfig "$NODE_DIR/kubelet.kubeconfig" kubelet
  kubeconfig "$NODE_DIR/kube-proxy.kubeconfig" kube-proxy
  kubeconfig "$NODE_DIR/kube-router.kubeconfig" kube-router
  [ -f "$NODE_DIR/nft-tables" ] || nft list tables >"$NODE_DIR/nft-tables"
  [ -f "$NODE_DIR/kernel-settings" ] || for k in $KERNEL_SETTINGS; do echo "$k $(cat "/proc/sys/$k")"; done >"$NODE_DIR/kernel-settings"

  # containerd of its own: nothing shared with dockerd's (root, state, socket, plugins' folders)
  cat >"$NODE_DIR/containerd.toml" <<EOF
version = 2
root = "$NODE_DIR/containerd/root"
state = "$NODE_DIR/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$NODE_DIR/containerd/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$NODE_DIR/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  enable_selinux = false
  # no lower OOM score than containerd's own: a machine (or container) without CAP_SYS_RESOURCE
  # cannot give the negative ones kubelet asks for, and runc then fails to start any pod
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$NODE_DIR/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$NODE_DIR/cni/net.d"
EOF
  # pods on one bridge, addresses from POD_CIDR; no masquerade: pods reach this machine and each
  # other, nothing beyond
  cat >"$NODE_DIR/cni/net.d/10-agentvisor.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "agentvisor-node",
  "plugins": [
    { "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": { "type": "host-local", "dataDir": "$NODE_DIR/cni/ipam", "ranges": [[{ "subnet": "$POD_CIDR" }]],
                "routes": [{ "dst": "0.0.0.0/0" }] } },
    { "type": "loopback" }
  ]
}
EOF
  launch containerd containerd --config "$NODE_DIR/containerd.toml"
  wait_for containerd 30 ctr_node version
  node_import_images "$PAUSE_IMAGE" "${AGENTVISOR_K8S_NODE_IMAGES:-agentvisor/base:latest}"

  cat >"$NODE_DIR/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
address: $ip
port: $PORT_KUBELET
readOnlyPort: 0
healthzPort: 0
tlsCertFile: $DATA/pki/kubelet-serving.crt
tlsPrivateKeyFile: $DATA/pki/kubelet-serving.key
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: false }
  x509: { clientCAFile: $DATA/pki/ca.crt }
authorization:
  mode: Webhook
podLogsDir: $NODE_DIR/pod-logs
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
# the machine is shared: never evict for its disk, never collect images loaded from Docker
evictionHard: { memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1% }
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
maxPods: 60
EOF
  launch kubelet "$BIN/kubelet" --config "$NODE_DIR/kubelet.yaml" --kubeconfig "$NODE_DIR/kubelet.kubeconfig" \
    --root-dir "$NODE_DIR/kubelet" --hostname-override "$NODE_REAL" --node-ip "$ip" \
    --node-labels type=real --v 1
  wait_for "the node's registration" 60 api "https://127.0.0.1:$PORT_API/api/v1/nodes/$NODE_REAL"
  # no node IPAM controller here: the node's pod range is set once, by hand (kube-router reads it)
  api -X PATCH -H 'Content-Type: application/merge-patch+json' "https://127.0.0.1:$PORT_API/api/v1/nodes/$NODE_REAL" \
    -d "{\"spec\":{\"podCIDR\":\"$POD_CIDR\",\"podCIDRs\":[\"$POD_CIDR\"]}}" >/dev/null 2>&1 || true

  cat >"$NODE_DIR/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
hostnameOverride: $NODE_REAL
clusterCIDR: $POD_CIDR
clientConnection: { kubeconfig: $NODE_DIR/kube-proxy.kubeconfig }
healthzBindAddress: ""
metricsBindAddress: 127.0.0.1:${AGENTVISOR_K8S_PROXY_METRICS_PORT:-10269}
nodePortAddresses: [127.0.0.1/32]
# leave the machine's conntrack settings as they are
conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s }
EOF
  launch kube-proxy "$BIN/kube-proxy" --config "$NODE_DIR/kube-proxy.yaml"
  launch kube-router "$BIN/kube-router" --kubeconfig "$NODE_DIR/kube-router.kubeconfig" --hostname-override "$NODE_REAL" \
    --run-firewall=true --run-router=false --run-service-proxy=false --enable-cni=false --enable-pod-egress=false \
    --health-port 0 --metrics-port 0
  # the bridge's traffic past dockerd's FORWARD policy (DROP); kube-router's chains come first
  iptables -w -N "$FORWARD_CHAIN" 2>/dev/null || true
  iptables -w -C "$FORWARD_CHAIN" -i "$BRIDGE" -j ACCEPT 2>/dev/null || iptables -w -A "$FORWARD_CHAIN" -i "$BRIDGE" -j ACCEPT
  iptables -w -C "$FORWARD_CHAIN" -o "$BRIDGE" -j ACCEPT 2>/dev/null || iptables -w -A "$FORWARD_CHAIN" -o "$BRIDGE" -j ACCEPT
  iptables -w -C FORWARD -j "$FORWARD_CHAIN" 2>/dev/null || iptables -w -A FORWARD -j "$FORWARD_CHAIN"

  node_ready() {
    api "https://127.0.0.1:$PORT_API/api/v1/nodes/$NODE_REAL" | python3 -c 'import json,sys
c = {x["type"]: x["status"] for x in json.load(sys.stdin)["status"].get("conditions", [])}
sys.exit(0 if c.get("Ready") == "True" else 1)'
  }
  wait_for "the real node" 120 node_ready
  # kube-proxy's rules for the kubernetes Service, kube-router's firewall chains
  wait_for kube-proxy 60 nft list table ip kube-proxy
  kube_router_ready() { iptables -w -S KUBE-ROUTER-FORWARD >/dev/null 2>&1 && alive kube-router; }
  wait_for kube-router 60 kube_router_ready
}

node_import_images() { # images (from Docker) into the node's containerd
  local image
  for image in "$@"; do
    if [ "$image" = "$PAUSE_IMAGE" ]; then
      ctr_node images check "name==$PAUSE_IMAGE" 2>/dev/null | grep -q . && continue
      local ctx; ctx=$(mktemp -d)
      cp "$BIN/pause" "$ctx/pause"
      printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' >"$ctx/Dockerfile"
      docker build -q -t "$PAUSE_IMAGE" "$ctx" >/dev/null
      rm -rf "$ctx"
    fi
    say "loading $image into the node"
    docker save "$image" | ctr_node images import --no-unpack - >/dev/null
  done
}

node_stop() {
  # the pods first, through the kubelet (it takes down their network), then the rest
  if alive kubelet && [ -f "$DATA/pki/admin.crt" ]; then
    api -X DELETE "https://127.0.0.1:$PORT_API/api/v1/pods?fieldSelector=spec.nodeName=$NODE_REAL" >/dev/null 2>&1 || true
    local ns
    for ns in $(api "https://127.0.0.1:$PORT_API/api/v1/pods?fieldSelector=spec.nodeName=$NODE_REAL" 2>/dev/null |
      python3 -c 'import json,sys; print("\n".join(sorted({p["metadata"]["namespace"] for p in json.load(sys.stdin)["items"]})))'); do
      api -X DELETE "https://127.0.0.1:$PORT_API/api/v1/namespaces/$ns/pods?gracePeriodSeconds=0" >/dev/null 2>&1 || true
    done
    no_pods() { [ -z "$(ctr_node tasks ls -q 2>/dev/null)" ]; }
    wait_for "the node's pods to end" 60 no_pods || true
  fi
  stop_process kube-router
  stop_process kube-proxy
  stop_process kubelet
  if alive containerd; then
    local t
    # the sandboxes' network namespaces (containerd's, named cni-*), removed below
    for t in $(ctr_node containers ls -q 2>/dev/null); do
      ctr_node containers info "$t" 2>/dev/null | python3 -c 'import json,sys
for n in json.load(sys.stdin)["Spec"]["linux"].get("namespaces", []):
    if n["type"] == "network" and n.get("path", "").startswith("/var/run/netns/cni-"): print(n["path"].rsplit("/", 1)[1])' >>"$NODE_DIR/netns" || true
    done
    for t in $(ctr_node tasks ls -q 2>/dev/null); do ctr_node tasks kill -s SIGKILL "$t" 2>/dev/null || true; done
    sleep 1
    for t in $(ctr_node tasks ls -q 2>/dev/null); do ctr_node tasks delete -f "$t" 2>/dev/null || true; done
    for t in $(ctr_node containers ls -q 2>/dev/null); do ctr_node containers delete "$t" 2>/dev/null || true; done
  fi
  stop_process containerd
  # what is still mounted under the node's folder (overlays, pods' volumes, network namespaces)
  awk -v d="$NODE_DIR" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  # the pods' network namespaces containerd made (named cni-*), when no process is in them anymore
  [ -f "$NODE_DIR/netns" ] && while read -r n; do ip netns delete "$n" 2>/dev/null || true; done <"$NODE_DIR/netns"
  ip link delete "$BRIDGE" 2>/dev/null || true
  # kube-proxy's tables, kube-router's chains and sets, our chain
  nft delete table ip kube-proxy 2>/dev/null || true
  nft delete table ip6 kube-proxy 2>/dev/null || true
  # (kubelet's own: KUBE-FIREWALL, which drops packets to 127.0.0.0/8 from elsewhere, and canaries)
  remove_chains filter "KUBE-ROUTER-[^ ]*|KUBE-POD-FW-[^ ]*|KUBE-NWPLCY-[^ ]*|KUBE-FIREWALL|KUBE-KUBELET-CANARY|$FORWARD_CHAIN"
  remove_chains nat "KUBE-KUBELET-CANARY"
  remove_chains mangle "KUBE-IPTABLES-HINT|KUBE-KUBELET-CANARY"
  local t
  for t in filter nat mangle; do IPTABLES=ip6tables remove_chains "$t" "KUBE-[^ ]*"; done
  # the tables that only kubelet's canaries made (IPv4 mangle, IPv6 ones), now without a rule
  if [ -f "$NODE_DIR/nft-tables" ]; then
    for t in "ip mangle" "ip6 mangle" "ip6 nat" "ip6 filter"; do
      grep -qx "table $t" "$NODE_DIR/nft-tables" && continue
      nft list table $t 2>/dev/null | grep -qvE '^\s*(table|chain|type|\}|$)' || nft delete table $t 2>/dev/null || true
    done
  fi
  local s
  for s in $(ipset list -n 2>/dev/null | grep -E '^(KUBE-|kube-router-)' || true); do ipset destroy "$s" 2>/dev/null || true; done
  if [ -f "$NODE_DIR/kernel-settings" ]; then
    while read -r k v; do echo "$v" >"/proc/sys/$k"; done <"$NODE_DIR/kernel-settings"
  fi
}

remove_chains() { # table, ERE of chain names: the rules jumping to them, then the chains ($IPTABLES: ip6tables)
  local table=$1 names=$2 rules chains c ipt=${IPTABLES:-iptables}
  rules=$("$ipt-save" -t "$table" 2>/dev/null | grep -E -- "^-A .* -j ($names)( |\$)" || true)
  chains=$("$ipt-save" -t "$table" 2>/dev/null | sed -n 's/^:\([^ ]*\) .*/\1/p' | grep -xE "$names" || true)
  while read -r rule; do
    [ -n "$rule" ] || continue
    eval "$ipt -w -t $table -D ${rule#-A }" 2>/dev/null || true
  done <<<"$rules"
  for c in $chains; do "$ipt" -w -t "$table" -F "$c" 2>/dev/null || true; done
  for c in $chains; do "$ipt" -w -t "$table" -X "$c" 2>/dev/null || true; done
}
