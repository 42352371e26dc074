// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
// No-op programs, one per hook netpol uses, for bench/hook-floor/run.sh: what being attached costs.
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(noop_state, const struct sock *sk, const int oldstate, const int newstate) { return 0; }
SEC("sockops")
int noop_sockops(struct bpf_sock_ops *ctx) { return 1; }
SEC("cgroup/connect4")
int noop_connect4(struct bpf_sock_addr *ctx) { return 1; }
char LICENSE[] SEC("license") = "GPL";
