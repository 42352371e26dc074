#!/usr/bin/env bash
# The node agent's memory and CPU, several builds or settings compared INTERLEAVED on one real node
# (A B A B …: this machine's load varies with other work, so variants run back to back under the
# same conditions). The setting is bench/agent-rss-node.sh's: --pods cluster, default sinks, 400
# pods of 20 other nodes in the API server (bench/agent-rss-cluster.mjs), a busybox connect loop.
# Per run: VmRSS/VmHWM 8 s and 28 s after start, every 10 s of a 60 s connect loop, then the agent's
# CPU (utime+stime) and connects (the stream's published events / 2: a connect is made, then answered) in
# that minute, and the CPU per connect; then where the memory is (bench/agent-memory-report.mjs,
# preloaded: V8's heap by space, external, outside the heap).
#   flock -o /tmp/netpol-node.lock bash bench/agent-rss-node-ab.sh DIR ROUNDS 'LABEL|DIST|ENV|FLAGS' …
# ENV: space-separated VAR=value for the agent's environment (MALLOC_ARENA_MAX=2, …); FLAGS: node's
# own flags, space-separated (--max-semi-space-size=1 …), e.g. 'base|dist||--max-semi-space-size=1'. A variant holds the node ≈ 100 s; keep
# ROUNDS × variants × 100 s + 60 s (up.sh) under the 10 minutes a node may be held.
set -u
DIR=$1; ROUNDS=$2; shift 2; WT="$(cd "$(dirname "$0")/.." && pwd)"; LOGS=${LOGS:-/tmp}
cd $WT
t0=$(date +%s)
bash test/node/up.sh $DIR > $LOGS/netpol-rssab-up.log 2>&1 || { echo "up failed"; tail -20 $LOGS/netpol-rssab-up.log; bash test/node/down.sh $DIR; exit 1; }
. $DIR/env
K="$NETPOL_NODE_BIN/kubectl --kubeconfig $DIR/kubeconfig"
$K apply -f deploy/crds/trafficprofiles.yaml -f deploy/crds/stagednetworkpolicies.yaml >/dev/null
node bench/agent-rss-cluster.mjs $DIR/kubeconfig --pods 400 --nodes 20
echo "pods in the cluster: $($K get pods -A --no-headers | wc -l); load: $(cut -d' ' -f1-3 /proc/loadavg)"
status() { nsenter --target=$NETPOL_NODE_HOLDER_PID --net -- curl -s 127.0.0.1:9808/v1/status; }
n=0
for r in $(seq 1 $ROUNDS); do
  for v in "$@"; do
    IFS='|' read -r LABEL DIST ENVV FLAGS <<< "$v"
    n=$((n + 1))
    mkdir -p $DIR/profile-$n
    # env -i-free: the agent gets the node's name, the variant's settings and the profile dir only.
    nsenter --target=$NETPOL_NODE_HOLDER_PID --net --mount -- env NETPOL_NODE_NAME=$NETPOL_NODE_NAME NETPOL_PROFILE_DIR=$DIR/profile-$n $ENVV \
      node --import $WT/bench/agent-memory-report.mjs $FLAGS $WT/$DIST/cli/main.js agent --kubeconfig $DIR/kubeconfig > $LOGS/netpol-rssab-agent-$n-$LABEL.log 2>&1 &
    AGENT=$!   # nsenter and env exec: the pid is node's
    rss() { awk '/VmRSS|VmHWM/{printf "%s %d  ", $1, $2/1024}' /proc/$AGENT/status; }
    cpu() { awk '{print ($14+$15)/100}' /proc/$AGENT/stat; }
    sleep 8; i8=$(rss); sleep 20; i28=$(rss)
    $K run --restart=Never --image=busybox loop-$n -- sh -c 'i=0; while [ $i -lt 30000 ]; do nc 203.0.113.10 80 </dev/null >/dev/null 2>&1; i=$((i+1)); done' >/dev/null
    sleep 3
    e0=$(status | jq '.sinks.stream.published // 0'); c0=$(cpu); loop=""
    for i in 1 2 3 4 5 6; do sleep 10; loop="$loop $(awk '/VmRSS/{printf "%d", $2/1024}' /proc/$AGENT/status)"; done
    e1=$(status | jq '.sinks.stream.published // 0'); c1=$(cpu); hwm=$(awk '/VmHWM/{printf "%d", $2/1024}' /proc/$AGENT/status)
    kill -USR2 $AGENT; sleep 0.5
    conn=$(( (e1 - e0) / 2 ))
    cpus=$(echo "$c1 - $c0" | bc)
    per=$( [ $conn -gt 0 ] && echo "scale=1; $cpus * 1000000 / $conn" | bc || echo "?")
    echo "[$n $LABEL] idle8: $i8| idle28: $i28| loop RSS MiB:$loop | HWM $hwm | loop minute: $conn connects, cpu ${cpus} s, ${per} µs/connect | load $(cut -d' ' -f1 /proc/loadavg)"
    grep '^memory:' $LOGS/netpol-rssab-agent-$n-$LABEL.log | tail -1 | sed "s/^/[$n $LABEL] end of loop /"
    kill -TERM $AGENT; wait $AGENT 2>/dev/null
    $K delete pod loop-$n --now >/dev/null 2>&1
  done
done
status >/dev/null 2>&1
bash test/node/down.sh $DIR > /dev/null 2>&1
echo "held $(( $(date +%s) - t0 )) s"
