#!/usr/bin/env bash
# The connect storm on the real node: what the node agent (live verdicts on) and `netpol trace
# tcpconnect --host -o json` to a file cost one pod's connects to another pod, through the node's
# CNI bridge, conntrack and the enforcing NetworkPolicy dataplane (kube-network-policies), as ratios
# to untraced phases of the same run. bench/connect-storm.ts measures the same on the host's
# loopback, where a connect costs far less and the tracers' share is largest.
#
#   test/node/up.sh's node; pods storm/server and storm/client (busybox `sleep`); a
#   StagedNetworkPolicy selecting the client and allowing its connects to the server, so the agent
#   judges every connect of the storm against it.
#   The storm is bench/connect-storm.c in its two halves: `--serve 7000` in the server pod, the
#   clients (connect + close with RST) in the client pod. Each runs as `kubectl exec` would run it:
#   in the pod's network namespace and in its container's cgroup (which is what the tracers
#   attribute by), from this checkout's binary.
#   Phases of a round: untraced, agent, untraced, trace, untraced. Each traced phase is compared
#   with the mean of the untraced phases on either side of it:
#     rate  connects/s traced / untraced
#     cpu   the whole machine's CPU time per connect (/proc/stat: every non-idle jiffy of every
#           CPU, the node's daemons included), untraced / traced; counted from the storm's start
#           until the tracer caught up (the agent has answered every connect, the trace has
#           written every line)
#   The agent runs as the DaemonSet runs it (`netpol agent`, default sinks, in the node's network
#   and mount namespaces), started before its phase and stopped after; `trace` likewise. Each is
#   warmed up by a storm of its own before the measured one (--warm-up), and the next untraced
#   phase waits --settle seconds after it stopped (what its shutdown leaves the API server to do).
#
# Needs root, dist/ and bpf/*.o built, what scripts/setup.sh installs. Holds the node ≈ 1 min per
# round:
#   flock -o /tmp/netpol-node.lock bash bench/node-storm.sh [--rounds 6] [--seconds 3] [--threads 2] [--warm-up 2] [--settle 5]
set -euo pipefail
ROUNDS=6 SECS=3 THREADS=2 WARM=2 SETTLE=5
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2;;
    --seconds) SECS=$2; shift 2;;
    --threads) THREADS=$2; shift 2;;
    --warm-up) WARM=$2; shift 2;;
    --settle) SETTLE=$2; shift 2;;
    *) echo "usage: bench/node-storm.sh [--rounds N] [--seconds S] [--threads T] [--warm-up S] [--settle S]" >&2; exit 2;;
  esac
done
WT="$(cd "$(dirname "$0")/.." && pwd)"
[ "$(id -u)" -eq 0 ] || { echo "bench/node-storm.sh: needs root" >&2; exit 1; }
[ -f "$WT/dist/cli/main.js" ] && [ -f "$WT/bpf/tcpconnect.bpf.o" ] || { echo "bench/node-storm.sh: build first (npm run build, make -C bpf)" >&2; exit 1; }
DIR="$(mktemp -d /tmp/netpol-node-storm-XXXXXX)"
NODE="$DIR/node"
PORT=7000
SERVER_PID="" TRACER_PID="" KEEP=""
cleanup() {
  # Not under set -e: a killed process's status (wait) must not end the clean-up before the node is down.
  set +e
  if [ -n "$TRACER_PID" ]; then kill -TERM "$TRACER_PID" 2>/dev/null; wait "$TRACER_PID" 2>/dev/null; fi
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; fi
  bash "$WT/test/node/down.sh" "$NODE" > /dev/null 2>&1
  if [ -n "$KEEP" ]; then echo "logs kept in $DIR" >&2; else rm -rf "$DIR"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

gcc -O2 -Wall -pthread -o "$DIR/storm" "$WT/bench/connect-storm.c"
NETPOL_NODE_OWNER_PID=$$ bash "$WT/test/node/up.sh" "$NODE" > "$DIR/up.log" 2>&1 || { tail -20 "$DIR/up.log" >&2; exit 1; }
. "$NODE/env"
K="$NETPOL_NODE_BIN/kubectl --kubeconfig $NODE/kubeconfig"
$K apply -f "$WT/deploy/crds/trafficprofiles.yaml" -f "$WT/deploy/crds/stagednetworkpolicies.yaml" > /dev/null
$K create namespace storm > /dev/null
for pod in server client; do
  $K -n storm run "$pod" --restart=Never --image=busybox --labels="app=$pod" -- sleep 86400 > /dev/null
done
$K -n storm wait --for=condition=Ready pod/server pod/client --timeout=120s > /dev/null
SERVER_IP="$($K -n storm get pod server -o jsonpath='{.status.podIP}')"
$K wait --for=condition=Established crd/stagednetworkpolicies.netpol.io --timeout=60s > /dev/null
$K apply -f - > /dev/null <<EOF
apiVersion: netpol.io/v1alpha1
kind: StagedNetworkPolicy
metadata: {namespace: storm, name: client}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress: [{to: [{podSelector: {matchLabels: {app: server}}}], ports: [{protocol: TCP, port: $PORT}]}]
EOF

# The pod's container process (busybox sleep): its network namespace and its cgroup v2 directory.
container_of() {
  local uid f p
  uid="$($K -n storm get pod "$1" -o jsonpath='{.metadata.uid}')"
  for f in $(grep -l "pod$uid" /proc/[0-9]*/cgroup 2>/dev/null); do
    p="${f#/proc/}"; p="${p%/cgroup}"
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" = sleep ] && { echo "$p $(sed -n 's/^0:://p' "$f")"; return; }
  done
  echo "bench/node-storm.sh: no container process of pod $1" >&2; exit 1
}
CG2="$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)"
# Runs a command in the pod (its container's cgroup, its network namespace), as kubectl exec would.
in_pod() {
  local pid cg
  read -r pid cg <<< "$(container_of "$1")"; shift
  bash -c 'echo $$ > "$0/cgroup.procs" && exec nsenter --net=/proc/$1/ns/net -- "${@:2}"' "$CG2$cg" "$pid" "$@"
}
in_pod server "$DIR/storm" --serve "$PORT" > "$DIR/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 50); do grep -q serving "$DIR/server.log" && break; sleep 0.1; done
grep -q serving "$DIR/server.log" || { cat "$DIR/server.log" >&2; exit 1; }

busy() { awk 'NR == 1 { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
on_node() { nsenter --target="$NETPOL_NODE_HOLDER_PID" --net --mount -- env NETPOL_NODE_NAME="$NETPOL_NODE_NAME" "$@"; }
status() { on_node curl -sf 127.0.0.1:9808/v1/status; }
statusField() { status | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);console.log(eval(process.argv[1]))})' "$1"; }

# One storm from the client pod; prints "connects rate busy-jiffies". The CPU window is the storm's
# run only: polling a tracer for having caught up costs CPU of its own (a process per look, and the
# node's daemons meanwhile), more than a tracer's backlog at the end (one drain interval, a few
# hundred connects). That each tracer did catch up is checked after the window (`caught_up`).
storm() {
  local b0 out connects b1
  b0=$(busy)
  out="$(in_pod client "$DIR/storm" "$SECS" "$THREADS" "$SERVER_IP" "$PORT")"
  b1=$(busy)
  connects="$(sed 's/.*"connects":\([0-9]*\).*/\1/' <<< "$out")"
  echo "$connects $(sed 's/.*"rate":\([0-9]*\).*/\1/' <<< "$out") $((b1 - b0))"
}
# Waits (10 s at most) until the tracer has every connect of the storm: the agent answered them, the
# trace wrote their lines. Prints what it has.
caught_up() {
  local have=0
  for _ in $(seq 100); do
    case "$1" in
      agent) have=$(( $(statusField j.connects.answered) - ANSWERED0 ));;
      trace) have="$(wc -l < "$DIR/trace.jsonl")";;
    esac
    [ "$have" -ge "$2" ] && break
    sleep 0.1
  done
  echo "$have"
}

start_agent() {
  # nsenter execs node: $! is the agent.
  nsenter --target="$NETPOL_NODE_HOLDER_PID" --net --mount -- env NETPOL_NODE_NAME="$NETPOL_NODE_NAME" \
    node "$WT/dist/cli/main.js" agent --kubeconfig "$NODE/kubeconfig" --no-pin > "$DIR/agent.log" 2>&1 &
  TRACER_PID=$!
  for _ in $(seq 300); do on_node curl -sf -o /dev/null 127.0.0.1:9809/readyz && break; sleep 0.1; done
  on_node curl -sf -o /dev/null 127.0.0.1:9809/readyz || { tail "$DIR/agent.log" >&2; exit 1; }
}
start_trace() {
  nsenter --target="$NETPOL_NODE_HOLDER_PID" --net --mount -- node "$WT/dist/cli/main.js" trace tcpconnect --host -o json > "$DIR/trace.jsonl" 2> "$DIR/trace.log" &
  TRACER_PID=$!
  # Attached once a connect of ours shows: one from the client pod to a closed port.
  for _ in $(seq 100); do
    in_pod client "$DIR/storm" 0.01 1 "$SERVER_IP" 1 > /dev/null 2>&1 || true
    [ -s "$DIR/trace.jsonl" ] && break
    sleep 0.1
  done
  [ -s "$DIR/trace.jsonl" ] || { cat "$DIR/trace.log" >&2; exit 1; }
}
# A storm before the measured one, once the tracer is up (after it, the agent's answered count is
# read afresh and the trace's file emptied by the round): a tracer freshly started compiles its code
# (V8's optimizing compiler) during its first seconds of a storm, a cost it pays once, not per
# connect; bench/connect-storm.ts runs its tracers in one process, where that is done by round 2.
warm_up() {
  in_pod client "$DIR/storm" "$WARM" "$THREADS" "$SERVER_IP" "$PORT" > /dev/null
  sleep 1
  [ "$1" != agent ] || ANSWERED0="$(statusField j.connects.answered)"
}
stop_tracer() {
  kill -0 "$TRACER_PID" 2>/dev/null || { echo "bench/node-storm.sh: the tracer exited early" >&2; KEEP=1; exit 1; }
  kill -TERM "$TRACER_PID"; wait "$TRACER_PID" 2>/dev/null || true; TRACER_PID=""
  # What a stopped agent leaves the node to do (the API server and etcd storing its last profiles and
  # Events) must not fall into the next untraced phase: that would make untraced look dearer.
  sleep "$SETTLE"
}

echo "node storm: pod to pod on $NETPOL_NODE_NAME, ${SECS}s per phase, $THREADS client threads, $ROUNDS rounds; load $(cut -d' ' -f1-3 /proc/loadavg)"
ROWS="$DIR/rows"
for r in $(seq "$ROUNDS"); do
  read -r n0 r0 b0 <<< "$(storm none)"
  start_agent; warm_up agent; read -r na ra ba <<< "$(storm none)"; answered="$(caught_up agent "$na")"
  judged="$(statusField '`judged ${j.sinks.judge?.judged}, lost ${j.events.kernelLost}`')"; stop_tracer
  read -r n1 r1 b1 <<< "$(storm none)"
  # The warm-up's lines emptied out (the trace writes on at its offset: what lies before is a hole
  # with no newline in it).
  start_trace; warm_up trace; : > "$DIR/trace.jsonl"; read -r nt rt bt <<< "$(storm none)"; lines="$(caught_up trace "$nt")"; stop_tracer
  read -r n2 r2 b2 <<< "$(storm none)"
  echo "$r $n0 $r0 $b0 $na $ra $ba $n1 $r1 $b1 $nt $rt $bt $n2 $r2 $b2" >> "$ROWS"
  echo "round $r: untraced ${r0}/s; agent ${ra}/s ($answered of $na connects answered, $judged); untraced ${r1}/s; trace ${rt}/s ($lines lines of $nt connects); untraced ${r2}/s"
  # A tracer that missed connects is not measured as if it had not.
  [ "$answered" -ge "$na" ] && [ "$lines" -ge "$nt" ] || { echo "bench/node-storm.sh: a tracer did not catch up" >&2; KEEP=1; exit 1; }
done
node - "$ROWS" <<'EOF'
const rows = require('fs').readFileSync(process.argv[2], 'utf8').trim().split('\n').map((l) => l.split(' ').map(Number));
const med = (x) => { const s = [...x].sort((a, b) => a - b); return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
// µs of machine CPU per connect from busy jiffies (USER_HZ 100)
const us = (n, b) => (b / 100 / n) * 1e6;
const out = { agent: { rate: [], cpu: [] }, trace: { rate: [], cpu: [] } };
const base = [];
for (const [, n0, r0, b0, na, ra, ba, n1, r1, b1, nt, rt, bt, n2, r2, b2] of rows) {
  base.push(us(n0, b0), us(n1, b1), us(n2, b2));
  out.agent.rate.push(ra / ((r0 + r1) / 2)); out.agent.cpu.push(((us(n0, b0) + us(n1, b1)) / 2) / us(na, ba));
  out.trace.rate.push(rt / ((r1 + r2) / 2)); out.trace.cpu.push(((us(n1, b1) + us(n2, b2)) / 2) / us(nt, bt));
}
const pct = (x) => `${(x * 100).toFixed(1)}%`;
console.log(`untraced: machine CPU ${med(base).toFixed(1)} µs per connect (median)`);
console.log('| traced by | connects/s vs untraced (median) | per round | machine CPU per connect, untraced/traced (median) | per round |');
console.log('|---|---|---|---|---|');
for (const [k, v] of Object.entries(out)) console.log(`| ${k === 'trace' ? 'trace -o json > file' : 'agent (live verdicts)'} | ${pct(med(v.rate))} | ${v.rate.map(pct).join(', ')} | ${pct(med(v.cpu))} | ${v.cpu.map(pct).join(', ')} |`);
EOF
echo "machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), Linux $(uname -r); load after: $(cut -d' ' -f1-3 /proc/loadavg)"
