#!/usr/bin/env bash
# Starts a real single-node Kubernetes cluster for tests and demos, and waits until it is usable:
#   test/node/up.sh DIR
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, containerd + runc, the CNI
# bridge, kube-proxy, kube-network-policies (enforcing NetworkPolicy), CoreDNS and a local OCI
# registry that containerd uses as the mirror of docker.io and registry.k8s.io. The node lives in a
# network namespace of its own (node address 198.51.100.10, pods 10.244.0.0/24, Services
# 10.96.0.0/16) and a private mount namespace; its only way out is a link to an "internet"
# namespace with 203.0.113.10 (HTTP on 80 redirecting to HTTPS on 443) and 198.51.100.20 (HTTP on
# 80), which has no route anywhere else. The host reaches the node's address (API server on
# :6443, registry on :5000) through a link of its own with a /32 route.
# Returns once the node is Ready, CoreDNS answers and the registry serves, having written:
#   DIR/kubeconfig  admin, usable from the host shell      DIR/env  KUBECONFIG=…, node name, addresses
#   DIR/logs/*.log  every daemon's output                   DIR/pids/*.pid  what down.sh stops
# With NETPOL_NODE_OWNER_PID=<pid> the node stops itself once that process is gone.
# With NETPOL_NODES=2 a second node (a worker: containerd, kubelet, kube-proxy and
# kube-network-policies; node name netpol-node-2, address 198.51.100.11, pods 10.244.1.0/24) runs
# in network and mount namespaces of its own, linked to the first node's namespace by a veth pair
# that carries the routes between the two pod ranges; pod to pod across nodes keeps the pods'
# addresses. Both nodes are Ready and CoreDNS answers from both before up.sh returns; DIR/env then
# also has NETPOL_NODE_2_NAME, NETPOL_NODE_2_IP, NETPOL_NODE_2_NETNS, NETPOL_NODE_2_HOLDER_PID.
# Stop with test/node/down.sh DIR. Needs root and what scripts/setup.sh installs.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
[ $# -eq 1 ] || { echo "usage: [NETPOL_NODES=1|2] test/node/up.sh DIR" >&2; exit 2; }
nodes="${NETPOL_NODES:-1}"
case "$nodes" in 1|2) ;; *) echo "test/node/up.sh: NETPOL_NODES must be 1 or 2 (got \"$nodes\")" >&2; exit 2;; esac
dir="$(realpath -m "$1")"
t0=$(date +%s%N)
ms() { echo $(( ($(date +%s%N) - t0) / 1000000 )); }

NODE=netpol-node NODE_IP=198.51.100.10 HOST_IP=198.51.100.9 GW_IP=198.51.100.1
OUT_HTTPS=203.0.113.10 OUT_HTTP=198.51.100.20
CGROUP_ROOT=/netpol-node
NODE2=netpol-node-2 NODE2_IP=198.51.100.11 CGROUP_ROOT_2=/netpol-node-2
POD_CIDR=10.244.0.0/24 POD_CIDR_2=10.244.1.0/24 CLUSTER_CIDR=10.244.0.0/16

fail() { echo "test/node/up.sh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "needs root"
case "$dir" in /run/*|/var/run/*) fail "DIR must not be under /run (the node mounts its own /run)";; esac
for tool in containerd runc nft iptables openssl curl nsenter unshare busybox; do
  command -v "$tool" > /dev/null || fail "$tool not found: run scripts/setup.sh first"
done
[ -x /usr/lib/cni/bridge ] || fail "CNI plugins not found in /usr/lib/cni: run scripts/setup.sh first"
if [ -f "$dir/pids/holder.pid" ] && kill -0 "$(cat "$dir/pids/holder.pid")" 2>/dev/null; then
  fail "a node is already running in $dir (stop it with test/node/down.sh $dir)"
fi
# A node whose run was killed outright (its holder and watcher gone with it) leaves its namespaces,
# link and route behind, and every later up.sh would refuse to start: such a node is removed here.
# A node whose holder still runs is someone's and is an error.
# PID 1 here reaps orphans only every few seconds: a zombie counts as gone (as in down.sh).
alive() { [ -e "/proc/$1" ] && [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
reap_stale_node() {
  local dev d h
  dev="$(ip route show "$NODE_IP/32" | awk '{ for (i = 1; i < NF; i++) if ($i == "dev") print $(i + 1) }')"
  [ -n "$dev" ] || return 0
  for d in "${TMPDIR:-/tmp}"/netpol-node-* /tmp/netpol-node-*; do
    [ -f "$d/made" ] && grep -qx "HOST_IF=$dev" "$d/made" || continue
    for h in "$d/pids/holder.pid" "$d/pids/n2-holder.pid"; do
      if [ -f "$h" ] && alive "$(cat "$h")"; then
        fail "a test node is running in $d (route to $NODE_IP via $dev): stop it with test/node/down.sh $d"
      fi
    done
    echo "test/node/up.sh: removing the test node a stopped run left in $d (its holder is gone)" >&2
    bash "$here/down.sh" "$d" >&2
    ip route show "$NODE_IP/32" | grep -q . && fail "a route to $NODE_IP remains after test/node/down.sh $d"
    return 0
  done
  fail "a route to $NODE_IP via $dev already exists and no node directory names $dev: is another test node running? (test/node/down.sh DIR)"
}
reap_stale_node

bin="${NETPOL_NODE_PREBUILT:-$(bash "$here/build.sh")}"  # NETPOL_NODE_PREBUILT: a build.sh output directory (development)
cbin="$(bash "$here/../cluster/build.sh")"
echo "test/node/up.sh: binaries ready at +$(ms)ms" >&2

rm -rf "$dir"; mkdir -p "$dir/pki" "$dir/logs" "$dir/pids"; chmod 700 "$dir"
# From here on a failure takes down whatever was started.
trap 'status=$?; if [ $status -ne 0 ]; then echo "test/node/up.sh: failed; logs in $dir/logs; cleaning up" >&2; bash "$here/down.sh" "$dir" >&2 || true; fi' EXIT

# --- names of what this node creates, for down.sh
id="$(printf '%s' "$dir" | sha256sum | cut -c1-6)"
node_ns="netpol-node-$id" inet_ns="netpol-inet-$id" host_if="npn-$id"
printf 'NODE_NS=%s\nINET_NS=%s\nHOST_IF=%s\nCGROUP_ROOT=%s\n' "$node_ns" "$inet_ns" "$host_if" "$CGROUP_ROOT" > "$dir/made"
node2_ns="netpol-node2-$id"
[ "$nodes" = 2 ] && printf 'NODE2_NS=%s\nCGROUP_ROOT_2=%s\n' "$node2_ns" "$CGROUP_ROOT_2" >> "$dir/made"

# --- certificates (EC keys: fast to make): a CA, the API server's serving cert, an admin client
# (system:masters; also what the other components use), the service account signing key.
pki="$dir/pki"
ossl() { openssl "$@" 2>/dev/null; }
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=netpol-node-ca" \
  -keyout "$pki/ca.key" -out "$pki/ca.crt" -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
issue() { # name subject extensions
  ossl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "$2" -keyout "$pki/$1.key" -out "$pki/$1.csr"
  printf '%s\n' "$3" > "$pki/$1.ext"
  ossl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 2 -extfile "$pki/$1.ext" -out "$pki/$1.crt"
}
issue apiserver "/CN=kube-apiserver" "$(printf '%s\n' 'basicConstraints=CA:FALSE' 'keyUsage=critical,digitalSignature,keyEncipherment' \
  'extendedKeyUsage=serverAuth' "subjectAltName=IP:$NODE_IP,IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local")"
issue admin "/O=system:masters/CN=netpol-admin" "$(printf '%s\n' 'basicConstraints=CA:FALSE' 'keyUsage=critical,digitalSignature,keyEncipherment' 'extendedKeyUsage=clientAuth')"
ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$pki/sa.key"
ossl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub"
chmod 600 "$pki"/*.key
b64() { base64 -w0 < "$1"; }
printf 'apiVersion: v1\nkind: Config\nclusters:\n- name: netpol-node\n  cluster:\n    server: https://%s:6443\n    certificate-authority-data: %s\nusers:\n- name: netpol-admin\n  user:\n    client-certificate-data: %s\n    client-key-data: %s\ncontexts:\n- name: netpol-node\n  context:\n    cluster: netpol-node\n    user: netpol-admin\n    namespace: default\ncurrent-context: netpol-node\n' \
  "$NODE_IP" "$(b64 "$pki/ca.crt")" "$(b64 "$pki/admin.crt")" "$(b64 "$pki/admin.key")" > "$dir/kubeconfig"
cp "$dir/kubeconfig" "$dir/admin.kubeconfig"
chmod 600 "$dir/kubeconfig" "$dir/admin.kubeconfig"
echo "test/node/up.sh: certificates at +$(ms)ms" >&2

# --- networks: node <-> internet, host <-> node. No default route in the internet namespace.
ip netns add "$node_ns"; ip netns add "$inet_ns"
in_node() { ip netns exec "$node_ns" "$@"; }
in_inet() { ip netns exec "$inet_ns" "$@"; }
in_node ip link set lo up; in_inet ip link set lo up
ip link add "$host_if" type veth peer name host0 netns "$node_ns"
ip link add "$host_if-i" type veth peer name eth0 netns "$node_ns"
ip link set "$host_if-i" netns "$inet_ns"
in_inet ip link set "$host_if-i" name eth0
in_inet ip addr add "$GW_IP/24" dev eth0
in_inet ip addr add "$OUT_HTTP/32" dev eth0
in_inet ip addr add "$OUT_HTTPS/32" dev lo
in_inet ip link set eth0 up
in_node ip addr add "$NODE_IP/24" dev eth0
in_node ip link set eth0 up
in_node ip route add default via "$GW_IP"
# The host: one address and one /32 route, nothing else of its routing changes.
ip addr add "$HOST_IP/32" dev "$host_if"
ip link set "$host_if" up
ip route add "$NODE_IP/32" dev "$host_if" src "$HOST_IP"
in_node ip link set host0 up
in_node ip route add "$HOST_IP/32" dev host0
if [ "$nodes" = 2 ]; then
  # The second node: a veth pair between the two node namespaces (node1's "node2" end, node2's eth0)
  # with /32 routes for the node addresses and a route for each node's pod range via the other.
  # Node 2 reaches the internet through node 1 (which forwards); the internet answers node 2's
  # (masqueraded) address through node 1.
  ip netns add "$node2_ns"
  in_node2() { ip netns exec "$node2_ns" "$@"; }
  in_node2 ip link set lo up
  ip -n "$node_ns" link add node2 type veth peer name eth0 netns "$node2_ns"
  in_node ip link set node2 up
  in_node ip route add "$NODE2_IP/32" dev node2 src "$NODE_IP"
  in_node ip route add "$POD_CIDR_2" via "$NODE2_IP" dev node2
  in_node2 ip addr add "$NODE2_IP/32" dev eth0
  in_node2 ip link set eth0 up
  in_node2 ip route add "$NODE_IP/32" dev eth0
  in_node2 ip route add default via "$NODE_IP" dev eth0 src "$NODE2_IP"
  in_inet ip route add "$NODE2_IP/32" via "$NODE_IP"
fi

# --- the internet's servers (images/cmd/webserver): HTTPS on 203.0.113.10:443, its port 80
# redirecting there (as 1.1.1.1 does), plain HTTP on 198.51.100.20:80.
serve() { # name command…, in the internet namespace
  local name="$1"; shift
  setsid nsenter --net="/run/netns/$inet_ns" -- "$@" > "$dir/logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$dir/pids/$name.pid"
}
serve http-redirect "$bin/webserver" -listen "$OUT_HTTPS:80" -redirect "https://$OUT_HTTPS/"
serve https "$bin/webserver" -listen "$OUT_HTTPS:443" -tls
serve http-plain "$bin/webserver" -listen "$OUT_HTTP:80"

# --- cgroups: kubelet's root, made beforehand in every hierarchy (cgroupfs driver, v1 beside v2).
cgroup_roots=("$CGROUP_ROOT"); [ "$nodes" = 2 ] && cgroup_roots+=("$CGROUP_ROOT_2")
for root in "${cgroup_roots[@]}"; do
  for h in /sys/fs/cgroup/*/; do
    mountpoint -q "$h" || continue
    mkdir -p "$h${root#/}"
    if [ -f "$h/cpuset.cpus" ]; then
      cat "$h/cpuset.cpus" > "$h${root#/}/cpuset.cpus"
      cat "$h/cpuset.mems" > "$h${root#/}/cpuset.mems"
    fi
  done
done

# --- does this kernel take nft's queue statement? (not without CONFIG_NFT_QUEUE): probe in a scratch namespace.
xt_queue=1
scratch="netpol-probe-$id"; ip netns add "$scratch"
if ip netns exec "$scratch" nft -f - 2>/dev/null <<'NFT'
table inet probe { chain c { type filter hook postrouting priority 0; queue num 100 bypass; } }
NFT
then xt_queue=0; fi
ip netns del "$scratch"

# --- the node's inside (node-init.sh): its own mount namespace, daemons, then a holder process.
# With two nodes each node's pods reach the other's with their own addresses (NO_MASQ_TO) and
# kube-proxy and kube-network-policies know the whole pod range (CLUSTER_CIDR).
init_env=()
[ "$nodes" = 2 ] && init_env=(CLUSTER_CIDR="$CLUSTER_CIDR" NO_MASQ_TO="$POD_CIDR_2")
setsid nsenter --net="/run/netns/$node_ns" -- unshare --mount --propagation private -- \
  env "${init_env[@]}" bash "$here/node-init.sh" "$dir" "$bin" "$cbin" "$NODE" "$NODE_IP" "$CGROUP_ROOT" "$xt_queue" \
  > "$dir/logs/node-init.log" 2>&1 < /dev/null &
echo $! > "$dir/pids/holder.pid"
holder="$(cat "$dir/pids/holder.pid")"
holders=("$holder")
if [ "$nodes" = 2 ]; then
  # The worker pulls through the first node's registry; its kubelet waits for the API server itself.
  setsid nsenter --net="/run/netns/$node2_ns" -- unshare --mount --propagation private -- \
    env NODE_ROLE=worker POD_CIDR="$POD_CIDR_2" CLUSTER_CIDR="$CLUSTER_CIDR" REGISTRY="$NODE_IP:5000" NAME_PREFIX=n2- NO_MASQ_TO="$POD_CIDR" \
    bash "$here/node-init.sh" "$dir" "$bin" "$cbin" "$NODE2" "$NODE2_IP" "$CGROUP_ROOT_2" "$xt_queue" \
    > "$dir/logs/n2-node-init.log" 2>&1 < /dev/null &
  echo $! > "$dir/pids/n2-holder.pid"
  holders+=("$(cat "$dir/pids/n2-holder.pid")")
fi
# The nodes' mount namespaces, for down.sh: a node whose holder was killed leaves containerd's shims
# (and their containers) in its mount namespace, which outlives the holder; down.sh finds them by it.
record_mntns() { # name pid
  local ns host i
  host="$(readlink /proc/self/ns/mnt)"
  for i in $(seq 1 100); do
    ns="$(readlink "/proc/$2/ns/mnt" 2>/dev/null || true)"
    [ -n "$ns" ] && [ "$ns" != "$host" ] && { echo "$1=$ns" >> "$dir/made"; return 0; }
    sleep 0.05
  done
  fail "the node's init (pid $2) did not enter its own mount namespace"
}
record_mntns NODE_MNTNS "$holder"
[ "$nodes" = 2 ] && record_mntns NODE2_MNTNS "${holders[1]}"
if [ -n "${NETPOL_NODE_OWNER_PID:-}" ]; then
  setsid bash -c 'owner="$1" dir="$2" down="$3"
    while kill -0 "$owner" 2>/dev/null && [ -f "$dir/pids/holder.pid" ]; do sleep 1; done
    [ -f "$dir/pids/holder.pid" ] && exec bash "$down" "$dir"' \
    netpol-node-watchdog "$NETPOL_NODE_OWNER_PID" "$dir" "$here/down.sh" > /dev/null 2>&1 < /dev/null &
fi

deadline=$(( $(date +%s) + ${NETPOL_NODE_START_TIMEOUT:-180} ))
wait_for() { # description command…
  local what="$1"; shift
  until "$@" > /dev/null 2>&1; do
    for h in "${holders[@]}"; do
      kill -0 "$h" 2>/dev/null || { tail -n 20 "$dir/logs/node-init.log" "$dir/logs/n2-node-init.log" 2>/dev/null >&2; fail "a node's init exited while waiting for $what"; }
    done
    # A daemon that died (kubelet exits at once when the runtime does not answer) fails now, with
    # its own log, instead of after the whole timeout.
    for pidfile in "$dir"/pids/*.pid; do
      case "$pidfile" in *holder.pid) continue;; esac
      kill -0 "$(cat "$pidfile")" 2>/dev/null && continue
      name="$(basename "$pidfile" .pid)"
      tail -n 5 "$dir/logs/$name.log" 2>/dev/null | cut -c1-400 >&2
      fail "$name exited while waiting for $what (logs in $dir/logs)"
    done
    [ "$(date +%s)" -lt "$deadline" ] || fail "timed out waiting for $what (logs in $dir/logs)"
    sleep 0.2
  done
  echo "test/node/up.sh: $what at +$(ms)ms" >&2
}
kubectl() { "$bin/kubectl" --kubeconfig "$dir/kubeconfig" "$@"; }

wait_for "the registry" curl -fsS --max-time 2 "http://$NODE_IP:5000/v2/"
# --- images: push every OCI layout of build.sh to the registry (oci.sh: blobs, then the manifest by tag).
. "$here/oci.sh"
for layout in "$bin"/images/*/; do oci_push "$NODE_IP:5000" "${layout%/}"; done
echo "test/node/up.sh: images pushed at +$(ms)ms" >&2

wait_for "the API server" kubectl get --raw /readyz
node_ready() { [ "$(kubectl get node "$1" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
wait_for "node $NODE Ready" node_ready "$NODE"
[ "$nodes" = 2 ] && wait_for "node $NODE2 Ready" node_ready "$NODE2"
kubectl apply -f "$here/manifests/coredns.yaml" > /dev/null
dns_answers() { nsenter --net="/run/netns/$1" -- busybox nslookup kubernetes.default.svc.cluster.local 10.96.0.10 | grep -q 10.96.0.1; }
wait_for "CoreDNS answering" dns_answers "$node_ns"
[ "$nodes" = 2 ] && wait_for "CoreDNS answering on $NODE2" dns_answers "$node2_ns"
# kube-network-policies queues every new connection (--queue-all) and holds a packet from or to an
# address of the pod range until it knows the pod (--pod-ip-wait 3s): until its informers have
# listed the cluster, a new pod's connects wait and time out. A worker starts it before the API
# server answers, and client-go's list retries back off: without this wait, a pod on the second node
# could time out its first connects (seen in a full run: node-multinode, node 1 → node 2).
knp_synced() { grep -q 'Caches are synced for kube-network-policies' "$dir/logs/$1kube-network-policies.log"; }
wait_for "kube-network-policies synced on $NODE" knp_synced ''
[ "$nodes" = 2 ] && wait_for "kube-network-policies synced on $NODE2" knp_synced n2-
# The default ServiceAccount (made by the controller-manager) must exist before pods can be created.
wait_for "the default ServiceAccount" kubectl get serviceaccount default -n default

{
  echo "KUBECONFIG=$dir/kubeconfig"
  echo "NETPOL_NODE_NAME=$NODE"
  echo "NETPOL_NODE_IP=$NODE_IP"
  echo "NETPOL_NODE_DIR=$dir"
  echo "NETPOL_NODE_NETNS=$node_ns"
  echo "NETPOL_NODE_HOLDER_PID=$holder"
  echo "NETPOL_NODE_BIN=$bin"
  echo "NETPOL_NODE_CGROUP_ROOT=$CGROUP_ROOT"
  echo "NETPOL_OUTSIDE_HTTPS=$OUT_HTTPS"
  echo "NETPOL_OUTSIDE_HTTP=$OUT_HTTP"
  echo "NETPOL_NODE_REGISTRY=$NODE_IP:5000"
  if [ "$nodes" = 2 ]; then
    echo "NETPOL_NODE_NAMES=$NODE,$NODE2"
    echo "NETPOL_NODE_2_NAME=$NODE2"
    echo "NETPOL_NODE_2_IP=$NODE2_IP"
    echo "NETPOL_NODE_2_NETNS=$node2_ns"
    echo "NETPOL_NODE_2_HOLDER_PID=${holders[1]}"
    echo "NETPOL_NODE_2_CGROUP_ROOT=$CGROUP_ROOT_2"
  else
    echo "NETPOL_NODE_NAMES=$NODE"
  fi
} > "$dir/env"
trap - EXIT
if [ "$nodes" = 2 ]; then names="nodes $NODE and $NODE2"; else names="node $NODE"; fi
echo "test/node/up.sh: $names ready in $(ms)ms; KUBECONFIG=$dir/kubeconfig" >&2
