#!/usr/bin/env bash
# Stops the test cluster that start.sh started. Usage:
#   test/cluster/stop.sh [STATE_DIR]             # apiserver and etcd; the state directory stays for post-mortems
#   test/cluster/stop.sh --apiserver [STATE_DIR] # apiserver only (restart tests)
# Signals only the processes whose pids start.sh recorded: TERM first, then KILL after 3 s for the
# apiserver (with watches open its graceful shutdown takes over 10 s, and a test cluster has nothing
# to drain) and 10 s for etcd.
set -euo pipefail
only_apiserver=0
if [ "${1:-}" = "--apiserver" ]; then only_apiserver=1; shift; fi
dir="${1:-${NETPOL_CLUSTER_DIR:-/tmp/netpol-cluster}}"

stop_pid_file() {
  local file="$1" grace="$2" pid i
  [ -f "$file" ] || return 0
  pid="$(cat "$file")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 "$grace"); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$file"
}

stop_pid_file "$dir/apiserver.pid" 30
if [ "$only_apiserver" -eq 0 ]; then stop_pid_file "$dir/etcd.pid" 100; fi
