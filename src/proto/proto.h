/* proto.h -- the protocol layer: byte segments in, messages and exchanges out.
 *
 * The connection tracker hands a parser the bytes of each direction in
 * stream order as segments (one syscall's worth, possibly with a gap of
 * uncaptured bytes in the middle). A parser finds message boundaries,
 * extracts the fields users look for, pairs each request with its response
 * and reports the pair as an exchange. It knows nothing of eBPF, pcap,
 * spans or storage. */
#ifndef WIRESPAN_PROTO_H
#define WIRESPAN_PROTO_H

#include <stdbool.h>
#include <stdint.h>

enum ws_proto { WS_PROTO_NONE = 0, WS_PROTO_HTTP1, WS_PROTO_REDIS, WS_PROTO_PG, WS_PROTO_MYSQL, WS_PROTO_H2 };

const char *ws_proto_name(enum ws_proto p);
/* The protocol named so ("http", "redis"), or WS_PROTO_NONE. */
enum ws_proto ws_proto_by_name(const char *name);

/* A run of bytes of one direction, in stream order. */
struct ws_seg {
	uint32_t seq; /* TCP sequence number of the first byte */
	uint32_t len; /* bytes in the run */
	const uint8_t *head;
	uint32_t head_len; /* bytes [0, head_len) are known */
	const uint8_t *tail;
	uint32_t tail_len; /* bytes [len - tail_len, len) are known */
	uint64_t t_enter, t_exit;
	uint32_t pid, tid;
	bool gap_before; /* bytes before this run were lost */
	bool fence_known;
	/* the other direction's sequence number before which no answer to
	 * these bytes can start (see ws_event.fence) */
	uint32_t fence;
	/* received runs: when their oldest and newest bytes reached the
	 * socket (0 unknown); the thread's cumulative runnable-not-running and
	 * off-CPU ns at the syscall's entry [0] and exit [1] */
	uint64_t t_arr_first, t_arr_last;
	uint64_t runq[2], offcpu[2];
	/* who the syscall was made for (see ws_event): goroutine, and the
	 * goroutines that handed it values last, and when */
	uint64_t goid, waker, t_wake, waker2, t_wake2;
	/* TLS plaintext: seq numbers plaintext, not TCP bytes; wire_seq (when
	 * wire_known) is the TCP sequence number of the record carrying the
	 * run's first byte */
	bool tls, wire_known;
	uint32_t wire_seq;
};

/* ws_msg.flags */
#define WS_MSGF_FRAMING_LOST (1u << 0) /* end found by heuristics, not by framing */
#define WS_MSGF_HEAD_CUT (1u << 1)     /* headers were not fully captured */
#define WS_MSGF_INCOMPLETE (1u << 2)   /* the message had not ended */
#define WS_MSGF_PUSH (1u << 3)         /* unsolicited (Redis push, pub/sub) */
#define WS_MSGF_FENCE (1u << 4)        /* fence is known */
#define WS_MSGF_LOST (1u << 5)         /* not paired: records were lost and no pairing is certain */
#define WS_MSGF_ADJOINS (1u << 6)      /* a request that starts where the requests stood when the
					* last response was moved: no request bytes were lost since */
#define WS_MSGF_BLOCKING (1u << 7)     /* a request that waits for data by design (Redis BLPOP,
					* XREAD ... BLOCK, ...) */
#define WS_MSGF_NOSEQ (1u << 8)        /* seq is not known: TLS plaintext that did not begin a
					* record (seq is then 0, and joins nothing) */
#define WS_MSGF_TLS (1u << 9)          /* carried by TLS, seen as plaintext */
#define WS_MSGF_RESP_NOSEQ (1u << 10)  /* in a span's flags (request's and response's
					* together): the response's seq is not known */

/* Secret-bearing headers seen in a message (their values are never kept). */
#define WS_HDR_AUTHORIZATION (1u << 0)
#define WS_HDR_PROXY_AUTHORIZATION (1u << 1)
#define WS_HDR_COOKIE (1u << 2)
#define WS_HDR_SET_COOKIE (1u << 3)

struct ws_http_info {
	char method[24];
	char path[256];  /* tokens already replaced (redact.h) */
	char query[256]; /* values already redacted unless allowed (redact.h) */
	char host[128];
	char user_agent[128];
	char content_type[96];
	char traceparent[64];
	char kept[256];  /* headers kept by --keep-header: "name\0value\0"..., "" none */
	int status;
	uint8_t version_minor; /* HTTP/1.<minor> */
	uint8_t redacted;      /* WS_HDR_* bits */
	bool chunked;
};

/* An HTTP/2 stream's request or response (h2.c): the HTTP fields from
 * its pseudo-headers and headers, and what HTTP/2 and gRPC add. */
struct ws_h2_info {
	struct ws_http_info http; /* method, path, host, status, ... ("" / 0 when not known) */
	uint32_t stream;          /* the stream id */
	int grpc_status;          /* response: grpc-status, -1 none */
	uint32_t rst_code;        /* response: the RST_STREAM's error code (rst) */
	uint16_t blocks;          /* header blocks seen (a second one is the trailers) */
	bool headers_unknown;     /* its header block could not be decoded: HPACK state not known */
	bool trailers_unknown;    /* its trailers could not be decoded (the headers were) */
	bool trailers;            /* a header block followed the first */
	bool grpc;                /* content-type application/grpc */
	bool https;               /* request: :scheme https */
	bool rst;                 /* response: the stream was reset (RST_STREAM) */
	bool rst_by_client;       /* ... by the side that sent the request */
	bool gap;                 /* bytes of its direction were lost while it was open: its
				   * sizes are at least what they say, its end may be unknown */
};

struct ws_redis_info {
	char command[40]; /* upper case; "CONFIG GET" for container commands */
	char key[128];
	uint32_t nargs;
	bool redacted;    /* arguments withheld (AUTH, HELLO) */
	bool is_error;
	char error[128];  /* error reply text */
};

/* What a PostgreSQL request is: a simple Query (or FunctionCall), an
 * Execute of the extended protocol, or a Sync that ends messages with no
 * Execute (a Parse alone: a prepared statement). */
enum { WS_PG_QUERY = 1, WS_PG_EXECUTE, WS_PG_SYNC };

struct ws_pg_info {
	char op[32];         /* db.operation.name: SELECT, BEGIN, ...; PREPARE for a Parse alone */
	char collection[64]; /* the table, where the text leaves no doubt (sql.h) */
	char query[256];     /* literals replaced by '?' */
	char db[64];         /* the database the connection opened, "" unknown */
	char sqlstate[6];    /* response: an ErrorResponse's code */
	char tag[32];        /* response: the first CommandComplete's tag ("INSERT 0 1") */
	uint64_t rows;       /* response: DataRow messages */
	uint64_t group;      /* request: which ReadyForQuery ends its Sync or Query (counted) */
	uint8_t kind;        /* request: WS_PG_* */
	bool query_cut;      /* request: the text was not all seen */
	bool stmt_unknown;   /* request: its statement was prepared before the recording began */
	bool skipped;        /* response: none came; an earlier statement of its pipeline failed */
	bool rows_from_tag;  /* response: rows read from the command tag (framing was lost before it) */
	bool error;          /* response: an ErrorResponse */
};

/* A MySQL / MariaDB command and its response. */
struct ws_mysql_info {
	char op[32];         /* db.operation.name: SELECT, ...; PREPARE, PING, INIT_DB for those commands */
	char collection[64];
	char query[256];     /* literals replaced by '?' */
	char db[64];         /* the connection's database, "" unknown */
	char sqlstate[6];    /* response: an ERR packet's SQLSTATE */
	uint16_t error_code; /* response: an ERR packet's code, 0 none */
	uint8_t command;     /* request: the COM_ byte */
	bool query_cut;
	bool stmt_unknown;   /* request: its statement was prepared before the recording began */
	bool error;          /* response: an ERR packet */
	uint32_t results;    /* response: result sets */
	uint64_t rows;       /* response: rows of every result set */
	uint64_t affected;   /* response: affected rows of its OK packets */
};

struct ws_msg {
	uint8_t proto;
	uint8_t dir; /* direction it travelled, seen locally */
	uint16_t flags;
	uint32_t seq; /* TCP sequence number of its first byte (TLS: of its record) */
	uint32_t fence; /* of the syscall that moved its first byte (ws_seg) */
	uint64_t bytes;
	uint64_t body_bytes;
	/* the syscalls that carried its first and last bytes */
	uint64_t t_first_enter, t_first_exit, t_last_enter, t_last_exit;
	uint32_t pid, tid; /* who moved the first byte */
	uint32_t last_tid; /* who moved the last byte */
	/* goroutines that moved the first and last bytes (0 unknown), and
	 * the goroutines that last handed the mover of the first byte values
	 * before it (see ws_event), and when */
	uint64_t goid, last_goid, waker, t_wake, waker2, t_wake2;
	/* received messages: when the first and last bytes reached the socket
	 * (0 unknown) */
	uint64_t t_arr_first, t_arr_last;
	/* the moving thread's cumulative scheduler ns (see ws_seg) at the
	 * entry of the first syscall and the exit of the last */
	uint64_t runq_first, offcpu_first, runq_last, offcpu_last;
	union {
		struct ws_http_info http;
		struct ws_redis_info redis;
		struct ws_pg_info pg;
		struct ws_mysql_info mysql;
		struct ws_h2_info h2;
	} u;
};

/* Why a request has no response (ws_exchange.aborted). */
enum ws_abort {
	WS_ABORT_NONE = 0,
	WS_ABORT_RESET,       /* the connection was reset */
	WS_ABORT_PEER_CLOSED, /* the peer closed it (a client's request) */
	WS_ABORT_CLOSED,      /* it closed before the response was sent */
};

struct ws_exchange {
	struct ws_msg req, resp;
	/* WS_ABORT_*: no response came; resp holds only when it was given up */
	uint8_t aborted;
};

struct proto_sink {
	void (*exchange)(void *ctx, const struct ws_exchange *x);
	/* a message that could not be paired (counted, not stored) */
	void (*unmatched)(void *ctx, const struct ws_msg *m);
	void *ctx;
};

/* What every span shows of an exchange, whatever its protocol. */
struct ws_span_fields {
	char name[300];
	char method[40];  /* HTTP method, Redis command, ... */
	char target[256]; /* URL path, Redis key, ... */
	char query[256];
	char error[160];  /* error.type, "" none */
	char traceparent[64];
	int status;       /* a status code, 0 none */
};

struct ws_json;

/* How a protocol's exchanges become spans, and the names of their fields
 * as attributes (OpenTelemetry semantic conventions). */
struct proto_span {
	/* fill f, and write the protocol's further attributes into attrs (an
	 * open JSON object); client: the span is the client's */
	void (*fields)(const struct ws_exchange *x, bool client, struct ws_span_fields *f, struct ws_json *attrs);
	/* network.protocol.name, when it is not the parser's name ("http" for http2) */
	const char *net_name;
	/* attributes for the stored fields (NULL: not written) */
	const char *method_attr, *target_attr, *query_attr, *status_attr, *req_body_attr, *resp_body_attr;
	/* attributes with one value for every span: {"db.system", "redis", NULL} */
	const char *const *constant_attrs;
	bool target_names; /* the target is part of what the span does (a Redis key) */
	bool target_optional; /* no target: no target attribute (not an empty one) */
	bool database;     /* a database's operations (metrics: db_client_...) */
	/* whether an operation of this name waits for data by design (spans
	 * stored before the flag was); NULL: none does */
	bool (*blocking)(const char *name);
};

struct proto_ops {
	enum ws_proto id;
	const char *name;
	const struct proto_span *span;
	/* req_dir: the direction requests travel (WS_SEND on a client). */
	void *(*create)(int req_dir, const struct proto_sink *sink);
	void (*feed)(void *st, int dir, const struct ws_seg *seg);
	/* No more bytes will come in dir (peer or local side closed). */
	void (*eof)(void *st, int dir);
	/* Close the connection: messages that ended with it are reported. */
	void (*finish)(void *st);
	void (*destroy)(void *st);
	/* exchanges waiting for their response, messages in flight */
	unsigned (*pending)(void *st);
	/* the parser's request/response pairer */
	struct ws_pairer *(*pairer)(void *st);
};

extern const struct proto_ops ws_http1_ops;
extern const struct proto_ops ws_redis_ops;
extern const struct proto_ops ws_pg_ops;
extern const struct proto_ops ws_mysql_ops;
extern const struct proto_ops ws_h2_ops;

/* Decide from the first bytes of a direction whether they start a request
 * of a protocol we parse. Returns the protocol, or WS_PROTO_NONE with *more
 * set (when more is non-NULL) if the bytes are too few to decide. */
enum ws_proto ws_proto_detect_request(const uint8_t *data, uint32_t n, bool *more);
/* Whether the bytes look like a response of proto (to learn a direction
 * when the request was not seen). */
bool ws_proto_looks_like_response(enum ws_proto p, const uint8_t *data, uint32_t n);
const struct proto_ops *ws_proto_ops(enum ws_proto p);
/* Decide from the first bytes of a direction whether they are the greeting
 * of a protocol whose server speaks first (MySQL): the protocol, whose
 * requests then travel the other way, or WS_PROTO_NONE (*more: too few
 * bytes to tell). */
enum ws_proto ws_proto_detect_greeting(const uint8_t *data, uint32_t n, bool *more);
/* Whether the bytes begin a TLS handshake record (a ClientHello or
 * ServerHello: content type 22, version 3.x, a length a record may have). */
bool ws_proto_looks_tls(const uint8_t *data, uint32_t n);
/* Whether bytes detected as a request of p cannot be a reply instead: 1
 * yes, 0 no, -1 too few bytes to tell. A RESP array is a request only if
 * it opens with a known Redis command: a reply to MGET or a pub/sub
 * message is an array of bulk strings too. Used when nothing else (a
 * connect or accept seen) tells the direction. */
int ws_proto_request_is_certain(enum ws_proto p, const uint8_t *data, uint32_t n);
bool ws_proto_is_redis_command(const uint8_t *word, uint32_t n);

/* ---- helpers shared by parsers ---- */

/* A bounded FIFO of messages: requests waiting for responses. It grows on
 * demand up to max (most connections never hold more than one). */
struct ws_msgq {
	struct ws_msg *items;
	unsigned head, len, cap, max;
};

void ws_msgq_init(struct ws_msgq *q, unsigned max);
void ws_msgq_free(struct ws_msgq *q);
/* Append; when full the oldest is dropped and returned through *dropped
 * (if non-NULL) and the function returns true. */
bool ws_msgq_push(struct ws_msgq *q, const struct ws_msg *m, struct ws_msg *dropped);
struct ws_msg *ws_msgq_front(struct ws_msgq *q);
void ws_msgq_pop(struct ws_msgq *q);

/* Pairs requests with responses first-in first-out. A response that
 * arrives while its request is still being received pairs with that request
 * (marked WS_MSGF_INCOMPLETE), which is then not reported again. */
/*
 * Records lost (bytes missing before a run, in either direction) make
 * queue position prove nothing: the pairer is then out of step, and pairs
 * only what the sequence numbers prove (see detect.c), counting the rest
 * as lost (WS_MSGF_LOST) instead of pairing a request with another's
 * response. */
struct ws_pairer {
	struct ws_msgq pending; /* complete requests waiting for a response */
	struct proto_sink sink;
	bool answered;  /* the request in progress was already paired */
	bool desync;    /* records were lost: queue order proves nothing */
	bool pipelined; /* a request was sent before the previous one's answer began */
	unsigned sure;  /* while out of step: pending requests, from the front, that
			 * are still answered in order (sent before requests were lost,
			 * with no response lost) */
	uint32_t last_fence; /* of the last request queued */
	bool last_fence_known;
	uint32_t resp_fence; /* of the last response: where the requests stood */
	bool resp_fence_known;
};

void ws_pairer_init(struct ws_pairer *p, const struct proto_sink *sink, unsigned cap);
void ws_pairer_free(struct ws_pairer *p);
/* Bytes were lost before a run in the request direction (req true) or in
 * the response direction. */
void ws_pairer_gap(struct ws_pairer *p, bool req);
/* The connection ended: requests still waiting get no response. Reported
 * as exchanges with `aborted` set (resp holds the end's time), unless the
 * pairer is out of step (then counted as lost). */
void ws_pairer_abort(struct ws_pairer *p, uint8_t why, uint64_t t_end);
void ws_pairer_request(struct ws_pairer *p, const struct ws_msg *req);
/* in_progress: the request being received now, or NULL */
void ws_pairer_response(struct ws_pairer *p, const struct ws_msg *resp, const struct ws_msg *in_progress);
void ws_pairer_unmatched(struct ws_pairer *p, const struct ws_msg *m);
/* The request the next response answers, or in_progress, or NULL. */
const struct ws_msg *ws_pairer_next(struct ws_pairer *p, const struct ws_msg *in_progress);

/* A text line that may span segments. A line wholly inside one segment is
 * used in place; only one cut by a segment boundary is copied. */
struct ws_line {
	char *carry;
	uint32_t len, cap, max;
	bool too_long; /* longer than max: what was kept is cut */
	bool wipe;     /* it held a secret: clear the copy after use */
};

/* Collect from p[0..n); returns true when a line is complete, in
 * (*line, *len) without its CR LF, having consumed *used bytes. */
bool ws_line_read(struct ws_line *L, const uint8_t *p, uint32_t n, const char **line, uint32_t *len,
		  uint32_t *used);
/* The line was handled: forget it (wiping the copy when asked). */
void ws_line_done(struct ws_line *L);
void ws_line_free(struct ws_line *L);

/* Start a message at a byte of seg (offset off) / extend it to that seg. */
void ws_msg_begin(struct ws_msg *m, uint8_t proto, int dir, const struct ws_seg *seg, uint32_t off);
void ws_msg_touch(struct ws_msg *m, const struct ws_seg *seg);

#endif
