/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Edges judged allowed, counted in the kernel (the node agent's kernel de-duplication).
 *
 * In a connect storm every connect is the same few edges with the same verdict, yet each one went
 * through the ring to user space (decode, attribution, the sinks). User space writes an edge here
 * once its connect was judged allowed by every enforced and staged policy, attributed and handed
 * to every sink (src/daemon/kernel-dedup.ts). From then on, a connect of that edge answered
 * SYN_SENT -> ESTABLISHED is only counted here (per CPU, with the last time seen) and emits nothing;
 * user space sweeps the counts every second and hands them to its sinks as repeats.
 *
 * Only established answers: a refused, timed-out or closed connect (what "dropped by" attribution
 * needs) always goes through the ring, as does everything of an edge not written here (denied,
 * would-deny: one audit line per connection).
 *
 * The key carries a generation; the program looks up only the current one (allowed_state).
 * User space bumps it whenever a verdict could change (policies, staged policies, the cluster
 * view), so old entries stop matching at once and are swept (counts read one last time) and
 * deleted. enabled = 0 (a /v1/connects client wants every connect) turns the lookup off.
 *
 * A lease bounds what a crash can leave uncounted: user space renews `until_ns` at every sweep
 * (ALLOWED_LEASE_NS ahead, src/agent/allowed-edges.ts); an agent that died (SIGKILL, a crash) stops
 * renewing it, and a few seconds later every connect goes through the (pinned) ring again, for the
 * next agent to read, instead of being counted in entries nobody sweeps.
 *
 * A plain (not LRU) per-CPU hash: an LRU map would evict entries with counts not yet swept. When
 * it is full user space's insert fails and that edge simply keeps flowing through the ring.
 */
#ifndef __ALLOWED_EDGES_H
#define __ALLOWED_EDGES_H

struct allowed_edge_key {
	__u64 cgroup_id;
	__u32 netns;
	__u16 family;
	__u16 dport;
	__u8 daddr[16];
	__u32 generation;
	__u32 _pad;
};                        /* 40 bytes; src/agent/allowed-edges.ts mirrors it */

struct allowed_edge_count {
	__u64 count;   /* connects counted here, on this CPU (never reset: user space takes deltas) */
	__u64 last_ns; /* bpf_ktime_get_boot_ns() of the last one, on this CPU */
};

struct allowed_state_value {
	__u32 generation;
	__u32 enabled;
	__u64 until_ns; /* the lease: counted here only before this (CLOCK_BOOTTIME) */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct allowed_edge_key);
	__type(value, struct allowed_edge_count);
} allowed_edges SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct allowed_state_value);
} allowed_state SEC(".maps");

/*
 * User space only (no program touches it), pinned with the rest: per entry of allowed_edges, the
 * count the agent has handed over so far (written at each sweep for the entries whose count moved).
 * A successor after a crash counts only count - reported as never handed over (orphaned).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, struct allowed_edge_key);
	__type(value, __u64);
} allowed_reported SEC(".maps");

/*
 * An established answer of an edge user space judged allowed (current generation): counted here,
 * true — the caller emits nothing. False: send the event as usual.
 */
static __always_inline bool allowed_edge_counted(const struct tcpconnect_event *e)
{
	struct allowed_edge_key key = {};
	struct allowed_state_value *state;
	struct allowed_edge_count *n;
	__u32 zero = 0;
	__u64 now;

	state = bpf_map_lookup_elem(&allowed_state, &zero);
	if (!state || !state->enabled)
		return false;
	now = bpf_ktime_get_boot_ns();
	if (now >= state->until_ns)
		return false;
	key.cgroup_id = e->cgroup_id;
	key.netns = e->netns;
	key.family = e->family;
	key.dport = e->dport;
	__builtin_memcpy(key.daddr, e->daddr, sizeof(key.daddr));
	key.generation = state->generation;
	n = bpf_map_lookup_elem(&allowed_edges, &key);
	if (!n)
		return false;
	/* This CPU's slot: no atomics. */
	n->count += 1;
	n->last_ns = now;
	return true;
}

#endif /* __ALLOWED_EDGES_H */
