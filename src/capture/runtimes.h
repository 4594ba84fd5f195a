/* runtimes.h -- what each traced process runs, and for Go the runtime
 * probes, so that trace assembly knows how the process schedules its work.
 *
 * A process is looked at when recording starts and whenever a traced
 * process executes a new program. Its executable is read once per file:
 *  - Go (gobin.c): a supported binary gets the runtime probes, attached
 *    once per file for every process running it, and each of its
 *    processes is told to the kernel half with the runtime's field offsets;
 *  - CPython with asyncio loaded: its _asyncio module (pyasync.c) gets
 *    the task probes, attached once per module file, so that each syscall
 *    says which task it was made for;
 *  - Node.js (libuv's event loop), CPython, the JVM: told apart by symbols
 *    of the executable or the libraries the process maps; their threads
 *    are what the kernel shows, but the linker models their event loops
 *    and thread pools.
 * Anything else is "native": threads as the kernel shows them.
 *
 * Every process is also looked at for OpenSSL (tlslib.h): in its
 * executable or in a libssl it maps, whose SSL_read and SSL_write get the
 * TLS probes, once per file. */
#ifndef WIRESPAN_RUNTIMES_H
#define WIRESPAN_RUNTIMES_H

#include <stdbool.h>
#include <stdint.h>

#include "capture/live.h"

struct ws_runtimes;

/* What was found for one process. */
struct ws_procinfo {
	uint32_t pid;
	char comm[16];
	char runtime[32]; /* "go1.19.8" ("go": version unknown), "node", "python", "java" */
	bool traced;      /* Go: its goroutines are traced; CPython: its asyncio tasks */
	bool asyncio;     /* CPython with asyncio's C module loaded */
	int tls;          /* files it maps whose OpenSSL functions are probed (tlslib.h) */
	char tls_lib[96]; /* the last of them: "libssl.so.3", "executable" */
	char detail[256]; /* how, or why not */
};

/* go_probes (py_probes) false: Go executables (CPython's asyncio) are told
 * apart, but not probed; tls_probes false: no TLS library is probed. */
struct ws_runtimes *ws_runtimes_new(struct live *l, bool go_probes, bool py_probes, bool tls_probes);
void ws_runtimes_free(struct ws_runtimes *rt);
/* Look at process pid. Returns 1 when it runs one of the runtimes above
 * (info filled), 0 when it is native, -errno when it could not be looked
 * at (gone already). An executable seen before is not read again. */
int ws_runtimes_process(struct ws_runtimes *rt, uint32_t pid, struct ws_procinfo *info);

/* Probe the system's own OpenSSL (libssl.so.3 or .1.1 where the
 * distribution keeps it), so that a process that loads it later (CPython
 * imports ssl when first asked) is seen from its first call. Returns how
 * many files were probed. */
int ws_runtimes_tls_system(struct ws_runtimes *rt);
/* Files whose TLS functions are probed, and files that could not be. */
void ws_runtimes_tls_counts(const struct ws_runtimes *rt, unsigned *probed, unsigned *failed);

#endif
