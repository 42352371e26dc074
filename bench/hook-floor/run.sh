#!/usr/bin/env bash
# What merely attaching a program to each hook netpol uses costs a loopback connect: a no-op program
# (noop.bpf.c) on the state tracepoint, sockops at the cgroup v2 root, cgroup/connect4 at the root,
# against none. Storms of bench/connect-storm.c alternate untraced and with one hook
# (none, X, none, Y, …); each hook's storm is compared with the untraced storm just before it, and
# the medians of those paired differences are printed, in µs of the whole machine's CPU per connect
# (/proc/stat). The pairs matter: back-to-back untraced storms differ by several µs on a VM.
# Needs root, clang, gcc, libbpf-dev and bpf/vmlinux.h (make -C bpf).
#   sudo bash bench/hook-floor/run.sh [ROUNDS=16] [SECONDS=2] [HOOKS="state sockops connect4"]
set -euo pipefail
ROUNDS=${1:-16} SECS=${2:-2} HOOKS=${3:-state sockops connect4}
here="$(cd "$(dirname "$0")" && pwd)"; root="$here/../.."
[ "$(id -u)" -eq 0 ] || { echo "bench/hook-floor/run.sh: needs root" >&2; exit 1; }
[ -f "$root/bpf/vmlinux.h" ] || { echo "bench/hook-floor/run.sh: bpf/vmlinux.h missing (make -C bpf)" >&2; exit 1; }
work="$(mktemp -d)"; trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
arch="$(uname -m | sed -e s/x86_64/x86/ -e s/aarch64/arm64/)"
clang -g -O2 -target bpf -D__TARGET_ARCH_"$arch" -I"$root/bpf" -c "$here/noop.bpf.c" -o "$work/noop.bpf.o"
gcc -O2 -Wall -o "$work/loader" "$here/loader.c" -lbpf
gcc -O2 -Wall -pthread -o "$work/storm" "$root/bench/connect-storm.c"
cg2="$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)"
[ -n "$cg2" ] || { echo "bench/hook-floor/run.sh: no cgroup v2 mounted" >&2; exit 1; }
busy() { awk 'NR == 1 { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
# µs of machine CPU per connect of one storm (busy jiffies are 10 ms).
storm() { local b0 b1 out; b0=$(busy); out="$("$work/storm" "$SECS" 2)"; b1=$(busy); echo "$out" | sed 's/.*"connects":\([0-9]*\).*/\1/' | awk -v j=$((b1 - b0)) '{ printf "%.3f\n", j * 10000 / $1 }'; }
for r in $(seq "$ROUNDS"); do
  for h in $HOOKS; do
    base=$(storm)
    "$work/loader" "$work/noop.bpf.o" "$h" $((SECS + 5)) "$cg2" > "$work/l.out" & lp=$!
    for _ in $(seq 100); do grep -q attached "$work/l.out" 2>/dev/null && break; kill -0 $lp 2>/dev/null || { echo "loader failed for $h" >&2; exit 1; }; sleep 0.05; done
    with=$(storm)
    kill $lp; wait $lp 2>/dev/null || true
    echo "$r $h $base $with" | tee -a "$work/rows" >&2
  done
done
echo "hook (no-op program) | added machine CPU per connect: median (mean) of paired differences | untraced median | pairs"
awk '{ d[$2] = d[$2] " " ($4 - $3); b[$2] = b[$2] " " $3 } END { for (h in d) print h, d[h], "|", b[h] }' "$work/rows" | while read -r h rest; do
  node -e 'const [d, b] = process.argv[2].split("|").map((s) => s.trim().split(/\s+/).map(Number)); const med = (x) => { const s = [...x].sort((p, q) => p - q); return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; }; console.log(`${process.argv[1]} | ${med(d).toFixed(2)} µs (${(d.reduce((a, c) => a + c, 0) / d.length).toFixed(2)}) | ${med(b).toFixed(1)} µs | ${d.length}`);' "$h" "$rest"
done
