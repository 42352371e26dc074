#!/usr/bin/env bash
# Starts the test cluster on loopback: etcd and kube-apiserver (built by build.sh), fresh self-signed
# certificates, and kubeconfigs for two identities. Usage:
#
#   test/cluster/start.sh [STATE_DIR]             # etcd + apiserver, new certs and data
#   test/cluster/start.sh --apiserver [STATE_DIR] # apiserver only, same ports/certs (restart tests)
#
# STATE_DIR (default ${NETPOL_CLUSTER_DIR:-/tmp/netpol-cluster}) receives:
#   kubeconfig        contexts "netpol-admin" (current; user in system:masters) and "netpol-rbac"
#                     (user netpol-rbac, no groups: only what RBAC bindings grant it)
#   admin.kubeconfig  the admin context alone;  rbac.kubeconfig  the second identity alone
#   cluster.env       KUBECONFIG=…, NETPOL_APISERVER=https://127.0.0.1:<port>, the pids and ports
#   *.log             etcd and apiserver output, for post-mortems
# With NETPOL_CLUSTER_OWNER_PID=<pid>, the cluster stops by itself when that process exits (the
# vitest run passes its pid, so a killed run leaves nothing behind).
# Nothing listens anywhere but 127.0.0.1. Stop with test/cluster/stop.sh [STATE_DIR].
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
only_apiserver=0
if [ "${1:-}" = "--apiserver" ]; then only_apiserver=1; shift; fi
dir="${1:-${NETPOL_CLUSTER_DIR:-/tmp/netpol-cluster}}"
bin="$(bash "$here/build.sh")"
t0=$(date +%s%N)

free_port() {
  local port
  while :; do
    port=$(( 20000 + RANDOM % 20000 ))
    ss -Htln "sport = :$port" | grep -q . || { echo "$port"; return; }
  done
}

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

if [ "$only_apiserver" -eq 0 ]; then
  if running "$dir/etcd.pid" || running "$dir/apiserver.pid"; then
    echo "test/cluster/start.sh: a cluster is already running in $dir (stop it with test/cluster/stop.sh $dir)" >&2
    exit 1
  fi
  rm -rf "$dir"
  mkdir -p "$dir/pki" "$dir/etcd"
  chmod 700 "$dir"
  etcd_port=$(free_port); etcd_peer_port=$(free_port); api_port=$(free_port)
  while [ "$etcd_peer_port" = "$etcd_port" ]; do etcd_peer_port=$(free_port); done
  while [ "$api_port" = "$etcd_port" ] || [ "$api_port" = "$etcd_peer_port" ]; do api_port=$(free_port); done
  printf 'etcd_port=%s\netcd_peer_port=%s\napi_port=%s\n' "$etcd_port" "$etcd_peer_port" "$api_port" > "$dir/ports"

  # --- certificates: one CA; the serving cert for 127.0.0.1/localhost; one client cert per identity.
  pki="$dir/pki"
  ossl() { openssl "$@" 2>/dev/null; }
  ossl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=netpol-test-ca" \
    -keyout "$pki/ca.key" -out "$pki/ca.crt" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign"
  issue() { # name subject extensions
    ossl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$pki/$1.key" -out "$pki/$1.csr"
    printf '%s\n' "$3" > "$pki/$1.ext"
    ossl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
      -days 2 -extfile "$pki/$1.ext" -out "$pki/$1.crt"
  }
  issue apiserver "/CN=kube-apiserver" "$(printf '%s\n' \
    'basicConstraints=CA:FALSE' 'keyUsage=critical,digitalSignature,keyEncipherment' \
    'extendedKeyUsage=serverAuth' \
    'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.96.0.1')"
  client_ext="$(printf '%s\n' 'basicConstraints=CA:FALSE' 'keyUsage=critical,digitalSignature,keyEncipherment' 'extendedKeyUsage=clientAuth')"
  issue admin "/O=system:masters/CN=netpol-admin" "$client_ext"
  issue rbac "/CN=netpol-rbac" "$client_ext"
  ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$pki/sa.key"
  ossl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub"
  chmod 600 "$pki"/*.key

  # --- kubeconfigs (certificates embedded, so a kubeconfig is usable on its own).
  b64() { base64 -w0 < "$1"; }
  server="https://127.0.0.1:$api_port"
  # Each identity is a user and a context of the same name: "netpol-admin" and "netpol-rbac".
  kubeconfig() { # file current-context then "name:certfile" pairs
    local file="$1" current="$2" pair name cert; shift 2
    {
      printf 'apiVersion: v1\nkind: Config\nclusters:\n- name: netpol-test\n  cluster:\n    server: %s\n    certificate-authority-data: %s\n' "$server" "$(b64 "$pki/ca.crt")"
      printf 'users:\n'
      for pair in "$@"; do
        name="${pair%%:*}"; cert="${pair#*:}"
        printf -- '- name: %s\n  user:\n    client-certificate-data: %s\n    client-key-data: %s\n' \
          "$name" "$(b64 "$pki/$cert.crt")" "$(b64 "$pki/$cert.key")"
      done
      printf 'contexts:\n'
      for pair in "$@"; do
        name="${pair%%:*}"
        printf -- '- name: %s\n  context:\n    cluster: netpol-test\n    user: %s\n    namespace: default\n' "$name" "$name"
      done
      printf 'current-context: %s\n' "$current"
    } > "$file"
    chmod 600 "$file"
  }
  kubeconfig "$dir/kubeconfig" netpol-admin netpol-admin:admin netpol-rbac:rbac
  kubeconfig "$dir/admin.kubeconfig" netpol-admin netpol-admin:admin
  kubeconfig "$dir/rbac.kubeconfig" netpol-rbac netpol-rbac:rbac

  # --- etcd: one member on loopback; fsync off because the data dies with the test run.
  setsid "$bin/etcd" --name netpol-test --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster "netpol-test=http://127.0.0.1:$etcd_peer_port" \
    --unsafe-no-fsync --log-level warn --quota-backend-bytes 1073741824 \
    > "$dir/etcd.log" 2>&1 < /dev/null &
  echo $! > "$dir/etcd.pid"

  # A test run that dies without its teardown (killed, timed out) must not leave the cluster
  # behind: with NETPOL_CLUSTER_OWNER_PID set, a watchdog stops it once that process is gone.
  if [ -n "${NETPOL_CLUSTER_OWNER_PID:-}" ]; then
    setsid bash -c 'owner="$1" dir="$2" stop="$3"
      while kill -0 "$owner" 2>/dev/null && [ -f "$dir/etcd.pid" ]; do sleep 1; done
      [ -f "$dir/etcd.pid" ] && exec bash "$stop" "$dir"' \
      netpol-cluster-watchdog "$NETPOL_CLUSTER_OWNER_PID" "$dir" "$here/stop.sh" > /dev/null 2>&1 < /dev/null &
  fi
else
  if [ ! -f "$dir/ports" ]; then
    echo "test/cluster/start.sh --apiserver: no cluster state in $dir (run test/cluster/start.sh first)" >&2
    exit 1
  fi
  if running "$dir/apiserver.pid"; then
    echo "test/cluster/start.sh --apiserver: the apiserver in $dir is already running" >&2
    exit 1
  fi
fi
# shellcheck disable=SC1091
. "$dir/ports"
pki="$dir/pki"

# --- kube-apiserver. No controller-manager runs: the tests write pod status and EndpointSlices as the
# kubelet and the EndpointSlice controller would, so the ServiceAccount admission plugin (which needs
# the token controller's default ServiceAccount) is off.
setsid "$bin/kube-apiserver" \
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
  --etcd-servers "http://127.0.0.1:$etcd_port" \
  --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
  --client-ca-file "$pki/ca.crt" \
  --service-account-issuer https://kubernetes.default.svc \
  --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
  --service-cluster-ip-range 10.96.0.0/16 \
  --authorization-mode RBAC \
  --disable-admission-plugins ServiceAccount \
  --allow-privileged=true --profiling=false \
  --cert-dir "$dir/apiserver-certs" \
  >> "$dir/apiserver.log" 2>&1 < /dev/null &
echo $! > "$dir/apiserver.pid"

# --- ready when /readyz says so (RBAC bootstrap roles included), or fail with the log's tail.
deadline=$(( $(date +%s) + ${NETPOL_CLUSTER_START_TIMEOUT:-120} ))
until curl -fsS --max-time 2 --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
      "https://127.0.0.1:$api_port/readyz" > /dev/null 2>&1; do
  if ! running "$dir/apiserver.pid" || [ "$(date +%s)" -ge "$deadline" ]; then
    echo "test/cluster/start.sh: kube-apiserver did not become ready; last lines of $dir/apiserver.log:" >&2
    tail -n 30 "$dir/apiserver.log" >&2
    if [ -f "$dir/etcd.log" ]; then echo "--- $dir/etcd.log:" >&2; tail -n 10 "$dir/etcd.log" >&2; fi
    exit 1
  fi
  sleep 0.2
done

{
  echo "KUBECONFIG=$dir/kubeconfig"
  echo "NETPOL_APISERVER=https://127.0.0.1:$api_port"
  echo "NETPOL_CLUSTER_DIR=$dir"
  echo "NETPOL_ETCD_PID=$(cat "$dir/etcd.pid")"
  echo "NETPOL_APISERVER_PID=$(cat "$dir/apiserver.pid")"
} > "$dir/cluster.env"
echo "test/cluster/start.sh: apiserver ready at https://127.0.0.1:$api_port in $(( ($(date +%s%N) - t0) / 1000000 ))ms; KUBECONFIG=$dir/kubeconfig" >&2
echo "$dir/kubeconfig"
