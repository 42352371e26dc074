#!/usr/bin/env bash
# Stops the test node that up.sh started in DIR and removes everything it made: processes (daemons,
# containerd's shims and every container), the node's mount namespace (it goes with its last
# process), the cgroups under the node's cgroup root, the network namespaces, the host's link and
# route. Signals only processes it can name: the pids up.sh recorded, the processes in the node's
# mount namespace and those in the node's cgroups. Idempotent; DIR stays for its logs. With two
# nodes (NETPOL_NODES=2 up.sh) the same for the second: its holder (pids/n2-holder.pid), mount
# namespace, cgroup root and network namespace.
#   test/node/down.sh DIR
set -uo pipefail
[ $# -eq 1 ] || { echo "usage: test/node/down.sh DIR" >&2; exit 2; }
dir="$(realpath -m "$1")"
[ -f "$dir/made" ] || { echo "test/node/down.sh: no node state in $dir" >&2; exit 0; }
# shellcheck disable=SC1091
. "$dir/made"
NODE2_NS="${NODE2_NS:-}" CGROUP_ROOT_2="${CGROUP_ROOT_2:-}" NODE_MNTNS="${NODE_MNTNS:-}" NODE2_MNTNS="${NODE2_MNTNS:-}"
cgroup_roots=("$CGROUP_ROOT"); [ -n "$CGROUP_ROOT_2" ] && cgroup_roots+=("$CGROUP_ROOT_2")

# PID 1 here reaps orphans only every few seconds: a zombie counts as stopped.
alive() { [ -e "/proc/$1" ] && [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
stop_pids() { # grace-tenths pid…
  local grace="$1" pid i; shift
  [ $# -gt 0 ] || return 0
  kill -TERM "$@" 2>/dev/null
  for i in $(seq 1 "$grace"); do
    for pid in "$@"; do alive "$pid" && break; done
    alive "$pid" || return 0
    sleep 0.1
  done
  kill -KILL "$@" 2>/dev/null
  for i in $(seq 1 30); do
    for pid in "$@"; do alive "$pid" && break; done
    alive "$pid" || return 0
    sleep 0.1
  done
}
in_cgroups() { # every pid in the node's cgroups (containers), any hierarchy
  local h root
  for root in "${cgroup_roots[@]}"; do
    for h in /sys/fs/cgroup/*/; do
      [ -d "$h${root#/}" ] && find "$h${root#/}" -name cgroup.procs -exec cat {} + 2>/dev/null
    done
  done | sort -u
}
in_mountns() { # every pid sharing the holder's mount namespace (daemons, shims)
  local ns="$1" p
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$ns" ] && echo "${p#/proc/}"
  done
}

# The holders (one per node) and their mount namespaces.
holders=() mntnss=()
for f in "$dir/pids/holder.pid" "$dir/pids/n2-holder.pid"; do
  h="$(cat "$f" 2>/dev/null || true)"
  [ -n "$h" ] || continue
  holders+=("$h")
  if alive "$h"; then
    m="$(readlink "/proc/$h/ns/mnt" 2>/dev/null || true)"
    [ -n "$m" ] && mntnss+=("$m")
  fi
done

# A holder killed outright (a run stopped with SIGKILL) leaves containerd's shims and their containers
# in its mount namespace, which outlives it: that namespace is taken from what up.sh recorded, but
# only while one of this harness's shims is in it (a namespace id can be reused once it is gone).
ours_in() { # mount namespace: has it one of the node's containerd shims?
  local p
  for p in $(in_mountns "$1"); do
    tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -q 'containerd-shim.*-address /run/netpol/containerd.sock' && return 0
  done
  return 1
}
for m in $NODE_MNTNS $NODE2_MNTNS; do
  printf '%s\n' "${mntnss[@]}" | grep -qxF "$m" && continue
  ours_in "$m" && mntnss+=("$m")
done

# 1. kubelet first (so it restarts nothing), then the other daemons and the internet's servers.
pids=()
for f in "$dir"/pids/*.pid; do
  [ -f "$f" ] || continue
  case "$f" in */holder.pid|*/n2-holder.pid) continue;; esac
  pids+=("$(cat "$f")")
done
kubelets=()
for f in "$dir/pids/kubelet.pid" "$dir/pids/n2-kubelet.pid"; do [ -f "$f" ] && kubelets+=("$(cat "$f")"); done
stop_pids 30 "${kubelets[@]}"
stop_pids 30 "${pids[@]}"
# 2. containers and shims: whatever is still in the node's cgroups or mount namespace.
for round in 1 2 3; do
  rest=($(in_cgroups))
  for m in "${mntnss[@]}"; do
    rest+=($(in_mountns "$m" | grep -vxF -f <(printf '%s\n' "${holders[@]}")))
  done
  [ ${#rest[@]} -gt 0 ] || break
  kill -KILL "${rest[@]}" 2>/dev/null
  sleep 0.3
done
# 3. the holder: with it the mount namespace (tmpfs /run, overlays, pod network namespaces) goes.
stop_pids 30 "${holders[@]}"
rm -f "$dir"/pids/*.pid

# 4. cgroups, deepest first (a cgroup whose last process just died may need a moment).
for croot in "${cgroup_roots[@]}"; do
  for h in /sys/fs/cgroup/*/; do
    root="$h${croot#/}"
    [ -d "$root" ] || continue
    for i in $(seq 1 50); do
      find "$root" -depth -type d -exec rmdir {} \; 2>/dev/null
      [ -d "$root" ] || break
      sleep 0.1
    done
    [ -d "$root" ] && echo "test/node/down.sh: could not remove $root" >&2
  done
done

# 5. networks: the namespaces (their veths go with them, and so does the host's /32 route).
for ns in "$NODE_NS" "$INET_NS" $NODE2_NS; do
  [ -e "/run/netns/$ns" ] && ip netns del "$ns"
done
ip link show "$HOST_IF" > /dev/null 2>&1 && ip link del "$HOST_IF"
rm -f "$dir/made"
exit 0
