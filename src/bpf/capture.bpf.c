// SPDX-License-Identifier: GPL-2.0
/* capture.bpf.c -- the kernel half of live capture.
 *
 * It records facts cheaply and parses nothing: for every read or write of a
 * TCP socket by a traced process it emits one event with the ids, the
 * 5-tuple, the TCP sequence number of the first byte, timestamps at syscall
 * entry and exit, and a bounded prefix (plus a short tail) of the bytes.
 * connect/accept/close and TCP state changes give the connection lifecycle.
 *
 * Only tracepoints are used (syscalls:* and tp_btf/inet_sock_set_state): our
 * kernels have no kprobes and no fentry.
 *
 * Cost rules:
 *  - a syscall on a non-TCP fd returns before touching any map;
 *  - nothing all CPUs write on every event shares a lock: ring buffers,
 *    scratch space and counters are per CPU, the connection table is an
 *    LRU hash written only when a connection is first seen;
 *  - kernel structures are walked with direct loads through typed
 *    pointers (bpf_get_current_task_btf, bpf_rdonly_cast), not one
 *    bpf_probe_read_kernel() call per field;
 *  - ring buffers wake user space only past a fill threshold (batching).
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "capture_abi.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define MSG_PEEK 0x2
#define MSG_TRUNC 0x20
#define EINTR 4
#define EAGAIN 11
#define EINPROGRESS 115
#define EALREADY 114
#define EISCONN 106
#define ERESTARTSYS 512
#define ERESTART_LAST 516 /* ERESTARTNOINTR .. ERESTART_RESTARTBLOCK */

/* Load-time configuration, set by the loader before the programs load. */
const volatile __u32 cfg_self_tgid = 0;
const volatile __u32 cfg_filter_pids = 0; /* nonzero: only tgids in `pids` */
const volatile __u32 cfg_ncomms = 0;
const volatile char cfg_comms[WS_MAX_COMMS][WS_COMM_LEN] = {};
const volatile __u32 cfg_nports = 0;
const volatile __u16 cfg_ports[WS_MAX_PORTS] = {};
const volatile __u32 cfg_netns = 0; /* nonzero: only sockets in this netns */
const volatile __u32 cfg_payload = 4096;
const volatile __u64 cfg_wakeup_bytes = 1 << 20;

/* Set by user space while the programs run (WS_SHED_*). */
volatile __u32 shed_level = 0;
/* Bumped by user space each time the per-packet and scheduler programs
 * are attached again after the last shed level: what they noted before
 * (arrival times, when a thread left the CPU) is stale. */
volatile __u32 hook_epoch = 0;

extern unsigned int CONFIG_HZ __kconfig __weak;

struct ring {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
};

/* One ring buffer per CPU, created and inserted by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct ring);
} rings SEC(".maps");

/* Where the walk of a whole-captured syscall's iovecs stands (iovc_step). */
struct iovc_walk {
	__u64 iovp, iovcnt, total;
	__u64 idx;            /* the next iovec to read */
	__u64 base, len, ioff; /* the current iovec, and what of it was copied */
	__u64 pos;            /* bytes of the syscall consumed */
	__u64 rec_start, rec_off; /* the record being filled: where it starts, its bytes */
	__u32 seq, records;
	__u8 done; /* the last record was sent */
};

/* Event under construction. The payload area is three times the largest
 * prefix so that masked offsets and lengths always fit for the verifier. */
struct scratch {
	struct ws_kevent ev;
	__u8 data[3 * WS_PAYLOAD_MAX + WS_TAIL_MAX];
	/* kept here, not on the stack: values read back from a map are not
	 * followed precisely by the verifier, so the walk's loop converges */
	struct iovc_walk iw;
};

/* One slot per CPU (a per-CPU array cannot hold values this large); the
 * loader sizes it to the number of possible CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

/* LRU: the note of a thread killed inside a syscall is evicted, not kept
 * (measured: no dearer than a plain hash here). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct ws_inflight);
} inflight SEC(".maps");

/* A socket we have seen, keyed by its kernel address. Entries are written
 * when a connection is first seen (by a traced task, or when it becomes
 * established, so that what happens before accept() is timed too) and
 * removed when the kernel destroys the socket (not at TCP_CLOSE: a reset or
 * closed socket may still hold data its process has yet to read). LRU:
 * under churn beyond its size the least recently used entries go first;
 * user space counts them (added - removed - left at the end). */
struct kconn {
	__u64 id;
	__u64 estab;    /* when it became established, 0 unknown */
	__u64 rq_first; /* arrival of the oldest unread byte, 0 none or unknown */
	__u64 rq_last;  /* arrival of the newest byte */
	__u32 netns;
	__u8 skip;       /* excluded by --port / --netns */
	__u8 role;       /* WS_KF_CLIENT, WS_KF_SERVER or 0 */
	__u8 classified; /* its first payload was looked at */
	__u8 whole;      /* copy up to WS_PAYLOAD_MAX of each syscall */
	__u8 traced;     /* a traced task used it: its TCP facts are reported */
	__u8 small;      /* opened while shedding: WS_SHED_PAYLOAD-byte prefix */
	__u8 tls_classified; /* its first plaintext was looked at */
	__u32 rq_epoch;  /* hook_epoch when rq_first/rq_last were written */
	/* bytes written and held by TCP (Nagle, windows): from when, which
	 * sequence numbers, why (enum ws_hold); 0 none */
	__u64 hold_t;
	__u32 hold_start, hold_end;
	__u32 hold_why;
	/* TLS: the OpenSSL object whose plaintext the connection carries (0:
	 * none); while set, the socket's own bytes (ciphertext) are not
	 * reported, and its plaintext is numbered per direction from 0 */
	__u64 tls_ssl;
	__u32 tls_off[2];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 131072);
	__type(key, __u64);
	__type(value, struct kconn);
} conns SEC(".maps");

/* Scheduler time of the threads that moved traced bytes, keyed by tid.
 * sched_switch and sched_wakeup update only threads found here, so the cost
 * for the rest of the system is one failed lookup per switch. LRU: threads
 * that exited are evicted first. */
struct tsched {
	__u64 out;      /* when it last left the CPU, 0 while running */
	__u64 woken;    /* when it became runnable again after sleeping */
	__u64 runq;     /* cumulative runnable but not running */
	__u64 offcpu;   /* cumulative sleeping or blocked */
	__u8 runnable;  /* it left the CPU runnable (preempted, throttled) */
	__u8 tls_call;  /* it is inside an SSL_read or SSL_write (tls_calls) */
	__u8 tls_pend;  /* it holds an untied SSL_write's plaintext (tls_pendwr) */
	__u32 epoch;    /* hook_epoch when out/woken were written */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct tsched);
} threads SEC(".maps");

/* Go processes whose runtime is probed: where their runtime keeps the
 * goroutine id and thread (written by user space; see ws_goproc). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct ws_goproc);
} goprocs SEC(".maps");

/* The last goroutine that made each goroutine runnable, and when: what a
 * worker goroutine (an HTTP client's writer, say) was handed work by. LRU:
 * entries of goroutines whose end was missed go first; the probe at
 * goexit1 removes the rest. */
struct gkey {
	__u32 tgid;
	__u32 _pad;
	__u64 goid;
};

struct gwake {
	__u64 waker; /* the goroutine that last handed it a value */
	__u64 ts;
	__u64 waker2; /* and the one that had last handed the waker a value */
	__u64 ts2;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct gkey);
	__type(value, struct gwake);
} gwakes SEC(".maps");

/* CPython asyncio: each task's id by its address (LRU: tasks whose end is
 * not seen go first; an address reused by a new task gets a new id at its
 * creation), and the task each thread is running a step of. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct gkey); /* tgid, task address */
	__type(value, __u64);
} pytask_ids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* thread id */
	__type(value, __u64);
} pycur SEC(".maps");

/* ---- TLS libraries (OpenSSL): which socket an SSL object writes to ---- */

struct tls_key {
	__u32 tgid;
	__u32 _pad;
	__u64 ssl; /* the SSL object's address */
};

struct tls_sock {
	__u64 sk;      /* its socket, 0 not known yet */
	__u64 conn_id; /* the connection's id when it was tied (the socket's
			* address may be reused by a later connection) */
	__u32 pend_wire; /* a write that could not finish began its record here */
	__u8 pend_known;
	__u8 how;      /* WS_TLS_BY_* */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tls_key);
	__type(value, struct tls_sock);
} tls_ssl SEC(".maps");

/* An SSL_read or SSL_write between entry and return, per thread. */
struct tls_call {
	__u64 ssl, buf;
	__u64 outp;    /* the _ex variants: where the byte count is written */
	__u64 ts_enter;
	__u64 runq, offcpu;
	__u64 sk;      /* the socket a syscall made inside the call used */
	__u32 wire;    /* TCP sequence number of the record that carries its first byte */
	__u8 dir;
	__u8 wire_known;
	__u8 sends;    /* writes to its socket inside the call */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct tls_call);
} tls_calls SEC(".maps");

/* The last read, on each thread, that returned what looks like a TLS
 * record and was made since the thread's last TLS call ended: where a
 * library that does not read the socket itself (Node's, through memory
 * buffers) got the bytes it decrypts next. */
struct tls_last {
	__u64 sk;
	__u32 seq;   /* where the read's bytes began */
	__u8 whole;  /* they were exactly one application-data record */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* thread id */
	__type(value, struct tls_last);
} tls_lastrd SEC(".maps");

/* A TLS call that moved plaintext: what tls_emit reports. */
struct tls_pend {
	__u64 ssl, buf;
	__u64 ts_enter, ts_exit;
	__u64 runq[2], offcpu[2];
	__u32 bytes;
	__u32 cap; /* bytes of data[] copied (tls_pendwr) */
};

/* Plaintext an SSL_write took on a thread, for an SSL object not yet tied
 * to a socket: the library writes the ciphertext itself later (Node), and
 * the thread's next write of a TLS record ties it and reports this. The
 * prefix is copied at once: the caller may reuse its buffer as soon as
 * the call returns. */
#define WS_TLS_PEND_MAX 4096
struct tls_pendwr {
	struct tls_pend p;
	__u8 data[WS_TLS_PEND_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32); /* thread id */
	__type(value, struct tls_pendwr);
} tls_pendwr SEC(".maps");

/* Set once user space attached TLS probes. */
volatile __u32 tls_on = 0;

/* Set once user space attached asyncio probes: data syscalls look up the
 * thread's task. Ids are handed out from py_next_id. */
volatile __u32 py_tasks_on = 0;
__u64 py_next_id = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, WS_DROP_REASONS);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, WS_KC_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} idgen SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);

	if (v)
		__sync_fetch_and_add(v, 1);
}

/* Connection ids: CPU number in the top 16 bits, a per-CPU counter below.
 * Unique for the life of the loaded programs without any shared counter. */
static __always_inline __u64 next_conn_id(void)
{
	__u32 zero = 0;
	__u64 *v = bpf_map_lookup_elem(&idgen, &zero);

	if (!v)
		return 0;
	return ((__u64)bpf_get_smp_processor_id() << 48) | (__sync_fetch_and_add(v, 1) + 1);
}

static __always_inline bool comm_matches(const char *comm)
{
	for (__u32 i = 0; i < WS_MAX_COMMS; i++) {
		if (i >= cfg_ncomms)
			break;
		bool same = true;
		for (int j = 0; j < WS_COMM_LEN; j++) {
			if (cfg_comms[i][j] != comm[j]) {
				same = false;
				break;
			}
			if (comm[j] == 0)
				break;
		}
		if (same)
			return true;
	}
	return false;
}

static __always_inline bool task_wanted(__u64 pid_tgid)
{
	__u32 tgid = pid_tgid >> 32;

	if (tgid == cfg_self_tgid)
		return false;
	if (cfg_filter_pids && !bpf_map_lookup_elem(&pids, &tgid))
		return false;
	if (cfg_ncomms) {
		char comm[WS_COMM_LEN] = {};
		struct task_struct *task = (void *)bpf_get_current_task();

		BPF_CORE_READ_STR_INTO(&comm, task, group_leader, comm);
		if (!comm_matches(comm))
			return false;
	}
	return true;
}

/* A kernel address (a plain number to the verifier) as a typed read-only
 * pointer: each field is then one exception-handled load instead of a
 * bpf_probe_read_kernel() call (about 40 ns each here). */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;
#define KCAST(type, p) ((type *)bpf_rdonly_cast((const void *)(__u64)(p), bpf_core_type_id_kernel(type)))

/* task -> files -> fdtable -> file -> socket -> sock, or NULL when the fd is
 * not an IPv4/IPv6 TCP stream socket. Direct loads only: the fd array
 * (struct file **) has no type the verifier can follow, so its slot is
 * read as the first field of a struct that begins with a struct file *
 * (kiocb), one exception-handled load instead of a
 * bpf_probe_read_kernel() call. */
/* The file behind the current task's fd, or NULL. */
static __always_inline struct file *fd_file(__u32 fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = task->files->fdt;

	if (!fdt || fd >= fdt->max_fds)
		return NULL;
	struct file *file = KCAST(struct kiocb, (__u64)fdt->fd + (__u64)fd * sizeof(void *))->ki_filp;
	return file ? KCAST(struct file, file) : NULL;
}

/* Kernels before 6.13 count a file's references in f_count (1: one). */
struct file___fcount {
	atomic_long_t f_count;
} __attribute__((preserve_access_index));

/* Whether closing fd leaves the file open elsewhere: another descriptor
 * (dup, or a process that forked: a server's parent closes its copy of
 * each accepted socket after handing it to a child). */
static __always_inline bool fd_shared(__u32 fd)
{
	struct file *f = fd_file(fd);

	if (!f)
		return false;
	if (bpf_core_field_exists(f->f_ref)) { /* file_ref_t: 0 is one reference */
		__s64 r = BPF_CORE_READ(f, f_ref.refcnt.counter);
		return r > 0 && r < (1ll << 62);
	}
	return BPF_CORE_READ((struct file___fcount *)f, f_count.counter) > 1;
}

static __always_inline struct sock *fd_to_tcp_sock(__u32 fd)
{
	struct file *f = fd_file(fd);

	if (!f)
		return NULL;
	if ((f->f_inode->i_mode & S_IFMT) != S_IFSOCK)
		return NULL;
	struct socket *sock = KCAST(struct socket, f->private_data);
	struct sock *sk = sock->sk;
	if (!sk || sk->sk_protocol != IPPROTO_TCP || sk->sk_type != SOCK_STREAM)
		return NULL;
	__u16 family = sk->__sk_common.skc_family;
	if (family != AF_INET && family != AF_INET6)
		return NULL;
	return sk;
}

/* The TCP socket behind fd, if the current task is traced. */
static __always_inline struct sock *traced_tcp_sock(__u64 pid_tgid, __u32 fd)
{
	if (!task_wanted(pid_tgid))
		return NULL;
	return fd_to_tcp_sock(fd);
}

static __always_inline bool port_wanted(const struct sock *sk)
{
	__u16 lport, rport;

	if (!cfg_nports)
		return true;
	sk = KCAST(struct sock, sk);
	lport = sk->__sk_common.skc_num;
	rport = bpf_ntohs(sk->__sk_common.skc_dport);
	for (__u32 i = 0; i < WS_MAX_PORTS; i++) {
		if (i >= cfg_nports)
			break;
		if (cfg_ports[i] == lport || cfg_ports[i] == rport)
			return true;
	}
	return false;
}

/* Whether --netns or --port excludes the socket; *netns gets its netns. */
static __always_inline bool conn_filtered(const struct sock *sk, __u32 *netns)
{
	*netns = KCAST(struct sock, sk)->__sk_common.skc_net.net->ns.inum;
	return (cfg_netns && *netns != cfg_netns) || !port_wanted(sk);
}

/* Add a socket to the connection table with a fresh id (or find the entry
 * another CPU added first); a full table is counted. */
static __always_inline struct kconn *conn_insert(const struct sock *sk, struct kconn *n)
{
	__u64 key = (__u64)sk;
	struct kconn *c;

	n->id = next_conn_id();
	n->small = shed_level >= 1;
	if (bpf_map_update_elem(&conns, &key, n, BPF_NOEXIST) == 0)
		count(WS_KC_CONN_ADDED);
	c = bpf_map_lookup_elem(&conns, &key);
	if (!c)
		count(WS_KC_CONN_FULL);
	return c;
}

/* Look a socket up in the connection table, adding it when `create` and the
 * socket is connected. Filters that depend only on the socket (--port,
 * --netns) are decided once here and remembered in `skip`. */
static __always_inline struct kconn *conn_get(struct sock *sk, bool create, __u8 role)
{
	__u64 key = (__u64)sk;
	struct kconn *c = bpf_map_lookup_elem(&conns, &key);

	if (c) {
		if (role && !c->role)
			c->role = role;
		if (create)
			c->traced = 1;
		return c;
	}
	if (!create)
		return NULL;

	__u8 state = KCAST(struct sock, sk)->__sk_common.skc_state;
	if (state == TCP_CLOSE || state == TCP_LISTEN)
		return NULL;

	struct kconn n = {.role = role, .traced = 1};
	n.skip = conn_filtered(sk, &n.netns);
	return conn_insert(sk, &n);
}

static __always_inline void read_tuple(__u64 addr, struct ws_ktuple *t)
{
	const struct sock *sk = KCAST(struct sock, addr);

	t->family = sk->__sk_common.skc_family;
	t->lport = sk->__sk_common.skc_num;
	t->rport = bpf_ntohs(sk->__sk_common.skc_dport);
	if (t->family == AF_INET) {
		*(__u32 *)t->laddr = sk->__sk_common.skc_rcv_saddr;
		*(__u32 *)t->raddr = sk->__sk_common.skc_daddr;
	} else {
		__builtin_memcpy(t->laddr, &sk->__sk_common.skc_v6_rcv_saddr, 16);
		__builtin_memcpy(t->raddr, &sk->__sk_common.skc_v6_daddr, 16);
	}
}

/* The process (thread group leader) name. */
static __always_inline void read_comm(char *comm)
{
	struct task_struct *task = bpf_get_current_task_btf();

	bpf_probe_read_kernel(comm, WS_COMM_LEN, task->group_leader->comm);
}

static __always_inline __u32 srtt_us(__u64 sk) { return KCAST(struct tcp_sock, sk)->srtt_us >> 3; }

/* Write one record to this CPU's ring, waking user space only when the ring
 * holds more than cfg_wakeup_bytes (user space also polls on a timer), or
 * when `now` (a record user space must act on at once). */
static __always_inline void emit_now(void *data, __u64 size, bool now)
{
	__u32 cpu = bpf_get_smp_processor_id();
	void *rb = bpf_map_lookup_elem(&rings, &cpu);

	if (!rb) {
		count(WS_KC_RINGBUF_FULL);
		return;
	}
	__u64 flags = now || bpf_ringbuf_query(rb, BPF_RB_AVAIL_DATA) >= cfg_wakeup_bytes ? BPF_RB_FORCE_WAKEUP
											  : BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_output(rb, data, size, flags))
		count(WS_KC_RINGBUF_FULL);
	else
		count(WS_KC_EVENTS);
}

static __always_inline void emit(void *data, __u64 size) { emit_now(data, size, false); }

static __always_inline struct scratch *scratch_get(void)
{
	__u32 cpu = bpf_get_smp_processor_id();

	return bpf_map_lookup_elem(&scratch, &cpu);
}

/* Bound a length for the verifier: v <= max on entry, and after the mask the
 * verifier also knows v < 2 * WS_PAYLOAD_MAX. */
#define BOUND(v, max)                                                                              \
	do {                                                                                       \
		if ((v) > (max))                                                                   \
			(v) = (max);                                                               \
		asm volatile("%[x] &= %[m]" : [x] "+r"(v) : [m] "i"(2 * WS_PAYLOAD_MAX - 1));      \
	} while (0)

#define BOUND_OFF(v) asm volatile("%[x] &= %[m]" : [x] "+r"(v) : [m] "i"(WS_PAYLOAD_MAX - 1))
/* The tail starts right after the prefix, at most at WS_PAYLOAD_MAX. */
#define BOUND_TAIL_OFF(v) asm volatile("%[x] &= %[m]" : [x] "+r"(v) : [m] "i"(2 * WS_PAYLOAD_MAX - 1))

/* Copy the prefix and tail of `n` bytes at user address `ubuf`, at most
 * `limit` bytes of prefix. */
static __always_inline void copy_plain(struct scratch *s, __u64 ubuf, __u64 n, __u32 limit)
{
	__u64 cap = n, tail;

	BOUND(cap, limit);
	if (cap > WS_PAYLOAD_MAX)
		cap = WS_PAYLOAD_MAX;
	if (cap && bpf_probe_read_user(s->data, cap, (void *)ubuf)) {
		s->ev.flags |= WS_KF_READFAIL;
		count(WS_KC_READ_FAIL);
		return;
	}
	s->ev.cap = cap;
	if (n <= cap)
		return;
	count(WS_KC_PAYLOAD_CUT);
	tail = n - cap;
	if (tail > WS_TAIL_MAX)
		tail = WS_TAIL_MAX;
	__u64 off = cap;
	BOUND_TAIL_OFF(off);
	asm volatile("%[x] &= %[m]" : [x] "+r"(tail) : [m] "i"(2 * WS_TAIL_MAX - 1));
	if (tail && !bpf_probe_read_user(s->data + off, tail, (void *)(ubuf + n - tail)))
		s->ev.tail = tail;
}

/* Walking an iovec array: one bpf_loop step per iovec, so the verifier
 * checks the step once instead of once per unrolled iteration. The step only
 * copies the prefix and remembers where the syscall's last byte lies; the
 * tail is copied once after the walk. */
struct iov_walk {
	__u64 iovp, iovcnt, total, limit;
	__u64 pos;     /* stream offset of the current iovec */
	__u64 off;     /* prefix bytes copied so far */
	__u64 last_base, last_len; /* the iovec holding the last byte */
	__u32 failed;
};

static long iov_step(__u64 i, void *ctx)
{
	struct iov_walk *w = ctx;
	struct scratch *s = scratch_get();
	struct iovec iov;

	if (!s || i >= w->iovcnt || w->pos >= w->total)
		return 1;
	if (bpf_probe_read_user(&iov, sizeof(iov), (void *)(w->iovp + i * sizeof(iov)))) {
		w->failed = 1;
		return 1;
	}
	__u64 len = iov.iov_len;
	if (len > w->total - w->pos)
		len = w->total - w->pos;
	__u64 limit = w->limit;
	/* limit <= WS_PAYLOAD_MAX: the mask only keeps the verifier's view of
	 * it the same at every step */
	asm volatile("%[x] &= %[m]" : [x] "+r"(limit) : [m] "i"(2 * WS_PAYLOAD_MAX - 1));
	if (w->off < limit) {
		__u64 n = limit - w->off, o = w->off;
		if (n > len)
			n = len;
		BOUND_OFF(o);
		BOUND(n, WS_PAYLOAD_MAX);
		if (n && bpf_probe_read_user(s->data + o, n, iov.iov_base)) {
			w->failed = 1;
			return 1;
		}
		__u64 next = w->off + n;
		/* off never exceeds WS_PAYLOAD_MAX, so the mask changes nothing at
		 * run time; it gives the verifier the same range at every step,
		 * so it can stop exploring after a few iterations */
		asm volatile("%[x] &= %[m]" : [x] "+r"(next) : [m] "i"(2 * WS_PAYLOAD_MAX - 1));
		w->off = next;
	}
	w->pos += len;
	if (len) {
		w->last_base = (__u64)iov.iov_base;
		w->last_len = len;
	}
	return 0;
}

/* Copy the prefix and tail of the first `total` bytes described by an iovec
 * array in user memory. */
static __always_inline void copy_iov(struct scratch *s, __u64 iovp, __u64 iovcnt, __u64 total, __u32 limit)
{
	struct iov_walk w = {.iovp = iovp, .iovcnt = iovcnt, .total = total, .limit = total};

	if (w.limit > limit)
		w.limit = limit;
	bpf_loop(WS_IOV_MAX, iov_step, &w, 0);
	if (w.failed) {
		s->ev.flags |= WS_KF_READFAIL;
		count(WS_KC_READ_FAIL);
	} else if (w.pos < total && iovcnt > WS_IOV_MAX) {
		count(WS_KC_IOV_CUT);
	}
	__u64 off = w.off;
	if (off > WS_PAYLOAD_MAX)
		off = WS_PAYLOAD_MAX;
	s->ev.cap = off;
	if (total <= off)
		return;
	count(WS_KC_PAYLOAD_CUT);
	/* the tail: the end of the last iovec, when the walk reached the end
	 * and the tail does not overlap the prefix */
	if (w.failed || w.pos != total || off != w.limit)
		return;
	__u64 tail = total - off;
	if (tail > WS_TAIL_MAX)
		tail = WS_TAIL_MAX;
	if (tail > w.last_len)
		tail = w.last_len;
	__u64 o = off;
	BOUND_TAIL_OFF(o);
	asm volatile("%[x] &= %[m]" : [x] "+r"(tail) : [m] "i"(2 * WS_TAIL_MAX - 1));
	if (tail && !bpf_probe_read_user(s->data + o, tail, (void *)(w.last_base + w.last_len - tail)))
		s->ev.tail = tail;
}

/* The copies as global functions: the verifier checks each once per
 * program, on its own, instead of once more for every path of data_exit
 * that reaches it (loading took 2.4 s before, most of it the six vectored
 * exits). */
__noinline int copy_iov_once(__u64 iovp, __u64 iovcnt, __u64 total, __u32 limit)
{
	struct scratch *s = scratch_get();

	if (!s)
		return 0;
	copy_iov(s, iovp, iovcnt, total, limit);
	return 0;
}

__noinline int copy_plain_once(__u64 ubuf, __u64 n, __u32 limit)
{
	struct scratch *s = scratch_get();

	if (!s)
		return 0;
	copy_plain(s, ubuf, n, limit);
	return 0;
}

/* A connection captured whole (see classify) may move more bytes in one
 * syscall than one record holds: send them as consecutive records of up to
 * WS_PAYLOAD_MAX bytes, each with the sequence number of its first byte.
 * The last record takes whatever remains (with a gap past its prefix). */
struct chunk_walk {
	__u64 ubuf, total, off;
	__u32 seq;
	__u8 flags; /* the syscall's flags, for every record */
};

static long chunk_step(__u64 i, void *ctx)
{
	struct chunk_walk *w = ctx;
	struct scratch *s = scratch_get();

	if (!s || w->off >= w->total)
		return 1;
	__u64 n = w->total - w->off;
	if (n > WS_PAYLOAD_MAX && i + 1 < WS_CHUNKS_MAX)
		n = WS_PAYLOAD_MAX;
	s->ev.seq = w->seq + (__u32)w->off;
	s->ev.bytes = n;
	s->ev.flags = w->flags;
	s->ev.cap = 0;
	s->ev.tail = 0;
	copy_plain_once(w->ubuf + w->off, n, WS_PAYLOAD_MAX);
	emit(&s->ev, sizeof(s->ev) + ((s->ev.cap + s->ev.tail) & (2 * WS_PAYLOAD_MAX - 1)));
	w->off += n;
	return 0;
}

/* The same for a syscall whose bytes are in iovecs (writev, sendmsg and
 * their reading twins: Node.js and gRPC write HTTP/2 frames so): each
 * step copies what is left of the current iovec into the record being
 * filled, and a full record is sent. */
static __always_inline void iovc_emit(struct scratch *s, struct iovc_walk *w, __u64 bytes)
{
	s->ev.seq = w->seq + (__u32)w->rec_start;
	s->ev.bytes = bytes;
	s->ev.cap = w->rec_off;
	s->ev.tail = 0;
	emit(&s->ev, sizeof(s->ev) + ((s->ev.cap + s->ev.tail) & (2 * WS_PAYLOAD_MAX - 1)));
	w->records++;
	w->rec_start += bytes;
	w->rec_off = 0;
	w->done = w->rec_start >= w->total;
}

static long iovc_step(__u64 i, void *ctx)
{
	struct scratch *s = scratch_get();
	struct iovec iov;

	if (!s)
		return 1;
	struct iovc_walk *w = &s->iw;
	if (w->pos >= w->total)
		return 1;
	if (w->ioff >= w->len) { /* the next iovec */
		if (w->idx >= w->iovcnt || bpf_probe_read_user(&iov, sizeof(iov), (void *)(w->iovp + w->idx * sizeof(iov)))) {
			if (w->rec_off || w->pos < w->total) /* what is left, uncopied */
				iovc_emit(s, w, w->total - w->rec_start);
			return 1;
		}
		w->idx++;
		w->base = (__u64)iov.iov_base;
		w->len = iov.iov_len;
		if (w->len > w->total - w->pos)
			w->len = w->total - w->pos;
		w->ioff = 0;
		return 0;
	}
	__u64 n = w->len - w->ioff, room = WS_PAYLOAD_MAX - w->rec_off, o = w->rec_off;
	if (n > room)
		n = room;
	BOUND_OFF(o);
	BOUND(n, WS_PAYLOAD_MAX);
	if (n && bpf_probe_read_user(s->data + o, n, (void *)(w->base + w->ioff))) {
		iovc_emit(s, w, w->total - w->rec_start); /* the rest: a gap */
		return 1;
	}
	w->ioff += n;
	w->pos += n;
	w->rec_off += n;
	if (w->pos >= w->total) {
		iovc_emit(s, w, w->rec_off);
		return 1;
	}
	if (w->rec_off >= WS_PAYLOAD_MAX) {
		if (w->records + 1 >= WS_CHUNKS_MAX) { /* the last record: the rest is a gap past it */
			iovc_emit(s, w, w->total - w->rec_start);
			return 1;
		}
		iovc_emit(s, w, w->rec_off);
	}
	return 0;
}

static __always_inline bool transient_error(long ret)
{
	return ret == -EAGAIN || ret == -EINTR || (ret <= -ERESTARTSYS && ret >= -ERESTART_LAST);
}

static __always_inline void fill_header(struct ws_kevent *ev, const struct ws_inflight *f, __u64 pid_tgid)
{
	ev->type = WS_KEV_DATA;
	ev->dir = f->dir;
	ev->sys = f->sys;
	ev->flags = f->flags;
	ev->pid = pid_tgid >> 32;
	ev->tid = (__u32)pid_tgid;
	ev->err = 0;
	ev->conn_id = f->conn_id;
	ev->ts_enter = f->ts_enter;
	ev->ts_exit = bpf_ktime_get_ns();
	ev->seq = f->seq;
	ev->bytes = 0;
	ev->cap = 0;
	ev->tail = 0;
	ev->fd = f->fd;
	ev->netns = f->netns;
	ev->oldstate = 0;
	ev->newstate = 0;
	read_tuple(f->sk, &ev->tuple);
	read_comm(ev->comm);
	ev->arr_first = 0;
	ev->arr_last = 0;
	ev->runq_ns[0] = f->runq_ns;
	ev->offcpu_ns[0] = f->offcpu_ns;
	ev->runq_ns[1] = f->runq_ns;
	ev->offcpu_ns[1] = f->offcpu_ns;
	ev->ts_estab = 0;
	ev->srtt_us = srtt_us(f->sk);
	ev->rto_us = 0;
	ev->reason = 0;
	ev->retrans = 0;
	ev->goid = f->goid;
	ev->waker = f->waker;
	ev->wake_ts = f->wake_ts;
	ev->waker2 = f->waker2;
	ev->wake2_ts = f->wake2_ts;
	if (f->dir == WS_DIR_RECV) {
		ev->fence = KCAST(struct tcp_sock, f->sk)->write_seq;
		ev->seq_flags = WS_KSEQ_FENCE;
	} else {
		ev->fence = f->fence;
		/* a recovered write began before its entry was seen: its fence is unknown */
		ev->seq_flags = (f->flags & WS_KF_RECOVERED) ? 0 : WS_KSEQ_FENCE;
	}
	ev->sent_seq = 0;
	ev->read_seq = 0;
}

/* Where both directions of an established stream stand: lets user space
 * tell that the last bytes of a direction were never reported. */
static __always_inline void stream_seqs(struct ws_kevent *ev, const struct sock *sk)
{
	const struct tcp_sock *tp = KCAST(struct tcp_sock, sk);

	ev->sent_seq = tp->write_seq;
	ev->read_seq = tp->copied_seq;
	ev->seq_flags |= WS_KSEQ_STREAM;
}

/* The thread's scheduler times; created (when `create`) the first time it
 * moves traced bytes. */
static __always_inline struct tsched *thread_get(__u32 tid, bool create)
{
	struct tsched *t = bpf_map_lookup_elem(&threads, &tid);

	if (t || !create)
		return t;
	struct tsched n = {};
	bpf_map_update_elem(&threads, &tid, &n, BPF_NOEXIST);
	t = bpf_map_lookup_elem(&threads, &tid);
	if (!t)
		count(WS_KC_THREAD_FULL);
	return t;
}

/* Fill what the socket and the thread know at syscall exit: the arrival
 * times of the bytes a read took (then forget them once the receive queue
 * is empty) and the thread's scheduler times. */
static __always_inline void fill_timing(struct ws_kevent *ev, const struct ws_inflight *f, __u64 pid_tgid, long ret)
{
	struct tsched *t = thread_get((__u32)pid_tgid, false);

	if (t) {
		ev->runq_ns[1] = t->runq;
		ev->offcpu_ns[1] = t->offcpu;
	}
	if (f->flags & WS_KF_RECOVERED) { /* entry times unknown: no interval */
		ev->runq_ns[0] = ev->runq_ns[1];
		ev->offcpu_ns[0] = ev->offcpu_ns[1];
	}
	if (f->dir != WS_DIR_RECV || ret <= 0)
		return;
	__u64 key = f->sk;
	struct kconn *c = bpf_map_lookup_elem(&conns, &key);
	if (!c || !c->rq_first || c->rq_epoch != hook_epoch)
		return;
	const struct tcp_sock *tp = KCAST(struct tcp_sock, f->sk);
	ev->arr_first = c->rq_first;
	ev->arr_last = c->rq_last;
	/* what stays queued arrived no later than the newest byte */
	c->rq_first = tp->copied_seq == tp->rcv_nxt ? 0 : c->rq_last;
}

/* ---- who a syscall is made for: goroutines and wake-ups ---- */

/* A word of the traced process's memory (0 when unreadable). */
static __always_inline __u64 user_word(__u64 addr)
{
	__u64 v = 0;

	bpf_probe_read_user(&v, sizeof(v), (const void *)addr);
	return v;
}

/* The id of the user goroutine thread `tid` runs, given a g the runtime
 * keeps in R14 (the goroutine itself, or the thread's g0 on the system
 * stack): g.m.curg, checked against the thread (m.procid) so that a
 * register holding something else (C code called through cgo) gives 0. */
static __always_inline __u64 go_current(const struct ws_goproc *gp, __u64 g, __u32 tid)
{
	if (!g)
		return 0;
	__u64 m = user_word(g + gp->g_m);
	if (!m || (__u32)user_word(m + gp->m_procid) != tid)
		return 0;
	__u64 curg = user_word(m + gp->m_curg);
	return curg ? user_word(curg + gp->g_goid) : 0;
}

/* Note who the data syscall is made for, in a Go process with runtime
 * probes: its goroutine, and the goroutines that last handed it values. */
static __always_inline void note_context(struct ws_inflight *f, __u64 pid_tgid)
{
	__u32 tgid = pid_tgid >> 32, tid = (__u32)pid_tgid;
	const struct ws_goproc *gp = bpf_map_lookup_elem(&goprocs, &tgid);

	if (!gp) {
		const __u64 *task = py_tasks_on ? bpf_map_lookup_elem(&pycur, &tid) : NULL;
		if (task && *task) {
			f->goid = *task;
			f->flags |= WS_KF_GOROUTINE;
		}
		return;
	}
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	struct gkey k = {.tgid = tgid, .goid = go_current(gp, regs->r14, (__u32)pid_tgid)};
	if (!k.goid) {
		count(WS_KC_GO_BAD_G);
		return;
	}
	f->goid = k.goid;
	f->flags |= WS_KF_GOROUTINE;
	struct gwake *w = bpf_map_lookup_elem(&gwakes, &k);
	if (w) {
		f->waker = w->waker;
		f->wake_ts = w->ts;
		f->waker2 = w->waker2;
		f->wake2_ts = w->ts2;
	}
}

/* ---- data syscalls: entry records the socket and seq, exit emits ---- */

/* Whether the connection's data is shed at the current level: from level
 * 2 only connections whose id hashes into the kept 1/2^(level-1) are
 * captured; each level keeps a subset of the one below, so stepping down
 * brings connections back and stepping up only drops more. */
static __always_inline bool shed(const struct kconn *c)
{
	__u32 level = shed_level;

	if (level < 2)
		return false;
	if (level >= WS_SHED_NODATA)
		return true;
	__u64 h = (c->id * 0x9E3779B97F4A7C15ull) >> 40;
	return (h & ((1u << (level - 1)) - 1)) != 0;
}

/* Whether the first bytes of a connection's direction (h[0..9), zeros
 * past what could be read) open what is captured whole: a RESP array
 * ("*3\r\n$3\r\nSET..."), or HTTP/2 -- a client's preface ("PRI * HTTP/2.0")
 * or a server's (a SETTINGS frame of a few entries on stream 0). Pipelined
 * Redis commands have no length prefix to skip a gap with; HTTP/2 frames
 * do, but a frame header inside an uncaptured middle loses them all, and
 * HPACK's table with them. */
static __always_inline bool opens_whole(const __u8 *h)
{
	if (h[0] == '*')
		return true;
	if (h[0] == 'P' && h[1] == 'R' && h[2] == 'I' && h[3] == ' ')
		return true;
	return h[0] == 0 && h[1] == 0 && h[2] % 6 == 0 && h[3] == 4 && h[4] == 0 && h[5] == 0 && h[6] == 0 &&
	       h[7] == 0 && h[8] == 0;
}

/* Payload bytes to copy per syscall of the connection (0: the configured prefix). */
static __always_inline __u32 conn_cap(const struct kconn *c)
{
	if (c->whole)
		return WS_PAYLOAD_MAX;
	if (c->small && cfg_payload > WS_SHED_PAYLOAD)
		return WS_SHED_PAYLOAD;
	return cfg_payload;
}

/* Plaintext of no socket found: lost, unless filters are set, which leave
 * out the sockets of most such calls (whose syscalls are not followed). */
static __always_inline void count_untied(void)
{
	count(cfg_nports || cfg_netns ? WS_KC_TLS_UNTIED_FILTERED : WS_KC_TLS_UNTIED);
}

/* Tie the SSL object to socket sk, unless (when tied by what the thread
 * read or wrote around the call, which is a guess) another SSL object
 * holds the socket. */
static __always_inline struct kconn *tls_tie(__u32 tgid, __u64 ssl, __u64 sk, __u8 how)
{
	struct kconn *c = conn_get((struct sock *)sk, true, 0);

	if (!c || c->skip)
		return NULL;
	if (c->tls_ssl && c->tls_ssl != ssl && (how == WS_TLS_BY_LASTREAD || how == WS_TLS_BY_NEXTWRITE))
		return NULL;
	c->tls_ssl = ssl;
	struct tls_key k = {.tgid = tgid, .ssl = ssl};
	struct tls_sock v = {.sk = sk, .conn_id = c->id, .how = how};
	bpf_map_update_elem(&tls_ssl, &k, &v, BPF_ANY);
	return c;
}

/* The socket the SSL object is tied to, if its connection still lives. */
static __always_inline struct kconn *tls_tied(struct tls_key *k, struct tls_sock **out)
{
	struct tls_sock *ts = bpf_map_lookup_elem(&tls_ssl, k);

	*out = ts;
	if (!ts || !ts->sk)
		return NULL;
	__u64 key = ts->sk;
	struct kconn *c = bpf_map_lookup_elem(&conns, &key);
	return c && c->id == ts->conn_id && c->tls_ssl == k->ssl ? c : NULL;
}

/* Report the plaintext a TLS call moved (p: what the call was; its bytes
 * at p->buf, or their first p->cap in kbuf), as the next bytes of its
 * direction of connection c on socket sk. */
static __always_inline void tls_emit(__u64 pid_tgid, struct kconn *c, __u64 sk, const struct tls_pend *p, __u8 dir,
				     __u32 wire, bool wire_known, const __u8 *kbuf)
{
	struct scratch *s = scratch_get();
	__u8 d = dir & 1;
	__u32 seq = c->tls_off[d];

	/* numbered even when shed: what was not reported is a gap */
	c->tls_off[d] += p->bytes;
	if (!s)
		return;
	if (shed(c)) {
		count(WS_KC_SHED);
		return;
	}
	struct ws_inflight f = {};
	f.ts_enter = p->ts_enter;
	f.sk = sk;
	f.conn_id = c->id;
	f.netns = c->netns;
	f.sys = dir == WS_DIR_SEND ? WS_SYS_SSL_WRITE : WS_SYS_SSL_READ;
	f.dir = dir;
	f.runq_ns = p->runq[0];
	f.offcpu_ns = p->offcpu[0];
	f.seq = seq;
	note_context(&f, pid_tgid);
	fill_header(&s->ev, &f, pid_tgid);
	s->ev.ts_exit = p->ts_exit;
	s->ev.runq_ns[1] = p->runq[1];
	s->ev.offcpu_ns[1] = p->offcpu[1];
	s->ev.fence = wire;
	s->ev.seq_flags = wire_known ? WS_KSEQ_WIRE : 0;
	s->ev.bytes = p->bytes;
	if (!c->tls_classified) { /* its first plaintext: HTTP/2 is captured whole */
		__u8 h[9] = {};
		c->tls_classified = 1;
		if (kbuf ? !bpf_probe_read_kernel(h, sizeof(h), kbuf) : !bpf_probe_read_user(h, sizeof(h), (void *)p->buf))
			if (h[0] != '*' && opens_whole(h))
				c->whole = 1;
	}
	if (kbuf) {
		__u64 cap = p->cap;
		if (cap > WS_TLS_PEND_MAX)
			cap = WS_TLS_PEND_MAX;
		if (cap && !bpf_probe_read_kernel(s->data, cap, kbuf))
			s->ev.cap = cap;
	} else {
		copy_plain_once(p->buf, p->bytes, conn_cap(c));
	}
	count(WS_KC_TLS_PLAIN);
	emit(&s->ev, sizeof(s->ev) + ((s->ev.cap + s->ev.tail) & (2 * WS_PAYLOAD_MAX - 1)));
}

/* The TLS records len bytes at ubuf begin with, read header by header,
 * four at most. */
struct tls_walk {
	__u64 off;     /* past the last header read: the records' bytes */
	__u64 first17, last17; /* where the first and last application-data records begin */
	__u32 n17;     /* application-data records */
	__u8 h0;       /* the first record's type (0: not TLS) */
	bool whole;    /* the buffer is whole records */
};

static __always_inline void tls_walk_records(__u64 ubuf, __u64 ulen, struct tls_walk *w)
{
	__u8 h[5] = {};

	__builtin_memset(w, 0, sizeof(*w));
	for (int i = 0; i < 4 && ubuf; i++) {
		if (w->off + 5 > ulen || bpf_probe_read_user(h, sizeof(h), (void *)(ubuf + w->off)) || h[0] < 0x14 ||
		    h[0] > 0x17 || h[1] != 3)
			break;
		if (!i)
			w->h0 = h[0];
		if (h[0] == 0x17) {
			if (!w->n17)
				w->first17 = w->off;
			w->last17 = w->off;
			w->n17++;
		}
		w->off += 5 + ((__u64)h[3] << 8 | h[4]);
		if (w->off == ulen) {
			w->whole = true;
			break;
		}
	}
}

/* The records a write begins with: in its first buffer (a write's, or a
 * writev's first iovec; none for other syscalls). */
static __always_inline void tls_walk_write(__u64 ubuf, __u64 ulen, __u32 sys, struct tls_walk *w)
{
	if (sys == WS_SYS_WRITEV) {
		struct iovec iov;
		if (bpf_probe_read_user(&iov, sizeof(iov), (void *)ubuf)) {
			ubuf = 0;
		} else {
			ubuf = (__u64)iov.iov_base;
			ulen = iov.iov_len;
		}
	} else if (sys != WS_SYS_WRITE && sys != WS_SYS_SENDTO) {
		ubuf = 0;
	}
	tls_walk_records(ubuf, ulen, w);
}

/* A write to socket sk: when the thread's last SSL_write was of an SSL
 * object tied to no socket yet and these bytes are TLS records, the
 * library is writing that call's ciphertext: tie the object to the
 * socket and report the plaintext. Its record is the last of the
 * write's (the end of a handshake may go first, in the same write), and
 * its place is known when the write is whole records. */
static __noinline int tls_pending_write(__u64 pid_tgid, __u64 sk, __u64 ubuf, __u64 ulen, __u32 sys)
{
	__u32 tid = (__u32)pid_tgid;
	struct tls_pendwr *p = bpf_map_lookup_elem(&tls_pendwr, &tid);
	struct tls_walk w;

	if (!p)
		return 0;
	tls_walk_write(ubuf, ulen, sys, &w);
	struct kconn *c = NULL;
	if (w.off) /* TLS records */
		c = tls_tie(pid_tgid >> 32, p->p.ssl, sk, WS_TLS_BY_NEXTWRITE);
	/* one record's worth of plaintext is the write's last record */
	bool whole = w.whole && w.n17 && w.last17 + 5 < w.off && p->p.bytes <= 16384;
	if (c)
		tls_emit(pid_tgid, c, sk, &p->p, WS_DIR_SEND, KCAST(struct tcp_sock, sk)->write_seq + (__u32)w.last17,
			 whole, p->data);
	else
		count_untied();
	bpf_map_delete_elem(&tls_pendwr, &tid);
	return 0;
}

/* A data syscall of a traced task on a socket: when it is made inside an
 * SSL_read or SSL_write, note its socket, and where the TLS record the
 * call moves begins: a write's first byte; for a read, the last record
 * header read alone (5 bytes asked: OpenSSL without read-ahead), or, when
 * the read returns exactly one whole record (with read-ahead, as nginx
 * asks), its start: see tls_record_read. Returns 0 for a syscall to
 * report, or WS_TLSR_* for a read inside SSL_read. *skip: the bytes are
 * left out (ciphertext of a connection whose plaintext is reported). */
static __always_inline __u32 tls_syscall(__u64 pid_tgid, __u64 sk, const struct kconn *c, __u8 dir, __u64 ubuf,
					 __u64 ulen, __u8 sys, bool *skip)
{
	struct tls_call *tc = bpf_map_lookup_elem(&tls_calls, &pid_tgid);
	__u32 note = 0;

	*skip = c->tls_ssl != 0;
	if (!tc)
		return 0;
	if (!tc->sk)
		tc->sk = sk;
	if (tc->sk != sk || tc->dir != dir)
		return 0;
	const struct tcp_sock *tp = KCAST(struct tcp_sock, sk);
	if (dir == WS_DIR_SEND) {
		if (tc->sends++)
			return 0;
		/* the call's first write: the end of a handshake the call
		 * finished may go before its data (a lazily completed
		 * handshake, or a client that never called SSL_connect) */
		struct tls_walk w;
		tls_walk_write(ubuf, ulen, sys, &w);
		if (w.h0 == 0x17) {
			tc->wire = tp->write_seq;
			tc->wire_known = 1;
		} else if (w.whole && w.n17 == 1) {
			tc->wire = tp->write_seq + (__u32)w.first17;
			tc->wire_known = 1;
		} else {
			tc->wire_known = 0; /* not known which record is the data's */
		}
		return 0;
	}
	if (ulen == 5) {
		tc->wire = tp->copied_seq;
		tc->wire_known = 1;
	} else {
		note = *skip ? WS_TLSR_ONLY : WS_TLSR_NOTE;
	}
	return note;
}

/* Whether ret bytes beginning with header h are exactly one whole TLS
 * application-data record (ciphertext that only looks like a header of
 * exactly the right length is a chance of about 2^-40). */
static __always_inline bool tls_one_record(const __u8 *h, long ret)
{
	return h[0] == 0x17 && h[1] == 3 && 5 + ((long)h[3] << 8 | h[4]) == ret;
}

/* A read inside SSL_read returned ret bytes at ubuf, from sequence number
 * seq on: when they are one whole record, the call's plaintext is that
 * record's (OpenSSL read nothing else, so it held no earlier record). */
static __always_inline void tls_record_read(__u64 pid_tgid, __u64 ubuf, long ret, __u32 seq)
{
	__u8 h[5];

	if (ret <= 5 || bpf_probe_read_user(h, sizeof(h), (void *)ubuf) || !tls_one_record(h, ret))
		return;
	struct tls_call *tc = bpf_map_lookup_elem(&tls_calls, &pid_tgid);
	if (tc && tc->dir == WS_DIR_RECV) {
		tc->wire = seq;
		tc->wire_known = 1;
	}
}

/* A read outside any TLS call returned ret bytes at ubuf (beginning with
 * h), from seq on: if they look like TLS records, the thread's next
 * SSL_read may decrypt them (see tls_lastrd). Where its record is, is
 * known when the read is whole records with one application-data record,
 * or, before the connection's first plaintext, two: the handshake's
 * Finished (TLS 1.3 hides its type) and then the data. */
static __noinline int tls_note_last(__u64 sk, __u64 ubuf, long ret, __u32 seq, __u32 first)
{
	struct tls_walk w;

	tls_walk_records(ubuf, (__u64)ret, &w);
	if (!w.off)
		return 0; /* not TLS */
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct tls_last v = {.sk = sk, .seq = seq + (__u32)w.last17,
			     .whole = w.whole && (w.n17 == 1 || (w.n17 == 2 && first))};
	bpf_map_update_elem(&tls_lastrd, &tid, &v, BPF_ANY);
	return 0;
}

static __always_inline int data_enter(__u32 fd, __u64 ubuf, __u64 ulen, __u8 sys, __u8 dir, __u8 flags)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct sock *sk = traced_tcp_sock(pid_tgid, fd);

	if (!sk)
		return 0;
	struct kconn *c = conn_get(sk, true, 0);
	if (!c || c->skip)
		return 0;
	__u32 tls_read = 0;
	struct tsched *t = NULL;
	if (tls_on) {
		/* the thread's flags (its entry made by its first TLS call) spare
		 * the TLS tables' lookups on every syscall of a thread that
		 * makes none */
		bool skip = c->tls_ssl != 0;
		t = thread_get((__u32)pid_tgid, false);
		if (t && t->tls_pend && dir == WS_DIR_SEND && !c->tls_ssl) {
			t->tls_pend = 0;
			tls_pending_write(pid_tgid, (__u64)sk, ubuf, ulen, sys);
			skip = c->tls_ssl != 0;
		}
		if (t && t->tls_call)
			tls_read = tls_syscall(pid_tgid, (__u64)sk, c, dir, ubuf, ulen, sys, &skip);
		if (skip && dir == WS_DIR_RECV && !tls_read)
			tls_read = WS_TLSR_LAST; /* a library that reads the socket outside its calls */
		if (skip && tls_read && tls_read != WS_TLSR_NOTE && (sys == WS_SYS_READ || sys == WS_SYS_RECVFROM)) {
			struct ws_inflight f = {.sk = (__u64)sk, .ubuf = ubuf, .ulen = ulen, .sys = sys, .dir = dir,
						.tls_read = tls_read};
			f.seq = KCAST(struct tcp_sock, sk)->copied_seq;
			bpf_map_update_elem(&inflight, &pid_tgid, &f, BPF_ANY);
			return 0;
		}
		if (skip)
			return 0;
	}
	if (shed(c)) {
		count(WS_KC_SHED);
		return 0;
	}

	struct ws_inflight f = {};
	f.tls_read = tls_read;
	const struct tcp_sock *tp = KCAST(struct tcp_sock, sk);
	f.ts_enter = bpf_ktime_get_ns();
	f.sk = (__u64)sk;
	f.conn_id = c->id;
	f.netns = c->netns;
	f.ubuf = ubuf;
	f.ulen = ulen;
	f.fd = fd;
	f.sys = sys;
	f.dir = dir;
	f.flags = flags;
	f.cap = conn_cap(c);
	f.classify = !c->classified && !c->small;
	f.seq = dir == WS_DIR_SEND ? tp->write_seq : tp->copied_seq;
	if (dir == WS_DIR_SEND)
		f.fence = tp->rcv_nxt;
	if (!t)
		t = thread_get((__u32)pid_tgid, true);
	if (t) {
		f.runq_ns = t->runq;
		f.offcpu_ns = t->offcpu;
	}
	note_context(&f, pid_tgid);
	if (bpf_map_update_elem(&inflight, &pid_tgid, &f, BPF_ANY))
		count(WS_KC_INFLIGHT_FULL);
	return 0;
}

/* How the bytes of a syscall are described in user memory. Each exit program
 * passes a constant, so it is verified with its own copy path only. */
enum copy_kind { COPY_PLAIN, COPY_IOV, COPY_MSG, COPY_MMSG, COPY_NONE };

/* Decide, once per connection and before copying its first bytes, how
 * much of each syscall to copy: whole (opens_whole), or the configured
 * prefix. Returns the copy limit. */
static __always_inline __u32 classify(const struct ws_inflight *f, enum copy_kind kind, __u32 limit)
{
	__u64 key = f->sk, iovp = f->ubuf, addr = f->ubuf;
	struct kconn *c;
	struct iovec iov;
	__u8 first[9] = {};

	if (f->flags & WS_KF_NOPAYLOAD)
		return limit; /* no user buffer to look at: decide later */
	if (kind == COPY_MSG) {
		struct user_msghdr m;
		if (bpf_probe_read_user(&m, sizeof(m), (void *)f->ubuf))
			return limit;
		iovp = (__u64)m.msg_iov;
	} else if (kind != COPY_PLAIN && kind != COPY_IOV) {
		return limit;
	}
	if (kind != COPY_PLAIN) {
		if (bpf_probe_read_user(&iov, sizeof(iov), (void *)iovp) || !iov.iov_len)
			return limit;
		addr = (__u64)iov.iov_base;
	}
	/* nine bytes, or one where fewer can be read (the buffer ends) */
	if (bpf_probe_read_user(first, sizeof(first), (void *)addr) && bpf_probe_read_user(first, 1, (void *)addr))
		return limit;
	c = bpf_map_lookup_elem(&conns, &key);
	if (!c)
		return limit;
	c->classified = 1;
	if (!opens_whole(first))
		return limit;
	c->whole = 1;
	return WS_PAYLOAD_MAX;
}

/* A syscall that was already blocked when recording started: user space
 * noted its arguments; find its socket now and work out the sequence
 * number of its first byte from where the stream stands after it. */
static __always_inline bool recover(struct ws_inflight *f, __u64 pid_tgid, long ret)
{
	struct sock *sk = traced_tcp_sock(pid_tgid, f->fd);

	if (!sk)
		return false;
	struct kconn *c = conn_get(sk, true, 0);
	if (!c || c->skip)
		return false;
	struct tcp_sock *tp = (struct tcp_sock *)sk;
	__u32 now = f->dir == WS_DIR_SEND ? BPF_CORE_READ(tp, write_seq) : BPF_CORE_READ(tp, copied_seq);
	f->sk = (__u64)sk;
	f->conn_id = c->id;
	f->netns = c->netns;
	f->seq = ret > 0 ? now - (__u32)ret : now;
	f->cap = conn_cap(c);
	f->classify = !c->classified && !c->small;
	return true;
}

/* Take (copy and forget) the current thread's syscall noted at entry. */
static __always_inline bool inflight_take(__u64 pid_tgid, struct ws_inflight *f)
{
	struct ws_inflight *p = bpf_map_lookup_elem(&inflight, &pid_tgid);

	if (!p)
		return false;
	*f = *p;
	bpf_map_delete_elem(&inflight, &pid_tgid);
	return true;
}

/* After a write: bytes the socket's TCP kept back instead of sending
 * (write_seq ahead of snd_nxt) start a hold, which the ACK that lets
 * them go ends (tcp_probe). */
static __always_inline void note_hold(__u64 skp)
{
	const struct tcp_sock *tp = KCAST(struct tcp_sock, skp);
	__u32 wseq = tp->write_seq, nxt = tp->snd_nxt;

	if ((__s32)(wseq - nxt) <= 0)
		return;
	__u64 key = skp;
	struct kconn *c = bpf_map_lookup_elem(&conns, &key);
	if (!c)
		return;
	if (!c->hold_t) {
		__u32 why = WS_HOLD_OTHER, held = wseq - nxt;
		if (tp->packets_out >= tp->snd_cwnd)
			why = WS_HOLD_CWND;
		else if ((__s32)(wseq - (tp->snd_una + tp->snd_wnd)) > 0)
			why = WS_HOLD_RWND;
		else if (tp->packets_out && held < tp->mss_cache &&
			 !(BPF_CORE_READ_BITFIELD_PROBED(tp, nonagle) & 1 /* TCP_NAGLE_OFF */))
			why = WS_HOLD_NAGLE;
		c->hold_t = bpf_ktime_get_ns();
		c->hold_start = nxt;
		c->hold_why = why;
	}
	c->hold_end = wseq;
}

static __always_inline int data_exit(long ret, enum copy_kind kind, __u8 sys)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct ws_inflight f;

	/* an entry of another syscall was left by one whose exit we missed */
	if (!inflight_take(pid_tgid, &f) || f.sys != sys)
		return 0;
	if (ret < 0 && transient_error(ret))
		return 0;
	if (ret == 0 && f.dir == WS_DIR_SEND)
		return 0;
	if (f.tls_read == WS_TLSR_LAST) {
		__u64 key = f.sk;
		const struct kconn *c = bpf_map_lookup_elem(&conns, &key);
		if (ret > 5 && kind == COPY_PLAIN)
			tls_note_last(f.sk, f.ubuf, ret, f.seq, c && !c->tls_off[WS_DIR_RECV]);
		return 0;
	}
	if (f.tls_read && kind == COPY_PLAIN)
		tls_record_read(pid_tgid, f.ubuf, ret, f.seq);
	if (f.tls_read == WS_TLSR_ONLY)
		return 0;
	if ((f.flags & WS_KF_RECOVERED) && !recover(&f, pid_tgid, ret))
		return 0;

	if (f.dir == WS_DIR_SEND && ret > 0 && f.sk)
		note_hold(f.sk);
	struct scratch *s = scratch_get();
	if (!s)
		return 0;
	fill_header(&s->ev, &f, pid_tgid);
	fill_timing(&s->ev, &f, pid_tgid, ret);
	__u32 limit = f.cap ? f.cap : cfg_payload;
	if (f.classify && ret > 0)
		limit = classify(&f, kind, limit);
	if (limit > WS_PAYLOAD_MAX)
		limit = WS_PAYLOAD_MAX;

	if (ret < 0) {
		s->ev.flags |= WS_KF_ERROR;
		s->ev.err = ret;
	} else if (ret == 0) {
		/* EOF, unless zero bytes were asked for (read(fd, buf, 0)) */
		if (kind == COPY_PLAIN && f.ulen == 0)
			return 0;
		s->ev.flags |= WS_KF_EOF;
	} else if (kind == COPY_MMSG) {
		/* ret counts messages. On a TCP socket they are consecutive bytes
		 * of one stream: report one event for all of them, with the
		 * payload prefix taken from the first message. */
		struct mmsghdr first;
		__u64 total;
		if (bpf_probe_read_user(&first, sizeof(first), (void *)f.ubuf)) {
			count(WS_KC_READ_FAIL);
			return 0;
		}
		/* copy first: a single path into the iovec walk keeps
		 * verification short */
		copy_iov_once((__u64)first.msg_hdr.msg_iov, first.msg_hdr.msg_iovlen, first.msg_len, limit);
		total = first.msg_len;
		for (__u32 i = 1; i < WS_MMSG_MAX; i++) {
			__u32 len;

			if (i >= ret || bpf_probe_read_user(&len, sizeof(len),
							    (void *)(f.ubuf + i * sizeof(struct mmsghdr) +
								     offsetof(struct mmsghdr, msg_len))))
				break;
			total += len;
		}
		if (ret > WS_MMSG_MAX)
			count(WS_KC_MMSG_CUT);
		s->ev.bytes = total;
		if (first.msg_len < total)
			s->ev.tail = 0; /* the tail would not be the end of the event */
	} else {
		s->ev.bytes = ret;
		if (f.flags & WS_KF_NOPAYLOAD)
			kind = COPY_NONE;
		if (kind == COPY_PLAIN && limit == WS_PAYLOAD_MAX && ret > WS_PAYLOAD_MAX) {
			struct chunk_walk w = {.ubuf = f.ubuf, .total = ret, .seq = f.seq, .flags = s->ev.flags};
			bpf_loop(WS_CHUNKS_MAX, chunk_step, &w, 0);
			return 0;
		}
		if ((kind == COPY_IOV || kind == COPY_MSG) && limit == WS_PAYLOAD_MAX && ret > WS_PAYLOAD_MAX) {
			struct iovc_walk *w = &s->iw;
			struct user_msghdr m;
			__builtin_memset(w, 0, sizeof(*w));
			w->iovp = f.ubuf;
			w->iovcnt = f.ulen;
			w->total = ret;
			w->seq = f.seq;
			if (kind == COPY_MSG) {
				if (bpf_probe_read_user(&m, sizeof(m), (void *)f.ubuf))
					goto whole_fail;
				w->iovp = (__u64)m.msg_iov;
				w->iovcnt = m.msg_iovlen;
			}
			s->ev.cap = s->ev.tail = 0;
			/* a step reads an iovec or copies a piece of one */
			bpf_loop(2 * WS_IOV_MAX + WS_CHUNKS_MAX, iovc_step, NULL, 0);
			if (!w->done) /* iovecs past the walk: the rest is a gap */
				iovc_emit(s, w, w->total - w->rec_start);
			return 0;
		}
	whole_fail:
		if (kind == COPY_PLAIN) {
			copy_plain_once(f.ubuf, ret, limit);
		} else if (kind == COPY_IOV) {
			copy_iov_once(f.ubuf, f.ulen, ret, limit);
		} else if (kind == COPY_MSG) {
			struct user_msghdr m;
			if (bpf_probe_read_user(&m, sizeof(m), (void *)f.ubuf)) {
				s->ev.flags |= WS_KF_READFAIL;
				count(WS_KC_READ_FAIL);
			} else {
				copy_iov_once((__u64)m.msg_iov, m.msg_iovlen, ret, limit);
			}
		} else {
			s->ev.flags |= WS_KF_NOPAYLOAD; /* sendfile, splice: no user buffer */
		}
	}
	if (tls_on && f.dir == WS_DIR_RECV && kind == COPY_PLAIN && s->ev.cap >= 5 && s->data[0] >= 0x14 &&
	    s->data[0] <= 0x17 && s->data[1] == 3)
		tls_note_last(f.sk, f.ubuf, ret, f.seq, 1);
	emit(&s->ev, sizeof(s->ev) + ((s->ev.cap + s->ev.tail) & (2 * WS_PAYLOAD_MAX - 1)));
	return 0;
}

#define ENTER(name) SEC("tracepoint/syscalls/sys_enter_" #name) int enter_##name(struct trace_event_raw_sys_enter *ctx)
#define EXIT(name, kind, sys)                                                                      \
	SEC("tracepoint/syscalls/sys_exit_" #name) int exit_##name(struct trace_event_raw_sys_exit *ctx) \
	{                                                                                          \
		return data_exit(ctx->ret, kind, sys);                                             \
	}

ENTER(read) { return data_enter(ctx->args[0], ctx->args[1], ctx->args[2], WS_SYS_READ, WS_DIR_RECV, 0); }
EXIT(read, COPY_PLAIN, WS_SYS_READ)
ENTER(write) { return data_enter(ctx->args[0], ctx->args[1], ctx->args[2], WS_SYS_WRITE, WS_DIR_SEND, 0); }
EXIT(write, COPY_PLAIN, WS_SYS_WRITE)
ENTER(readv) { return data_enter(ctx->args[0], ctx->args[1], ctx->args[2], WS_SYS_READV, WS_DIR_RECV, 0); }
EXIT(readv, COPY_IOV, WS_SYS_READV)
ENTER(writev) { return data_enter(ctx->args[0], ctx->args[1], ctx->args[2], WS_SYS_WRITEV, WS_DIR_SEND, 0); }
EXIT(writev, COPY_IOV, WS_SYS_WRITEV)
ENTER(sendto) { return data_enter(ctx->args[0], ctx->args[1], ctx->args[2], WS_SYS_SENDTO, WS_DIR_SEND, 0); }
EXIT(sendto, COPY_PLAIN, WS_SYS_SENDTO)
ENTER(recvfrom)
{
	if (ctx->args[3] & MSG_PEEK) /* the bytes will be read again */
		return 0;
	return data_enter(ctx->args[0], ctx->args[1], ctx->args[2], WS_SYS_RECVFROM, WS_DIR_RECV,
			  ctx->args[3] & MSG_TRUNC ? WS_KF_NOPAYLOAD : 0);
}
EXIT(recvfrom, COPY_PLAIN, WS_SYS_RECVFROM)
ENTER(sendmsg) { return data_enter(ctx->args[0], ctx->args[1], 0, WS_SYS_SENDMSG, WS_DIR_SEND, 0); }
EXIT(sendmsg, COPY_MSG, WS_SYS_SENDMSG)
ENTER(recvmsg)
{
	if (ctx->args[2] & MSG_PEEK)
		return 0;
	return data_enter(ctx->args[0], ctx->args[1], 0, WS_SYS_RECVMSG, WS_DIR_RECV, 0);
}
EXIT(recvmsg, COPY_MSG, WS_SYS_RECVMSG)
ENTER(sendmmsg) { return data_enter(ctx->args[0], ctx->args[1], ctx->args[2], WS_SYS_SENDMMSG, WS_DIR_SEND, 0); }
EXIT(sendmmsg, COPY_MMSG, WS_SYS_SENDMMSG)
ENTER(recvmmsg)
{
	if (ctx->args[3] & MSG_PEEK)
		return 0;
	return data_enter(ctx->args[0], ctx->args[1], ctx->args[2], WS_SYS_RECVMMSG, WS_DIR_RECV, 0);
}
EXIT(recvmmsg, COPY_MMSG, WS_SYS_RECVMMSG)
ENTER(sendfile64) { return data_enter(ctx->args[0], 0, 0, WS_SYS_SENDFILE, WS_DIR_SEND, WS_KF_NOPAYLOAD); }
EXIT(sendfile64, COPY_NONE, WS_SYS_SENDFILE)

/* splice(fd_in, off_in, fd_out, off_out, len, flags): a socket on either end */
ENTER(splice)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if (traced_tcp_sock(pid_tgid, ctx->args[2]))
		return data_enter(ctx->args[2], 0, 0, WS_SYS_SPLICE, WS_DIR_SEND, WS_KF_NOPAYLOAD);
	return data_enter(ctx->args[0], 0, 0, WS_SYS_SPLICE, WS_DIR_RECV, WS_KF_NOPAYLOAD);
}
EXIT(splice, COPY_NONE, WS_SYS_SPLICE)

/* ---- connection lifecycle ---- */

static __always_inline void emit_lifecycle(struct sock *sk, struct kconn *c, __u8 type, __u8 sys, __u8 flags,
					   __u64 ts_enter, long err, __u32 fd)
{
	struct ws_kevent ev = {};
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	ev.type = type;
	ev.sys = sys;
	ev.flags = flags;
	ev.pid = pid_tgid >> 32;
	ev.tid = (__u32)pid_tgid;
	ev.err = err;
	ev.conn_id = c->id;
	ev.ts_exit = bpf_ktime_get_ns();
	ev.ts_enter = ts_enter ? ts_enter : ev.ts_exit;
	ev.fd = fd;
	ev.netns = c->netns;
	ev.ts_estab = c->estab;
	ev.srtt_us = srtt_us((__u64)sk);
	read_tuple((__u64)sk, &ev.tuple);
	read_comm(ev.comm);
	/* a stream that was established (its sequence numbers are set) */
	__u8 st = KCAST(struct sock, sk)->__sk_common.skc_state;
	if (!(flags & WS_KF_ERROR) && st != TCP_SYN_SENT && st != TCP_SYN_RECV && st != TCP_LISTEN &&
	    (st == TCP_ESTABLISHED || c->estab))
		stream_seqs(&ev, sk);
	emit(&ev, sizeof(ev));
}

static __always_inline int accept_exit(long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct sock *sk = ret < 0 ? NULL : traced_tcp_sock(pid_tgid, ret);

	if (!sk)
		return 0;
	struct kconn *c = conn_get(sk, true, WS_KF_SERVER);
	if (!c || c->skip)
		return 0;
	emit_lifecycle(sk, c, WS_KEV_OPEN, WS_SYS_ACCEPT, WS_KF_SERVER, 0, 0, ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int exit_accept(struct trace_event_raw_sys_exit *ctx) { return accept_exit(ctx->ret); }

SEC("tracepoint/syscalls/sys_exit_accept4")
int exit_accept4(struct trace_event_raw_sys_exit *ctx) { return accept_exit(ctx->ret); }

ENTER(connect)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct sock *sk = traced_tcp_sock(pid_tgid, ctx->args[0]);

	if (!sk)
		return 0;
	struct ws_inflight f = {};
	f.ts_enter = bpf_ktime_get_ns();
	f.sk = (__u64)sk;
	f.fd = ctx->args[0];
	f.sys = WS_SYS_CONNECT;
	if (bpf_map_update_elem(&inflight, &pid_tgid, &f, BPF_ANY))
		count(WS_KC_INFLIGHT_FULL);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct ws_inflight f;
	long ret = ctx->ret;

	/* EALREADY and EISCONN: a repeated connect() of a non-blocking socket
	 * whose handshake is under way or done, not a failure */
	if (!inflight_take(pid_tgid, &f) || f.sys != WS_SYS_CONNECT ||
	    (ret < 0 && (transient_error(ret) || ret == -EALREADY || ret == -EISCONN)))
		return 0;
	struct sock *sk = (struct sock *)f.sk;
	__u64 key = f.sk;
	/* a connect that failed leaves a closed socket: only one whose SYN
	 * went out (see conn_connecting) is reported, as a failed connection */
	struct kconn *c = ret < 0 && ret != -EINPROGRESS ? bpf_map_lookup_elem(&conns, &key)
							   : conn_get(sk, true, WS_KF_CLIENT);
	if (!c || c->skip)
		return 0;
	emit_lifecycle(sk, c, WS_KEV_OPEN, WS_SYS_CONNECT,
		       WS_KF_CLIENT | (ret < 0 && ret != -EINPROGRESS ? WS_KF_ERROR : 0), f.ts_enter, ret, f.fd);
	return 0;
}

ENTER(close)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct sock *sk = traced_tcp_sock(pid_tgid, ctx->args[0]);

	if (!sk)
		return 0;
	struct kconn *c = conn_get(sk, false, 0);
	if (!c || c->skip || fd_shared(ctx->args[0])) /* still open elsewhere */
		return 0;
	emit_lifecycle(sk, c, WS_KEV_CLOSE, WS_SYS_CLOSE, 0, 0, 0, ctx->args[0]);
	return 0;
}

/* A connect() by a traced task sends its SYN: track the socket from now,
 * so that the handshake and its retransmissions are timed. Runs in the
 * connecting task, before the local port is chosen. */
static __always_inline int conn_connecting(const struct sock *sk)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct ws_inflight *f = bpf_map_lookup_elem(&inflight, &pid_tgid);

	if (!f || f->sys != WS_SYS_CONNECT || f->sk != (__u64)sk)
		return 0;
	struct kconn n = {.role = WS_KF_CLIENT, .traced = 1};
	n.skip = conn_filtered(sk, &n.netns);
	conn_insert(sk, &n);
	return 0;
}

/* A server-side connection completed its handshake and waits in the
 * accept queue (softirq: the accepting task is not known yet). Track it
 * from now so that its wait for accept() and the arrival of its first
 * request are timed; its events are reported once a traced task uses it. */
static __always_inline int conn_accepted_early(const struct sock *sk, __u64 now)
{
	struct kconn n = {.estab = now};

	if (!conn_filtered(sk, &n.netns)) /* an excluded socket is not kept */
		conn_insert(sk, &n);
	return 0;
}

/* TCP state changes of tracked sockets. tp_btf has per-program recursion
 * protection, so this still runs when it interrupts a syscall program. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(state_change, const struct sock *sk, const int oldstate, const int newstate)
{
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	__u64 key = (__u64)sk, now = bpf_ktime_get_ns();
	struct kconn *c = bpf_map_lookup_elem(&conns, &key);
	if (!c) {
		if (newstate == TCP_SYN_SENT)
			return conn_connecting(sk);
		if (newstate == TCP_ESTABLISHED && oldstate == TCP_SYN_RECV)
			return conn_accepted_early(sk, now);
		return 0;
	}
	if (newstate == TCP_ESTABLISHED && !c->estab)
		c->estab = now;
	if (!c->skip && c->traced) {
		struct ws_kevent ev = {};
		ev.type = WS_KEV_STATE;
		ev.conn_id = c->id;
		ev.ts_enter = ev.ts_exit = now;
		ev.netns = c->netns;
		ev.oldstate = oldstate;
		ev.newstate = newstate;
		ev.srtt_us = srtt_us((__u64)sk);
		read_tuple((__u64)sk, &ev.tuple);
		/* established (copied_seq is set before the change), or closed
		 * after it was */
		if (newstate == TCP_ESTABLISHED ||
		    (newstate == TCP_CLOSE && oldstate != TCP_SYN_SENT && oldstate != TCP_SYN_RECV))
			stream_seqs(&ev, sk);
		emit(&ev, sizeof(ev));
	}
	return 0;
}

/* ---- TCP facts: arrivals, retransmissions, resets, drops ---- */

/* A TCP fact of a tracked socket, now; since: when it began (0: now). */
static __always_inline void emit_tcp(const struct sock *sk, const struct kconn *c, __u8 what, __u32 seq, __u32 len,
				     __u32 reason, __u64 since)
{
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;
	const struct inet_connection_sock *icsk = (const struct inet_connection_sock *)sk;
	__u32 hz = CONFIG_HZ ? CONFIG_HZ : 1000;
	struct ws_kevent ev = {};

	ev.type = WS_KEV_TCP;
	ev.sys = what;
	ev.flags = c->role;
	ev.conn_id = c->id;
	ev.ts_exit = bpf_ktime_get_ns();
	ev.ts_enter = since ? since : ev.ts_exit;
	ev.netns = c->netns;
	ev.seq = seq;
	ev.bytes = len;
	ev.reason = reason;
	ev.srtt_us = BPF_CORE_READ(tp, srtt_us) >> 3;
	ev.rto_us = BPF_CORE_READ(icsk, icsk_rto) * (1000000 / hz);
	ev.retrans = BPF_CORE_READ(tp, total_retrans);
	ev.oldstate = ev.newstate = BPF_CORE_READ(sk, __sk_common.skc_state);
	read_tuple((__u64)sk, &ev.tuple);
	emit(&ev, sizeof(ev));
}

/* Every segment an established socket receives. Only the arrival times of
 * new bytes on tracked sockets are kept (see fill_timing). */
SEC("tp_btf/tcp_probe")
int BPF_PROG(tcp_probe, struct sock *sk, const struct sk_buff *skb)
{
	__u64 key = (__u64)sk;
	struct kconn *c = bpf_map_lookup_elem(&conns, &key);

	if (!c || c->skip)
		return 0;
	const struct tcp_skb_cb *cb = KCAST(struct tcp_skb_cb, skb->cb);
	const struct tcp_sock *tp = KCAST(struct tcp_sock, sk);
	__u32 seq = cb->seq, end = cb->end_seq;
	__u32 nxt = tp->rcv_nxt;
	if (c->hold_t) {
		/* an ACK of new bytes: held bytes go out once it is processed
		 * (Nagle: once nothing is left in flight) */
		__u32 ack = cb->ack_seq, snd_nxt = tp->snd_nxt;
		if ((__s32)(ack - tp->snd_una) > 0 && (c->hold_why != WS_HOLD_NAGLE || (__s32)(ack - snd_nxt) >= 0)) {
			if (c->traced && (__s32)(c->hold_end - c->hold_start) > 0)
				emit_tcp(sk, c, WS_TCP_HELD, c->hold_start, c->hold_end - c->hold_start, c->hold_why,
					 c->hold_t);
			c->hold_t = 0;
		} else if (bpf_ktime_get_ns() - c->hold_t > 10000000000ull) {
			c->hold_t = 0; /* released some other way, long ago */
		}
	}
	if (end == seq || (__s32)(end - nxt) <= 0)
		return 0; /* no new bytes: an ACK or a duplicate */
	__u64 now = bpf_ktime_get_ns();
	__u32 epoch = hook_epoch;
	if (!c->rq_first || c->rq_epoch != epoch || tp->copied_seq == nxt)
		c->rq_first = now;
	c->rq_last = now;
	c->rq_epoch = epoch;
	return 0;
}


static __always_inline const struct kconn *reported_conn(const struct sock *sk)
{
	__u64 key = (__u64)sk;
	const struct kconn *c = sk ? bpf_map_lookup_elem(&conns, &key) : NULL;

	return c && !c->skip && c->traced ? c : NULL;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(retransmit, const struct sock *sk, const struct sk_buff *skb, int err)
{
	const struct kconn *c = reported_conn(sk);

	if (!c || err)
		return 0;
	struct tcp_skb_cb *cb = (struct tcp_skb_cb *)__builtin_preserve_access_index(&skb->cb);
	__u32 seq = BPF_CORE_READ(cb, seq), end = BPF_CORE_READ(cb, end_seq);
	__u8 ca = BPF_CORE_READ_BITFIELD_PROBED((const struct inet_connection_sock *)sk, icsk_ca_state);
	emit_tcp(sk, c, WS_TCP_RETRANS, seq, end - seq, BPF_CORE_READ(cb, tcp_flags) | (__u32)ca << 8, 0);
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(receive_reset, struct sock *sk)
{
	const struct kconn *c = reported_conn(sk);

	if (c)
		emit_tcp(sk, c, WS_TCP_RESET_RX, 0, 0, 0, 0);
	return 0;
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(send_reset, const struct sock *sk, const struct sk_buff *skb)
{
	const struct kconn *c = reported_conn(sk);

	if (c)
		emit_tcp(sk, c, WS_TCP_RESET_TX, 0, 0, 0, 0);
	return 0;
}

/* Packets the kernel drops: counted per reason for the host, and reported
 * per connection when the packet belonged to a tracked socket. */
SEC("tp_btf/kfree_skb")
int BPF_PROG(kfree_skb, struct sk_buff *skb, void *location, enum skb_drop_reason reason)
{
	__u32 r = reason < WS_DROP_REASONS ? reason : WS_DROP_REASONS - 1;

	if (r < 2) /* SKB_NOT_DROPPED_YET, SKB_CONSUMED */
		return 0;
	__u64 *v = bpf_map_lookup_elem(&drops, &r);
	if (v)
		*v += 1;
	struct sock *sk = skb->sk;
	if (!sk || sk->sk_protocol != IPPROTO_TCP)
		return 0;
	const struct kconn *c = reported_conn(sk);
	if (c)
		emit_tcp(sk, c, WS_TCP_DROP, 0, 0, reason, 0);
	return 0;
}

/* ---- scheduler time of traced threads ---- */

#define TASK_RUNNING 0

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next, unsigned int prev_state)
{
	__u64 now = bpf_ktime_get_ns();
	__u32 tid = prev->pid, epoch = hook_epoch;
	struct tsched *t = bpf_map_lookup_elem(&threads, &tid);

	if (t) {
		t->out = now;
		t->woken = 0;
		t->runnable = preempt || prev_state == TASK_RUNNING;
		t->epoch = epoch;
	}
	tid = next->pid;
	t = bpf_map_lookup_elem(&threads, &tid);
	if (t && t->out && t->epoch != epoch) {
		t->out = 0; /* it left the CPU while this program was detached: unknown */
	} else if (t && t->out) {
		if (t->runnable) {
			t->runq += now - t->out;
		} else if (t->woken >= t->out) {
			t->offcpu += t->woken - t->out;
			t->runq += now - t->woken;
		} else {
			t->offcpu += now - t->out; /* its wakeup was not seen */
		}
		t->out = 0;
	}
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(sched_wakeup, struct task_struct *p)
{
	__u32 tid = p->pid;
	struct tsched *t = bpf_map_lookup_elem(&threads, &tid);

	if (t && t->out && !t->runnable && !t->woken && t->epoch == hook_epoch)
		t->woken = bpf_ktime_get_ns();
	return 0;
}

/* The socket is gone: forget it. */
SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(destroy_sock, struct sock *sk)
{
	__u64 key = (__u64)sk;

	if (bpf_map_delete_elem(&conns, &key) == 0)
		count(WS_KC_CONN_REMOVED);
	return 0;
}

/* ---- the Go runtime: goroutines created, made runnable, ended ---- */

static __always_inline void emit_task(__u8 what, __u64 pid_tgid, __u64 goid, __u64 parent)
{
	struct ws_ktask ev = {};

	ev.type = WS_KEV_TASK;
	ev.sys = what;
	ev.pid = pid_tgid >> 32;
	ev.tid = (__u32)pid_tgid;
	ev.ts = bpf_ktime_get_ns();
	ev.goid = goid;
	ev.parent = parent;
	/* a new program is looked at (and probed) at once: its first calls
	 * come within milliseconds */
	emit_now(&ev, sizeof(ev), what == WS_TASK_EXEC);
}

/* One program for every probe site; the attach cookie says which
 * (enum ws_go_site). At the runqput call in newproc the runtime runs on
 * the thread's system stack: R14 holds g0, and g0.m.curg is the goroutine
 * that created the one in BX; at the send calls of a channel send, R14 is
 * the sender and BX the sudog of the receiver it hands the value to. */
SEC("uprobe")
int go_runtime(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid(), site = bpf_get_attach_cookie(ctx);
	__u32 tgid = pid_tgid >> 32;
	const struct ws_goproc *gp = bpf_map_lookup_elem(&goprocs, &tgid);

	if (!gp)
		return 0;
	__u64 cur = go_current(gp, ctx->r14, (__u32)pid_tgid);
	struct gkey k = {.tgid = tgid};
	if (site == WS_GO_SITE_EXIT) {
		k.goid = cur;
		if (cur && bpf_map_delete_elem(&gwakes, &k) == 0)
			count(WS_KC_GO_WAKE_REMOVED);
		return 0;
	}
	__u64 g = site == WS_GO_SITE_SPAWN ? ctx->bx : user_word(ctx->bx); /* sudog.g */
	__u64 other = g ? user_word(g + gp->g_goid) : 0;
	if (!other)
		return 0;
	if (site == WS_GO_SITE_SPAWN) {
		count(WS_KC_GO_SPAWNS);
		emit_task(WS_TASK_GO_SPAWN, pid_tgid, other, cur);
		return 0;
	}
	/* a value handed over a channel: from the sender to the receiver,
	 * whichever of them was parked */
	__u64 sender = site == WS_GO_SITE_SEND ? cur : other;
	k.goid = site == WS_GO_SITE_SEND ? other : cur;
	if (!sender || !k.goid || sender == k.goid)
		return 0;
	struct gwake w = {.waker = sender, .ts = bpf_ktime_get_ns()};
	struct gkey from = {.tgid = tgid, .goid = sender};
	const struct gwake *prev = bpf_map_lookup_elem(&gwakes, &from);
	if (prev) { /* what the sender was handed last: a job a worker passes on */
		w.waker2 = prev->waker;
		w.ts2 = prev->ts;
	}
	struct gwake *e = bpf_map_lookup_elem(&gwakes, &k);
	if (e)
		*e = w;
	else if (bpf_map_update_elem(&gwakes, &k, &w, BPF_NOEXIST) == 0)
		count(WS_KC_GO_WAKE_ADDED);
	count(WS_KC_GO_WAKES);
	return 0;
}

/* ---- CPython asyncio: which task runs, which created which ---- */

static __always_inline __u64 py_task_id(__u32 tgid, __u64 task, bool created)
{
	struct gkey k = {.tgid = tgid, .goid = task};
	__u64 *id = created ? NULL : bpf_map_lookup_elem(&pytask_ids, &k);

	if (id)
		return *id;
	__u64 n = __sync_fetch_and_add(&py_next_id, 1) + 1;
	bpf_map_update_elem(&pytask_ids, &k, &n, BPF_ANY);
	return n;
}

/* Entry of a task's step (its id becomes the thread's task) or of a
 * task's creation (the thread's task is its parent); the cookie says
 * which (enum ws_py_site). */
SEC("uprobe")
int py_task(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid(), site = bpf_get_attach_cookie(ctx);
	__u32 tgid = pid_tgid >> 32, tid = (__u32)pid_tgid;
	__u64 task = site == WS_PY_SITE_STEP ? user_word(ctx->di + WS_PY_SW_TASK) : ctx->di;

	if (!task || !task_wanted(pid_tgid))
		return 0;
	if (site == WS_PY_SITE_INIT) {
		const __u64 *parent = bpf_map_lookup_elem(&pycur, &tid);
		emit_task(WS_TASK_PY_SPAWN, pid_tgid, py_task_id(tgid, task, true), parent ? *parent : 0);
		count(WS_KC_PY_TASKS);
		return 0;
	}
	__u64 id = py_task_id(tgid, task, false);
	bpf_map_update_elem(&pycur, &tid, &id, BPF_ANY);
	count(WS_KC_PY_STEPS);
	return 0;
}

/* The step returned: the thread runs no task (the loop's own callbacks,
 * such as a protocol's reads, run outside tasks). */
SEC("uretprobe")
int py_task_ret(struct pt_regs *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	bpf_map_delete_elem(&pycur, &tid);
	return 0;
}

/* ---- TLS libraries: the plaintext of SSL_read and SSL_write ---- */

SEC("uprobe")
int tls_enter(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid(), site = bpf_get_attach_cookie(ctx);
	__u64 ssl = PT_REGS_PARM1(ctx);

	/* shed to no data: the probes stay (detaching them takes the
	 * attacher), but return at once */
	if (!ssl || shed_level >= WS_SHED_NODATA || !task_wanted(pid_tgid))
		return 0;
	if (site == WS_TLS_SITE_SET_FD) {
		struct sock *sk = fd_to_tcp_sock(PT_REGS_PARM2(ctx));
		if (sk)
			tls_tie(pid_tgid >> 32, ssl, (__u64)sk, WS_TLS_BY_SET_FD);
		return 0;
	}
	struct tls_call tc = {.ssl = ssl, .buf = PT_REGS_PARM2(ctx), .ts_enter = bpf_ktime_get_ns()};
	tc.dir = site == WS_TLS_SITE_WRITE || site == WS_TLS_SITE_WRITE_EX ? WS_DIR_SEND : WS_DIR_RECV;
	if (site == WS_TLS_SITE_READ_EX || site == WS_TLS_SITE_WRITE_EX)
		tc.outp = PT_REGS_PARM4(ctx);
	struct tsched *t = thread_get((__u32)pid_tgid, true);
	if (t) {
		tc.runq = t->runq;
		tc.offcpu = t->offcpu;
		t->tls_call = 1;
	}
	if (tc.dir == WS_DIR_SEND) {
		/* its record begins where the socket's bytes end, or where the
		 * write that could not finish began */
		struct tls_key k = {.tgid = pid_tgid >> 32, .ssl = ssl};
		struct tls_sock *ts;
		struct kconn *c = tls_tied(&k, &ts);
		if (c) {
			/* values first: a load from either pointer, merged, would
			 * not verify */
			__u32 pend = ts->pend_wire;
			__u8 pending = ts->pend_known;
			tc.sk = ts->sk;
			tc.wire = pending ? pend : KCAST(struct tcp_sock, tc.sk)->write_seq;
			tc.wire_known = 1;
		}
	}
	bpf_map_update_elem(&tls_calls, &pid_tgid, &tc, BPF_ANY);
	return 0;
}

/* Keep an untied SSL_write's plaintext (its prefix) until the thread
 * writes its ciphertext (tls_pending_write); one already kept is lost. */
static __always_inline void tls_pend_write(__u32 tid, const struct tls_pend *p)
{
	struct scratch *s = scratch_get();

	if (!s)
		return;
	struct tls_pendwr *w = (struct tls_pendwr *)s->data; /* built where there is room */
	__u64 cap = p->bytes;
	if (cap > WS_TLS_PEND_MAX)
		cap = WS_TLS_PEND_MAX;
	if (cap > cfg_payload)
		cap = cfg_payload;
	w->p = *p;
	w->p.cap = 0;
	if (cap && !bpf_probe_read_user(w->data, cap, (void *)p->buf))
		w->p.cap = cap;
	if (bpf_map_lookup_elem(&tls_pendwr, &tid))
		count_untied();
	bpf_map_update_elem(&tls_pendwr, &tid, w, BPF_ANY);
}

SEC("uretprobe")
int tls_exit(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct tls_call *p = bpf_map_lookup_elem(&tls_calls, &pid_tgid);
	struct tls_call tc;
	long ret = (int)PT_REGS_RC(ctx); /* every one returns an int: the upper half of RAX is not its */

	if (!p)
		return 0;
	tc = *p;
	bpf_map_delete_elem(&tls_calls, &pid_tgid);
	if (tc.outp) { /* _ex: 1 and the count written, or 0 */
		__u64 n = 0;
		ret = ret == 1 && !bpf_probe_read_user(&n, sizeof(n), (void *)tc.outp) ? (long)n : 0;
	}
	struct tls_pend pend = {.ssl = tc.ssl, .buf = tc.buf, .ts_enter = tc.ts_enter, .ts_exit = bpf_ktime_get_ns(),
				.runq = {tc.runq, tc.runq}, .offcpu = {tc.offcpu, tc.offcpu}, .bytes = (__u32)ret};
	struct tsched *t = thread_get(tid, false);
	if (t) {
		pend.runq[1] = t->runq;
		pend.offcpu[1] = t->offcpu;
		t->tls_call = 0;
	}

	/* which socket: the one it is tied to, the one a syscall inside the
	 * call used, or the one the thread read a TLS record from since its
	 * last TLS call */
	struct tls_key k = {.tgid = pid_tgid >> 32, .ssl = tc.ssl};
	struct tls_sock *ts;
	struct kconn *c = tls_tied(&k, &ts);
	struct tls_last last = {};
	struct tls_last *lp = bpf_map_lookup_elem(&tls_lastrd, &tid);
	if (lp) {
		last = *lp;
		bpf_map_delete_elem(&tls_lastrd, &tid);
	}
	if (!c) {
		if (tc.sk)
			c = tls_tie(k.tgid, tc.ssl, tc.sk, WS_TLS_BY_SYSCALL);
		else if (last.sk && tc.dir == WS_DIR_RECV)
			c = tls_tie(k.tgid, tc.ssl, last.sk, WS_TLS_BY_LASTREAD);
		ts = c ? bpf_map_lookup_elem(&tls_ssl, &k) : NULL;
	}
	if (!c || !ts) {
		if (ret > 0 && tc.dir == WS_DIR_SEND) { /* the library may write it itself next */
			tls_pend_write(tid, &pend);
			if (t)
				t->tls_pend = 1;
		}
		else if (ret > 0)
			count_untied();
		return 0;
	}
	__u64 sk = ts->sk;
	if (tc.dir == WS_DIR_SEND) {
		if (ret <= 0) {
			if (tc.wire_known && !ts->pend_known) {
				ts->pend_wire = tc.wire;
				ts->pend_known = 1;
			}
			return 0;
		}
		ts->pend_known = 0;
	} else if (!tc.wire_known && last.whole && last.sk == sk) {
		tc.wire = last.seq; /* the record the thread read just before */
		tc.wire_known = 1;
	}
	if (ret > 0)
		tls_emit(pid_tgid, c, sk, &pend, tc.dir, tc.wire, tc.wire_known, NULL);
	return 0;
}

/* A traced process executed a new program: user space looks at it (a Go
 * binary gets the runtime probes). */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(process_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if (!task_wanted(pid_tgid))
		return 0;
	__u32 tgid = pid_tgid >> 32;
	bpf_map_delete_elem(&goprocs, &tgid); /* the old program's, if it was Go */
	emit_task(WS_TASK_EXEC, pid_tgid, 0, 0);
	return 0;
}

/* A process ended: its probe settings go (its pid may be reused). */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(process_exit, struct task_struct *p)
{
	__u32 tgid = p->tgid;

	if (p->pid == p->tgid)
		bpf_map_delete_elem(&goprocs, &tgid);
	return 0;
}
