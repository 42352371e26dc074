#!/usr/bin/env bash
# The node agent's memory and CPU as the DaemonSet runs it (--pods cluster, default sinks,
# NODE_OPTIONS=--max-semi-space-size=1, MALLOC_ARENA_MAX=2) on the real node, with 400 pods of other nodes in the API
# server (bench/agent-rss-cluster.mjs) and a busybox connect loop; RSS every 10 s, /v1/status.
# Needs root, dist/ and bpf/*.o built. Holds the node ≈ 2.5 min:
#   flock -o /tmp/netpol-node.lock bash bench/agent-rss-node.sh DIR LABEL [DIST]
set -u
DIR=$1; LABEL=$2; DIST=${3:-dist}; WT="$(cd "$(dirname "$0")/.." && pwd)"; LOGS=${LOGS:-/tmp}
cd $WT
t0=$(date +%s)
bash test/node/up.sh $DIR > $LOGS/netpol-rss-up-$LABEL.log 2>&1 || { echo "up failed"; tail -20 $LOGS/netpol-rss-up-$LABEL.log; bash test/node/down.sh $DIR; exit 1; }
. $DIR/env
K="$NETPOL_NODE_BIN/kubectl --kubeconfig $DIR/kubeconfig"
$K apply -f deploy/crds/trafficprofiles.yaml -f deploy/crds/stagednetworkpolicies.yaml >/dev/null
node bench/agent-rss-cluster.mjs $DIR/kubeconfig --pods 400 --nodes 20
echo "pods in the cluster: $($K get pods -A --no-headers | wc -l)"
mkdir -p $DIR/profile
nsenter --target=$NETPOL_NODE_HOLDER_PID --net --mount -- env NETPOL_NODE_NAME=$NETPOL_NODE_NAME NODE_OPTIONS=--max-semi-space-size=1 MALLOC_ARENA_MAX=2 NETPOL_PROFILE_DIR=$DIR/profile \
  node $WT/$DIST/cli/main.js agent --kubeconfig $DIR/kubeconfig > $LOGS/netpol-rss-agent-$LABEL.log 2>&1 &
NS_PID=$!
sleep 3
AGENT=$(pgrep -P $NS_PID -x node || echo $NS_PID)
# nsenter execs node: the pid is the same
[ -d /proc/$NS_PID ] && AGENT=$NS_PID
rss() { awk '/VmRSS|VmHWM/{printf "%s %d MiB  ", $1, $2/1024}' /proc/$AGENT/status; echo; }
cpu() { awk '{print ($14+$15)/100}' /proc/$AGENT/stat; }
sleep 5; echo "idle 8s: $(rss)"
sleep 20; echo "idle 28s: $(rss)"
$K run --restart=Never --image=busybox loop -- sh -c 'i=0; while [ $i -lt 20000 ]; do nc 203.0.113.10 80 </dev/null >/dev/null 2>&1; i=$((i+1)); done' >/dev/null
c0=$(cpu)
for i in 1 2 3 4 5 6; do sleep 10; echo "loop $((i*10))s: $(rss)"; done
c1=$(cpu)
echo "agent cpu during the loop minute: $(echo "$c1 - $c0" | bc) s"
nsenter --target=$NETPOL_NODE_HOLDER_PID --net -- curl -s 127.0.0.1:9808/v1/status; echo
kill -TERM $AGENT; sleep 3
echo "profiles: $($K get trafficprofiles -A --no-headers 2>/dev/null | wc -l)"
bash test/node/down.sh $DIR > /dev/null 2>&1
echo "held $(( $(date +%s) - t0 )) s"
