#!/usr/bin/env bash
# The test node's inside: run by up.sh in the node's network namespace and a private mount
# namespace of its own (nsenter --net … unshare --mount --propagation private). Everything mounted
# here (the tmpfs on /run that holds the node's state, sysctl overlays, containerd's and kubelet's
# mounts) stays in that namespace and is gone once its last process exits. Starts the daemons in
# the background, records their pids in DIR/pids/, then stays as the namespace's holder process.
# Usage (by up.sh only): node-init.sh DIR BIN CLUSTER_BIN NODE_NAME NODE_IP CGROUP_ROOT XT_QUEUE
# The environment picks the node's part (defaults: the single node as it always was):
#   NODE_ROLE=control-plane|worker  control-plane also runs the registry, etcd, the API server, the
#                                   controller-manager and the scheduler; a worker only containerd,
#                                   kubelet, kube-proxy and kube-network-policies
#   POD_CIDR      this node's pods (the CNI bridge's range)              default 10.244.0.0/24
#   CLUSTER_CIDR  every node's pods (kube-proxy, kube-network-policies)  default POD_CIDR
#   REGISTRY      where containerd's mirror is                           default 127.0.0.1:5000
#   NAME_PREFIX   prefix of DIR/pids/*.pid and DIR/logs/*.log names (a second node: "n2-")
#   NO_MASQ_TO    other nodes' pod ranges (space-separated): traffic to them keeps the pod's source
#                 address (the bridge plugin's ipMasq would hide it behind the node's)
set -euo pipefail
dir="$1" bin="$2" cbin="$3" node="$4" node_ip="$5" cgroot="$6" xt_queue="$7"
role="${NODE_ROLE:-control-plane}" pod_cidr="${POD_CIDR:-10.244.0.0/24}" registry="${REGISTRY:-127.0.0.1:5000}"
cluster_cidr="${CLUSTER_CIDR:-$pod_cidr}" prefix="${NAME_PREFIX:-}"
here="$(cd "$(dirname "$0")" && pwd)"
state=/run/netpol  # short paths: unix sockets live here

# /run: a fresh tmpfs, so containerd's state, the pods' network namespaces and the CNI's address
# book never mix with the host's (the host's /run/netns stays untouched).
mount -t tmpfs -o mode=755 tmpfs /run
# containerd's CNI library caches every pod's network result in /var/lib/cni: kept in this mount
# namespace too, or a node stopped with its pods running leaves those files on the host's disk.
mkdir -p /var/lib/cni && mount -t tmpfs -o mode=700 tmpfs /var/lib/cni
# The agent's profile journal (hostPath /var/lib/netpol): one per node's life, as on a fresh
# machine. On the host's disk, a journal from an earlier node's cluster was replayed into the next
# one (its edges written into profiles of namespaces that happen to exist again, or failing).
mkdir -p /var/lib/netpol && mount -t tmpfs -o mode=755 tmpfs /var/lib/netpol
mkdir -p "$state"/{cni/net.d,cni/ipam,certs.d/docker.io,certs.d/registry.k8s.io,kubelet,pod-logs,registry,containerd,containerd-state} /run/netns

# kubelet rewrites these host-wide sysctls unless they already hold its values: show it files with
# those values instead, so the host keeps its own.
for pair in vm/overcommit_memory=1 kernel/panic=10 kernel/panic_on_oops=1 vm/panic_on_oom=0; do
  key="${pair%%=*}" want="${pair#*=}"
  if [ "$(cat "/proc/sys/$key")" != "$want" ]; then
    echo "$want" > "$state/sysctl-${key//\//.}"
    mount --bind "$state/sysctl-${key//\//.}" "/proc/sys/$key"
  fi
done
# netpol's agent needs tracefs and bpffs; a fresh machine mounts neither.
mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf

# No resolver for the node's own processes: the host's would be out of reach (and is not a target).
printf '# netpol test node: no upstream resolver\nnameserver 127.0.0.1\n' > "$state/resolv.conf"
mount --bind "$state/resolv.conf" /etc/resolv.conf

sysctl -q -w net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1

cat > "$state/cni/net.d/10-netpol.conflist" <<JSON
{"cniVersion": "0.4.0", "name": "netpol-pods", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$pod_cidr"}]], "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": "$state/cni/ipam"}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
JSON
# The local registry mirrors both public registries: kubelet's pulls of busybox or pause resolve
# exactly as on a real cluster, only from here.
for pair in docker.io=https://registry-1.docker.io registry.k8s.io=https://registry.k8s.io; do
  printf 'server = "%s"\n\n[host."http://%s"]\n  capabilities = ["pull", "resolve"]\n' "${pair#*=}" "$registry" > "$state/certs.d/${pair%%=*}/hosts.toml"
done
cat > "$state/containerd.toml" <<TOML
version = 2
root = "$state/containerd"
state = "$state/containerd-state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$state/containerd.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$state/containerd-opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10"
  # root here lacks CAP_SYS_RESOURCE: runc may not lower a container's oom_score_adj below its own.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$state/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$state/certs.d"
TOML
cat > "$state/registry.yml" <<YAML
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $state/registry}
  delete: {enabled: true}
http: {addr: ":5000"}
YAML

start() { # name command…: detached, output to DIR/logs/name.log, pid to DIR/pids/name.pid
  local name="$1"; shift
  setsid "$@" > "$dir/logs/$prefix$name.log" 2>&1 < /dev/null &
  echo $! > "$dir/pids/$prefix$name.pid"
}
pki="$dir/pki" kc="$dir/admin.kubeconfig"
start containerd containerd --config "$state/containerd.toml"
if [ "$role" = control-plane ]; then
start registry "$bin/registry" serve "$state/registry.yml"
start etcd "$cbin/etcd" --name netpol-node --data-dir "$state/etcd" \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster netpol-node=http://127.0.0.1:2380 --unsafe-no-fsync --log-level warn
start kube-apiserver "$cbin/kube-apiserver" \
  --bind-address 0.0.0.0 --advertise-address "$node_ip" --secure-port 6443 \
  --etcd-servers http://127.0.0.1:2379 \
  --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" --client-ca-file "$pki/ca.crt" \
  --kubelet-client-certificate "$pki/admin.crt" --kubelet-client-key "$pki/admin.key" \
  --service-account-issuer https://kubernetes.default.svc \
  --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
  --service-cluster-ip-range 10.96.0.0/16 --authorization-mode Node,RBAC \
  --kubelet-preferred-address-types InternalIP \
  --allow-privileged=true --profiling=false --cert-dir "$state/apiserver-certs"
until curl -fsS --max-time 2 --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" https://127.0.0.1:6443/readyz > /dev/null 2>&1; do
  kill -0 "$(cat "$dir/pids/kube-apiserver.pid")" 2>/dev/null || { echo "node-init: kube-apiserver exited (see $dir/logs/kube-apiserver.log)" >&2; exit 1; }
  sleep 0.2
done
start kube-controller-manager "$bin/kube-controller-manager" --kubeconfig "$kc" --leader-elect=false \
  --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" --use-service-account-credentials=false \
  --cluster-cidr 10.244.0.0/24 --service-cluster-ip-range 10.96.0.0/16 --profiling=false \
  --bind-address 127.0.0.1 --secure-port 10257
start kube-scheduler "$bin/kube-scheduler" --kubeconfig "$kc" --leader-elect=false --bind-address 127.0.0.1 --secure-port 10259
fi
# Pod to pod across nodes keeps the pod's address (NetworkPolicy selects by it): inserted ahead of
# the bridge plugin's per-pod masquerade rules, which it appends to the same chain.
for peer in ${NO_MASQ_TO:-}; do
  iptables -t nat -I POSTROUTING 1 -s "$pod_cidr" -d "$peer" -m comment --comment "netpol test node: pod to pod across nodes" -j RETURN
done
# kubelet checks the runtime once at start and exits if containerd's socket does not answer yet.
# The control plane's API-server wait above usually covers containerd's boot; a worker starts
# kubelet right after containerd and lost that race in CI (kubelet: "validate CRI v1 runtime API").
until [ -S "$state/containerd.sock" ]; do
  kill -0 "$(cat "$dir/pids/${prefix}containerd.pid")" 2>/dev/null || { echo "node-init: containerd exited (see $dir/logs/${prefix}containerd.log)" >&2; exit 1; }
  sleep 0.1
done
cat > "$state/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# PID 1 is not systemd; the host mounts cgroup v1 hierarchies (and v2 beside them).
cgroupDriver: cgroupfs
cgroupRoot: $cgroot
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$state/containerd.sock
podLogsDir: $state/pod-logs
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: AlwaysAllow}
clusterDNS: [10.96.0.10]
clusterDomain: cluster.local
resolvConf: ""
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
protectKernelDefaults: false
syncFrequency: 10s
fileCheckFrequency: 5s
nodeStatusUpdateFrequency: 2s
YAML
start kubelet "$bin/kubelet" --config "$state/kubelet.yaml" --kubeconfig "$kc" --hostname-override "$node" \
  --node-ip "$node_ip" --root-dir "$state/kubelet"
cat > "$state/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $kc}
hostnameOverride: $node
mode: iptables
clusterCIDR: $cluster_cidr
# nf_conntrack_max is host-wide: leave it and the timeouts alone.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
YAML
start kube-proxy "$bin/kube-proxy" --config "$state/kube-proxy.yaml"
knp_flags=(--kubeconfig "$kc" --hostname-override "$node" --disable-nri --queue-all --pod-cidr "$cluster_cidr"
  --netfilter-bug-1766-fix=false --metrics-bind-address 127.0.0.1:9080)
[ "$xt_queue" = 1 ] && knp_flags+=(--xtables-nfqueue)
start kube-network-policies "$bin/kube-network-policies" "${knp_flags[@]}"
echo started > "$dir/${prefix}init.done"
# The holder: keeps the namespaces reachable (nsenter --target) even between daemons.
exec sleep infinity
