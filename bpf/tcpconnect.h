/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * tcpconnect: the event shared by the kernel program (tcpconnect.bpf.c) and user space
 * (src/agent/event.ts mirrors it field by field, offsets included — change both together).
 * Every field has a fixed offset and there is no implicit padding.
 */
#ifndef __TCPCONNECT_H
#define __TCPCONNECT_H

#define TASK_COMM_LEN 16

/* How the connect ended, as far as the kernel told us. */
enum tcpconnect_outcome {
	OUTCOME_ESTABLISHED = 1, /* SYN_SENT -> ESTABLISHED: the server answered SYN-ACK */
	OUTCOME_REFUSED = 2,     /* SYN_SENT -> CLOSE with sk_err ECONNREFUSED: RST */
	OUTCOME_TIMEOUT = 3,     /* SYN_SENT -> CLOSE with sk_err ETIMEDOUT: SYN retries exhausted */
	OUTCOME_CLOSED = 4,      /* SYN_SENT -> CLOSE with no error: closed before any answer */
	OUTCOME_ERROR = 5,       /* connect() failed (errno), or the handshake died of another error (ICMP) */
	OUTCOME_CONNECTING = 6,  /* the SYN is going out now; no answer yet (report_connects only) */
	OUTCOME_SENT = 7,        /* UDP: a datagram was sent (or a UDP socket connected) to this destination */
};

/* Where the event was produced (which hook decided the outcome). */
enum tcpconnect_source {
	SOURCE_STATE = 1,   /* sock:inet_sock_set_state */
	SOURCE_SYSCALL = 2, /* syscalls:sys_exit_connect (synchronous error, no SYN sent) */
	SOURCE_CONNECT = 3, /* sockops BPF_SOCK_OPS_TCP_CONNECT_CB: the connect as it is made */
	SOURCE_UDP = 4,     /* cgroup/connect4|6, cgroup/sendmsg4|6: a UDP socket's first datagram to a peer */
};

/* Filter flags in tcpconnect_config.filters. */
#define FILTER_CGROUP (1U << 0) /* cgroup ids marked CGROUP_IGNORE in cgroup_filter are dropped */
#define FILTER_PID    (1U << 1) /* only thread-group ids present in pid_filter */
#define FILTER_NETNS  (1U << 2) /* only network namespace inodes present in netns_filter */
#define FILTER_DPORT  (1U << 3) /* only destination ports (host order) present in dport_filter */

/* Values of the cgroup_filter map. A cgroup user space has not classified yet (absent from the
 * map) is reported, so a container that connects right after it starts is never missed; user
 * space then marks it, and from then on the kernel drops what is not wanted. */
#define CGROUP_TRACE 1
#define CGROUP_IGNORE 2

/* Values of tcpconnect_config.report_connects. */
#define REPORT_ANSWERS 0
#define REPORT_CONNECTS 1
#define REPORT_BOTH 2

/* Tunables, written into .rodata by the loader before the object is loaded. */
struct tcpconnect_config {
	__u32 filters;
	/* 1: drop an event whose edge (cgroup, netns, family, daddr, dport, outcome) was already
	 * reported; only the counter in the edges map grows. Used by `netpol learn`. */
	__u32 dedup_edges;
	/* REPORT_ANSWERS (0): report each connect once its outcome is known.
	 * REPORT_CONNECTS (1): report each connect when its SYN goes out (OUTCOME_CONNECTING, from the
	 * sockops program), as `ig trace tcpconnect` does without --latency; the answer is then not
	 * reported again.
	 * REPORT_BOTH (2): both, as made and when answered (the node agent serves both kinds of client
	 * from one program). */
	__u32 report_connects;
	/* 1: the state program (inet_sock_set_state) is attached, so `pending` holds the identity of
	 * connects in flight. 0 (`trace` without --latency: sockops only): the sockops program takes the
	 * identity itself and skips the lookup. */
	__u32 state_attached;
};

struct tcpconnect_event {
	__u64 ts_ns;      /* 0: bpf_ktime_get_boot_ns() when the connect started (SYN_SENT or connect()) */
	__u64 latency_ns; /* 8: start -> first answer (SYN-ACK/RST), socket close, or connect() return */
	__u64 cgroup_id;  /* 16: cgroup v2 id of the connecting task (= inode of its cgroup directory) */
	__u32 pid;        /* 24: thread-group id of the connecting task */
	__u32 tid;        /* 28 */
	__u32 uid;        /* 32 */
	__u32 gid;        /* 36 */
	__u32 mntns;      /* 40: mount namespace inode of the connecting task */
	__u32 netns;      /* 44: network namespace inode of the socket */
	__u8 saddr[16];   /* 48: IPv4 in the first 4 bytes, or IPv6; network order */
	__u8 daddr[16];   /* 64 */
	__u16 sport;      /* 80: host order */
	__u16 dport;      /* 82: host order */
	__u16 family;     /* 84: AF_INET (2) or AF_INET6 (10) */
	__u8 outcome;     /* 86: enum tcpconnect_outcome */
	__u8 source;      /* 87: enum tcpconnect_source */
	__s32 err;        /* 88: errno (positive) of the failure, 0 when established */
	__u8 proto;       /* 92: IPPROTO_UDP (17) for UDP; TCP events leave 0 */
	__u8 _pad[3];     /* 93 */
	char comm[TASK_COMM_LEN]; /* 96 */
};                        /* 112 bytes */

/* Name of a cgroup directory (kernfs node), e.g. the container id docker names it after. */
#define CGROUP_NAME_LEN 128

/* Key of the edges map (in-kernel de-duplication for learn mode). */
struct tcpconnect_edge {
	__u64 cgroup_id;
	__u32 netns;
	__u16 family;
	__u16 dport;
	__u8 daddr[16];
	__u8 outcome;
	__u8 _pad[7];
};

#endif /* __TCPCONNECT_H */
