/* capture_abi.h -- the contract between the kernel half (capture.bpf.c) and
 * the user half (src/capture/live.c).
 *
 * Everything here is fixed-size and pointer-free: the same bytes are written
 * by BPF programs into per-CPU ring buffers, read by the loader, and saved
 * verbatim by `wirespan record --save-events` for replay without a kernel.
 * Change a layout only together with WS_ABI_VERSION.
 */
#ifndef WIRESPAN_CAPTURE_ABI_H
#define WIRESPAN_CAPTURE_ABI_H

#define WS_ABI_VERSION 4

/* Largest payload prefix one event may carry, and the tail kept from the
 * end of a syscall's bytes when the middle was not copied (it lets the user
 * half find a chunk boundary at the end of a large write). Powers of two:
 * the BPF side bounds offsets with masks. */
#define WS_PAYLOAD_MAX 16384
#define WS_TAIL_MAX 64
#define WS_COMM_LEN 16
#define WS_IOV_MAX 1024 /* iovecs walked per readv/writev/sendmsg/recvmsg (UIO_MAXIOV: gRPC and Node write
			 * HTTP/2 frames in many, one per header, block, prefix, message) */
#define WS_MMSG_MAX 4  /* messages reported per sendmmsg/recvmmsg */
#define WS_CHUNKS_MAX 64 /* records one syscall may fill when it is captured whole (1 MiB) */
#define WS_MAX_PORTS 16
#define WS_MAX_COMMS 8

enum ws_kev_type {
	WS_KEV_DATA = 1,  /* bytes sent or received on a TCP socket by a syscall */
	WS_KEV_OPEN = 2,  /* connect() or accept() returned a TCP socket */
	WS_KEV_CLOSE = 3, /* a traced process called close() on the socket */
	WS_KEV_STATE = 4, /* TCP state change of a socket we track */
	WS_KEV_TCP = 5,   /* a TCP fact of a tracked socket; sys holds enum ws_tcp_ev */
	WS_KEV_TASK = 6,  /* a fact about a traced task; sys holds enum ws_task_ev */
};

/* What a WS_KEV_TASK event reports (in ws_kevent.sys). */
enum ws_task_ev {
	WS_TASK_EXEC = 1, /* the process executed a new program (pid, comm): user
			   * space looks at it (a Go binary gets runtime probes) */
	WS_TASK_GO_SPAWN, /* a goroutine was created (see ws_ktask) */
	WS_TASK_PY_SPAWN, /* an asyncio task was created (goid: its id, parent:
			   * the task running when it was, 0 none) */
};

/* What a WS_KEV_TCP event reports (in ws_kevent.sys). */
enum ws_tcp_ev {
	WS_TCP_RETRANS = 1, /* the socket retransmitted bytes seq .. seq+bytes */
	WS_TCP_RESET_RX,    /* a reset arrived */
	WS_TCP_RESET_TX,    /* the socket sent a reset */
	WS_TCP_DROP,        /* the kernel dropped a packet of the socket (reason) */
	WS_TCP_HELD,        /* bytes seq .. seq+bytes written by the application were held by
			     * the socket's TCP from ts_enter (the write) until an ACK released
			     * them at ts_exit; reason: enum ws_hold */
};

/* Why a socket's TCP held bytes it was given (WS_TCP_HELD). */
enum ws_hold {
	WS_HOLD_NAGLE = 1, /* a small segment waits for the ACK of the bytes in flight */
	WS_HOLD_CWND,      /* the congestion window was full */
	WS_HOLD_RWND,      /* the peer's receive window was full */
	WS_HOLD_OTHER,     /* corked, or queued below TCP */
};

enum ws_dir {
	WS_DIR_SEND = 0, /* bytes from the local process to the peer */
	WS_DIR_RECV = 1, /* bytes from the peer to the local process */
};

enum ws_sys {
	WS_SYS_NONE = 0,
	WS_SYS_READ,
	WS_SYS_WRITE,
	WS_SYS_READV,
	WS_SYS_WRITEV,
	WS_SYS_SENDTO,
	WS_SYS_RECVFROM,
	WS_SYS_SENDMSG,
	WS_SYS_RECVMSG,
	WS_SYS_SENDMMSG,
	WS_SYS_RECVMMSG,
	WS_SYS_SENDFILE,
	WS_SYS_SPLICE,
	WS_SYS_ACCEPT,
	WS_SYS_CONNECT,
	WS_SYS_CLOSE,
	WS_SYS_SSL_READ,  /* plaintext a TLS library (SSL_read, SSL_read_ex) returned */
	WS_SYS_SSL_WRITE, /* plaintext given to a TLS library (SSL_write, SSL_write_ex) */
	WS_SYS_MAX,
};

/* ws_kevent.flags */
#define WS_KF_EOF (1u << 0)       /* a read returned 0: the peer closed its side */
#define WS_KF_ERROR (1u << 1)     /* the syscall failed; err holds -errno */
#define WS_KF_NOPAYLOAD (1u << 2) /* bytes moved without a user buffer (sendfile, splice) */
#define WS_KF_READFAIL (1u << 3)  /* copying the user buffer failed */
#define WS_KF_CLIENT (1u << 4)    /* OPEN: the local side connected */
#define WS_KF_SERVER (1u << 5)    /* OPEN: the local side accepted */
#define WS_KF_GOROUTINE (1u << 6) /* DATA: goid is known (a Go process with runtime
				   * probes) */
#define WS_KF_RECOVERED (1u << 7) /* the syscall began before recording started:
				   * ts_enter is when recording started */

/* The two ends of a connection as the local socket sees them. Addresses are
 * in network byte order; IPv4 uses the first 4 bytes. Ports in host order. */
struct ws_ktuple {
	__u8 laddr[16];
	__u8 raddr[16];
	__u16 lport;
	__u16 rport;
	__u16 family; /* AF_INET or AF_INET6 */
	__u16 _pad;
};

/* One record in a ring buffer. For DATA events `cap` bytes of the payload
 * prefix follow the struct, then `tail` bytes taken from the end of the
 * syscall's bytes (stream offsets bytes-tail .. bytes). */
struct ws_kevent {
	__u8 type;  /* enum ws_kev_type */
	__u8 dir;   /* enum ws_dir (DATA) */
	__u8 sys;   /* enum ws_sys */
	__u8 flags; /* WS_KF_* */
	__u32 pid;  /* thread group id */
	__u32 tid;
	__s32 err;        /* -errno when WS_KF_ERROR */
	__u64 conn_id;    /* stable id of the socket while it lives */
	__u64 ts_enter;   /* CLOCK_MONOTONIC ns at syscall entry */
	__u64 ts_exit;    /* CLOCK_MONOTONIC ns at syscall exit (or the event) */
	__u32 seq;        /* TCP sequence number of the first byte */
	__u32 bytes;      /* bytes moved by the syscall */
	__u16 cap;        /* payload prefix bytes that follow */
	__u16 tail;       /* tail bytes that follow the prefix */
	__u32 fd;
	__u32 netns;      /* network namespace inode of the socket */
	__u16 oldstate;   /* STATE: TCP states (TCP_ESTABLISHED = 1 ...) */
	__u16 newstate;
	struct ws_ktuple tuple;
	char comm[WS_COMM_LEN]; /* process (thread group leader) name */
	/* ABI 2: where the time went */
	__u64 arr_first; /* DATA recv: when the oldest byte read reached the socket (0 unknown) */
	__u64 arr_last;  /* DATA recv: when the newest byte read reached it */
	/* the thread's cumulative time runnable but not running, and off CPU
	 * (sleeping or blocked), at syscall entry [0] and exit [1]; 0 unknown */
	__u64 runq_ns[2];
	__u64 offcpu_ns[2];
	__u64 ts_estab;  /* OPEN: when the connection became established (0 unknown) */
	__u32 srtt_us;   /* smoothed RTT of the socket at the event */
	__u32 rto_us;    /* TCP: retransmission timeout */
	__u32 reason;    /* TCP DROP: skb drop reason; RETRANS: TCP flags | ca_state << 8 */
	__u32 retrans;   /* TCP: retransmissions of the socket so far (total_retrans) */
	/* ABI 3: who the syscall was made for, when the thread is shared */
	__u64 goid;      /* DATA: the goroutine that made the syscall (0 unknown);
			  * in CPython, the asyncio task that was running */
	__u64 waker;     /* DATA: the goroutine that last handed the caller a
			  * value over a channel (0 none) */
	__u64 wake_ts;   /* DATA: when (CLOCK_MONOTONIC) */
	__u64 waker2;    /* DATA: the goroutine that had last handed the waker a
			  * value, when it did (a job passed on by a worker) */
	__u64 wake2_ts;
	/* ABI 4: where both directions of the stream stood, to pair requests
	 * with responses by sequence number when records were lost */
	__u32 fence;     /* DATA send: the socket's rcv_nxt at entry (no byte received
			  * before the write began can answer it); DATA recv: write_seq
			  * at exit (no byte written before the read returned answers it) */
	__u32 sent_seq;  /* OPEN, CLOSE, STATE: write_seq (after the last byte written) */
	__u32 read_seq;  /* OPEN, CLOSE, STATE: copied_seq (after the last byte read) */
	__u32 seq_flags; /* WS_KSEQ_*: which of the three are known */
};

#define WS_KSEQ_FENCE (1u << 0)  /* fence is known */
#define WS_KSEQ_STREAM (1u << 1) /* sent_seq and read_seq are known */
#define WS_KSEQ_WIRE (1u << 2)   /* SSL_READ/SSL_WRITE: fence holds the TCP sequence number
				  * of the TLS record that carries the first byte */

/* TLS plaintext events (sys WS_SYS_SSL_READ, WS_SYS_SSL_WRITE) are DATA
 * events of the connection the SSL object was tied to, with these
 * differences: seq numbers the plaintext of the direction from 0 (the
 * first plaintext byte seen); fence, when WS_KSEQ_WIRE is set, is the TCP
 * sequence number of the record carrying the first byte (the same on
 * both ends of the connection, which joins them), and there is no fence in
 * the other sense; fd is 0. The socket's own bytes (ciphertext) are not
 * reported once the SSL object is tied to it. */

/* TLS probe sites (the attach cookie of tls_enter and tls_exit). */
enum ws_tls_site {
	WS_TLS_SITE_READ = 1, /* SSL_read(ssl, buf, num) */
	WS_TLS_SITE_READ_EX,  /* SSL_read_ex(ssl, buf, num, size_t *readbytes) */
	WS_TLS_SITE_WRITE,    /* SSL_write(ssl, buf, num) */
	WS_TLS_SITE_WRITE_EX, /* SSL_write_ex(ssl, buf, num, size_t *written) */
	WS_TLS_SITE_SET_FD,   /* SSL_set_fd(ssl, fd) (entry only) */
	WS_TLS_SITE_MAX,
};

/* How an SSL object was tied to its socket. */
enum ws_tls_by {
	WS_TLS_BY_SET_FD = 1, /* SSL_set_fd named the socket */
	WS_TLS_BY_SYSCALL,    /* a read or write inside SSL_read or SSL_write used it */
	WS_TLS_BY_LASTREAD,   /* the thread read a TLS record from it just before
			       * (a library that reads the socket itself elsewhere) */
	WS_TLS_BY_NEXTWRITE,  /* the thread wrote a TLS record to it just after
			       * (a library that writes the socket itself elsewhere) */
};

/* A WS_KEV_TASK record: short, as goroutines are created by the thousand
 * (its first byte is the type, as in ws_kevent). */
struct ws_ktask {
	__u8 type;  /* WS_KEV_TASK */
	__u8 sys;   /* enum ws_task_ev */
	__u16 _pad;
	__u32 pid;  /* thread group id */
	__u32 tid;
	__u32 _pad2;
	__u64 ts;     /* CLOCK_MONOTONIC ns */
	__u64 goid;   /* GO_SPAWN: the new goroutine */
	__u64 parent; /* GO_SPAWN: the goroutine that created it (0 unknown) */
};

/* Where the Go runtime keeps what the probes read, per Go process (the
 * `goprocs` map, written by user space from the binary's DWARF or a
 * per-version table). On amd64 the current goroutine (g) is in R14. */
struct ws_goproc {
	__u32 g_goid;   /* runtime.g.goid */
	__u32 g_m;      /* runtime.g.m */
	__u32 m_procid; /* runtime.m.procid: the thread id */
	__u32 m_curg;   /* runtime.m.curg: the user goroutine the thread runs */
};

/* Go runtime probe sites (the uprobe's attach cookie). Each is a CALL
 * instruction, which the kernel emulates; a uprobe on most other
 * instructions is single-stepped, about 30 times dearer. */
enum ws_go_site {
	WS_GO_SITE_SPAWN = 1, /* the CALL of runqput in newproc: BX holds the new g */
	WS_GO_SITE_SEND,      /* the CALLs of send in chansend and selectgo: BX holds the sudog
			       * of the receiver parked on the channel (its g first), R14 the
			       * sender: a hand-off over a channel (other wake-ups, by locks,
			       * timers or the garbage collector, hand no work over) */
	WS_GO_SITE_RECV,      /* the CALLs of recv in chanrecv and selectgo: BX holds the sudog
			       * of the sender parked on the channel, R14 the receiver: the
			       * same hand-off, the sender having waited */
	WS_GO_SITE_EXIT,      /* the CALL of mcall in goexit1: R14 holds the ending g */
};

/* CPython's asyncio (the _asyncio extension module): where a task's step
 * starts and ends, and where a task is created (the attach cookie of the
 * py_task program, per probe). The task's id is given when it is created
 * (or first seen) and is never reused, unlike its address. */
enum ws_py_site {
	WS_PY_SITE_STEP = 1, /* TaskStepMethWrapper.__call__: RDI holds the wrapper, whose
			      * task is WS_PY_SW_TASK bytes in (a task's first step) */
	WS_PY_SITE_WAKEUP,   /* task_wakeup: RDI holds the task (a step after an await) */
	WS_PY_SITE_INIT,     /* Task.__init__ (the type's tp_init): RDI holds the new task */
};
#define WS_PY_SW_TASK 16 /* after PyObject_HEAD (reference count, type) */

/* A traced syscall between entry and exit, keyed by pid_tgid. User space
 * writes one (flag WS_KF_RECOVERED, sk unknown) for each thread it finds
 * already blocked in a socket read or write when recording starts. */
struct ws_inflight {
	__u64 ts_enter;
	__u64 sk;
	__u64 conn_id;
	__u64 ubuf; /* buffer, iovec array, msghdr or mmsghdr array */
	__u64 ulen; /* buffer length, iovec count or message count */
	__u32 seq;
	__u32 fd;
	__u32 netns;
	__u8 sys;
	__u8 dir;
	__u8 flags;
	__u8 classify; /* first data of the connection: choose its capture size */
	__u32 cap;     /* payload bytes to copy; 0 = the configured prefix */
	__u32 fence;   /* send: rcv_nxt at entry (ws_kevent, ABI 4) */
	__u64 goid;    /* ws_kevent, ABI 3 */
	__u64 waker;
	__u64 wake_ts;
	__u64 waker2;
	__u64 wake2_ts;
	__u64 runq_ns;   /* the thread's cumulative times at entry (ws_kevent) */
	__u64 offcpu_ns;
	__u32 tls_read;  /* a read inside SSL_read: WS_TLSR_* */
	__u32 _pad;
};

/* ws_inflight.tls_read */
#define WS_TLSR_NOTE 1 /* its bytes may begin the record whose plaintext the call returns */
#define WS_TLSR_ONLY 2 /* and are not reported (ciphertext of a connection whose
			* plaintext is) */
#define WS_TLSR_LAST 3 /* a read outside any TLS call of such a connection: only
			* noted for the thread's next SSL_read (Node) */

/* Per-CPU counters of what the kernel half could not deliver or had to cut. */
enum ws_kcounter {
	WS_KC_RINGBUF_FULL = 0, /* event dropped: the CPU's ring buffer was full */
	WS_KC_INFLIGHT_FULL,    /* syscall not traced: in-flight table full */
	WS_KC_CONN_FULL,        /* connection not tracked: connection table full */
	WS_KC_READ_FAIL,        /* payload could not be copied from user memory */
	WS_KC_PAYLOAD_CUT,      /* events whose payload was cut to the prefix size */
	WS_KC_IOV_CUT,          /* events with more iovecs than WS_IOV_MAX */
	WS_KC_MMSG_CUT,         /* sendmmsg/recvmmsg messages beyond WS_MMSG_MAX */
	WS_KC_EVENTS,           /* events written to ring buffers */
	WS_KC_THREAD_FULL,      /* thread not timed: thread table full */
	WS_KC_SHED,             /* data syscalls not captured: shed to stay in the CPU budget */
	WS_KC_CONN_ADDED,       /* connection table entries added */
	WS_KC_CONN_REMOVED,     /* connection table entries removed (socket destroyed) */
	WS_KC_GO_SPAWNS,        /* goroutines created in traced Go processes */
	WS_KC_GO_WAKES,         /* goroutines made runnable by another (noted) */
	WS_KC_GO_BAD_G,         /* a probe or syscall found no valid goroutine (cgo, g0) */
	WS_KC_GO_WAKE_ADDED,    /* goroutine wake-up table entries added */
	WS_KC_GO_WAKE_REMOVED,  /* ... removed (the goroutine ended) */
	WS_KC_PY_TASKS,         /* asyncio tasks created in traced Python processes */
	WS_KC_PY_STEPS,         /* asyncio task steps run there */
	WS_KC_TLS_PLAIN,        /* TLS library calls whose plaintext was reported */
	WS_KC_TLS_UNTIED,       /* ... that moved plaintext of no socket found */
	WS_KC_TLS_UNTIED_FILTERED, /* the same while --port or --netns filter sockets out:
				    * most are of connections the filters leave out */
	WS_KC_MAX,
};

/* Load shedding (see docs/overhead.md). User space sets the level in the
 * programs' .bss; the programs read it on every data syscall.
 *   1      connections opened from now on get a WS_SHED_PAYLOAD-byte prefix
 *          and are never captured whole
 *   2..5   and only 1/2, 1/4, 1/8, 1/16 of connections have their data
 *          captured (chosen by a hash of the connection id)
 *   6      no data is captured (connections and TCP facts still are)
 *   7      and the data syscall programs are detached (user space only:
 *          nothing runs for them at all until the level falls) */
#define WS_SHED_NODATA 6
#define WS_SHED_MAX 7
#define WS_SHED_PAYLOAD 256

/* Packets the kernel dropped on this host, per skb drop reason (a per-CPU
 * array indexed by reason; larger reasons are counted at the last index). */
#define WS_DROP_REASONS 256

#endif
