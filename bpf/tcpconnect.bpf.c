// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/*
 * tcpconnect: every TCP connect of the host (or of the cgroups/pids/netns/ports user space asked
 * for), with who made it, where it went, how long the server took to answer and how it ended.
 *
 * Built on tracepoints only (this kernel has no kprobes and no function tracer, so no fentry):
 *
 *   syscalls:sys_enter_connect   connecting task, before anything happens: note the call (fd,
 *                                sockaddr pointer, start time) in a per-thread slot. Nothing is
 *                                read here: most calls succeed.
 *   sock:inet_sock_set_state     a BTF raw tracepoint (tp_btf): the socket is read with plain loads.
 *                                CLOSE -> SYN_SENT runs in the connecting task (tcp_v4/v6_connect):
 *                                take the process identity here. The source port is still 0.
 *                                SYN_SENT -> ESTABLISHED (SYN-ACK) or -> CLOSE (RST, timeout, close)
 *                                runs wherever the answer is processed (often softirq): take ports,
 *                                latency and outcome here and emit the event.
 *   syscalls:sys_exit_connect    connect() failed before any SYN was sent (ENETUNREACH,
 *                                EADDRNOTAVAIL, ...): only now look at the fd (a TCP socket?) and
 *                                the destination, and emit an error event with the errno.
 *                                -EINPROGRESS (nonblocking connect) is not an error.
 *
 *   sockops (cgroup v2 root)     BPF_SOCK_OPS_TCP_CONNECT_CB runs in tcp_connect(), in the
 *                                connecting task, after the source port was chosen and before the
 *                                SYN leaves: with report_connects, the connect is reported here,
 *                                as it is made (a connect to a host that drops SYNs is seen at once,
 *                                not when the kernel gives up minutes later). The only hook that
 *                                sees the source port before any answer, without kprobes.
 *
 * The syscall hooks are optional (user space may attach only the state program): without them
 * synchronous connect() errors are not reported, and every syscall of the host stays off the
 * tracepoint slow path.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>
#include "tcpconnect.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define SOCK_STREAM 1
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define ECONNREFUSED 111
#define ETIMEDOUT 110
#define EINPROGRESS 115
#define EALREADY 114
#define EISCONN 106

/* Kernel TCP states (include/net/tcp_states.h). */
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_CLOSE 7

/* Indexes of the counters map. */
enum counter {
	COUNTER_LOST = 0,       /* ring buffer full: event dropped */
	COUNTER_UNTRACKED = 1,  /* pending map full: a connect could not be followed */
	COUNTER_DEDUPED = 2,    /* learn mode: event of an already reported edge, not emitted */
	COUNTER_UDP_REPLIES = 3, /* UDP: a datagram sent (or a connect) back to a peer the socket received from first */
	COUNTER_MAX = 4,
};

const volatile struct tcpconnect_config cfg = {};

/* Identity of the task that started a handshake, keyed by struct sock address. */
struct pending_connect {
	__u64 ts_ns;
	__u64 cgroup_id;
	__u32 pid, tid, uid, gid;
	__u32 mntns, netns;
	char comm[TASK_COMM_LEN];
	__u8 announced; /* reported when the SYN went out; with REPORT_CONNECTS the answer is not */
	__u8 _pad[7];
};

/* A connect() in flight in one thread, keyed by tid. */
struct connect_call {
	__u32 tid;     /* owner of the slot; 0 = free */
	__u32 _pad0;
	__u64 ts_ns;
	__u64 uaddr;   /* the caller's struct sockaddr (read only if the call fails) */
	__u64 sk;      /* the socket that went to SYN_SENT inside this call */
	__s32 fd;
	__u8 syn_sent; /* the socket reached SYN_SENT inside this call: the state path reports */
	__u8 deferred; /* it went SYN_SENT -> CLOSE inside this call with no error: report errno */
	__u8 _pad[2];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct pending_connect);
} pending SEC(".maps");

/* connect() calls in flight, in slot tid % CALL_SLOTS (the slot names its tid). An array, not a
 * hash: every connect() of the host writes here and array slots cost no lock and no allocation.
 * Two threads colliding on a slot while both are inside connect() lose only the synchronous-error
 * report of the first. */
#define CALL_SLOTS 65536
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CALL_SLOTS);
	__type(key, __u32);
	__type(value, struct connect_call);
} calls SEC(".maps");

/* This thread's connect() in flight, or NULL. */
static __always_inline struct connect_call *current_call(__u32 tid)
{
	__u32 slot = tid % CALL_SLOTS;
	struct connect_call *call = bpf_map_lookup_elem(&calls, &slot);

	return call && call->tid == tid ? call : NULL;
}

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u8);
} cgroup_filter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} pid_filter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} netns_filter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u16);
	__type(value, __u8);
} dport_filter SEC(".maps");

/* learn mode: edges already reported, with how many connects each one saw. Per-CPU counts: a
 * storm on one edge from several CPUs does not bounce one counter between them. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct tcpconnect_edge);
	__type(value, __u64);
} edges SEC(".maps");

/* cgroup id -> directory name, filled on a cgroup's first connect. The directory of a short-lived
 * container may be gone before user space looks for it; its name (the container id) stays here. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, char[CGROUP_NAME_LEN]);
} cgroup_names SEC(".maps");

/* Scratch for cgroup_names values (too big for the 512-byte stack next to the event). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, char[CGROUP_NAME_LEN]);
} name_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 * 1024 * 1024);
} events SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);
	if (v)
		*v += 1; /* per-CPU slot: no atomics needed */
}

/* Filters that depend on the current task only (cgroup, pid). */
static __always_inline bool task_selected(__u64 cgroup_id, __u32 pid)
{
	if (cfg.filters & FILTER_CGROUP) {
		__u8 *mark = bpf_map_lookup_elem(&cgroup_filter, &cgroup_id);

		if (mark && *mark != CGROUP_TRACE)
			return false;
	}
	if ((cfg.filters & FILTER_PID) && !bpf_map_lookup_elem(&pid_filter, &pid))
		return false;
	return true;
}

static __always_inline bool dest_selected(__u32 netns, __u16 dport)
{
	if ((cfg.filters & FILTER_NETNS) && !bpf_map_lookup_elem(&netns_filter, &netns))
		return false;
	if ((cfg.filters & FILTER_DPORT) && !bpf_map_lookup_elem(&dport_filter, &dport))
		return false;
	return true;
}

static __always_inline void remember_cgroup_name(__u64 cgroup_id, struct task_struct *task)
{
	__u32 zero = 0;
	const char *name;
	char *buf;

	if (bpf_map_lookup_elem(&cgroup_names, &cgroup_id))
		return;
	buf = bpf_map_lookup_elem(&name_scratch, &zero);
	if (!buf)
		return;
	name = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, name);
	if (!name || bpf_probe_read_kernel_str(buf, CGROUP_NAME_LEN, name) < 0)
		return;
	bpf_map_update_elem(&cgroup_names, &cgroup_id, buf, BPF_NOEXIST);
}

static __always_inline __u32 sock_netns(const struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

static __always_inline void edge_key(const struct tcpconnect_event *e, struct tcpconnect_edge *key)
{
	key->cgroup_id = e->cgroup_id;
	key->netns = e->netns;
	key->family = e->family;
	key->dport = e->dport;
	__builtin_memcpy(key->daddr, e->daddr, sizeof(key->daddr));
	key->outcome = e->outcome;
}

/*
 * Sends one event. In learn mode (dedup_edges) an edge already reported is only counted. An edge is
 * marked reported only once its event is in the ring buffer: marking it before the reserve would,
 * when the buffer is full, count the event lost and then suppress the edge forever, so `learn`
 * would never see it. Unmarked, the next connect of the edge tries again.
 */
static __always_inline bool emit(const struct tcpconnect_event *e)
{
	struct tcpconnect_edge key = {};
	struct tcpconnect_event *out;
	__u64 one = 1, *n;

	if (cfg.dedup_edges) {
		edge_key(e, &key);
		n = bpf_map_lookup_elem(&edges, &key);
		if (n) {
			*n += 1; /* this CPU's slot */
			count(COUNTER_DEDUPED);
			return true;
		}
	}
	out = bpf_ringbuf_reserve(&events, sizeof(*out), 0);
	if (!out) {
		count(COUNTER_LOST);
		return false;
	}
	/* Two CPUs may both get here for a new edge: both events go out (user space merges edges);
	 * BPF_NOEXIST keeps the first count. */
	if (cfg.dedup_edges)
		bpf_map_update_elem(&edges, &key, &one, BPF_NOEXIST);
	__builtin_memcpy(out, e, sizeof(*out));
	/* Nobody sleeps in epoll: user space drains on a timer, so skip the wakeup. */
	bpf_ringbuf_submit(out, BPF_RB_NO_WAKEUP);
	return true;
}

#include "allowed-edges.h"

/* The connecting task's identity, taken at CLOSE -> SYN_SENT, into an event. */
static __always_inline void take_identity(struct tcpconnect_event *e, const struct pending_connect *p)
{
	e->ts_ns = p->ts_ns;
	e->cgroup_id = p->cgroup_id;
	e->pid = p->pid;
	e->tid = p->tid;
	e->uid = p->uid;
	e->gid = p->gid;
	e->mntns = p->mntns;
	e->netns = p->netns;
	__builtin_memcpy(e->comm, p->comm, sizeof(e->comm));
}

SEC("tracepoint/syscalls/sys_enter_connect")
int handle_enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	__u32 slot = tid % CALL_SLOTS;
	struct connect_call *call;

	/* Cheap on purpose: every connect() of every socket type passes here. The socket and the
	 * destination are only looked at when the call fails (sys_exit_connect). */
	/* The cgroup id only when a filter needs it (a helper call less per connect() otherwise). */
	if ((cfg.filters & (FILTER_CGROUP | FILTER_PID)) && !task_selected(bpf_get_current_cgroup_id(), pid_tgid >> 32))
		return 0;
	call = bpf_map_lookup_elem(&calls, &slot);
	if (!call)
		return 0;
	call->tid = tid;
	call->ts_ns = bpf_ktime_get_boot_ns();
	call->fd = (int)ctx->args[0];
	call->uaddr = ctx->args[1];
	call->sk = 0;
	call->syn_sent = 0;
	call->deferred = 0;
	return 0;
}

/* The TCP socket behind fd in the current task, or NULL (fd -> struct file -> struct socket). */
static __always_inline struct sock *tcp_sock_of_fd(int fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct file **fds, *file;
	struct socket *sock;
	struct sock *sk;

	fds = BPF_CORE_READ(task, files, fdt, fd);
	if (fd < 0 || bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return NULL;
	if ((BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	sock = BPF_CORE_READ(file, private_data);
	if (!sock || BPF_CORE_READ(sock, type) != SOCK_STREAM)
		return NULL;
	sk = BPF_CORE_READ(sock, sk);
	if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return NULL;
	return sk;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int handle_exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct connect_call *call;
	struct tcpconnect_event e = {};
	struct task_struct *task;
	__u8 sockaddr[28];
	long ret = ctx->ret;
	struct sock *sk;
	__u64 uid_gid;

	call = current_call(tid);
	if (!call)
		return 0;
	if (ret >= 0 || ret == -EINPROGRESS || ret == -EALREADY || ret == -EISCONN ||
	    (call->syn_sent && !call->deferred))
		goto done;

	/* connect() failed with no SYN out (or the handshake was torn down inside it): report the
	 * errno, if this was a TCP socket and an IPv4/IPv6 destination. */
	sk = tcp_sock_of_fd(call->fd);
	if (!sk || bpf_probe_read_user(sockaddr, sizeof(sockaddr), (void *)call->uaddr))
		goto done;
	e.family = *(__u16 *)sockaddr;
	if (e.family != AF_INET && e.family != AF_INET6)
		goto done;
	e.dport = bpf_ntohs(*(__u16 *)(sockaddr + 2));
	e.netns = sock_netns(sk);
	if (!dest_selected(e.netns, e.dport))
		goto done;
	task = (struct task_struct *)bpf_get_current_task();
	uid_gid = bpf_get_current_uid_gid();
	e.ts_ns = call->ts_ns;
	e.latency_ns = bpf_ktime_get_boot_ns() - call->ts_ns;
	e.cgroup_id = bpf_get_current_cgroup_id();
	e.pid = pid_tgid >> 32;
	e.tid = tid;
	e.uid = (__u32)uid_gid;
	e.gid = uid_gid >> 32;
	e.mntns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
	if (e.family == AF_INET)
		__builtin_memcpy(e.daddr, sockaddr + 4, 4);
	else
		__builtin_memcpy(e.daddr, sockaddr + 8, 16);
	e.outcome = OUTCOME_ERROR;
	e.source = SOURCE_SYSCALL;
	e.err = (__s32)-ret;
	bpf_get_current_comm(e.comm, sizeof(e.comm));
	remember_cgroup_name(e.cgroup_id, task);
	emit(&e);
done:
	call->tid = 0;
	return 0;
}

/*
 * sock:inet_sock_set_state as a BTF-typed raw tracepoint (tp_btf): no trace record is assembled
 * for us and the socket is read with plain loads, which matters because this fires ~7 times per
 * connect (both ends of every TCP connection). Raw tracepoints need neither kprobes nor ftrace.
 */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(handle_set_state, const struct sock *sk, const int oldstate, const int newstate)
{
	__u64 skaddr = (__u64)sk;

	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;

	if (oldstate == TCP_CLOSE && newstate == TCP_SYN_SENT) {
		/* In the connecting task (tcp_v4_connect / tcp_v6_connect). */
		__u64 pid_tgid = bpf_get_current_pid_tgid();
		__u64 uid_gid = bpf_get_current_uid_gid();
		__u32 tid = (__u32)pid_tgid;
		struct pending_connect p = {};
		struct task_struct *task;
		struct connect_call *call;

		p.cgroup_id = bpf_get_current_cgroup_id();
		p.pid = pid_tgid >> 32;
		if (!task_selected(p.cgroup_id, p.pid))
			return 0;
		p.netns = sk->__sk_common.skc_net.net->ns.inum;
		if (!dest_selected(p.netns, bpf_ntohs(sk->__sk_common.skc_dport)))
			return 0;
		task = bpf_get_current_task_btf();
		p.ts_ns = bpf_ktime_get_boot_ns();
		p.tid = tid;
		p.uid = (__u32)uid_gid;
		p.gid = uid_gid >> 32;
		p.mntns = task->nsproxy->mnt_ns->ns.inum;
		bpf_get_current_comm(p.comm, sizeof(p.comm));
		remember_cgroup_name(p.cgroup_id, task);
		if (bpf_map_update_elem(&pending, &skaddr, &p, BPF_ANY)) {
			count(COUNTER_UNTRACKED);
			return 0;
		}
		call = current_call(tid);
		if (call) {
			call->sk = skaddr;
			call->syn_sent = 1;
		}
		return 0;
	}

	if (oldstate != TCP_SYN_SENT || (newstate != TCP_ESTABLISHED && newstate != TCP_CLOSE))
		return 0;

	/* The handshake got its answer (or the socket went away): ports and outcome are known. */
	struct pending_connect *p = bpf_map_lookup_elem(&pending, &skaddr);
	struct tcpconnect_event e = {};

	if (!p)
		return 0;
	if (p->announced && cfg.report_connects != REPORT_BOTH) {
		/* Reported when the SYN went out (REPORT_CONNECTS): nothing more to say. */
		bpf_map_delete_elem(&pending, &skaddr);
		return 0;
	}
	take_identity(&e, p);
	e.latency_ns = bpf_ktime_get_boot_ns() - p->ts_ns;
	bpf_map_delete_elem(&pending, &skaddr);

	e.family = sk->__sk_common.skc_family;
	/* inet_sport, not skc_num: on the way to CLOSE the port is released before this fires. */
	e.sport = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	e.dport = bpf_ntohs(sk->__sk_common.skc_dport);
	if (e.family == AF_INET) {
		*(__u32 *)e.saddr = sk->__sk_common.skc_rcv_saddr;
		*(__u32 *)e.daddr = sk->__sk_common.skc_daddr;
	} else {
		BPF_CORE_READ_INTO(&e.saddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&e.daddr, sk, __sk_common.skc_v6_daddr);
	}
	e.source = SOURCE_STATE;

	if (newstate == TCP_ESTABLISHED) {
		e.outcome = OUTCOME_ESTABLISHED;
		/* An edge the node agent judged allowed: counted, not sent (allowed-edges.h). */
		if (allowed_edge_counted(&e))
			return 0;
	} else {
		/* tcp_done_with_error() stores sk_err before tcp_done() moves the socket to CLOSE. */
		int err = sk->sk_err;

		e.err = err;
		if (err == ECONNREFUSED) {
			e.outcome = OUTCOME_REFUSED;
		} else if (err == ETIMEDOUT) {
			e.outcome = OUTCOME_TIMEOUT;
		} else if (err) {
			e.outcome = OUTCOME_ERROR;
		} else {
			/* Closed with no error. Inside the connect() that started it, this is the
			 * connect failing after SYN_SENT (e.g. no free source port): the syscall exit
			 * reports it with its errno. Elsewhere, the application gave up (close()). */
			__u32 tid = (__u32)bpf_get_current_pid_tgid();
			struct connect_call *call = current_call(tid);

			if (call && call->sk == skaddr) {
				call->deferred = 1;
				return 0;
			}
			e.outcome = OUTCOME_CLOSED;
		}
	}
	emit(&e);
	return 0;
}

/*
 * The connect as it is made (report_connects): tcp_connect() calls this in the connecting task
 * once the source port is chosen, just before the SYN is sent. The task's identity was taken at
 * CLOSE -> SYN_SENT (pending); the addresses and ports come from the sockops context. Attached to
 * the cgroup v2 root, it sees the sockets of every cgroup.
 */
/* One 32-bit load of a context field at its constant offset. The verifier rewrites context loads
 * by offset and refuses a load through a moved context pointer, which clang emits when it shares
 * an address computation between neighbouring fields. */
#define CTX_FIELD(ctx, type, field)                                                 \
	({                                                                          \
		__u32 __v;                                                          \
		asm volatile("%0 = *(u32 *)(%1 + %2)"                               \
			     : "=r"(__v)                                            \
			     : "r"(ctx), "i"(__builtin_offsetof(type, field)));     \
		__v;                                                                \
	})
#define CTX_U32(ctx, field) CTX_FIELD(ctx, struct bpf_sock_ops, field)

extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

/*
 * The connecting task's identity, taken here, in tcp_connect() (the connecting task), when the state
 * tracepoint left none: user space attaches only the sockops program to report connects as made
 * (`trace` without --latency), since the state tracepoint fires ~7 times per loopback connection
 * and is not needed for that. The same filters as at CLOSE -> SYN_SENT apply. (Also a connect the
 * state program could not follow, its pending map full, is reported this way.)
 */
static __always_inline bool identity_here(struct tcpconnect_event *e, struct bpf_sock *bsk)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();
	struct task_struct *task;
	struct sock *sk;

	e->cgroup_id = bpf_get_current_cgroup_id();
	e->pid = pid_tgid >> 32;
	if (!task_selected(e->cgroup_id, e->pid))
		return false;
	sk = bpf_rdonly_cast(bsk, bpf_core_type_id_kernel(struct sock));
	e->netns = sk->__sk_common.skc_net.net->ns.inum;
	if (!dest_selected(e->netns, e->dport))
		return false;
	task = bpf_get_current_task_btf();
	e->ts_ns = bpf_ktime_get_boot_ns();
	e->tid = (__u32)pid_tgid;
	e->uid = (__u32)uid_gid;
	e->gid = uid_gid >> 32;
	e->mntns = task->nsproxy->mnt_ns->ns.inum;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	remember_cgroup_name(e->cgroup_id, task);
	return true;
}

/* The connect in tcp_connect(), reported (handle_sockops, below, decides it is one). */
static __always_inline void connect_made(struct bpf_sock_ops *ctx, struct bpf_sock *sk)
{
	/* Zeroed here, not in handle_sockops: declared there, clang zeroes it before the early return,
	 * 14 stores in each of the ~9 runs per loopback connection that are not a connect. */
	struct tcpconnect_event e = {};
	struct pending_connect *p = NULL;
	/* ctx->sk is the struct sock the state tracepoint keyed its pending entry by. */
	__u64 skaddr = (__u64)sk;

	/* Without the state program nothing fills `pending`: no lookup (the branch is pruned at load). */
	if (cfg.state_attached)
		p = bpf_map_lookup_elem(&pending, &skaddr);
	e.family = CTX_U32(ctx, family);
	e.sport = (__u16)CTX_U32(ctx, local_port);
	e.dport = (__u16)bpf_ntohl(CTX_U32(ctx, remote_port));
	if (p) {
		take_identity(&e, p);
	} else {
		struct connect_call *call;

		if (!identity_here(&e, sk))
			return; /* not selected by the filters */
		/* The SYN goes out inside this connect() call: the state program's mark, made here when
		 * it is not attached, so the syscall exit does not report the call's errno (a blocking
		 * connect refused or timed out) a second time. */
		call = current_call(e.tid);
		if (call) {
			call->sk = skaddr;
			call->syn_sent = 1;
		}
	}
	if (e.family == AF_INET) {
		*(__u32 *)e.saddr = CTX_U32(ctx, local_ip4);
		*(__u32 *)e.daddr = CTX_U32(ctx, remote_ip4);
	} else {
		__u32 *s = (__u32 *)e.saddr, *d = (__u32 *)e.daddr;

		s[0] = CTX_U32(ctx, local_ip6[0]);
		s[1] = CTX_U32(ctx, local_ip6[1]);
		s[2] = CTX_U32(ctx, local_ip6[2]);
		s[3] = CTX_U32(ctx, local_ip6[3]);
		d[0] = CTX_U32(ctx, remote_ip6[0]);
		d[1] = CTX_U32(ctx, remote_ip6[1]);
		d[2] = CTX_U32(ctx, remote_ip6[2]);
		d[3] = CTX_U32(ctx, remote_ip6[3]);
	}
	e.outcome = OUTCOME_CONNECTING;
	e.source = SOURCE_CONNECT;
	/* Lost (ring buffer full): leave it unannounced, so the answer still reports it. */
	if (emit(&e) && p)
		p->announced = 1;
}

/*
 * Every TCP socket op of every cgroup runs this (~9 times per loopback connection: timeouts, window,
 * ECN, established on both ends): all but the connect return at once, touching nothing.
 */
SEC("sockops")
int handle_sockops(struct bpf_sock_ops *ctx)
{
	struct bpf_sock *sk;

	if (!cfg.report_connects || ctx->op != BPF_SOCK_OPS_TCP_CONNECT_CB)
		return 1;
	sk = ctx->sk;
	if (sk)
		connect_made(ctx, sk);
	return 1;
}

/*
 * UDP: a socket's first datagram to each destination. cgroup/connect4|6 sees connect() of a UDP
 * socket (resolvers and most clients connect, then send); cgroup/sendmsg4|6 sees sendto()/sendmsg()
 * with an address on an unconnected socket. Both run in the sending task, before the kernel routes
 * the datagram, on the cgroup v2 root (so for every cgroup). They only observe: they return 1
 * (let it through) on every path. The source port is the socket's (0 while it is not bound yet).
 * cgroup/recvmsg4|6 notes the peers a socket received from first: a send back to one of them is
 * a reply (a DNS server answering), not reported (see udp_received).
 */
struct udp_send_key {
	__u64 cookie; /* the socket (bpf_get_socket_cookie) */
	__u8 daddr[16];
	__u16 dport;
	__u16 family;
	__u32 _pad;
};

/* Destinations each UDP socket already sent to: a socket's repeats are not reported again. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct udp_send_key);
	__type(value, __u8);
} udp_sends SEC(".maps");

/*
 * Peers each UDP socket received from before it sent to them: a later send to such a peer is the
 * socket's reply (a DNS server answering a lookup), not a flow of its own. The flow it answers is
 * the peer's send, reported where the peer sends (on its own node, in its own cgroup); NetworkPolicy
 * lets a reply of an allowed flow through statefully, so a reply is not a policy decision and is not
 * reported (only counted, COUNTER_UDP_REPLIES). Keyed like udp_sends; filled by cgroup/recvmsg4|6,
 * which runs in recvmsg() with the datagram's source as user_ip4/user_ip6 and user_port. An LRU
 * hash, not socket-local storage: a server socket talks to many peers, and a reply is sent
 * microseconds after its query arrives, long before 16384 newer peers could push it out.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct udp_send_key);
	__type(value, __u8);
} udp_received SEC(".maps");

#define ADDR_U32(ctx, field) CTX_FIELD(ctx, struct bpf_sock_addr, field)

/*
 * An IPv4 peer as a dual-stack IPv6 socket sees it, ::ffff:a.b.c.d, becomes a.b.c.d (AF_INET): the
 * same peer as for an IPv4 socket. A server listening on [::]:53 (CoreDNS, Go's default) receives
 * an IPv4 query as ::ffff:client in recvmsg6 but answers it through udp_sendmsg, where sendmsg4
 * sees the plain IPv4 address: both must name the peer alike. Returns the family.
 */
static __always_inline __u16 unmap_v4(__u8 *addr)
{
	__u32 *a = (__u32 *)addr;

	if (a[0] != 0 || a[1] != 0 || a[2] != bpf_htonl(0xffff))
		return AF_INET6;
	a[0] = a[3];
	a[1] = 0;
	a[2] = 0;
	a[3] = 0;
	return AF_INET;
}

/* The address the caller names (connect/sendmsg: the destination; recvmsg: the source) into `a`. */
static __always_inline void user_addr(struct bpf_sock_addr *ctx, const __u16 family, __u8 *a)
{
	if (family == AF_INET) {
		*(__u32 *)a = ADDR_U32(ctx, user_ip4);
	} else {
		__u32 *d = (__u32 *)a;

		d[0] = ADDR_U32(ctx, user_ip6[0]);
		d[1] = ADDR_U32(ctx, user_ip6[1]);
		d[2] = ADDR_U32(ctx, user_ip6[2]);
		d[3] = ADDR_U32(ctx, user_ip6[3]);
	}
}

/* `family` is a constant per program: a v4 hook may not even read the v6 fields of its context. */
static __always_inline void udp_send(struct bpf_sock_addr *ctx, const __u16 family)
{
	struct tcpconnect_event e = {};
	struct udp_send_key key = {};
	__u64 pid_tgid, uid_gid;
	struct bpf_sock *bsk;
	struct sock *sk;
	__u8 one = 1;

	if (ADDR_U32(ctx, protocol) != IPPROTO_UDP)
		return;
	pid_tgid = bpf_get_current_pid_tgid();
	e.cgroup_id = bpf_get_current_cgroup_id();
	e.pid = pid_tgid >> 32;
	if (!task_selected(e.cgroup_id, e.pid))
		return;
	bsk = ctx->sk;
	if (!bsk)
		return;
	/* The netns inode, as the TCP events carry it: read through a read-only BTF view of the sock. */
	sk = bpf_rdonly_cast(bsk, bpf_core_type_id_kernel(struct sock));
	e.netns = sk->__sk_common.skc_net.net->ns.inum;
	e.family = family;
	e.dport = bpf_ntohs((__u16)ADDR_U32(ctx, user_port));
	if (!dest_selected(e.netns, e.dport))
		return;
	user_addr(ctx, family, e.daddr);
	if (family == AF_INET) {
		*(__u32 *)e.saddr = bsk->src_ip4;
	} else {
		__u32 *s = (__u32 *)e.saddr;

		s[0] = bsk->src_ip6[0];
		s[1] = bsk->src_ip6[1];
		s[2] = bsk->src_ip6[2];
		s[3] = bsk->src_ip6[3];
		/* connect() of a dual-stack socket to ::ffff:a.b.c.d: an IPv4 flow on the wire. */
		e.family = unmap_v4(e.daddr);
		if (e.family == AF_INET && unmap_v4(e.saddr) == AF_INET6)
			__builtin_memset(e.saddr, 0, sizeof(e.saddr));
	}
	key.cookie = bpf_get_socket_cookie(ctx);
	__builtin_memcpy(key.daddr, e.daddr, sizeof(key.daddr));
	key.dport = e.dport;
	key.family = e.family;
	if (bpf_map_lookup_elem(&udp_sends, &key))
		return;
	/* A reply (sendto back to the datagram's source, or connect() to it after receiving): the
	 * peer's flow, not this socket's. Not marked in udp_sends: a busy server answers a new client
	 * port per lookup, and would push other sockets' first sends out of that map (re-reported). */
	if (bpf_map_lookup_elem(&udp_received, &key)) {
		count(COUNTER_UDP_REPLIES);
		return;
	}
	uid_gid = bpf_get_current_uid_gid();
	e.ts_ns = bpf_ktime_get_boot_ns();
	e.tid = (__u32)pid_tgid;
	e.uid = (__u32)uid_gid;
	e.gid = uid_gid >> 32;
	e.sport = (__u16)bsk->src_port;
	e.outcome = OUTCOME_SENT;
	e.source = SOURCE_UDP;
	e.proto = IPPROTO_UDP;
	bpf_get_current_comm(e.comm, sizeof(e.comm));
	/* Marked only once reported, like a learn edge: a lost event is retried by the next send. */
	if (emit(&e))
		bpf_map_update_elem(&udp_sends, &key, &one, BPF_ANY);
}

/*
 * One cgroup sock_addr program per hook and family, each calling `fn` with its family as a
 * constant; 1 lets the call go on (these programs observe, they never refuse).
 */
#define SOCK_ADDR_HOOK(section, name, fn, family)	\
	SEC(section)					\
	int name(struct bpf_sock_addr *ctx)		\
	{						\
		fn(ctx, family);			\
		return 1;				\
	}

SOCK_ADDR_HOOK("cgroup/connect4", handle_udp_connect4, udp_send, AF_INET)
SOCK_ADDR_HOOK("cgroup/connect6", handle_udp_connect6, udp_send, AF_INET6)
SOCK_ADDR_HOOK("cgroup/sendmsg4", handle_udp_sendmsg4, udp_send, AF_INET)
SOCK_ADDR_HOOK("cgroup/sendmsg6", handle_udp_sendmsg6, udp_send, AF_INET6)

/*
 * A datagram received: remember its source as a peer of this socket, unless this socket spoke
 * first (its send to the peer is then reported already, and what comes back is the answer).
 * Runs in recvmsg() of UDP sockets whose caller asks for the source address (recvfrom/recvmsg with
 * msg_name: every server that answers does), after the datagram was taken off the queue.
 */
static __always_inline void udp_received_from(struct bpf_sock_addr *ctx, const __u16 family)
{
	struct udp_send_key key = {};
	__u8 one = 1;

	if (ADDR_U32(ctx, protocol) != IPPROTO_UDP)
		return;
	if (!task_selected(bpf_get_current_cgroup_id(), bpf_get_current_pid_tgid() >> 32))
		return;
	user_addr(ctx, family, key.daddr);
	key.dport = bpf_ntohs((__u16)ADDR_U32(ctx, user_port));
	key.family = family == AF_INET ? AF_INET : unmap_v4(key.daddr);
	key.cookie = bpf_get_socket_cookie(ctx);
	/* Cheap on the hot path: a server's repeat clients are found, not written again. */
	if (bpf_map_lookup_elem(&udp_sends, &key) || bpf_map_lookup_elem(&udp_received, &key))
		return;
	bpf_map_update_elem(&udp_received, &key, &one, BPF_ANY);
}

SOCK_ADDR_HOOK("cgroup/recvmsg4", handle_udp_recvmsg4, udp_received_from, AF_INET)
SOCK_ADDR_HOOK("cgroup/recvmsg6", handle_udp_recvmsg6, udp_received_from, AF_INET6)

/* The code is dual-licensed (GPL-2.0-only OR Apache-2.0, the SPDX line above); the kernel knows only
 * its own licence strings, and the program calls GPL-only helpers, so it declares the GPL side. */
char LICENSE[] SEC("license") = "GPL";
